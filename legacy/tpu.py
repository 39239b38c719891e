"""`tf.contrib.tpu` on the Estimator of `legacy.estimator`, for CPU and GPU.

Google's BERT scripts build a `TPUEstimator` with `use_tpu=FLAGS.use_tpu`;
with `use_tpu=False` TF1 ran it on the CPU/GPU, and so does this one:

* `train_batch_size` / `eval_batch_size` / `predict_batch_size` become
  `params["batch_size"]` for the input_fn and model_fn of that mode
  (`params["use_tpu"]` is False);
* the model_fn may return a `TPUEstimatorSpec`: its `scaffold_fn` is called
  for the scaffold, `eval_metrics=(metric_fn, tensors)` becomes
  `eval_metric_ops=metric_fn(*tensors)` (or `**tensors` for a dict), and
  `host_call=(fn, tensors)` runs `fn(*tensors)`'s ops with every training
  step; an `EstimatorSpec` is taken as it is;
* `RunConfig(tpu_config=TPUConfig(...), master=..., cluster=...)` keeps the
  TPU settings and otherwise is the Estimator's; `iterations_per_loop` has no
  effect off a TPU.

`use_tpu=True`, or a `TPUClusterResolver`, is a one-line usage error: this
runner drives no TPU; `run_classifier.py --use_tpu` (TPUStrategy) does.
"""

from __future__ import annotations

import collections

import tensorflow as tf

from legacy.errors import NoTPU, ScriptError
from legacy.estimator import estimator as estimator_lib
from legacy.estimator import run_config as run_config_lib
from legacy.estimator.spec import EstimatorSpec, ModeKeys

v1 = tf.compat.v1

TPU_ADVICE = (
  "bert-run-tf1 runs TPUEstimator on the CPU/GPU only: pass --use_tpu=false (use_tpu=False), "
  "or train on a TPU with run_classifier.py --use_tpu --tpu_name=... (tf.distribute.TPUStrategy)"
)


class InputPipelineConfig:
  """TF1's per-host/per-shard input modes (only recorded off a TPU)."""

  PER_SHARD_V1 = 1
  PER_HOST_V1 = 2
  PER_HOST_V2 = 3
  BROADCAST = 4
  SLICED = 5


class TPUConfig(
  collections.namedtuple(
    "TPUConfig",
    [
      "iterations_per_loop",
      "num_shards",
      "num_cores_per_replica",
      "per_host_input_for_training",
      "tpu_job_name",
      "initial_infeed_sleep_secs",
      "input_partition_dims",
      "eval_training_input_configuration",
      "experimental_host_call_every_n_steps",
    ],
  )
):
  """TF1's TPU settings, kept for the script to read back."""

  def __new__(
    cls,
    iterations_per_loop=2,
    num_shards=None,
    num_cores_per_replica=None,
    per_host_input_for_training=True,
    tpu_job_name=None,
    initial_infeed_sleep_secs=None,
    input_partition_dims=None,
    eval_training_input_configuration=InputPipelineConfig.PER_HOST_V1,
    experimental_host_call_every_n_steps=1,
  ):
    if iterations_per_loop <= 0:
      raise ScriptError(
        "TPUConfig: iterations_per_loop must be positive, given %s" % iterations_per_loop
      )
    return super().__new__(
      cls,
      iterations_per_loop,
      num_shards,
      num_cores_per_replica,
      per_host_input_for_training,
      tpu_job_name,
      initial_infeed_sleep_secs,
      input_partition_dims,
      eval_training_input_configuration,
      experimental_host_call_every_n_steps,
    )


class RunConfig(run_config_lib.RunConfig):
  """The Estimator's RunConfig plus `tpu_config`, `master` and `cluster`."""

  def __init__(self, tpu_config=None, evaluation_master=None, master=None, cluster=None, **kwargs):
    super().__init__(**kwargs)
    self._tpu_config = tpu_config or TPUConfig()
    self._tpu_master = master or ""
    self._tpu_evaluation_master = evaluation_master or ""
    self._cluster = cluster

  tpu_config = property(lambda self: self._tpu_config)
  master = property(lambda self: self._tpu_master)
  evaluation_master = property(lambda self: self._tpu_evaluation_master)
  cluster = property(lambda self: self._cluster)


class TPUClusterResolver:
  """Would find a Cloud TPU; here it says how to reach one instead."""

  def __init__(self, tpu=None, *args, **kwargs):
    raise NoTPU("TPUClusterResolver(%r): %s" % (tpu, TPU_ADVICE))


def CrossShardOptimizer(opt, reduction=None, name="CrossShardOptimizer", group_assignment=None):
  """Off a TPU there is one shard: the optimizer itself (TF1 did the same)."""
  del reduction, name, group_assignment
  return opt


class TPUEstimatorSpec(
  collections.namedtuple(
    "TPUEstimatorSpec",
    [
      "mode",
      "predictions",
      "loss",
      "train_op",
      "eval_metrics",
      "export_outputs",
      "scaffold_fn",
      "host_call",
      "training_hooks",
      "evaluation_hooks",
      "prediction_hooks",
    ],
  )
):
  """What a TPUEstimator's model_fn returns (see the module doc)."""

  def __new__(
    cls,
    mode,
    predictions=None,
    loss=None,
    train_op=None,
    eval_metrics=None,
    export_outputs=None,
    scaffold_fn=None,
    host_call=None,
    training_hooks=None,
    evaluation_hooks=None,
    prediction_hooks=None,
  ):
    for name, pair in (("eval_metrics", eval_metrics), ("host_call", host_call)):
      if pair is not None and not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise ScriptError("TPUEstimatorSpec: %s must be a (function, tensors) pair" % name)
    return super().__new__(
      cls,
      mode,
      predictions,
      loss,
      train_op,
      eval_metrics,
      export_outputs,
      scaffold_fn,
      host_call,
      training_hooks,
      evaluation_hooks,
      prediction_hooks,
    )

  def as_estimator_spec(self) -> EstimatorSpec:
    """The `EstimatorSpec` this spec stands for on a CPU/GPU."""
    eval_metric_ops = None
    if self.eval_metrics is not None:
      eval_metric_ops = _call_with(*self.eval_metrics)
    train_op = self.train_op
    if self.host_call is not None and train_op is not None:
      host_ops = _call_with(*self.host_call)
      outputs = list(host_ops.values()) if isinstance(host_ops, dict) else tf.nest.flatten(host_ops)
      train_op = tf.group(train_op, *outputs)
    return EstimatorSpec(
      mode=self.mode,
      predictions=self.predictions,
      loss=self.loss,
      train_op=train_op,
      eval_metric_ops=eval_metric_ops,
      export_outputs=self.export_outputs,
      scaffold=self.scaffold_fn() if self.scaffold_fn else None,
      training_hooks=self.training_hooks,
      evaluation_hooks=self.evaluation_hooks,
      prediction_hooks=self.prediction_hooks,
    )


def _call_with(function, tensors):
  return function(**tensors) if isinstance(tensors, dict) else function(*tensors)


class TPUEstimator(estimator_lib.Estimator):
  """TF1's TPUEstimator, run on the CPU/GPU (see the module doc)."""

  def __init__(
    self,
    model_fn=None,
    model_dir=None,
    config=None,
    params=None,
    use_tpu=True,
    train_batch_size=None,
    eval_batch_size=None,
    predict_batch_size=None,
    batch_axis=None,
    eval_on_tpu=True,
    export_to_tpu=True,
    export_to_cpu=True,
    warm_start_from=None,
    embedding_config_spec=None,
    export_saved_model_api_version=None,
  ):
    if use_tpu:
      raise NoTPU("TPUEstimator(use_tpu=True): %s" % TPU_ADVICE)
    params = dict(params or {})
    for reserved in ("batch_size", "use_tpu"):
      if reserved in params:
        raise ScriptError("TPUEstimator sets params[%r] itself; remove it from params" % reserved)
    self._batch_sizes = {
      ModeKeys.TRAIN: train_batch_size,
      ModeKeys.EVAL: eval_batch_size,
      ModeKeys.PREDICT: predict_batch_size,
    }
    for mode, size in self._batch_sizes.items():
      if size is not None and size <= 0:
        raise ScriptError(
          "TPUEstimator: the %s batch size must be positive, given %s" % (mode, size)
        )
    # The model_fn always gets params (TPUEstimator's contract).
    super().__init__(_with_params(model_fn), model_dir, config, params, warm_start_from)

  def _mode_params(self, mode) -> dict:
    params = super()._model_params(mode)
    params["use_tpu"] = False
    if self._batch_sizes[mode] is not None:
      params["batch_size"] = self._batch_sizes[mode]
    return params

  def _input_params(self, mode) -> dict:
    return self._mode_params(mode)

  def _model_params(self, mode) -> dict:
    return self._mode_params(mode)

  def _as_estimator_spec(self, spec, mode) -> EstimatorSpec:
    if isinstance(spec, TPUEstimatorSpec):
      return spec.as_estimator_spec()
    return super()._as_estimator_spec(spec, mode)


def _with_params(model_fn):
  """`model_fn` as a function that takes every argument the Estimator may pass."""
  arguments = estimator_lib.function_arguments(model_fn)

  def call(features, labels, mode, params, config):
    given = {"labels": labels, "mode": mode, "params": params, "config": config}
    return model_fn(features=features, **{k: v for k, v in given.items() if k in arguments})

  return call
