"""Result files of run_classifier.py, each written whole or not at all."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import IO, Iterable, Iterator

logger = logging.getLogger("run_classifier")


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w") -> Iterator[IO]:
  """Opens a temporary file beside `path`; renames it to `path` on success."""
  tmp_path = "%s.tmp-%d" % (path, os.getpid())
  try:
    with open(tmp_path, mode, **({} if "b" in mode else
                                 {"encoding": "utf-8", "newline": "\n"})) as f:
      yield f
    os.replace(tmp_path, path)
  finally:
    if os.path.exists(tmp_path):
      os.remove(tmp_path)


def write_eval_results(path: str, result: dict) -> None:
  """`key = value` lines in sorted key order, logged as Google's."""
  with atomic_write(path) as writer:
    logger.info("***** Eval results *****")
    for key in sorted(result.keys()):
      logger.info("  %s = %s", key, str(result[key]))
      writer.write("%s = %s\n" % (key, str(result[key])))


def write_test_results(path: str, probabilities: Iterable,
                       num_actual_predict_examples: int) -> int:
  """One tab-separated line of probabilities per real example, no header."""
  num_written_lines = 0
  with atomic_write(path) as writer:
    logger.info("***** Predict results *****")
    for (i, prediction) in enumerate(probabilities):
      if i >= num_actual_predict_examples:
        break
      output_line = "\t".join(
          str(class_probability) for class_probability in prediction) + "\n"
      writer.write(output_line)
      num_written_lines += 1
    if num_written_lines != num_actual_predict_examples:
      raise RuntimeError("wrote %d predictions for %d test examples" %
                         (num_written_lines, num_actual_predict_examples))
  return num_written_lines


def write_json(path: str, value) -> None:
  """Pretty JSON, atomically."""
  with atomic_write(path) as f:
    json.dump(value, f, indent=2, ensure_ascii=False)
    f.write("\n")
