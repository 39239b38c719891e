"""Which files a server reads, found and checked before any worker starts.

As in bert-as-service 1.10.0, `vocab.txt` and the JSON config always come from
`-model_dir`; the checkpoint comes from `-tuned_model_dir` when given. Beyond
it, a run_classifier output folder is served without renaming: when the named
checkpoint is absent, `-ckpt_name model.ckpt` (or the default
`bert_model.ckpt`) falls back to the newest `model.ckpt-N` of the folder.

How the model was trained comes from the folder's `run_config.json` (written
by run_classifier.py) or, in a bert-export-serving folder, from
`export_info.json`: whether the classifier head is multi-label (and at which
threshold), and the sequence length, lower casing and `--doc_stride` windows
the server then uses unless its flags say otherwise (see
`serving.args.apply_trained_settings`).

Pure Python (no TensorFlow), so a bad path fails fast with a clear message: a
missing or unreadable file is a `bert.errors.InputError` naming it.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re

from bert import model_folder, windows
from bert.errors import InputError
from serving import logs

DEFAULT_CKPT_NAME = "bert_model.ckpt"
LABEL_FILES = (model_folder.LABELS_FILENAME, "label_list.txt")
EXPORT_INFO_FILENAME = "export_info.json"  # what bert-export-serving writes
DEFAULT_MULTI_LABEL_THRESHOLD = 0.5

logger = logs.get_logger("VENTILATOR")


@dataclasses.dataclass(frozen=True)
class ModelFiles:
  """Resolved inputs of a server.

  Attributes:
    vocab_file: path of vocab.txt.
    config_file: path of the BERT JSON config.
    checkpoint: a checkpoint prefix (`<prefix>.index` exists).
    bert_config: the JSON config as a dict.
    labels: label names from labels.json / label_list.txt, or None.
    multi_label: the head scores each label with its own sigmoid.
    multi_label_threshold: the probability from which a label counts as
      predicted, as the model folder records it (multi-label only).
    trained: how the model was trained, as the folder records it: any of
      `max_seq_length`, `do_lower_case`, `doc_stride`, `window_pooling`.
    settings_file: the file `trained` comes from, or None.
  """

  vocab_file: str
  config_file: str
  checkpoint: str
  bert_config: dict
  labels: tuple | None = None
  multi_label: bool = False
  multi_label_threshold: float = DEFAULT_MULTI_LABEL_THRESHOLD
  trained: dict = dataclasses.field(default_factory=dict)
  settings_file: str | None = None


def _newest_numbered(stem: str) -> str | None:
  """The `<stem>-N` prefix with the largest N whose .index exists."""
  steps = []
  for index in glob.glob(glob.escape(stem) + "-*.index"):
    m = re.match(r"^-(\d+)\.index$", index[len(stem) :])
    if m:
      steps.append(int(m.group(1)))
  return "%s-%d" % (stem, max(steps)) if steps else None


def _read_text(path: str, encoding: str) -> str:
  """The text of a model file; a file that cannot be read or decoded is an InputError."""
  try:
    with open(path, encoding=encoding) as f:
      return f.read()
  except OSError as e:
    raise InputError("cannot read %s: %s" % (path, e.strerror or e)) from None
  except UnicodeDecodeError as e:
    raise InputError("%s is not %s text: %s" % (path, encoding, e.reason)) from None


def find_checkpoint(directory: str, ckpt_name: str) -> str:
  """Returns the checkpoint prefix for `-ckpt_name` in `directory`.

  Tried in order: `<dir>/<ckpt_name>` itself; the newest
  `<dir>/<ckpt_name>-N`; and, for the default name only, the newest
  checkpoint recorded in `<dir>/checkpoint` or else the newest
  `<dir>/model.ckpt-N`.

  Raises:
    InputError: none of them exists.
  """
  prefix = os.path.join(directory, ckpt_name)
  if os.path.isfile(prefix + ".index"):
    return prefix
  found = _newest_numbered(prefix)
  if found is None and ckpt_name == DEFAULT_CKPT_NAME:
    found = model_folder.newest_local_checkpoint(directory) or _newest_numbered(
      os.path.join(directory, "model.ckpt")
    )
  if found is None:
    hint = ""
    if re.search(r"\.(index|meta|data-\d+-of-\d+)$", ckpt_name):
      hint = " (-ckpt_name is a prefix: drop the extension, e.g. -ckpt_name %s)" % re.sub(
        r"\.(index|meta|data-.*)$", "", ckpt_name
      )
    raise InputError("no checkpoint %s: %s.index does not exist%s" % (prefix, prefix, hint))
  logger.info("checkpoint %s not found, using %s", prefix, found)
  return found


def read_labels(directories) -> tuple | None:
  """Label names from the first labels.json / label_list.txt found.

  labels.json holds a JSON list of strings; label_list.txt one name a line.
  Either must follow `bert.model_folder.check_labels` (LabelsError otherwise).
  """
  for directory in directories:
    for name in LABEL_FILES:
      path = os.path.join(directory, name)
      if not os.path.isfile(path):
        continue
      text = _read_text(path, "utf-8-sig")
      if name == model_folder.LABELS_FILENAME:
        return tuple(model_folder.parse_labels(text, path))
      lines = [line.strip() for line in text.splitlines() if line.strip()]
      return tuple(model_folder.check_labels(lines, path))
  return None


def _settings_of(directory: str) -> tuple[str, dict] | None:
  """(path, dict) of the folder's run_config.json, else of its export_info.json."""
  try:
    run_config = model_folder.read_run_config(directory)
  except OSError as e:
    raise InputError("cannot read %s: %s" % (e.filename, e.strerror or e)) from None
  if run_config is not None:
    return os.path.join(directory, model_folder.RUN_CONFIG_FILENAME), run_config
  path = os.path.join(directory, EXPORT_INFO_FILENAME)
  if not os.path.isfile(path):
    return None
  try:
    info = json.loads(_read_text(path, "utf-8-sig"))
  except ValueError as e:
    raise InputError("%s: not valid JSON: %s" % (path, e)) from None
  if not isinstance(info, dict):
    raise InputError("%s: expected a JSON object" % path)
  return path, info


def find_settings(directories) -> tuple[str, dict] | None:
  """(path, dict) of the first folder that records its run, or None.

  A folder records it in run_config.json, or (an export) in export_info.json.
  """
  for directory in directories:
    found = _settings_of(directory)
    if found is not None:
      return found
  return None


def read_multi_label(directories) -> tuple[bool, float]:
  """(multi_label, threshold) from the first folder that records its run."""
  return _multi_label_of(find_settings(directories))


def _multi_label_of(found: tuple[str, dict] | None) -> tuple[bool, float]:
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


def read_trained(found: tuple[str, dict] | None) -> dict:
  """The recorded settings that decide how texts become the model's inputs.

  Keys present only when recorded: `max_seq_length` (int > 3),
  `do_lower_case` (bool), `doc_stride` (int >= 0) and `window_pooling`
  ("mean" or "max").
  """
  if found is None:
    return {}
  path, settings = found
  trained = {}
  for key, valid, expected in (
    ("max_seq_length", lambda v: _is_int(v) and v > 3, "an int > 3"),
    ("do_lower_case", lambda v: isinstance(v, bool), "true or false"),
    ("doc_stride", lambda v: _is_int(v) and v >= 0, "an int >= 0"),
    ("window_pooling", lambda v: v in windows.POOLINGS, " or ".join(windows.POOLINGS)),
  ):
    value = settings.get(key)
    if value is None:
      continue
    if not valid(value):
      raise InputError("%s: %s must be %s, not %r" % (path, key, expected, value))
    trained[key] = value
  return trained


def _is_int(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def resolve(
  model_dir: str,
  tuned_model_dir: str | None = None,
  ckpt_name: str = DEFAULT_CKPT_NAME,
  config_name: str = model_folder.BERT_CONFIG_FILENAME,
) -> ModelFiles:
  """Finds and checks the files named by the `-model_dir` group of flags.

  Raises:
    InputError: a directory or file is missing or unreadable, or the config,
      a label file or the recorded multi-label settings are not valid.
  """
  for flag, directory in (("-model_dir", model_dir), ("-tuned_model_dir", tuned_model_dir)):
    if directory is not None and not os.path.isdir(directory):
      raise InputError("%s %s is not a directory" % (flag, directory))
  vocab_file = os.path.join(model_dir, model_folder.VOCAB_FILENAME)
  config_file = os.path.join(model_dir, config_name)
  for path in (vocab_file, config_file):
    if not os.path.isfile(path):
      hint = "vocab.txt and the config are always read from -model_dir"
      if _newest_numbered(os.path.join(model_dir, "model.ckpt")):
        hint = (
          "%s looks like a run_classifier output_dir: serve it with "
          "-model_dir <pre-trained model dir> -tuned_model_dir %s, or "
          "export it first (bert-export-serving)" % (model_dir, model_dir)
        )
      raise InputError("%s does not exist (%s)" % (path, hint))
  try:
    bert_config = json.loads(_read_text(config_file, "utf-8"))
  except ValueError as e:
    raise InputError("%s is not valid JSON: %s" % (config_file, e)) from None
  if not isinstance(bert_config, dict) or "vocab_size" not in bert_config:
    raise InputError("%s is not a BERT config (no vocab_size)" % config_file)
  checkpoint = find_checkpoint(tuned_model_dir or model_dir, ckpt_name)
  directories = [d for d in (tuned_model_dir, model_dir) if d]
  found = find_settings(directories)
  multi_label, threshold = _multi_label_of(found)
  return ModelFiles(
    vocab_file,
    config_file,
    checkpoint,
    bert_config,
    read_labels(directories),
    multi_label=multi_label,
    multi_label_threshold=threshold,
    trained=read_trained(found),
    settings_file=found[0] if found else None,
  )
