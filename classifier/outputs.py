"""Result files of run_classifier.py, each written whole or not at all."""

from __future__ import annotations

import itertools
import logging
import os
import re
import shutil
from collections.abc import Iterable

from bert.model_folder import atomic_write

logger = logging.getLogger(__name__)


# Temporary names of this package: "<file>.tmp-<pid>", ".tmp-<pid>-<ckpt>.*",
# "<record file>.chunks-<pid>-*" (folders) and the state file's "checkpoint.tmp".
_TEMPORARY_NAME = re.compile(r"(?:^|\.)(?:tmp|chunks)-(\d+)(?:-|$)")


def _is_running(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except OSError:  # Exists, owned by another user.
    return True
  return True


def remove_orphans(output_dir: str) -> list[str]:
  """Removes the temporary files that killed runs left in `output_dir`.

  A file or folder with one of our temporary names whose process is gone is
  deleted (so a half-written 100 MB checkpoint no longer fills the disk of
  every re-run); those of running processes are left alone. Returns the
  names removed.
  """
  removed = []
  for name in sorted(os.listdir(output_dir)):
    match = _TEMPORARY_NAME.search(name)
    if name != "checkpoint.tmp" and not (match and not _is_running(int(match.group(1)))):
      continue
    path = os.path.join(output_dir, name)
    if os.path.isdir(path):
      shutil.rmtree(path, ignore_errors=True)
    else:
      os.remove(path)
    removed.append(name)
  if removed:
    logger.warning(
      "Removed %d temporary file(s) left in %s by an earlier run that stopped: %s",
      len(removed),
      output_dir,
      ", ".join(removed),
    )
  return removed


def write_eval_results(path: str, result: dict) -> None:
  """Writes `name = value` lines sorted by name, and logs them under Google's banner."""
  lines = ["%s = %s" % (name, result[name]) for name in sorted(result)]
  with atomic_write(path) as writer:
    logger.info("***** Eval results *****")
    for line in lines:
      logger.info("  %s", line)
      writer.write(line + "\n")


def write_test_results(path: str, probabilities: Iterable, num_actual_predict_examples: int) -> int:
  """Writes the first `num_actual_predict_examples` rows of class probabilities, tab-separated.

  Rows beyond that count are TPU padding and are left out; there is no header.
  Returns the number of rows written.
  """
  rows = itertools.islice(probabilities, num_actual_predict_examples)
  written = 0
  with atomic_write(path) as writer:
    logger.info("***** Predict results *****")
    for row in rows:
      writer.write("\t".join(map(str, row)) + "\n")
      written += 1
    if written != num_actual_predict_examples:
      raise RuntimeError(
        "wrote %d predictions for %d test examples" % (written, num_actual_predict_examples)
      )
  return written
