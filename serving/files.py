"""Which files a server reads, found and checked before any worker starts.

As in bert-as-service 1.10.0, `vocab.txt` and the JSON config always come from
`-model_dir`; the checkpoint comes from `-tuned_model_dir` when given. Beyond
it, a run_classifier output folder is served without renaming: when the named
checkpoint is absent, `-ckpt_name model.ckpt` (or the default
`bert_model.ckpt`) falls back to the newest `model.ckpt-N` of the folder.

Pure Python (no TensorFlow), so a bad path fails fast with a clear message.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re

from serving import logs

DEFAULT_CKPT_NAME = "bert_model.ckpt"
VOCAB_NAME = "vocab.txt"
LABEL_FILES = ("labels.json", "label_list.txt")

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


def _checkpoint_state(directory: str) -> str | None:
  """The newest prefix named by `directory/checkpoint`, if it exists."""
  path = os.path.join(directory, "checkpoint")
  if not os.path.isfile(path):
    return None
  with open(path, encoding="utf-8") as f:
    m = re.search(r'^model_checkpoint_path:\s*"(.*)"\s*$', f.read(), re.M)
  if not m:
    return None
  prefix = m.group(1)
  if not os.path.isabs(prefix):
    prefix = os.path.join(directory, prefix)
  return prefix if os.path.isfile(prefix + ".index") else None


def _newest_numbered(stem: str) -> str | None:
  """The `<stem>-N` prefix with the largest N whose .index exists."""
  steps = []
  for index in glob.glob(glob.escape(stem) + "-*.index"):
    m = re.match(r"^-(\d+)\.index$", index[len(stem) :])
    if m:
      steps.append(int(m.group(1)))
  return "%s-%d" % (stem, max(steps)) if steps else None


def find_checkpoint(directory: str, ckpt_name: str) -> str:
  """Returns the checkpoint prefix for `-ckpt_name` in `directory`.

  Tried in order: `<dir>/<ckpt_name>` itself; the newest
  `<dir>/<ckpt_name>-N`; and, for the default name only, the newest
  checkpoint recorded in `<dir>/checkpoint` or else the newest
  `<dir>/model.ckpt-N`.

  Raises:
    FileNotFoundError: none of them exists.
  """
  prefix = os.path.join(directory, ckpt_name)
  if os.path.isfile(prefix + ".index"):
    return prefix
  found = _newest_numbered(prefix)
  if found is None and ckpt_name == DEFAULT_CKPT_NAME:
    found = _checkpoint_state(directory) or _newest_numbered(os.path.join(directory, "model.ckpt"))
  if found is None:
    hint = ""
    if re.search(r"\.(index|meta|data-\d+-of-\d+)$", ckpt_name):
      hint = " (-ckpt_name is a prefix: drop the extension, e.g. -ckpt_name %s)" % re.sub(
        r"\.(index|meta|data-.*)$", "", ckpt_name
      )
    raise FileNotFoundError("no checkpoint %s: %s.index does not exist%s" % (prefix, prefix, hint))
  logger.info("checkpoint %s not found, using %s", prefix, found)
  return found


def read_labels(directories) -> tuple | None:
  """Label names from the first labels.json / label_list.txt found.

  labels.json holds a JSON list of strings; label_list.txt one name a line.
  """
  for directory in directories:
    for name in LABEL_FILES:
      path = os.path.join(directory, name)
      if not os.path.isfile(path):
        continue
      with open(path, encoding="utf-8") as f:
        if name.endswith(".json"):
          labels = json.load(f)
          if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ValueError("%s must hold a JSON list of strings" % path)
        else:
          labels = [line.strip() for line in f if line.strip()]
      return tuple(labels)
  return None


def resolve(
  model_dir: str,
  tuned_model_dir: str | None = None,
  ckpt_name: str = DEFAULT_CKPT_NAME,
  config_name: str = "bert_config.json",
) -> ModelFiles:
  """Finds and checks the files named by the `-model_dir` group of flags.

  Raises:
    FileNotFoundError: a directory or file is missing.
    ValueError: the config or a label file is not valid JSON.
  """
  for flag, directory in (("-model_dir", model_dir), ("-tuned_model_dir", tuned_model_dir)):
    if directory is not None and not os.path.isdir(directory):
      raise FileNotFoundError("%s %s is not a directory" % (flag, directory))
  vocab_file = os.path.join(model_dir, VOCAB_NAME)
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
      raise FileNotFoundError("%s does not exist (%s)" % (path, hint))
  try:
    with open(config_file, encoding="utf-8") as f:
      bert_config = json.load(f)
  except ValueError as e:
    raise ValueError("%s is not valid JSON: %s" % (config_file, e)) from None
  if not isinstance(bert_config, dict) or "vocab_size" not in bert_config:
    raise ValueError("%s is not a BERT config (no vocab_size)" % config_file)
  checkpoint = find_checkpoint(tuned_model_dir or model_dir, ckpt_name)
  directories = [d for d in (tuned_model_dir, model_dir) if d]
  return ModelFiles(vocab_file, config_file, checkpoint, bert_config, read_labels(directories))
