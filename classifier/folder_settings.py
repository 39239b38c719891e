"""The settings a trained --output_dir fixes, read back before anything runs.

A folder with a checkpoint and `run_config.json` holds a model trained one way:
single- or multi-label, on texts cut at max_seq_length or split into
--doc_stride windows combined by --window_pooling. Evaluating, predicting or
training on in that folder takes those settings from the folder; a flag that
says otherwise would score the model by rules it was not trained for (a
sigmoid over softmax logits) and then record them as the folder's, so it is a
usage error, raised before anything is written. The folder's labels fix
the order of the label list (`reconcile_labels`) and an eval or predict run
keeps the class weights it was trained with (`kept_class_weights`).
TensorFlow-free.
"""

from __future__ import annotations

import logging
import os

from bert import model_folder
from bert.errors import InputError, UsageError
from classifier.run_config import RunConfig

logger = logging.getLogger(__name__)


def recorded_settings(output_dir: str) -> dict | None:
  """run_config.json of `output_dir` when the folder holds a trained model, else None."""
  if not output_dir or not os.path.isdir(output_dir):
    return None
  if model_folder.newest_local_checkpoint(output_dir) is None:
    return None
  return model_folder.read_run_config(output_dir)


def _contradiction(flag: str, output_dir: str, trained: str) -> UsageError:
  return UsageError(
    "%s contradicts the model in %s, trained %s (%s): leave the flag out, or train a new "
    "model in another --output_dir" % (flag, output_dir, trained, model_folder.RUN_CONFIG_FILENAME)
  )


def _flag_text(name: str, value) -> str:
  if isinstance(value, bool):
    return "--%s%s" % ("" if value else "no", name)
  return "--%s=%s" % (name, value)


def apply_recorded_settings(config: RunConfig, recorded: dict | None) -> RunConfig:
  """`config` with the model-defining settings of a trained --output_dir, as
  `recorded_settings` read them (None: no trained model there).

  A setting that was not given takes the folder's value (logged when that
  changes it); one that was given must equal it. --max_seq_length may differ
  for a model trained on cut texts (it only moves the cut, with a warning),
  not for one trained on --doc_stride windows of that length. A given
  --multi_label_threshold replaces the folder's (logged).

  Raises:
    UsageError: naming the flag, the folder and the value it was trained with.
  """
  if not recorded:
    return config
  out = config.output_dir
  trained = {}
  if "multi_label" in recorded:
    trained["multi_label"] = bool(recorded["multi_label"])
  for name in ("doc_stride", "max_seq_length"):
    if isinstance(recorded.get(name), int):
      trained[name] = recorded[name]
  windowed = trained.get("doc_stride", 0) > 0
  if windowed and recorded.get("window_pooling") in ("mean", "max"):
    trained["window_pooling"] = recorded["window_pooling"]
  threshold = recorded.get("multi_label_threshold")
  if trained.get("multi_label") and isinstance(threshold, (int, float)):
    trained["multi_label_threshold"] = float(threshold)

  changes = {}
  for name, value in trained.items():
    mine = config.value(name)
    if mine == value:
      continue
    if not config.given(name):
      changes[name] = value
    elif name == "multi_label":
      trained_as = "multi-label" if value else "single-label"
      raise _contradiction(_flag_text(name, mine), out, trained_as)
    elif name == "max_seq_length" and not windowed:
      logger.warning(
        "--max_seq_length=%d: the model in %s was trained with %d; texts are cut at %d",
        mine,
        out,
        value,
        mine,
      )
    elif name == "multi_label_threshold":
      logger.info("--multi_label_threshold=%g replaces the %g recorded in %s", mine, value, out)
    else:
      raise _contradiction(_flag_text(name, mine), out, "with " + _flag_text(name, value))
  if not changes:
    return config
  logger.info(
    "Settings of the trained model in %s (%s): %s",
    out,
    model_folder.RUN_CONFIG_FILENAME,
    ", ".join(_flag_text(name, value) for name, value in changes.items()),
  )
  return config.replace(**changes)


def _trained_labels(config: RunConfig) -> tuple[list | None, str | None]:
  """The label list that the checkpoint to be used was trained with.

  It is the `labels.json` of --output_dir when that folder holds a checkpoint
  (training resumes from it, eval/predict use it), else, for eval/predict
  alone, the one beside a fine-tuned --init_checkpoint (a new training run
  may start from another task's model). Returns (labels, file) or (None, None).
  """
  candidates = []
  init_checkpoint = config.model.init_checkpoint
  if model_folder.newest_local_checkpoint(config.output_dir):
    candidates.append(config.output_dir)
  elif init_checkpoint and not config.training.do_train:
    candidates.append(os.path.dirname(os.path.abspath(init_checkpoint)))
  for folder in candidates:
    labels = model_folder.read_labels(folder)
    if labels is not None:
      return labels, os.path.join(folder, model_folder.LABELS_FILENAME)
  return None, None


def reconcile_labels(config: RunConfig, label_list) -> list:
  """The processor's labels in the order the checkpoint was trained with.

  The same labels in another order (e.g. from `list(set(...))`) give the
  trained order, with a warning; other labels are an error naming both
  lists, since the checkpoint's output layer would not match them.
  """
  trained, path = _trained_labels(config)
  label_list = list(label_list)
  as_text = model_folder.labels_as_strings(label_list)
  if trained is None or trained == as_text:
    return label_list
  if len(set(as_text)) == len(label_list) and sorted(trained) == sorted(as_text):
    by_text = dict(zip(as_text, label_list))
    logger.warning(
      "get_labels() gives %s, the checkpoint was trained with %s (%s): "
      "same labels, other order; using the trained order",
      label_list,
      trained,
      path,
    )
    return [by_text[str(label)] for label in trained]
  raise InputError(
    "the task's labels %s differ from the labels %s that the checkpoint was "
    "trained with (%s); use the processor that trained it, or a new "
    "--output_dir to train a new model" % (label_list, trained, path)
  )


def kept_class_weights(output_dir: str, recorded: dict | None) -> object:
  """The class weights (by label) that run_config.json of `output_dir` records, which an
  eval or predict run records again. `recorded` is the file as `recorded_settings` read
  it (None when the folder holds no trained model: the file, if any, is read here)."""
  if recorded is None:
    recorded = model_folder.read_run_config(output_dir)
  return (recorded or {}).get("class_weights")
