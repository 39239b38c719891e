"""The contract of a model folder, in one place and without TensorFlow.

A model folder is what `run_classifier.py` leaves in --output_dir and what the
exporters and the server read: the checkpoints with their `checkpoint` state
file, `vocab.txt`, `bert_config.json`, `labels.json` (the label names in the
order of the output layer) and `run_config.json` (the flags that matter to
later tools). This module names those files, reads and checks labels, parses
and formats the state file, and writes files and folders so that a reader
never sees half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from typing import IO, Iterator, Sequence

from bert.errors import InputError, WriteError

VOCAB_FILENAME = "vocab.txt"
BERT_CONFIG_FILENAME = "bert_config.json"
LABELS_FILENAME = "labels.json"
RUN_CONFIG_FILENAME = "run_config.json"
CHECKPOINT_STATE_FILENAME = "checkpoint"
CHECKPOINT_DATA_SUFFIX = ".data-00000-of-00001"

_STATE_NEWEST = re.compile(r'^model_checkpoint_path:\s*"(.*)"\s*$', re.M)
_STATE_EVERY = re.compile(r'^all_model_checkpoint_paths:\s*"(.*)"\s*$', re.M)


class LabelsError(InputError):
  """A label list breaks the rule: non-empty, no repeats, all strings."""


def check_labels(labels: object, source: str) -> list[str]:
  """Returns `labels` as a list if it follows the rule, else raises LabelsError.

  `source` names where the labels came from (a file, a processor) and starts
  the message.
  """
  if not isinstance(labels, (list, tuple)) or not labels:
    raise LabelsError("%s: expected a non-empty list of label strings" % source)
  strange = [label for label in labels if not isinstance(label, str)]
  if strange:
    raise LabelsError("%s: labels must be strings, not %r" % (source, strange[0]))
  seen = set()
  for label in labels:
    if label in seen:
      raise LabelsError("%s: the label %r is listed twice" % (source, label))
    seen.add(label)
  return list(labels)


def parse_labels(text: str, path: str) -> list[str]:
  """The label list held by the JSON `text` of the labels file `path`."""
  try:
    labels = json.loads(text)
  except ValueError as e:
    raise LabelsError("%s: not valid JSON: %s" % (path, e)) from None
  return check_labels(labels, path)


def read_labels(folder: str) -> list[str] | None:
  """`folder/labels.json` checked, or None when the folder has none."""
  path = os.path.join(folder, LABELS_FILENAME)
  if not os.path.isfile(path):
    return None
  with open(path, encoding="utf-8-sig") as f:
    return parse_labels(f.read(), path)


def labels_as_strings(labels: Sequence) -> list[str]:
  """A processor's labels as the strings labels.json stores (ints become "0")."""
  return [label if isinstance(label, str) else str(label) for label in labels]


def write_labels(folder: str, labels: Sequence) -> None:
  """Writes `folder/labels.json` after checking the rule."""
  path = os.path.join(folder, LABELS_FILENAME)
  write_json(path, check_labels(labels_as_strings(labels), path))


def read_folder_labels(folder: str, run_config: dict) -> list[str] | None:
  """The folder's labels: labels.json, else `run_config`'s label_list, else None.

  A list that breaks the rule, or a labels.json that cannot be read, raises
  LabelsError naming the file.
  """
  try:
    labels = read_labels(folder)
  except (OSError, UnicodeDecodeError) as e:
    path = os.path.join(folder, LABELS_FILENAME)
    raise LabelsError("cannot read %s: %s" % (path, getattr(e, "strerror", None) or e)) from None
  if labels is None and run_config.get("label_list") is not None:
    where = "%s label_list" % os.path.join(folder, RUN_CONFIG_FILENAME)
    labels = check_labels(run_config["label_list"], where)
  return labels


def read_run_config(folder: str) -> dict | None:
  """`folder/run_config.json` as a dict, or None when the folder has none.

  Raises InputError naming the file when it is not a JSON object.
  """
  path = os.path.join(folder, RUN_CONFIG_FILENAME)
  if not os.path.isfile(path):
    return None
  try:
    with open(path, encoding="utf-8-sig") as f:
      value = json.load(f)
  except ValueError as e:
    raise InputError("%s: not valid JSON: %s" % (path, e)) from None
  if not isinstance(value, dict):
    raise InputError("%s: expected a JSON object" % path)
  return value


def recorded_file(folder: str, run_config: dict, key: str) -> str | None:
  """The file run_config.json names under `key` (vocab_file, ...), or None when it names none.

  A relative path is taken from `folder`.
  """
  path = run_config.get(key)
  if not isinstance(path, str) or not path:
    return None
  return path if os.path.isabs(path) else os.path.join(folder, path)


def parse_checkpoint_state(text: str) -> list[str]:
  """Prefixes named by a `checkpoint` state file's text, the newest first."""
  newest = _STATE_NEWEST.findall(text)
  if not newest:
    return []
  older = [path for path in reversed(_STATE_EVERY.findall(text)) if path != newest[0]]
  return [newest[0]] + older


def format_checkpoint_state(paths: Sequence[str]) -> str:
  """The text of a state file recording `paths` (oldest first)."""
  lines = ['model_checkpoint_path: "%s"' % paths[-1]]
  lines.extend('all_model_checkpoint_paths: "%s"' % path for path in paths)
  return "\n".join(lines) + "\n"


def newest_local_checkpoint(folder: str) -> str | None:
  """The newest prefix the state file of a local folder names, if its .index exists."""
  path = os.path.join(folder, CHECKPOINT_STATE_FILENAME)
  if not os.path.isfile(path):
    return None
  with open(path, encoding="utf-8") as f:
    recorded = parse_checkpoint_state(f.read())
  if not recorded:
    return None
  prefix = recorded[0] if os.path.isabs(recorded[0]) else os.path.join(folder, recorded[0])
  return prefix if os.path.isfile(prefix + ".index") else None


def no_checkpoint_in_directory(path: str) -> str:
  """The message for a directory with no `checkpoint` state file in it."""
  return (
    "No checkpoint in directory %s: expected a `checkpoint` state file "
    "or pass a prefix such as %s" % (path, os.path.join(path, "bert_model.ckpt"))
  )


def no_checkpoint_at(path: str) -> str:
  """The message for a prefix whose `.index` file does not exist."""
  hint = ""
  if path.endswith((".index", ".meta")) or ".data" in path:
    hint = " (a checkpoint is named by its prefix: drop the file extension, e.g. %s)" % re.sub(
      r"\.(index|meta|data-.*)$", "", path
    )
  return "No checkpoint at %s: %s.index does not exist%s" % (path, path, hint)


def local_checkpoint_problem(path: str) -> str | None:
  """What is wrong with a local checkpoint argument (folder or prefix), or None."""
  if os.path.isdir(path):
    if not os.path.isfile(os.path.join(path, CHECKPOINT_STATE_FILENAME)):
      return no_checkpoint_in_directory(path)
    return None
  if not os.path.exists(path + ".index"):
    return no_checkpoint_at(path)
  return None


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w") -> Iterator[IO]:
  """Yields a temporary file beside `path`, renamed to `path` once written.

  On any failure the temporary file is removed and `path` keeps its old
  content; an OSError becomes a WriteError naming the file.
  """
  tmp_path = "%s.tmp-%d" % (path, os.getpid())
  text_options = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
  try:
    with open(tmp_path, mode, **text_options) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp_path, path)
  except WriteError:
    raise
  except OSError as e:
    raise WriteError("cannot write %s: %s" % (path, e.strerror or e)) from e
  finally:
    if os.path.exists(tmp_path):
      os.remove(tmp_path)


def write_json(path: str, value: object) -> None:
  """Writes `value` as indented UTF-8 JSON, atomically."""
  with atomic_write(path) as f:
    json.dump(value, f, indent=2, ensure_ascii=False)
    f.write("\n")


def staging_folder(target: str) -> str:
  """A new empty folder beside `target` to build its replacement in."""
  parent = os.path.dirname(os.path.abspath(target))
  os.makedirs(parent, exist_ok=True)
  return tempfile.mkdtemp(prefix=".%s.tmp-" % os.path.basename(target), dir=parent)


def replace_folder(staging: str, target: str) -> bool:
  """Moves the finished folder `staging` to `target`, replacing what is there.

  An old non-empty `target` is first renamed aside and deleted only once the
  new folder is in place; if the final rename fails, the old folder is put
  back. `staging` gets the permissions of a newly made folder (mkdtemp makes
  it private). Returns True when an earlier non-empty folder was replaced.
  """
  umask = os.umask(0o022)
  os.umask(umask)
  os.chmod(staging, 0o777 & ~umask)
  if os.path.isdir(target) and not os.listdir(target):
    os.rmdir(target)
  if not os.path.lexists(target):
    os.rename(staging, target)
    return False
  aside = tempfile.mkdtemp(
    prefix=".%s.old-" % os.path.basename(target), dir=os.path.dirname(os.path.abspath(target))
  )
  os.rmdir(aside)
  os.rename(target, aside)
  try:
    os.rename(staging, target)
  except OSError:
    os.rename(aside, target)
    raise
  shutil.rmtree(aside, ignore_errors=True)
  return True
