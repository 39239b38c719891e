"""Early stopping for `train_and_evaluate`: `tf.estimator.experimental.stop_if_*_hook`.

Each function returns a training hook that, every `run_every_secs` seconds
(or `run_every_steps` steps), reads the evaluation results written to the
estimator's eval folder (`read_eval_metrics`) and stops training when the
metric's best value, among evaluations at or after `min_steps`, lies
`max_steps_without_*` or more steps behind a later evaluation (the
`no_decrease` / `no_increase` hooks), or as soon as an evaluation crosses a
threshold (`stop_if_higher_hook` / `stop_if_lower_hook`).
"""

from __future__ import annotations

import glob
import logging
import operator
import os

import tensorflow as tf

from legacy.errors import ScriptError

v1 = tf.compat.v1
logger = logging.getLogger("tensorflow")


def read_eval_metrics(eval_dir: str) -> dict:
  """{global step: {metric: value}} from the event files of `eval_dir`, by step."""
  results: dict = {}
  for path in sorted(glob.glob(os.path.join(eval_dir, "events.out.tfevents.*"))):
    for event in v1.train.summary_iterator(path):
      if not event.HasField("summary"):
        continue
      values = results.setdefault(event.step, {})
      for value in event.summary.value:
        if value.HasField("simple_value"):
          values[value.tag] = value.simple_value
  return dict(sorted(results.items()))


def _no_improvement(better, metric_name, max_steps, min_steps):
  """A predicate of the eval results: the best value lies `max_steps` or more
  steps behind a later evaluation."""

  def should_stop(results: dict) -> bool:
    best_value = best_step = None
    for step, metrics in results.items():
      if step < min_steps or metric_name not in metrics:
        continue
      if best_value is None or better(metrics[metric_name], best_value):
        best_value, best_step = metrics[metric_name], step
      if step - best_step >= max_steps:
        logger.info(
          "Early stopping: no improvement of %s for %d steps (best %s at step %d)",
          metric_name,
          step - best_step,
          best_value,
          best_step,
        )
        return True
    return False

  return should_stop


def _crossing(crossed, metric_name, threshold, min_steps):
  """A predicate of the eval results: an evaluation has crossed `threshold`."""

  def should_stop(results: dict) -> bool:
    for step, metrics in results.items():
      if step >= min_steps and metric_name in metrics and crossed(metrics[metric_name], threshold):
        logger.info("Early stopping: %s = %s at step %d", metric_name, metrics[metric_name], step)
        return True
    return False

  return should_stop


class _StopOnEvalResults(v1.train.SessionRunHook):
  """Requests a stop when `should_stop(read_eval_metrics(eval_dir))` holds."""

  def __init__(self, eval_dir, should_stop, every_secs, every_steps):
    self._eval_dir = eval_dir
    self._should_stop = should_stop
    self._timer = v1.train.SecondOrStepTimer(every_secs=every_secs, every_steps=every_steps)

  def begin(self):
    self._global_step = v1.train.get_global_step()

  def before_run(self, run_context):
    return v1.train.SessionRunArgs(self._global_step)

  def after_run(self, run_context, run_values):
    step = run_values.results + 1
    if not self._timer.should_trigger_for_step(step):
      return
    self._timer.update_last_triggered_step(step)
    if self._should_stop(read_eval_metrics(self._eval_dir)):
      run_context.request_stop()


def _hook(estimator, predicate, eval_dir, run_every_secs, run_every_steps):
  if run_every_secs is not None and run_every_steps is not None:
    raise ScriptError("give run_every_secs or run_every_steps, not both")
  eval_dir = eval_dir or estimator.eval_dir()
  return _StopOnEvalResults(eval_dir, predicate, run_every_secs, run_every_steps)


def stop_if_no_decrease_hook(
  estimator,
  metric_name,
  max_steps_without_decrease,
  eval_dir=None,
  min_steps=0,
  run_every_secs=60,
  run_every_steps=None,
):
  """Stops training once `metric_name` has not decreased for that many steps."""
  predicate = _no_improvement(operator.lt, metric_name, max_steps_without_decrease, min_steps)
  return _hook(estimator, predicate, eval_dir, run_every_secs, run_every_steps)


def stop_if_no_increase_hook(
  estimator,
  metric_name,
  max_steps_without_increase,
  eval_dir=None,
  min_steps=0,
  run_every_secs=60,
  run_every_steps=None,
):
  """Stops training once `metric_name` has not increased for that many steps."""
  predicate = _no_improvement(operator.gt, metric_name, max_steps_without_increase, min_steps)
  return _hook(estimator, predicate, eval_dir, run_every_secs, run_every_steps)


def stop_if_higher_hook(
  estimator,
  metric_name,
  threshold,
  eval_dir=None,
  min_steps=0,
  run_every_secs=60,
  run_every_steps=None,
):
  """Stops training once an evaluation of `metric_name` is above `threshold`."""
  predicate = _crossing(operator.gt, metric_name, threshold, min_steps)
  return _hook(estimator, predicate, eval_dir, run_every_secs, run_every_steps)


def stop_if_lower_hook(
  estimator,
  metric_name,
  threshold,
  eval_dir=None,
  min_steps=0,
  run_every_secs=60,
  run_every_steps=None,
):
  """Stops training once an evaluation of `metric_name` is below `threshold`."""
  predicate = _crossing(operator.lt, metric_name, threshold, min_steps)
  return _hook(estimator, predicate, eval_dir, run_every_secs, run_every_steps)
