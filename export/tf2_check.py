"""The forward checks of bert-import-tf2 and bert-export-tf2: our model against the TF2 one.

Both commands run our `BertEncoder` (and `BertClassifier` for a head) and the TF2 model
on the same fixed inputs (`hf_check.check_inputs`: padding, two segments) and compare
`sequence_output`, `pooled_output`, every layer of `encoder_outputs` and the logits; a
difference above `tolerance` times the output's scale is an error, raised before
anything is moved into place. The TF2 side is the TF Hub SavedModel itself, or
tf-models-official's own `BertEncoder` / `BertClassifier` built from the encoder config.
"""

from __future__ import annotations

import numpy as np

from export import tf2_common
from export.summary import OUTPUT_KEYS


def ours(prefix: str, google_config: dict, num_labels: int | None, inputs) -> dict:
  """Our model's outputs on `inputs` (ids, mask, types), from the Google-layout `prefix`."""
  from bert import classifier_model, modeling

  config = modeling.BertConfig.from_dict(google_config)
  model = classifier_model.load_classifier(prefix, config, num_labels)
  return model_outputs(model, num_labels, inputs)


def model_outputs(model, num_labels: int | None, inputs) -> dict:
  """Outputs of our BertEncoder, or of our BertClassifier (`num_labels` set) with its logits."""
  ids, mask, types = inputs
  encoder = model if num_labels is None else model.bert
  outputs = encoder(ids, mask, types)
  result = {
    "sequence_output": outputs["sequence_output"].numpy(),
    "pooled_output": outputs["pooled_output"].numpy(),
    "encoder_outputs": [layer.numpy() for layer in outputs["all_encoder_layers"]],
  }
  if num_labels is not None:
    result["logits"] = model(ids, mask, types, np.zeros([ids.shape[0]], np.int32))[2].numpy()
  return result


def _as_dict_inputs(inputs) -> dict:
  ids, mask, types = inputs
  return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}


def _numpy(outputs) -> dict:
  """A TF2 encoder's output dict as NumPy (encoder_outputs a list of arrays)."""
  result = {}
  for key in ("sequence_output", "pooled_output", "encoder_outputs"):
    if key in outputs:
      value = outputs[key]
      result[key] = (
        [v.numpy() for v in value] if isinstance(value, (list, tuple)) else value.numpy()
      )
  return result


def hub_outputs(hub_dir: str, inputs, error: type[Exception]) -> dict:
  """What a TF Hub BERT encoder SavedModel returns for `inputs`, loaded with TensorFlow alone;
  one that cannot be loaded or called so raises `error`."""
  import tensorflow as tf

  feed = {k: tf.constant(v) for k, v in _as_dict_inputs(inputs).items()}
  try:
    outputs = tf.saved_model.load(hub_dir)(feed, training=False)
  except (ValueError, TypeError, tf.errors.OpError) as e:
    raise error(
      "cannot run the SavedModel %s on input_word_ids, input_mask and input_type_ids (%s: %s)"
      % (hub_dir, type(e).__name__, " ".join(str(e).split())[:200])
    ) from None
  return _numpy(outputs)


def build_encoder(encoder_config_section: dict):
  """tf-models-official's BertEncoder for the `bert` section of an EncoderConfig."""
  encoders = tf2_common.import_tfm("the Model Garden check")
  config = encoders.EncoderConfig(
    type="bert", bert=encoders.BertEncoderConfig(**encoder_config_section)
  )
  return encoders.build_encoder(config)


def build_classifier(encoder, num_labels: int, dropout: float):
  """tf-models-official's BertClassifier over `encoder`: run_classifier.py's head."""
  from official.nlp.modeling import models

  return models.BertClassifier(
    network=encoder,
    num_classes=num_labels,
    dropout_rate=dropout,
    use_encoder_pooler=True,
    head_name=tf2_common.HEAD_NAME,
  )


def garden_outputs(encoder, classifier, inputs) -> dict:
  """The outputs of a tf-models-official encoder (and the logits of its classifier, if any)."""
  feed = _as_dict_inputs(inputs)
  result = _numpy(encoder(feed, training=False))
  if classifier is not None:
    result["logits"] = classifier(feed, training=False).numpy()
  return result


def _max_abs(a, b) -> float:
  return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def compare(ours_: dict, reference: dict, tolerance: float) -> dict:
  """The largest difference of each output both sides have, and its scale (max |reference|).

  Returns a dict with `<key>_max_abs_diff` and `<key>_scale` for each output compared
  ("encoder_outputs": over all layers), "max_rel_diff" (the worst difference over its
  scale), "tolerance" and "passed" (max_rel_diff <= tolerance).
  """
  result = {"tolerance": tolerance}
  worst = 0.0
  for key in OUTPUT_KEYS:
    if key not in ours_ or key not in reference:
      continue
    mine, theirs = ours_[key], reference[key]
    if key == "encoder_outputs":
      if len(mine) != len(theirs):
        raise ValueError("%d encoder layers against %d" % (len(mine), len(theirs)))
      diff = max(_max_abs(a, b) for a, b in zip(mine, theirs))
      scale = max(float(np.max(np.abs(b))) for b in theirs)
    else:
      diff, scale = _max_abs(mine, theirs), float(np.max(np.abs(theirs)))
    result[key + "_max_abs_diff"] = diff
    result[key + "_scale"] = scale
    worst = max(worst, diff / scale if scale > 0 else diff)
  result["max_rel_diff"] = worst
  result["passed"] = worst <= tolerance
  return result
