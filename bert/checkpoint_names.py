"""What a missing checkpoint's error says, shared by the TensorFlow-free
early checks and `bert.checkpoint` (this module imports no TensorFlow)."""

from __future__ import annotations

import os
import re

DATA_SUFFIX = ".data-00000-of-00001"
STATE_FILENAME = "checkpoint"


def no_checkpoint_in_directory(path: str) -> str:
  """The message for a directory with no `checkpoint` state file in it."""
  return (
    "No checkpoint in directory %s: expected a `checkpoint` state file "
    "or pass a prefix such as %s" % (path, os.path.join(path, "bert_model.ckpt"))
  )


def no_checkpoint_at(path: str) -> str:
  """The message for a prefix whose `.index` file does not exist."""
  hint = ""
  if path.endswith((".index", ".meta")) or DATA_SUFFIX[:5] in path:
    hint = " (a checkpoint is named by its prefix: drop the file extension, e.g. %s)" % re.sub(
      r"\.(index|meta|data-.*)$", "", path
    )
  return "No checkpoint at %s: %s.index does not exist%s" % (path, path, hint)


def local_checkpoint_problem(path: str) -> str | None:
  """For a local --init_checkpoint, the message if nothing is there."""
  if os.path.isdir(path):
    if not os.path.isfile(os.path.join(path, STATE_FILENAME)):
      return no_checkpoint_in_directory(path)
    return None
  if not os.path.exists(path + ".index"):
    return no_checkpoint_at(path)
  return None
