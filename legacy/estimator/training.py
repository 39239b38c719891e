"""`tf.estimator.train_and_evaluate` in one process, with `TrainSpec` and `EvalSpec`.

As TF 1.15 ran it locally: one `train(max_steps=...)` call, and an evaluation
after each checkpoint it saves (the first, at the starting step, excepted),
at most once per `throttle_secs`; the final checkpoint is evaluated when it
was not already. After each evaluation the `exporters` run. Early-stopping
hooks in `TrainSpec.hooks` read those evaluations. Returns the last
evaluation's metrics and the exporters' results.
"""

from __future__ import annotations

import collections
import logging
import os

import tensorflow as tf

from legacy.errors import NotSupported, ScriptError

v1 = tf.compat.v1
logger = logging.getLogger("tensorflow")


class TrainSpec(collections.namedtuple("TrainSpec", ["input_fn", "max_steps", "hooks"])):
  """The training half of `train_and_evaluate`."""

  def __new__(cls, input_fn, max_steps=None, hooks=None):
    if max_steps is not None and max_steps <= 0:
      raise ScriptError("TrainSpec: max_steps must be positive, given %s" % max_steps)
    return super().__new__(cls, input_fn, max_steps, tuple(hooks or ()))


class EvalSpec(
  collections.namedtuple(
    "EvalSpec",
    ["input_fn", "steps", "name", "hooks", "exporters", "start_delay_secs", "throttle_secs"],
  )
):
  """The evaluation half of `train_and_evaluate`."""

  def __new__(
    cls,
    input_fn,
    steps=100,
    name=None,
    hooks=None,
    exporters=None,
    start_delay_secs=120,
    throttle_secs=600,
  ):
    if steps is not None and steps <= 0:
      raise ScriptError("EvalSpec: steps must be positive or None, given %s" % steps)
    if exporters is None:
      exporters = ()
    elif not isinstance(exporters, (list, tuple)):
      exporters = (exporters,)
    return super().__new__(
      cls,
      input_fn,
      steps,
      name,
      tuple(hooks or ()),
      tuple(exporters),
      start_delay_secs,
      throttle_secs,
    )


class _EvaluateAfterSave(v1.train.CheckpointSaverListener):
  """Evaluates (and exports) after a checkpoint is saved (see the module doc)."""

  def __init__(self, estimator, eval_spec: EvalSpec):
    self._estimator = estimator
    self._spec = eval_spec
    self.metrics = None
    self.export_results = []

  def begin(self):
    self._timer = v1.train.SecondOrStepTimer(every_secs=self._spec.throttle_secs)
    self._first_save = True

  def after_save(self, session, global_step_value):
    if self._first_save:  # The starting point: nothing trained yet.
      self._first_save = False
      return False
    if not self._timer.should_trigger_for_step(global_step_value):
      logger.info(
        "Skip the current checkpoint eval due to throttle secs (%s secs).", self._spec.throttle_secs
      )
      return False
    self._evaluate(global_step_value, final=False)
    return False

  def end(self, session, global_step_value):
    if global_step_value != self._timer.last_triggered_step():
      self._evaluate(global_step_value, final=True)

  def _evaluate(self, step, final: bool):
    self._timer.update_last_triggered_step(step)
    checkpoint = self._estimator.latest_checkpoint()
    self.metrics = self._estimator.evaluate(
      self._spec.input_fn,
      steps=self._spec.steps,
      hooks=self._spec.hooks,
      checkpoint_path=checkpoint,
      name=self._spec.name,
    )
    self.export_results = [
      exporter.export(
        self._estimator,
        os.path.join(self._estimator.model_dir, "export", exporter.name),
        checkpoint,
        self.metrics,
        final,
      )
      for exporter in self._spec.exporters
    ]


def train_and_evaluate(estimator, train_spec: TrainSpec, eval_spec: EvalSpec):
  """Trains `estimator` and evaluates it after each checkpoint (see the
  module doc); returns (last metrics, exporters' results)."""
  if os.environ.get("TF_CONFIG"):
    raise NotSupported(
      "train_and_evaluate with TF_CONFIG (a cluster) is not supported by bert-run-tf1, which "
      "trains in one process; unset TF_CONFIG, or use run_classifier.py on several machines"
    )
  logger.info(
    "Start train and evaluate loop. The evaluate will happen after every checkpoint. "
    "Checkpoint frequency is determined based on RunConfig arguments: "
    "save_checkpoints_steps %s or save_checkpoints_secs %s.",
    estimator.config.save_checkpoints_steps,
    estimator.config.save_checkpoints_secs,
  )
  listener = _EvaluateAfterSave(estimator, eval_spec)
  estimator.train(
    train_spec.input_fn,
    hooks=list(train_spec.hooks),
    max_steps=train_spec.max_steps,
    saving_listeners=[listener],
  )
  return listener.metrics, listener.export_results
