#!/usr/bin/env python3
"""Training speed of a Google-style TPUEstimator script under bert-run-tf1 vs run_classifier.py.

    python bench/tf1_estimator.py       # hidden 256, 4 layers, seq 128, batch 16, 60 steps
    python bench/tf1_estimator.py --hidden 128 --layers 2 --steps 40

Both train the same classifier (Google's head on BERT, random start) on the
same emotion-layout texts with the same batch, sequence length, learning rate
and warm-up: `run_classifier.py --task_name=emotion`, and
`tests/tf1_scripts/classifier.py` (TPUEstimator, tf_record input with
tf.contrib.data.map_and_batch, create_optimizer) through `python -m legacy`.
The figure of each is its training rate between its first and its last
progress line, timed as the lines arrive, so start-up, data conversion,
graph building and the first steps' tracing are not in it. The two runs take
turns (--repeats times) so a disturbance hits both.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from bench import data, report  # noqa: E402
from bench.common import cores, log  # noqa: E402

SCRIPT = os.path.join(ROOT, "tests", "tf1_scripts", "classifier.py")
STEP = re.compile(r"step = (\d+)/(\d+)")
NUM_LABELS = 7


def write_inputs(args, workdir: str) -> dict:
  """vocab.txt, bert_config.json and the emotion layout's three files."""
  vocab = data.synthetic_vocab(2000)
  vocab_file = os.path.join(workdir, "vocab.txt")
  data.write_vocab(vocab, vocab_file)
  config = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": args.hidden,
    "initializer_range": 0.02,
    "intermediate_size": 4 * args.hidden,
    "max_position_embeddings": 512,
    "num_attention_heads": max(1, args.hidden // 64),
    "num_hidden_layers": args.layers,
    "type_vocab_size": 2,
    "vocab_size": len(vocab),
  }
  config_file = os.path.join(workdir, "bert_config.json")
  with open(config_file, "w") as f:
    json.dump(config, f)
  data_dir = os.path.join(workdir, "data")
  os.makedirs(data_dir)
  texts = data.make_texts(data.text_words(vocab), args.batch * args.steps, args.seq, seed=1)
  for name, rows in (("train", texts), ("val", texts[:8]), ("test", texts[:8])):
    with open(os.path.join(data_dir, "fine_tuning_%s_data.tsv" % name), "w") as f:
      f.write("label\ttext\n")
      for i, text in enumerate(rows):
        f.write("%d\t%s\n" % (i % NUM_LABELS, text))
  return {"vocab": vocab_file, "config": config_file, "data": data_dir}


def common_flags(args, inputs: dict, output_dir: str) -> list[str]:
  return [
    "--do_train=true",
    "--data_dir=" + inputs["data"],
    "--vocab_file=" + inputs["vocab"],
    "--bert_config_file=" + inputs["config"],
    "--output_dir=" + output_dir,
    "--max_seq_length=%d" % args.seq,
    "--train_batch_size=%d" % args.batch,
    "--learning_rate=2e-5",
    "--num_train_epochs=1",
    "--save_checkpoints_steps=100000",
  ]


def timed_rate(command: list[str]) -> float:
  """Runs `command`; steps/s between its first and last progress line (by arrival time)."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
  proc = subprocess.Popen(
    command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT
  )
  seen = []
  tail = []
  for line in proc.stderr:
    tail = (tail + [line])[-40:]
    found = STEP.search(line)
    if found and "steps/s" in line:
      seen.append((time.time(), int(found[1])))
  if proc.wait() != 0:
    raise SystemExit("training failed:\n" + "".join(tail))
  if len(seen) < 2 or seen[-1][1] == seen[0][1]:
    raise SystemExit("too few progress lines to time: %s" % seen)
  return (seen[-1][1] - seen[0][1]) / (seen[-1][0] - seen[0][0])


def main(argv=None) -> int:
  """Prints the machine facts, each run's rate and the ratio Estimator / run_classifier.py."""
  p = argparse.ArgumentParser(description="bert-run-tf1 TPUEstimator vs run_classifier.py training")
  p.add_argument("--hidden", type=int, default=256)
  p.add_argument("--layers", type=int, default=4)
  p.add_argument("--seq", type=int, default=128)
  p.add_argument("--batch", type=int, default=16)
  p.add_argument("--steps", type=int, default=60)
  p.add_argument("--repeats", type=int, default=2)
  args = p.parse_args(argv)
  machine = report.machine_info()
  rates: dict[str, list[float]] = {"run_classifier.py": [], "bert-run-tf1 TPUEstimator": []}
  with tempfile.TemporaryDirectory(prefix="bert-tf1-bench-") as workdir:
    inputs = write_inputs(args, workdir)
    for repeat in range(args.repeats):
      for number, name in enumerate(rates):
        output_dir = os.path.join(workdir, "out-%d-%d" % (repeat, number))
        if name == "run_classifier.py":
          command = [sys.executable, os.path.join(ROOT, "run_classifier.py"), "--task_name=emotion"]
        else:
          command = [sys.executable, "-m", "legacy", SCRIPT]
        command += common_flags(args, inputs, output_dir)
        log("%s, repeat %d" % (name, repeat + 1))
        rates[name].append(timed_rate(command))
        log("  %.3f steps/s" % rates[name][-1])
  print("machine: %s" % json.dumps(machine))
  print("cores used: %d (TensorFlow's default threads in both)" % cores())
  print(
    "settings: hidden %d, layers %d, seq %d, batch %d, %d steps, %d repeats"
    % (args.hidden, args.layers, args.seq, args.batch, args.steps, args.repeats)
  )
  print("| run | steps/s (median) | examples/s | each repeat |")
  print("|---|---|---|---|")
  medians = {name: statistics.median(values) for name, values in rates.items()}
  for name, values in rates.items():
    print(
      "| %s | %.3f | %.1f | %s |"
      % (name, medians[name], medians[name] * args.batch, ", ".join("%.3f" % v for v in values))
    )
  print(
    "ratio Estimator / run_classifier.py: %.2f"
    % (medians["bert-run-tf1 TPUEstimator"] / medians["run_classifier.py"])
  )
  return 0


if __name__ == "__main__":
  sys.exit(main())
