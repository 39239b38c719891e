"""The session hooks the Estimator adds to every training run.

* `IteratorInitHook` starts the input pipeline once the session exists;
* `CheckpointHook` saves `model.ckpt-N` every so many steps or seconds and at
  the end, and writes `graph.pbtxt` (TF1's CheckpointSaverHook did; here the
  text form is written without `graph_io.write_graph`, which fails with
  protobuf 7);
* `ProgressHook` logs loss, step, steps/s, examples/s and the time left, and
  writes `global_step/sec` and `examples/sec` summaries.

A checkpoint is written as the project writes its own (`bert.checkpoint`):
TensorFlow's Saver writes the data and index under temporary names and renames
them, and the `checkpoint` state file naming it is replaced in one rename
afterwards, so a run killed at any moment leaves the previous checkpoint as
the newest loadable one.
"""

from __future__ import annotations

import logging
import os
import time

import tensorflow as tf
from google.protobuf import text_format

from bert.console import format_seconds
from bert.model_folder import atomic_write

v1 = tf.compat.v1
logger = logging.getLogger("tensorflow")  # TF1 scripts set its level with tf.logging.


class IteratorInitHook(v1.train.SessionRunHook):
  """Runs an initializable iterator's initializer when the session is created."""

  def __init__(self, iterator):
    self._iterator = iterator

  def after_create_session(self, session, coord):
    session.run(self._iterator.initializer)


def write_graph_text(graph: tf.Graph, folder: str, name: str = "graph.pbtxt") -> None:
  """Writes the graph (with shapes) as text to `folder/name`, replacing it in one rename."""
  text = text_format.MessageToString(graph.as_graph_def(add_shapes=True))
  with atomic_write(os.path.join(folder, name)) as f:
    f.write(text)


class CheckpointHook(v1.train.SessionRunHook):
  """Saves checkpoints as TF1's CheckpointSaverHook, with listeners.

  The first save is at the step the session starts from (a fresh run's
  `model.ckpt-0`), then whenever `save_steps` steps or `save_secs` seconds
  have passed, and at the end. A listener's `after_save` returning True stops
  training.
  """

  def __init__(
    self, model_dir, saver, save_steps=None, save_secs=None, listeners=(), graph_def=True
  ):
    self._model_dir = model_dir
    self._save_path = os.path.join(model_dir, "model.ckpt")
    self._saver = saver
    self._timer = v1.train.SecondOrStepTimer(every_secs=save_secs, every_steps=save_steps)
    self._listeners = list(listeners)
    self._graph_def = graph_def
    self._global_step = None

  def begin(self):
    self._global_step = v1.train.get_global_step()
    self._summary_writer = v1.summary.FileWriterCache.get(self._model_dir)
    for listener in self._listeners:
      listener.begin()

  def after_create_session(self, session, coord):
    step = session.run(self._global_step)
    graph = v1.get_default_graph()
    if self._graph_def:
      write_graph_text(graph, self._model_dir)
      self._summary_writer.add_graph(graph)
    self._save(session, step)
    self._timer.update_last_triggered_step(step)

  def before_run(self, run_context):
    return v1.train.SessionRunArgs(self._global_step)

  def after_run(self, run_context, run_values):
    if not self._timer.should_trigger_for_step(run_values.results + 1):
      return
    step = run_context.session.run(self._global_step)
    if self._timer.should_trigger_for_step(step):
      self._timer.update_last_triggered_step(step)
      if self._save(run_context.session, step):
        run_context.request_stop()

  def end(self, session):
    step = session.run(self._global_step)
    if step != self._timer.last_triggered_step():
      self._save(session, step)
    for listener in self._listeners:
      listener.end(session, step)

  def _save(self, session, step) -> bool:
    """Saves `model.ckpt-<step>`; True when a listener asks to stop."""
    for listener in self._listeners:
      listener.before_save(session, step)
    logger.info("Saving checkpoints for %d into %s.", step, self._save_path)
    self._saver.save(session, self._save_path, global_step=step, write_meta_graph=self._graph_def)
    self._summary_writer.add_session_log(
      v1.SessionLog(status=v1.SessionLog.CHECKPOINT, checkpoint_path=self._save_path), step
    )
    stop = False
    for listener in self._listeners:
      stop = bool(listener.after_save(session, step)) or stop
    return stop


class ProgressHook(v1.train.SessionRunHook):
  """Logs `loss = ..., step = N/M, x steps/s, y examples/s, ETA t` every
  `every_steps` steps and at the end, and writes the rates as summaries."""

  def __init__(self, loss, batch_size, every_steps, last_step=None, steps=None, model_dir=None):
    self._loss = loss
    self._batch_size = batch_size
    self._every_steps = max(1, int(every_steps or 100))
    self._last_step = last_step
    self._steps = steps
    self._model_dir = model_dir

  def begin(self):
    self._global_step = v1.train.get_global_step()
    self._writer = v1.summary.FileWriterCache.get(self._model_dir) if self._model_dir else None

  def after_create_session(self, session, coord):
    self._start_step = self._logged_step = session.run(self._global_step)
    if self._last_step is None and self._steps is not None:
      self._last_step = self._start_step + self._steps
    self._start_time = self._logged_time = time.time()
    self._runs = self._examples = self._examples_at_log = 0

  def before_run(self, run_context):
    return v1.train.SessionRunArgs([self._loss, self._batch_size])

  def after_run(self, run_context, run_values):
    loss, batch_size = run_values.results
    self._runs += 1
    self._examples += int(batch_size)
    expected = self._start_step + self._runs  # Each training step adds 1 to the global step.
    if expected - self._logged_step >= self._every_steps or expected == self._last_step:
      # Read after the step: a value fetched with it may be from before or after its update.
      self._log(int(run_context.session.run(self._global_step)), loss)

  def _log(self, step, loss):
    now = time.time()
    seconds = max(now - self._logged_time, 1e-9)
    rate = (step - self._logged_step) / seconds
    examples_rate = (self._examples - self._examples_at_log) / seconds
    total = ""
    eta = ""
    if self._last_step is not None:
      total = "/%d" % self._last_step
      overall = (step - self._start_step) / max(now - self._start_time, 1e-9)
      eta = ", ETA %s" % (format_seconds((self._last_step - step) / overall) if overall else "?")
    logger.info(
      "loss = %.6f, step = %d%s, %.2f steps/s, %.1f examples/s%s",
      loss,
      step,
      total,
      rate,
      examples_rate,
      eta,
    )
    if self._writer is not None:
      summary = v1.Summary(
        value=[
          v1.Summary.Value(tag="global_step/sec", simple_value=rate),
          v1.Summary.Value(tag="examples/sec", simple_value=examples_rate),
        ]
      )
      self._writer.add_summary(summary, step)
    self._logged_step, self._logged_time, self._examples_at_log = step, now, self._examples
