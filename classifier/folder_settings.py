"""The settings a trained --output_dir fixes, read back before anything runs.

A folder with a checkpoint and `run_config.json` holds a model trained one way:
single- or multi-label, on texts cut at max_seq_length or split into
--doc_stride windows combined by --window_pooling. Evaluating, predicting or
training on in that folder takes those settings from the folder; a flag that
says otherwise would score the model by rules it was not trained for (a
sigmoid over softmax logits) and then record them as the folder's, so it is a
usage error, raised before anything is written. TensorFlow-free.
"""

from __future__ import annotations

import logging
import os

from bert import model_folder
from bert.errors import UsageError
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


def apply_recorded_settings(config: RunConfig) -> RunConfig:
  """`config` with the model-defining settings of a trained --output_dir.

  A setting that was not given takes the folder's value (logged when that
  changes it); one that was given must equal it. --max_seq_length may differ
  for a model trained on cut texts (it only moves the cut, with a warning),
  not for one trained on --doc_stride windows of that length. A given
  --multi_label_threshold replaces the folder's (logged).

  Raises:
    UsageError: naming the flag, the folder and the value it was trained with.
  """
  recorded = recorded_settings(config.output_dir)
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
    mine = getattr(config, name)
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
