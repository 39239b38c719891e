"""Which files a server reads, found and checked before any worker starts.

As in bert-as-service 1.10.0, `vocab.txt` and the JSON config always come from
`-model_dir`; the checkpoint comes from `-tuned_model_dir` when given. Beyond
it, a run_classifier output folder is served without renaming: when the named
checkpoint is absent, `-ckpt_name model.ckpt` (or the default
`bert_model.ckpt`) falls back to the newest `model.ckpt-N` of the folder.

Pure Python (no TensorFlow), so a bad path fails fast with a clear message: a
missing or unreadable file is a `bert.errors.InputError` naming it.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re

from bert import model_folder
from bert.errors import InputError
from serving import logs

DEFAULT_CKPT_NAME = "bert_model.ckpt"
LABEL_FILES = (model_folder.LABELS_FILENAME, "label_list.txt")

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
  """

  vocab_file: str
  config_file: str
  checkpoint: str
  bert_config: dict
  labels: tuple | None = None


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


def resolve(
  model_dir: str,
  tuned_model_dir: str | None = None,
  ckpt_name: str = DEFAULT_CKPT_NAME,
  config_name: str = model_folder.BERT_CONFIG_FILENAME,
) -> ModelFiles:
  """Finds and checks the files named by the `-model_dir` group of flags.

  Raises:
    InputError: a directory or file is missing or unreadable, or the config
      or a label file is not valid.
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
  return ModelFiles(vocab_file, config_file, checkpoint, bert_config, read_labels(directories))
