"""`ModeKeys`, `EstimatorSpec` and `WarmStartSettings` as TF 1.15 documented them."""

from __future__ import annotations

import collections

from legacy.errors import ScriptError, ScriptTypeError


class ModeKeys:
  """The three modes a `model_fn` is called in (TF1's string values)."""

  TRAIN = "train"
  EVAL = "eval"
  PREDICT = "infer"


_SPEC_FIELDS = (
  "mode",
  "predictions",
  "loss",
  "train_op",
  "eval_metric_ops",
  "export_outputs",
  "training_chief_hooks",
  "training_hooks",
  "scaffold",
  "evaluation_hooks",
  "prediction_hooks",
)


class EstimatorSpec(collections.namedtuple("EstimatorSpec", _SPEC_FIELDS)):
  """What a `model_fn` returns: the ops of one mode.

  TRAIN needs `loss` and `train_op`, EVAL needs `loss` (`eval_metric_ops` maps
  a name to a `(value, update_op)` pair), PREDICT needs `predictions` (a
  tensor or a dict of tensors whose first dimension is the batch).
  """

  def __new__(
    cls,
    mode,
    predictions=None,
    loss=None,
    train_op=None,
    eval_metric_ops=None,
    export_outputs=None,
    training_chief_hooks=None,
    training_hooks=None,
    scaffold=None,
    evaluation_hooks=None,
    prediction_hooks=None,
  ):
    if mode not in (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT):
      raise ScriptError("mode must be one of ModeKeys' values, not %r" % (mode,))
    if mode == ModeKeys.TRAIN and (loss is None or train_op is None):
      raise ScriptError("EstimatorSpec for mode TRAIN needs both loss and train_op")
    if mode == ModeKeys.EVAL and loss is None:
      raise ScriptError("EstimatorSpec for mode EVAL needs loss")
    if mode == ModeKeys.PREDICT and predictions is None:
      raise ScriptError("EstimatorSpec for mode PREDICT needs predictions")
    metrics = dict(eval_metric_ops or {})
    for name, metric in metrics.items():
      if not (isinstance(metric, (tuple, list)) and len(metric) == 2):
        raise ScriptTypeError(
          "eval_metric_ops[%r] must be a (value, update_op) pair, as tf.metrics.* return; "
          "got %r" % (name, metric)
        )
    return super().__new__(
      cls,
      mode,
      predictions,
      loss,
      train_op,
      metrics,
      export_outputs,
      tuple(training_chief_hooks or ()),
      tuple(training_hooks or ()),
      scaffold,
      tuple(evaluation_hooks or ()),
      tuple(prediction_hooks or ()),
    )


class WarmStartSettings(
  collections.namedtuple(
    "WarmStartSettings",
    [
      "ckpt_to_initialize_from",
      "vars_to_warm_start",
      "var_name_to_vocab_info",
      "var_name_to_prev_var_name",
    ],
  )
):
  """Where `warm_start_from` takes initial values: a checkpoint (or its
  folder), the variables (a regex or a list; default all trainable ones) and
  renamings from the new names to the checkpoint's."""

  def __new__(
    cls,
    ckpt_to_initialize_from,
    vars_to_warm_start=".*",
    var_name_to_vocab_info=None,
    var_name_to_prev_var_name=None,
  ):
    if not ckpt_to_initialize_from:
      raise ScriptError("WarmStartSettings needs ckpt_to_initialize_from")
    return super().__new__(
      cls,
      ckpt_to_initialize_from,
      vars_to_warm_start,
      var_name_to_vocab_info or {},
      var_name_to_prev_var_name or {},
    )
