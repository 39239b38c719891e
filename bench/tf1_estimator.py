#!/usr/bin/env python3
"""Training speed of a Google-style TPUEstimator script under bert-run-tf1 vs run_classifier.py.

    python bench/tf1_estimator.py   # hidden 256, 4 layers, seq 128, batch 16, 40 steps, 3 repeats
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

from bench import fairness, multiworker, report  # noqa: E402
from bench.common import cores, log  # noqa: E402

SCRIPT = os.path.join(ROOT, "tests", "tf1_scripts", "classifier.py")
STEP = re.compile(r"step = (\d+)/(\d+)")


def write_inputs(args, workdir: str) -> dict:
  """vocab.txt, bert_config.json (those of bench/multiworker.py) and the emotion layout's
  three files, which share its `label<TAB>text` rows with a header."""
  inputs = multiworker.write_inputs(args, workdir)
  with open(os.path.join(inputs["data"], "train.tsv")) as f:
    rows = f.readlines()
  for name, count in (("train", len(rows)), ("val", 9), ("test", 9)):
    with open(os.path.join(inputs["data"], "fine_tuning_%s_data.tsv" % name), "w") as f:
      f.writelines(rows[:count])
  return inputs


def common_flags(args, inputs: dict, output_dir: str) -> list[str]:
  """The flags both runs share: bench/multiworker.py's training, at learning rate 2e-5."""
  return multiworker.training_flags(args, inputs, output_dir) + ["--learning_rate=2e-5"]


def timed_rate(command: list[str]) -> tuple[float, float]:
  """Runs `command`; between its first and last progress line (by arrival time):
  (steps per wall second, steps per CPU second of the training process)."""
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
      seen.append((time.time(), fairness.process_cpu_seconds(proc.pid), int(found[1])))
  if proc.wait() != 0:
    raise SystemExit("training failed:\n" + "".join(tail))
  if len(seen) < 2 or seen[-1][2] == seen[0][2]:
    raise SystemExit("too few progress lines to time: %s" % seen)
  steps = seen[-1][2] - seen[0][2]
  return steps / (seen[-1][0] - seen[0][0]), steps / (seen[-1][1] - seen[0][1])


def main(argv=None) -> int:
  """Prints the machine facts, each run's rate and the ratio Estimator / run_classifier.py."""
  p = argparse.ArgumentParser(description="bert-run-tf1 TPUEstimator vs run_classifier.py training")
  p.add_argument("--hidden", type=int, default=256)
  p.add_argument("--layers", type=int, default=4)
  p.add_argument("--seq", type=int, default=128)
  p.add_argument("--batch", type=int, default=16)
  p.add_argument("--steps", type=int, default=40)
  p.add_argument("--repeats", type=int, default=3)
  args = p.parse_args(argv)
  machine = report.machine_info()
  names = ("run_classifier.py", "bert-run-tf1 TPUEstimator")
  wall: dict[str, list[float]] = {name: [] for name in names}
  cpu: dict[str, list[float]] = {name: [] for name in names}
  with tempfile.TemporaryDirectory(prefix="bert-tf1-bench-") as workdir:
    inputs = write_inputs(args, workdir)
    for repeat in range(args.repeats):
      for number, name in enumerate(names):
        output_dir = os.path.join(workdir, "out-%d-%d" % (repeat, number))
        if number == 0:
          command = [sys.executable, os.path.join(ROOT, "run_classifier.py"), "--task_name=emotion"]
        else:
          command = [sys.executable, "-m", "legacy", SCRIPT]
        command += common_flags(args, inputs, output_dir)
        log("%s, repeat %d" % (name, repeat + 1))
        rate, cpu_rate = timed_rate(command)
        wall[name].append(rate)
        cpu[name].append(cpu_rate)
        log("  %.3f steps/s, %.3f steps per CPU second" % (rate, cpu_rate))
  print("machine: %s" % json.dumps(machine))
  print("cores used: %d (TensorFlow's default threads in both)" % cores())
  print(
    "settings: hidden %d, layers %d, seq %d, batch %d, %d steps, %d repeats"
    % (args.hidden, args.layers, args.seq, args.batch, args.steps, args.repeats)
  )
  print(
    "| run | steps/s (median) | examples/s | steps per CPU s (median) | each repeat (steps/s) |"
  )
  print("|---|---|---|---|---|")
  for name in names:
    print(
      "| %s | %.3f | %.1f | %.3f | %s |"
      % (
        name,
        statistics.median(wall[name]),
        statistics.median(wall[name]) * args.batch,
        statistics.median(cpu[name]),
        ", ".join("%.3f" % v for v in wall[name]),
      )
    )
  pairs = [e / r for e, r in zip(wall[names[1]], wall[names[0]])]
  print(
    "ratio Estimator / run_classifier.py: %.2f by wall time (median of the %d back-to-back pairs; "
    "each %s), %.2f by CPU time"
    % (
      statistics.median(pairs),
      len(pairs),
      ", ".join("%.2f" % p for p in pairs),
      statistics.median(cpu[names[1]]) / statistics.median(cpu[names[0]]),
    )
  )
  return 0


if __name__ == "__main__":
  sys.exit(main())
