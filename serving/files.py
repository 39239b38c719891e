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

The files are read through `bert.model_folder` (the checkpoint finder, the
labels, the recorded settings and their checks) into a `ModelFolder`, which the
server calls `ModelFiles`; only the JSON config is read here, as bert-as-service
reads it (any JSON object with a `vocab_size`).

Pure Python (no TensorFlow), so a bad path fails fast with a clear message: a
missing or unreadable file is a `bert.errors.InputError` naming it.
"""

from __future__ import annotations

import dataclasses
import json
import os

from bert import errors, model_folder
from bert.errors import InputError
from bert.model_folder import ModelFolder
from serving import logs

DEFAULT_CKPT_NAME = model_folder.PRETRAINED_CHECKPOINT
# The server's name for a model folder's files; see `bert.model_folder.ModelFolder`.
ModelFiles = ModelFolder
# How the checkpoint finder's messages name bert-as-service's flags.
NAMING = model_folder.Naming(
  folder_flag="-model_dir",
  checkpoint_flag="-ckpt_name",
  prefix_hint="(-ckpt_name is a prefix: drop the extension, e.g. -ckpt_name %s)",
)

logger = logs.get_logger("VENTILATOR")


def _read_text(path: str, encoding: str) -> str:
  """The text of a model file; a file that cannot be read or decoded is an InputError."""
  try:
    with open(path, encoding=encoding) as f:
      return f.read()
  except OSError as e:
    raise InputError(errors.cannot("read", path, e)) from None
  except UnicodeDecodeError as e:
    raise InputError("%s is not %s text: %s" % (path, encoding, e.reason)) from None


def find_checkpoint(directory: str, ckpt_name: str, flag: str = "-model_dir") -> str:
  """Returns the checkpoint prefix for `-ckpt_name` in `directory` (the folder of `flag`).

  Tried in order: `<dir>/<ckpt_name>` itself; the newest
  `<dir>/<ckpt_name>-N`; and, for the default name only, the newest
  checkpoint recorded in `<dir>/checkpoint` or else the newest
  `<dir>/model.ckpt-N` (`bert.model_folder.find_checkpoint`'s bert-as-service rules).

  Raises:
    InputError: none of them exists.
  """
  naming = dataclasses.replace(NAMING, folder_flag=flag)
  try:
    found = model_folder.find_checkpoint(directory, ckpt_name, naming, bert_as_service=True)
  except InputError:
    if ckpt_name != DEFAULT_CKPT_NAME:
      raise
    found = model_folder.find_checkpoint(directory, None, naming, bert_as_service=True)
  prefix = os.path.join(directory, ckpt_name)
  if found != prefix:
    logger.info("checkpoint %s not found, using %s", prefix, found)
  return found


def _read_config(config_file: str) -> dict:
  """The JSON config as bert-as-service takes it: any JSON object with a `vocab_size`."""
  try:
    bert_config = json.loads(_read_text(config_file, "utf-8"))
  except ValueError as e:
    raise InputError("%s is not valid JSON: %s" % (config_file, e)) from None
  if not isinstance(bert_config, dict) or "vocab_size" not in bert_config:
    raise InputError("%s is not a BERT config (no vocab_size)" % config_file)
  return bert_config


def resolve(
  model_dir: str,
  tuned_model_dir: str | None = None,
  ckpt_name: str = DEFAULT_CKPT_NAME,
  config_name: str = model_folder.BERT_CONFIG_FILENAME,
) -> ModelFolder:
  """Finds and checks the files named by the `-model_dir` group of flags.

  Labels come from the first of -tuned_model_dir and -model_dir that has a
  labels.json or label_list.txt; how the model was trained, from the first that
  has a run_config.json or export_info.json (`bert.model_folder.find_settings`).

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
      if model_folder.newest_numbered(os.path.join(model_dir, "model.ckpt")):
        hint = (
          "%s looks like a run_classifier output_dir: serve it with "
          "-model_dir <pre-trained model dir> -tuned_model_dir %s, or "
          "export it first (bert-export-serving)" % (model_dir, model_dir)
        )
      raise InputError("%s does not exist (%s)" % (path, hint))
  bert_config = _read_config(config_file)
  flag = "-tuned_model_dir" if tuned_model_dir else "-model_dir"
  checkpoint = find_checkpoint(tuned_model_dir or model_dir, ckpt_name, flag)
  directories = [d for d in (tuned_model_dir, model_dir) if d]
  found = model_folder.find_settings(directories)
  multi_label, threshold = model_folder.read_multi_label(found)
  return ModelFolder(
    vocab_file,
    config_file,
    checkpoint,
    bert_config,
    model_folder.find_labels(directories),
    multi_label=multi_label,
    multi_label_threshold=threshold,
    trained=model_folder.read_trained(found),
    settings_file=found[0] if found else None,
    settings=found[1] if found else {},
    folder=tuned_model_dir or model_dir,
  )
