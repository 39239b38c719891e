"""`tf.estimator.export`: serving input receivers, export outputs, and writing a SavedModel."""

from __future__ import annotations

import os
import shutil
import time

import tensorflow as tf

from legacy.errors import ScriptError

v1 = tf.compat.v1
DEFAULT_SIGNATURE = "serving_default"


def _tensor_dict(value, default_key: str) -> dict:
  return dict(value) if isinstance(value, dict) else {default_key: value}


class ServingInputReceiver:
  """What a serving input function returns: the `features` the model_fn gets
  and the `receiver_tensors` (placeholders) a request feeds."""

  def __init__(self, features, receiver_tensors, receiver_tensors_alternatives=None):
    self.features = _tensor_dict(features, "feature")
    self.receiver_tensors = _tensor_dict(receiver_tensors, "input")
    self.receiver_tensors_alternatives = receiver_tensors_alternatives


def build_raw_serving_input_receiver_fn(features: dict, default_batch_size=None):
  """A serving input function feeding each feature through a placeholder of
  its dtype and shape (batch dimension `default_batch_size`)."""

  def serving_input_receiver_fn():
    placeholders = {}
    for name, tensor in features.items():
      shape = [default_batch_size] + tensor.shape.as_list()[1:]
      placeholders[name] = v1.placeholder(tensor.dtype, shape, name=name)
    return ServingInputReceiver(placeholders, placeholders)

  return serving_input_receiver_fn


def build_parsing_serving_input_receiver_fn(feature_spec: dict, default_batch_size=None):
  """A serving input function taking serialized `tf.train.Example`s
  (`examples`) and parsing them with `feature_spec`."""

  def serving_input_receiver_fn():
    serialized = v1.placeholder(tf.string, [default_batch_size], name="input_example_tensor")
    features = v1.parse_example(serialized, feature_spec)
    return ServingInputReceiver(features, {"examples": serialized})

  return serving_input_receiver_fn


class PredictOutput:
  """A `predict` signature of the given output tensor(s)."""

  def __init__(self, outputs):
    self.outputs = _tensor_dict(outputs, "output")

  def as_signature_def(self, receiver_tensors: dict):
    """The SignatureDef of these outputs with `receiver_tensors` as inputs."""
    return v1.saved_model.predict_signature_def(receiver_tensors, self.outputs)


class ClassificationOutput:
  """A `classify` signature: `scores` and/or `classes`, from one serialized input."""

  def __init__(self, scores=None, classes=None):
    if scores is None and classes is None:
      raise ScriptError("ClassificationOutput needs scores or classes")
    self.scores, self.classes = scores, classes

  def as_signature_def(self, receiver_tensors: dict):
    """The SignatureDef of these outputs with the single receiver tensor as input."""
    (examples,) = receiver_tensors.values()
    return v1.saved_model.classification_signature_def(examples, self.classes, self.scores)


class RegressionOutput:
  """A `regress` signature: `value`, from one serialized input."""

  def __init__(self, value):
    self.value = value

  def as_signature_def(self, receiver_tensors: dict):
    """The SignatureDef of this output with the single receiver tensor as input."""
    (examples,) = receiver_tensors.values()
    return v1.saved_model.regression_signature_def(examples, self.value)


def _signatures(receiver: ServingInputReceiver, spec) -> dict:
  outputs = spec.export_outputs or {DEFAULT_SIGNATURE: PredictOutput(spec.predictions)}
  if DEFAULT_SIGNATURE not in outputs and len(outputs) == 1:
    outputs = {DEFAULT_SIGNATURE: next(iter(outputs.values())), **outputs}
  return {
    key: output.as_signature_def(receiver.receiver_tensors) for key, output in outputs.items()
  }


def write_saved_model(
  export_dir_base,
  receiver,
  spec,
  saver,
  checkpoint_path,
  assets_extra=None,
  as_text=False,
  session_config=None,
) -> bytes:
  """Writes the current graph with the checkpoint's values as a SavedModel in
  `export_dir_base/<timestamp>` (built under `temp-<timestamp>`, then renamed)."""
  export_dir_base = os.fsdecode(export_dir_base)
  tf.io.gfile.makedirs(export_dir_base)
  stamp = int(time.time())
  while tf.io.gfile.exists(os.path.join(export_dir_base, str(stamp))):
    stamp += 1
  final = os.path.join(export_dir_base, str(stamp))
  staging = os.path.join(export_dir_base, "temp-%d" % stamp)
  if saver.saver_def is None:  # Built lazily (defer_build), as in training.
    saver.build()
  try:
    with v1.Session(config=session_config) as session:
      saver.restore(session, checkpoint_path)
      builder = v1.saved_model.Builder(staging)
      builder.add_meta_graph_and_variables(
        session,
        [v1.saved_model.tag_constants.SERVING],
        signature_def_map=_signatures(receiver, spec),
        main_op=v1.tables_initializer(),
        strip_default_attrs=True,
        saver=saver,
      )
      builder.save(as_text=as_text)
    for relative, source in (assets_extra or {}).items():
      target = os.path.join(staging, "assets.extra", relative)
      tf.io.gfile.makedirs(os.path.dirname(target))
      tf.io.gfile.copy(source, target, overwrite=True)
    tf.io.gfile.rename(staging, final)
  finally:
    if os.path.isdir(staging):
      shutil.rmtree(staging, ignore_errors=True)
  return final.encode("utf-8")
