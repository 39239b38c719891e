"""The contract of a model folder, in one place and without TensorFlow.

A model folder is what `run_classifier.py` leaves in --output_dir and what the
exporters and the server read: the checkpoints with their `checkpoint` state
file, `vocab.txt`, `bert_config.json`, `labels.json` (the label names in the
order of the output layer) and `run_config.json` (the flags that matter to
later tools). This module names those files, reads and checks labels, parses
and formats the state file, and writes files and folders so that a reader
never sees half of one.

`open_folder` reads a whole folder once into a `ModelFolder`: its checkpoint
(`find_checkpoint`, the one finder), bert_config.json (`bert.model_config`),
vocab.txt, labels and the settings the model was trained with, with one set of
errors in the words of the tool that asks (`Naming`). The exporters and the
server (`serving.files`, with bert-as-service's flags) read folders through it.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
from collections.abc import Sequence

from bert import errors, model_config, windows
from bert.errors import InputError

# Files and folders written so that a reader never sees half of one; they live with the
# other writing helpers and keep these names here.
from bert.target_folder import atomic_write as atomic_write
from bert.target_folder import replace_folder as replace_folder
from bert.target_folder import staging_folder as staging_folder
from bert.target_folder import write_json as write_json

VOCAB_FILENAME = "vocab.txt"
BERT_CONFIG_FILENAME = "bert_config.json"
LABELS_FILENAME = "labels.json"
RUN_CONFIG_FILENAME = "run_config.json"
CHECKPOINT_STATE_FILENAME = "checkpoint"
CHECKPOINT_DATA_SUFFIX = ".data-00000-of-00001"
PRETRAINED_CHECKPOINT = "bert_model.ckpt"  # the prefix of Google's released checkpoints
EXPORT_INFO_FILENAME = "export_info.json"  # what bert-export-serving records in its folder
LABEL_LIST_FILENAME = "label_list.txt"  # bert-as-service's label file: one name a line
LABEL_FILES = (LABELS_FILENAME, LABEL_LIST_FILENAME)
DEFAULT_MULTI_LABEL_THRESHOLD = 0.5

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


def read_run_config(folder: str) -> dict | None:
  """`folder/run_config.json` as a dict, or None when the folder has none.

  Raises InputError naming the file when it is not a JSON object.
  """
  path = os.path.join(folder, RUN_CONFIG_FILENAME)
  return read_json_object(path) if os.path.isfile(path) else None


def read_json_object(path: str) -> dict:
  """The JSON object in the file `path` (a BOM allowed).

  Raises:
    InputError: naming the file, when it cannot be read or holds no JSON object.
  """
  try:
    with open(path, encoding="utf-8-sig") as f:
      value = json.load(f)
  except OSError as e:
    raise InputError(errors.cannot("read", path, e)) from None
  except ValueError as e:  # UnicodeDecodeError included
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


def _without_extension(name: str) -> str | None:
  """`name` without a checkpoint file's extension (.index, .meta, .data-*), or None
  when it has none: a checkpoint is named by its prefix."""
  if not re.search(r"\.(index|meta|data-\d+-of-\d+)$", name):
    return None
  return re.sub(r"\.(index|meta|data-.*)$", "", name)


def no_checkpoint_at(path: str) -> str:
  """The message for a prefix whose `.index` file does not exist."""
  prefix = _without_extension(path)
  hint = "" if prefix is None else " " + NAMING.prefix_hint % prefix
  return "No checkpoint at %s: %s.index does not exist%s" % (path, path, hint)


def local_checkpoint(path: str, error: type[InputError] = InputError) -> str:
  """The prefix that a local checkpoint argument names: itself, or a folder's newest
  (its `checkpoint` state file). `error` when there is none."""
  if os.path.isdir(path):
    try:
      newest = newest_local_checkpoint(path)
    except (OSError, UnicodeDecodeError) as e:
      raise error(errors.cannot("read", path, e)) from None
    if newest is None:
      raise error(no_checkpoint_in_directory(path))
    return newest
  if not os.path.isfile(path + ".index"):
    raise error(no_checkpoint_at(path))
  return path


def local_checkpoint_problem(path: str) -> str | None:
  """What is wrong with a local checkpoint argument (folder or prefix), or None."""
  try:
    local_checkpoint(path)
  except InputError as e:
    return str(e)
  return None


# -- a whole model folder, read once ------------------------------------------


@dataclasses.dataclass(frozen=True)
class Naming:
  """How a tool's messages about a model folder read, and the error class they raise.

  Attributes:
    error: the InputError subclass raised for anything wrong with the folder.
    folder_flag: how messages name the folder ("--output_dir", "output_dir",
      "-model_dir").
    checkpoint_flag: the flag that names a checkpoint, for "pass --checkpoint=...".
    prefix_hint: what follows a checkpoint named with a file's extension; `%s`
      is the name without it.
  """

  error: type[InputError] = InputError
  folder_flag: str = "--output_dir"
  checkpoint_flag: str = "--checkpoint"
  prefix_hint: str = "(a checkpoint is named by its prefix: drop the file extension, e.g. %s)"


NAMING = Naming()


@dataclasses.dataclass(frozen=True)
class ModelFolder:
  """A model's files and the settings it was trained with, found and checked once.

  Attributes:
    vocab_file: path of vocab.txt.
    config_file: path of the BERT JSON config.
    checkpoint: a checkpoint prefix (`<prefix>.index` exists).
    bert_config: the JSON config as a dict.
    labels: the label names in the order of the output layer, or None.
    multi_label: the head scores each label with its own sigmoid.
    multi_label_threshold: the probability from which a label counts as
      predicted, as the folder records it (multi-label only).
    trained: how texts became the model's inputs in training, as the folder
      records it: any of `max_seq_length`, `do_lower_case`, `doc_stride`,
      `window_pooling`, each checked.
    settings_file: the file the settings come from (run_config.json, or an
      export's export_info.json), or None.
    settings: everything that file records (task_name, init_checkpoint, ...).
    folder: the folder the model was read from, or None.
  """

  vocab_file: str
  config_file: str
  checkpoint: str
  bert_config: dict
  labels: tuple[str, ...] | None = None
  multi_label: bool = False
  multi_label_threshold: float = DEFAULT_MULTI_LABEL_THRESHOLD
  trained: dict = dataclasses.field(default_factory=dict)
  settings_file: str | None = None
  settings: dict = dataclasses.field(default_factory=dict)
  folder: str | None = None

  @property
  def doc_stride(self) -> int:
    """The --doc_stride the model was trained with; 0 for texts cut at max_seq_length."""
    return self.trained.get("doc_stride", 0)

  @property
  def window_pooling(self) -> str:
    """How the windows' logits of one text are pooled ("mean" or "max")."""
    return self.trained.get("window_pooling", windows.POOLINGS[0])

  @property
  def classifier_dropout(self) -> float:
    """The dropout rate the classifier head trained with."""
    return model_config.head_dropout(self.bert_config)


def open_folder(
  folder: str,
  checkpoint: str | None = None,
  naming: Naming = NAMING,
  vocab_file: str | None = None,
  config_file: str | None = None,
) -> ModelFolder:
  """Reads the model folder `folder` (a run_classifier.py output, a pre-trained model,
  an export) without TensorFlow.

  `checkpoint` is as for `find_checkpoint`; `vocab_file` and `config_file`, when
  given, replace the folder's own. Otherwise each is the folder's own file, else
  the existing one that its settings record (`vocab_file`, `bert_config_file`).

  Raises:
    `naming.error` naming the file at fault; the folder must exist.
  """
  try:
    found = find_settings([folder])
    settings = found[1] if found else {}
    prefix = find_checkpoint(folder, checkpoint, naming)
    vocab_file = vocab_file or _model_file(folder, found, VOCAB_FILENAME, "vocab_file")
    config_file = config_file or _model_file(
      folder, found, BERT_CONFIG_FILENAME, "bert_config_file"
    )
    multi_label, threshold = read_multi_label(found)
    return ModelFolder(
      vocab_file,
      config_file,
      prefix,
      model_config.read_bert_config(config_file),
      find_labels([folder], settings, found[0] if found else None),
      multi_label,
      threshold,
      read_trained(found),
      found[0] if found else None,
      settings,
      folder,
    )
  except InputError as e:
    if isinstance(e, naming.error):
      raise
    raise naming.error(str(e)) from None


def _model_file(folder: str, found: tuple[str, dict] | None, filename: str, key: str) -> str:
  """The folder's own `filename`, else the existing file its settings record under `key`."""
  own = os.path.join(folder, filename)
  if os.path.isfile(own):
    return own
  recorded = recorded_file(folder, found[1], key) if found else None
  if recorded is None:
    raise InputError("no %s in %s" % (filename, folder))
  if not os.path.isfile(recorded):
    raise InputError(
      "no %s in %s, and the %s %s that %s records does not exist"
      % (filename, folder, key, recorded, os.path.basename(found[0]))
    )
  return recorded


def _checkpoints_in(folder: str) -> list[str]:
  """The checkpoint prefixes (file names) in `folder`, by step then name."""
  pattern = os.path.join(glob.escape(folder), "*.index")
  names = [os.path.basename(path)[: -len(".index")] for path in glob.glob(pattern)]

  def order(name: str) -> tuple:
    step = re.search(r"-(\d+)$", name)
    return (int(step.group(1)) if step else -1, name)

  return sorted(names, key=order)


def _listing(folder: str, naming: Naming) -> str:
  """ " (output_dir has a, b); pass --checkpoint=b", or "" when the folder has none."""
  found = _checkpoints_in(folder)
  if not found:
    return ""
  return " (%s has %s); pass %s=%s" % (
    naming.folder_flag or folder,
    ", ".join(found),
    naming.checkpoint_flag,
    found[-1],
  )


def newest_numbered(stem: str) -> str | None:
  """The `<stem>-N` prefix with the largest N whose .index exists."""
  steps = []
  for index in glob.glob(glob.escape(stem) + "-*.index"):
    m = re.match(r"^-(\d+)\.index$", index[len(stem) :])
    if m:
      steps.append(int(m.group(1)))
  return "%s-%d" % (stem, max(steps)) if steps else None


def find_checkpoint(
  folder: str, name: str | None = None, naming: Naming = NAMING, bert_as_service: bool = False
) -> str:
  """The checkpoint prefix of a model folder, found without TensorFlow.

  `name` is a prefix relative to `folder`, or a path (relative to the working
  directory); a folder stands for its newest checkpoint. Without `name`: the
  newest checkpoint that the folder's `checkpoint` state file names (a state
  file naming none that exists is an error), else `bert_model.ckpt` (Google's
  released name).

  `bert_as_service` follows bert-as-service's -ckpt_name instead: a name is a
  prefix inside `folder` only, and one that is not there stands for the newest
  `<name>-N`; without a name, a state file naming none that exists is passed
  over and the last resort is the newest `model.ckpt-N`.

  Raises:
    `naming.error`: none of them exists; the message lists the folder's checkpoints.
  """
  if name:
    return _named_checkpoint(folder, name, naming, bert_as_service)
  state_file = os.path.join(folder, CHECKPOINT_STATE_FILENAME)
  if os.path.isfile(state_file):
    try:
      newest = newest_local_checkpoint(folder)
    except (OSError, UnicodeDecodeError) as e:
      why = errors.os_reason(e)
      raise naming.error("cannot read %s: %s" % (state_file, why)) from None
    if newest is not None:
      return newest
    if not bert_as_service:
      raise naming.error(
        "%s names no existing checkpoint%s" % (state_file, _listing(folder, naming))
      )
  pretrained = os.path.join(folder, PRETRAINED_CHECKPOINT)
  if os.path.isfile(pretrained + ".index"):
    return pretrained
  found = newest_numbered(os.path.join(folder, "model.ckpt")) if bert_as_service else None
  if found:
    return found
  raise naming.error(
    "no checkpoint in %s: no `%s` state file naming one, and no %s.index%s"
    % (
      " ".join(part for part in (naming.folder_flag, folder) if part),
      CHECKPOINT_STATE_FILENAME,
      PRETRAINED_CHECKPOINT,
      _listing(folder, naming),
    )
  )


def _named_checkpoint(folder: str, name: str, naming: Naming, bert_as_service: bool) -> str:
  inside = os.path.join(folder, name)
  candidates = [inside] if bert_as_service else [inside, os.path.abspath(name)]
  for candidate in candidates:
    if os.path.isfile(candidate + ".index"):
      return candidate
    if os.path.isdir(candidate):
      return local_checkpoint(candidate, naming.error)
  found = newest_numbered(inside) if bert_as_service else None
  if found:
    return found
  prefix = _without_extension(name)
  hint = "" if prefix is None else " " + naming.prefix_hint % prefix
  raise naming.error(
    "no checkpoint %s: %s.index does not exist%s%s" % (name, inside, hint, _listing(folder, naming))
  )


def find_settings(directories: Sequence[str]) -> tuple[str, dict] | None:
  """(path, dict) of the first folder that records how its model was trained, or None.

  A folder records it in run_config.json, or (a bert-export-serving export) in
  export_info.json.

  Raises:
    InputError: the file is not a JSON object.
  """
  for directory in directories:
    for name in (RUN_CONFIG_FILENAME, EXPORT_INFO_FILENAME):
      path = os.path.join(directory, name)
      if os.path.isfile(path):
        return path, read_json_object(path)
  return None


def read_multi_label(found: tuple[str, dict] | None) -> tuple[bool, float]:
  """(multi_label, threshold) from what `find_settings` found.

  Without recorded settings, or without a `"multi_label": true` there, the
  head is single-label. The threshold defaults to 0.5.
  """
  if found is None:
    return False, DEFAULT_MULTI_LABEL_THRESHOLD
  path, settings = found
  flag = settings.get("multi_label", False)
  if flag is not None and not isinstance(flag, bool):
    raise InputError("%s: multi_label must be true or false, not %r" % (path, flag))
  if not flag:
    return False, DEFAULT_MULTI_LABEL_THRESHOLD
  threshold = settings.get("multi_label_threshold", DEFAULT_MULTI_LABEL_THRESHOLD)
  if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
    raise InputError("%s: multi_label_threshold must be a number, not %r" % (path, threshold))
  if not 0.0 <= threshold <= 1.0:
    raise InputError("%s: multi_label_threshold %r is not between 0 and 1" % (path, threshold))
  return True, float(threshold)


def _is_int(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


# Recorded setting -> (its rule, what the rule expects, for messages).
_TRAINED_RULES = {
  "max_seq_length": (lambda v: _is_int(v) and v > 3, "an int > 3"),
  "do_lower_case": (lambda v: isinstance(v, bool), "true or false"),
  "doc_stride": (lambda v: _is_int(v) and v >= 0, "an int >= 0"),
  "window_pooling": (lambda v: v in windows.POOLINGS, " or ".join(windows.POOLINGS)),
}


def read_trained(found: tuple[str, dict] | None) -> dict:
  """The recorded settings that decide how texts become the model's inputs.

  Keys present only when recorded: `max_seq_length` (int > 3),
  `do_lower_case` (bool), `doc_stride` (int >= 0) and `window_pooling`
  ("mean" or "max").

  Raises:
    InputError: naming the file, the setting and what it must be.
  """
  if found is None:
    return {}
  path, settings = found
  trained = {}
  for key, (valid, expected) in _TRAINED_RULES.items():
    value = settings.get(key)
    if value is None:
      continue
    if not valid(value):
      raise InputError("%s: %s must be %s, not %r" % (path, key, expected, value))
    trained[key] = value
  return trained


def find_labels(
  directories: Sequence[str], settings: dict | None = None, settings_file: str | None = None
) -> tuple[str, ...] | None:
  """The label names of the first folder with labels.json or label_list.txt, else the
  `label_list` its settings record (`settings_file` names them), else None.

  labels.json holds a JSON list of strings; label_list.txt one name a line.
  Either must follow `check_labels` (LabelsError otherwise).
  """
  for directory in directories:
    for name in LABEL_FILES:
      path = os.path.join(directory, name)
      if not os.path.isfile(path):
        continue
      try:
        with open(path, encoding="utf-8-sig") as f:
          text = f.read()
      except (OSError, UnicodeDecodeError) as e:
        why = errors.os_reason(e)
        raise LabelsError("cannot read %s: %s" % (path, why)) from None
      if name == LABELS_FILENAME:
        return tuple(parse_labels(text, path))
      lines = [line.strip() for line in text.splitlines() if line.strip()]
      return tuple(check_labels(lines, path))
  if settings and settings.get("label_list") is not None:
    return tuple(check_labels(settings["label_list"], "%s label_list" % settings_file))
  return None
