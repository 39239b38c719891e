"""Result files of run_classifier.py, each written whole or not at all."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
from typing import IO, Iterable, Iterator

logger = logging.getLogger("run_classifier")


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w") -> Iterator[IO]:
  """Opens a temporary file beside `path`; renames it to `path` on success."""
  tmp_path = "%s.tmp-%d" % (path, os.getpid())
  try:
    with open(
      tmp_path, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": "\n"})
    ) as f:
      yield f
    os.replace(tmp_path, path)
  except OSError as e:  # Disk full, read-only folder: name the file.
    raise OSError("cannot write %s: %s" % (path, e.strerror or e)) from e
  finally:
    if os.path.exists(tmp_path):
      os.remove(tmp_path)


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
  """`key = value` lines in sorted key order, logged as Google's."""
  with atomic_write(path) as writer:
    logger.info("***** Eval results *****")
    for key in sorted(result.keys()):
      logger.info("  %s = %s", key, str(result[key]))
      writer.write("%s = %s\n" % (key, str(result[key])))


def write_test_results(path: str, probabilities: Iterable, num_actual_predict_examples: int) -> int:
  """One tab-separated line of probabilities per real example, no header."""
  num_written_lines = 0
  with atomic_write(path) as writer:
    logger.info("***** Predict results *****")
    for i, prediction in enumerate(probabilities):
      if i >= num_actual_predict_examples:
        break
      output_line = "\t".join(str(class_probability) for class_probability in prediction) + "\n"
      writer.write(output_line)
      num_written_lines += 1
    if num_written_lines != num_actual_predict_examples:
      raise RuntimeError(
        "wrote %d predictions for %d test examples"
        % (num_written_lines, num_actual_predict_examples)
      )
  return num_written_lines


def write_json(path: str, value) -> None:
  """Pretty JSON, atomically."""
  with atomic_write(path) as f:
    json.dump(value, f, indent=2, ensure_ascii=False)
    f.write("\n")
