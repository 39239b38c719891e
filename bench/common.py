"""What every part of the bench shares: fixed settings, logging, core count, the
subprocess jobs and the FLOP count of a training step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTRY_POINT = os.path.join(ROOT, "bench", "bench.py")

NUM_LABELS = 2
LEARNING_RATE = 2e-5
SEED = 12345


def probability_agreement(reference, other) -> tuple[float, float]:
  """Two runs' probabilities (NumPy arrays [examples, labels]) compared: the largest
  |difference| and the share of rows with the same argmax."""
  gap = float(abs(reference - other).max()) if reference.size else 0.0
  same = float((reference.argmax(-1) == other.argmax(-1)).mean()) if len(reference) else 1.0
  return gap, same


def log(msg: str) -> None:
  """A timestamped progress line on stderr (stdout carries the report)."""
  stamp = time.strftime("%H:%M:%S")
  print("[bench %s] %s" % (stamp, msg), file=sys.stderr, flush=True)


def cores() -> int:
  """CPU cores this process may run on."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


def run_job(
  kind: str,
  spec: dict,
  env: dict | None = None,
  timeout: float = 3600,
  python: str | None = None,
) -> dict:
  """Runs `bench.py --_job KIND SPEC_FILE` in a new Python process (`python`,
  default this one) and returns the JSON object it prints last. A fresh process
  keeps memory figures and thread pools of one measurement out of the next."""
  handle, spec_file = tempfile.mkstemp(suffix=".json", prefix="bench-job-")
  with os.fdopen(handle, "w") as f:
    json.dump(spec, f)
  command = [python or sys.executable, ENTRY_POINT, "--_job", kind, spec_file]
  try:
    proc = subprocess.run(
      command,
      capture_output=True,
      text=True,
      timeout=timeout,
      cwd=ROOT,
      env=env or dict(os.environ),
    )
  finally:
    os.remove(spec_file)
  if proc.returncode != 0:
    raise RuntimeError("%s job failed (rc %d): %s" % (kind, proc.returncode, proc.stderr[-3000:]))
  last_line = proc.stdout.strip().splitlines()[-1]
  return json.loads(last_line)


def encoder_matmul_params(cfg: dict) -> int:
  """Weights the encoder multiplies by per token: per layer the four attention
  projections (H x H) and the two feed-forward ones (H x I)."""
  hidden, inner = cfg["hidden_size"], cfg["intermediate_size"]
  per_layer = 4 * hidden * hidden + 2 * hidden * inner
  return cfg["num_hidden_layers"] * per_layer


def train_flops(cfg: dict, shapes: Iterable[tuple[int, int]]) -> float:
  """Matmul FLOPs of one training step per (batch, padded length) in `shapes`,
  summed (the formula is in bench.py's docstring)."""
  params = encoder_matmul_params(cfg)
  hidden, layers = cfg["hidden_size"], cfg["num_hidden_layers"]
  head = hidden * hidden + hidden * NUM_LABELS
  total = 0.0
  for rows, length in shapes:
    forward = 2.0 * rows * length * params + 4.0 * rows * length * length * hidden * layers
    forward += 2.0 * rows * head
    total += 3.0 * forward
  return total
