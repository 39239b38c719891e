"""`tf.estimator.Estimator` on `tf.compat.v1` graphs and `MonitoredTrainingSession`.

The behaviour TF 1.15 documented, in one process:

* `model_fn(features, labels, mode, params, config)` (each argument only if
  the function takes it) returns an `EstimatorSpec`; `input_fn(params)` (or
  `input_fn(params, mode, config)`, or no argument) returns a `tf.data`
  dataset of `features` or `(features, labels)`, or that pair itself;
* `train` builds a fresh graph, continues from the newest checkpoint in
  `model_dir` (else `warm_start_from`, else the initializers, which
  `tf.train.init_from_checkpoint` may have changed) and stops at `max_steps`
  or after `steps`, or when the input ends; checkpoints `model.ckpt-N` as the
  `RunConfig` says, `graph.pbtxt`, event files;
* `evaluate` runs the metrics' update ops over the input (or `steps`
  batches) on the newest checkpoint, returns the metric values with `loss`
  and `global_step`, and writes them to `model_dir/eval[_name]`;
* `predict` yields one dict (or value) per example;
* `export_saved_model` writes `export_dir_base/<timestamp>`.
"""

from __future__ import annotations

import copy
import inspect
import logging
import os
import tempfile
import time

import numpy as np
import tensorflow as tf

from legacy.errors import ScriptError, ScriptTypeError
from legacy.estimator import session_hooks
from legacy.estimator.run_config import RunConfig
from legacy.estimator.spec import EstimatorSpec, ModeKeys, WarmStartSettings

v1 = tf.compat.v1
logger = logging.getLogger("tensorflow")  # TF1 scripts set its level with tf.logging.


def function_arguments(fn) -> set:
  """The names `fn` takes (a partial's bound ones excluded); all for `**kwargs`."""
  parameters = inspect.signature(fn).parameters.values()
  if any(p.kind == p.VAR_KEYWORD for p in parameters):
    return {"features", "labels", "mode", "params", "config"}
  return {p.name for p in parameters}


def _input(result):
  """(features, labels, hooks) from what an input_fn returned."""
  if isinstance(result, (tf.data.Dataset, v1.data.Dataset)):
    iterator = v1.data.make_initializable_iterator(result)
    element = iterator.get_next()
    hooks = [session_hooks.IteratorInitHook(iterator)]
    if isinstance(element, tuple) and len(element) == 2:
      return element[0], element[1], hooks
    return element, None, hooks
  if isinstance(result, (tuple, list)) and len(result) == 2:
    return result[0], result[1], []
  return result, None, []


def _batch_size(features) -> tf.Tensor:
  """The first dimension of the first feature tensor (for examples/s)."""
  tensor = features
  if isinstance(features, dict):
    tensor = features[sorted(features)[0]]
  return tf.shape(tensor, out_type=tf.int64)[0]


class Estimator:
  """TF1's Estimator: trains, evaluates, predicts and exports a `model_fn`."""

  def __init__(self, model_fn, model_dir=None, config=None, params=None, warm_start_from=None):
    config = RunConfig() if config is None else config
    if (
      model_dir
      and config.model_dir
      and os.path.abspath(model_dir) != os.path.abspath(config.model_dir)
    ):
      raise ScriptError(
        "model_dir is %r but config.model_dir is %r; give one or make them equal"
        % (model_dir, config.model_dir)
      )
    model_dir = model_dir or config.model_dir
    if not model_dir:
      model_dir = tempfile.mkdtemp()
      logger.warning("Using temporary folder as model directory: %s", model_dir)
    self._model_dir = model_dir
    self._config = config.replace(model_dir=model_dir)
    self._params = copy.deepcopy(dict(params or {}))
    self._model_fn = model_fn
    if isinstance(warm_start_from, str):
      warm_start_from = WarmStartSettings(warm_start_from)
    self._warm_start = warm_start_from
    if "params" not in function_arguments(model_fn) and self._params:
      raise ScriptError("model_fn takes no params argument, but params were given: %r" % params)
    logger.info("Using config: %r", self._config)

  model_dir = property(lambda self: self._model_dir)
  config = property(lambda self: copy.deepcopy(self._config))
  params = property(lambda self: copy.deepcopy(self._params))
  model_fn = property(lambda self: self._model_fn)

  # -- checkpoints -------------------------------------------------------------

  def latest_checkpoint(self) -> str | None:
    """The newest checkpoint prefix in `model_dir`, or None."""
    return v1.train.latest_checkpoint(self._model_dir)

  def get_variable_names(self) -> list:
    """The names of the variables in the newest checkpoint."""
    return [name for name, _ in tf.train.list_variables(self._need_checkpoint())]

  def get_variable_value(self, name: str) -> np.ndarray:
    """The value of variable `name` in the newest checkpoint."""
    return tf.train.load_variable(self._need_checkpoint(), name)

  def eval_dir(self, name=None) -> str:
    """Where `evaluate(name=...)` writes its summaries."""
    return os.path.join(self._model_dir, "eval" if not name else "eval_" + name)

  def _need_checkpoint(self) -> str:
    checkpoint = self.latest_checkpoint()
    if checkpoint is None:
      raise ScriptError("Could not find trained model in model_dir: %s." % self._model_dir)
    return checkpoint

  def _checkpoint_to_read(self, checkpoint_path, what: str) -> str | None:
    """`checkpoint_path`, else the newest in model_dir; None (logged): the initializers."""
    checkpoint_path = checkpoint_path or self.latest_checkpoint()
    if checkpoint_path is None:
      logger.warning(
        "Could not find trained model in model_dir: %s, running initialization to %s.",
        self._model_dir,
        what,
      )
    return checkpoint_path

  def _session(self, spec, checkpoint_path, hooks):
    """A MonitoredSession on `checkpoint_path` (or the initializers) with `hooks`."""
    creator = v1.train.ChiefSessionCreator(
      scaffold=spec.scaffold or v1.train.Scaffold(),
      checkpoint_filename_with_path=checkpoint_path,
      config=self._config.session_config,
    )
    return v1.train.MonitoredSession(session_creator=creator, hooks=hooks)

  def _checkpoint_step(self) -> int:
    checkpoint = self.latest_checkpoint()
    if checkpoint is None:
      return 0
    return int(tf.train.load_variable(checkpoint, v1.GraphKeys.GLOBAL_STEP))

  # -- building a graph ---------------------------------------------------------

  def _input_params(self, mode) -> dict:
    """The `params` an input_fn of `mode` is given."""
    return copy.deepcopy(self._params)

  def _model_params(self, mode) -> dict:
    """The `params` the model_fn of `mode` is given."""
    return copy.deepcopy(self._params)

  def _call_input_fn(self, input_fn, mode):
    arguments = function_arguments(input_fn)
    kwargs = {}
    if "params" in arguments:
      kwargs["params"] = self._input_params(mode)
    if "mode" in arguments:
      kwargs["mode"] = mode
    if "config" in arguments:
      kwargs["config"] = self.config
    with tf.device("/cpu:0"):
      return _input(input_fn(**kwargs))

  def _call_model_fn(self, features, labels, mode) -> EstimatorSpec:
    arguments = function_arguments(self._model_fn)
    kwargs = {}
    if "labels" in arguments:
      kwargs["labels"] = labels
    elif labels is not None:
      raise ScriptError("model_fn takes no labels argument, but input_fn returns labels")
    if "mode" in arguments:
      kwargs["mode"] = mode
    if "params" in arguments:
      kwargs["params"] = self._model_params(mode)
    if "config" in arguments:
      kwargs["config"] = self.config
    spec = self._model_fn(features=features, **kwargs)
    return self._as_estimator_spec(spec, mode)

  def _as_estimator_spec(self, spec, mode) -> EstimatorSpec:
    if not isinstance(spec, EstimatorSpec):
      raise ScriptTypeError("model_fn must return an EstimatorSpec, not %r" % type(spec).__name__)
    return spec

  def _build(self, input_fn, mode):
    """Builds the ops of `mode` in the current graph: (spec, features, hooks)."""
    if self._config.tf_random_seed is not None:
      v1.set_random_seed(self._config.tf_random_seed)
    v1.train.get_or_create_global_step()
    features, labels, hooks = self._call_input_fn(input_fn, mode)
    return self._call_model_fn(features, labels, mode), features, hooks

  def _saver(self, scaffold):
    """The scaffold's saver, else one saving as TF1's Estimator did."""
    if scaffold.saver is not None:
      return scaffold.saver
    savers = v1.get_collection(v1.GraphKeys.SAVERS)
    if savers:
      return savers[0]
    saver = v1.train.Saver(
      sharded=True,
      max_to_keep=self._config.keep_checkpoint_max,
      keep_checkpoint_every_n_hours=self._config.keep_checkpoint_every_n_hours,
      defer_build=True,
      save_relative_paths=True,
    )
    v1.add_to_collection(v1.GraphKeys.SAVERS, saver)
    return saver

  def _warm_start_now(self) -> None:
    settings = self._warm_start
    if settings is None:
      return
    logger.info("Warm-starting from: %s", settings.ckpt_to_initialize_from)
    v1.train.warm_start(
      settings.ckpt_to_initialize_from,
      vars_to_warm_start=settings.vars_to_warm_start,
      var_name_to_vocab_info=settings.var_name_to_vocab_info,
      var_name_to_prev_var_name=settings.var_name_to_prev_var_name,
    )

  # -- train ----------------------------------------------------------------------

  def train(self, input_fn, hooks=None, steps=None, max_steps=None, saving_listeners=None):
    """Trains until `max_steps` (a global step), for `steps` more steps, or
    until the input ends; returns self."""
    if steps is not None and max_steps is not None:
      raise ScriptError("Can not provide both steps and max_steps.")
    for name, value in (("steps", steps), ("max_steps", max_steps)):
      if value is not None and value <= 0:
        raise ScriptError("Must specify %s > 0, given: %s" % (name, value))
    if max_steps is not None and self._checkpoint_step() >= max_steps:
      logger.info("Skipping training since max_steps has already saved.")
      return self
    with tf.Graph().as_default():
      spec, features, input_hooks = self._build(input_fn, ModeKeys.TRAIN)
      if self.latest_checkpoint() is None:  # A checkpoint in model_dir wins over warm starts.
        self._warm_start_now()
      scaffold = spec.scaffold or v1.train.Scaffold()
      saver = self._saver(scaffold)
      config = self._config
      every_hooks = (
        input_hooks
        + [
          v1.train.StopAtStepHook(num_steps=steps, last_step=max_steps),
          v1.train.NanTensorHook(spec.loss),
          session_hooks.ProgressHook(
            spec.loss,
            _batch_size(features),
            config.log_step_count_steps,
            last_step=max_steps,
            steps=steps,
            model_dir=self._model_dir,
          ),
        ]
        + list(spec.training_hooks)
        + list(hooks or [])
      )
      chief_hooks = list(spec.training_chief_hooks) + [
        session_hooks.CheckpointHook(
          self._model_dir,
          saver,
          save_steps=config.save_checkpoints_steps,
          save_secs=config.save_checkpoints_secs,
          listeners=saving_listeners or (),
          graph_def=config.checkpoint_save_graph_def,
        )
      ]
      loss = None
      with v1.train.MonitoredTrainingSession(
        master="",
        is_chief=True,
        checkpoint_dir=self._model_dir,
        scaffold=scaffold,
        hooks=every_hooks,
        chief_only_hooks=chief_hooks,
        save_checkpoint_secs=None,
        save_checkpoint_steps=None,
        save_summaries_steps=config.save_summary_steps,
        config=config.session_config,
        log_step_count_steps=None,
      ) as session:
        while not session.should_stop():
          _, loss = session.run([spec.train_op, spec.loss])
    logger.info("Loss for final step: %s.", loss)
    return self

  # -- evaluate ---------------------------------------------------------------------

  def evaluate(self, input_fn, steps=None, hooks=None, checkpoint_path=None, name=None) -> dict:
    """Evaluates the newest checkpoint (or `checkpoint_path`) over the input,
    or `steps` batches of it; returns the metrics, `loss` and `global_step`."""
    if steps is not None and steps <= 0:
      raise ScriptError("Must specify steps > 0, given: %s" % steps)
    checkpoint_path = self._checkpoint_to_read(checkpoint_path, "evaluate")
    with tf.Graph().as_default():
      spec, _, input_hooks = self._build(input_fn, ModeKeys.EVAL)
      metrics = dict(spec.eval_metric_ops)
      if "loss" in metrics:
        raise ScriptError("eval_metric_ops may not name a metric 'loss': the Estimator adds it")
      metrics["loss"] = v1.metrics.mean(spec.loss)
      values = {name: value for name, (value, _) in metrics.items()}
      values["global_step"] = v1.train.get_global_step()
      update = tf.group(*[update for _, update in metrics.values()])
      final = v1.train.FinalOpsHook(values)
      batches = [0]
      every_hooks = (
        input_hooks
        + [_EvalProgressHook(batches, steps)]
        + list(spec.evaluation_hooks)
        + list(hooks or [])
        + [final]
      )
      logger.info("Starting evaluation at %s", time.strftime("%Y-%m-%dT%H:%M:%S"))
      with self._session(spec, checkpoint_path, every_hooks) as session:
        while not session.should_stop() and (steps is None or batches[0] < steps):
          session.run(update)
      result = final.final_ops_values
    logger.info(
      "Finished evaluation at %s (%d batches)", time.strftime("%Y-%m-%d-%H:%M:%S"), batches[0]
    )
    logger.info(
      "Saving dict for global step %d: %s",
      result["global_step"],
      ", ".join("%s = %s" % (k, result[k]) for k in sorted(result)),
    )
    self._write_eval_summaries(result, name)
    return result

  def _write_eval_summaries(self, result: dict, name) -> None:
    writer = v1.summary.FileWriterCache.get(self.eval_dir(name))
    scalars = [
      v1.Summary.Value(tag=key, simple_value=float(value))
      for key, value in sorted(result.items())
      if key != "global_step"
      and np.ndim(value) == 0
      and np.issubdtype(np.asarray(value).dtype, np.number)
    ]
    writer.add_summary(v1.Summary(value=scalars), int(result["global_step"]))
    writer.flush()

  # -- predict ------------------------------------------------------------------------

  def predict(
    self,
    input_fn,
    predict_keys=None,
    hooks=None,
    checkpoint_path=None,
    yield_single_examples=True,
  ):
    """Yields the predictions of the newest checkpoint (or `checkpoint_path`):
    one dict (or value) per example, or per batch without `yield_single_examples`."""
    checkpoint_path = self._checkpoint_to_read(checkpoint_path, "predict")
    with tf.Graph().as_default():
      spec, _, input_hooks = self._build(input_fn, ModeKeys.PREDICT)
      predictions = spec.predictions
      if predict_keys is not None:
        if not isinstance(predictions, dict):
          raise ScriptError("predict_keys needs predictions that are a dict")
        missing = [key for key in predict_keys if key not in predictions]
        if missing:
          raise ScriptError(
            "predict_keys %s are not among the predictions %s" % (missing, sorted(predictions))
          )
        predictions = {key: predictions[key] for key in predict_keys}
      every_hooks = input_hooks + list(spec.prediction_hooks) + list(hooks or [])
      with self._session(spec, checkpoint_path, every_hooks) as session:
        while not session.should_stop():
          values = session.run(predictions)
          if not yield_single_examples:
            yield values
          elif isinstance(values, dict):
            yield from _single_examples(values)
          else:
            yield from values

  # -- export -------------------------------------------------------------------------

  def export_saved_model(
    self,
    export_dir_base,
    serving_input_receiver_fn,
    assets_extra=None,
    as_text=False,
    checkpoint_path=None,
    experimental_mode=ModeKeys.PREDICT,
  ) -> bytes:
    """Writes a SavedModel of the newest checkpoint to `export_dir_base/<timestamp>`
    (written beside it under a temporary name, then renamed); returns its path."""
    from legacy.estimator import export

    checkpoint_path = checkpoint_path or self._need_checkpoint()
    with tf.Graph().as_default():
      v1.train.get_or_create_global_step()
      receiver = serving_input_receiver_fn()
      spec = self._call_model_fn(receiver.features, None, experimental_mode)
      return export.write_saved_model(
        export_dir_base,
        receiver,
        spec,
        self._saver(spec.scaffold or v1.train.Scaffold()),
        checkpoint_path,
        assets_extra=assets_extra,
        as_text=as_text,
        session_config=self._config.session_config,
      )

  def export_savedmodel(self, export_dir_base, serving_input_receiver_fn, **kwargs) -> bytes:
    """TF1's older name of `export_saved_model`."""
    return self.export_saved_model(export_dir_base, serving_input_receiver_fn, **kwargs)


def _single_examples(values: dict):
  """One dict per example from a dict of batched arrays."""
  lengths = {key: np.shape(value)[0] if np.ndim(value) else None for key, value in values.items()}
  if None in lengths.values():
    key = [k for k, n in lengths.items() if n is None][0]
    raise ScriptError("Prediction %r has no batch dimension; use yield_single_examples=False" % key)
  if len(set(lengths.values())) > 1:
    raise ScriptError("Batch length of predictions should be same: %s" % lengths)
  for i in range(next(iter(lengths.values()), 0)):
    yield {key: value[i] for key, value in values.items()}


class _EvalProgressHook(v1.train.SessionRunHook):
  """Counts evaluation batches and logs them every 10 seconds."""

  def __init__(self, counter: list, steps):
    self._counter = counter
    self._steps = steps

  def begin(self):
    self._logged = time.time()

  def after_run(self, run_context, run_values):
    self._counter[0] += 1
    now = time.time()
    if now - self._logged >= 10:
      self._logged = now
      total = "/%d" % self._steps if self._steps else ""
      logger.info("Evaluation [%d%s]", self._counter[0], total)
