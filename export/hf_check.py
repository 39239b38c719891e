"""bert-import-hf's check: the written checkpoint against the source model.

The checkpoint in the staging folder is read back variable by variable, then
loaded into `BertEncoder` and run on fixed inputs (padding, two segments); its
outputs are compared with an independent float64 NumPy forward pass of the
source (`export.numpy_bert`). A difference above `tolerance` times the output
scale is an HFImportError. TensorFlow is imported only when the check runs.
"""

from __future__ import annotations

import os

import numpy as np

from bert import model_config, model_folder
from export import numpy_bert
from export.hf_common import GOOGLE_LAYER_NORM_EPS
from export.hf_source import GOOGLE_CHECKPOINT_NAME, HFImportError, ImportLog


def check_inputs(
  config: dict, vocab: list[str] | None = None, seq_length: int = 16, seed: int = 1234
):
  """Fixed (input_ids, input_mask, token_type_ids), int32 [3, S]: a full
  two-segment row, a padded two-segment row and a padded one-segment row."""
  v = config["vocab_size"]
  s = max(4, min(seq_length, config["max_position_embeddings"]))
  index = {t: i for i, t in enumerate(vocab or []) if i < v}
  cls_id = index.get("[CLS]", 1 % v)
  sep_id = index.get("[SEP]", 2 % v)
  pad_id = index.get("[PAD]", 0)
  two = config["type_vocab_size"] >= 2
  rng = np.random.RandomState(seed)
  ids = np.full([3, s], pad_id, np.int32)
  mask = np.zeros([3, s], np.int32)
  types = np.zeros([3, s], np.int32)
  for row, (length, segments) in enumerate(
    [(s, 2), (max(4, s * 9 // 16), 2), (max(3, s * 5 // 16), 1)]
  ):
    ids[row, :length] = rng.randint(0, v, size=length)
    ids[row, 0] = cls_id
    ids[row, length - 1] = sep_id
    mask[row, :length] = 1
    if segments == 2:
      first = length // 2
      ids[row, first - 1] = sep_id
      if two:
        types[row, first:length] = 1
  return ids, mask, types


def _max_abs(a, b) -> float:
  return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def run_check(
  output_dir: str,
  written: dict,
  reference_weights: dict,
  hf_config: dict,
  vocab: list[str] | None,
  tolerance: float,
) -> dict:
  """Loads the written checkpoint into BertEncoder and compares it with the
  NumPy forward pass of the source; raises HFImportError above tolerance."""
  import tensorflow as tf

  from bert import checkpoint as bert_checkpoint
  from bert import modeling

  prefix = os.path.join(output_dir, GOOGLE_CHECKPOINT_NAME)
  reader = tf.train.load_checkpoint(prefix)
  stored = reader.get_variable_to_shape_map()
  if set(stored) != set(written):
    raise HFImportError(
      "the written checkpoint does not hold the expected variables: "
      "missing %s, extra %s"
      % (sorted(set(written) - set(stored)), sorted(set(stored) - set(written)))
    )
  for name, value in written.items():
    if not np.array_equal(reader.get_tensor(name), value):
      raise HFImportError("checkpoint variable %s does not read back as written" % name)

  written_config = os.path.join(output_dir, model_folder.BERT_CONFIG_FILENAME)
  config = modeling.BertConfig.from_dict(model_config.read_bert_config(written_config))
  encoder = modeling.BertEncoder(config)
  bert_checkpoint.load_variables(encoder.variables_by_name, prefix)
  ids, mask, types = check_inputs(config.to_dict(), vocab)
  ours = encoder(ids, mask, types)
  ours = {k: ours[k].numpy() for k in ("sequence_output", "pooled_output")}
  ref = numpy_bert.bert_forward(reference_weights, hf_config, ids, mask, types)
  result = {"inputs_shape": list(ids.shape), "tolerance": tolerance}
  worst = 0.0
  for key in ("sequence_output", "pooled_output"):
    diff = _max_abs(ours[key], ref[key])
    scale = float(np.max(np.abs(ref[key])))
    rel = diff / scale if scale > 0 else diff
    result[key + "_max_abs_diff"] = diff
    result[key + "_scale"] = scale
    result[key + "_max_rel_diff"] = rel
    worst = max(worst, rel)
  result["max_abs_diff"] = max(
    result["sequence_output_max_abs_diff"], result["pooled_output_max_abs_diff"]
  )
  result["max_rel_diff"] = worst
  eps = float(hf_config["layer_norm_eps"])
  result["layer_norm_eps_effect"] = None
  if eps != GOOGLE_LAYER_NORM_EPS:
    ref12 = numpy_bert.bert_forward(
      reference_weights, hf_config, ids, mask, types, layer_norm_eps=GOOGLE_LAYER_NORM_EPS
    )
    result["layer_norm_eps_effect"] = max(
      _max_abs(ref12[k], ref[k]) for k in ("sequence_output", "pooled_output")
    )
  result["passed"] = worst <= tolerance
  if not result["passed"]:
    cause = ""
    if result["layer_norm_eps_effect"] is not None:
      cause = (
        " (the source's layer_norm_eps=%g instead of 1e-12 alone "
        "changes the outputs by up to %.3g)" % (eps, result["layer_norm_eps_effect"])
      )
    raise HFImportError(
      "check failed: the imported model's outputs differ from the source "
      "model's by up to %.3g in sequence_output and %.3g in pooled_output "
      "(%.3g relative to the output scale, tolerance %g)%s; nothing was "
      "written (--no_check skips the check)"
      % (
        result["sequence_output_max_abs_diff"],
        result["pooled_output_max_abs_diff"],
        worst,
        tolerance,
        cause,
      )
    )
  return result


def check_import(
  folder: str,
  written: dict,
  reference_weights: dict,
  hf_config: dict,
  vocab: list[str] | None,
  tolerance: float,
  log: ImportLog,
) -> dict:
  """`run_check` on the staging `folder`; logs the differences it found."""
  result = run_check(folder, written, reference_weights, hf_config, vocab, tolerance)
  log.info(
    "Check passed: max |diff| sequence_output %.3g (scale %.3g), pooled_output %.3g (scale %.3g)",
    result["sequence_output_max_abs_diff"],
    result["sequence_output_scale"],
    result["pooled_output_max_abs_diff"],
    result["pooled_output_scale"],
  )
  return result
