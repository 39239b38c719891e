"""`tf.estimator.RunConfig`: where and how often an Estimator saves and logs."""

from __future__ import annotations

import copy

from legacy.errors import NotSupported, ScriptError

_DEFAULT_SAVE_SECS = 600


class RunConfig:
  """Settings of an Estimator run, with TF 1.15's arguments and defaults.

  Checkpoints are saved every `save_checkpoints_steps` steps or every
  `save_checkpoints_secs` seconds (not both; 600 seconds when neither is
  given), keeping the `keep_checkpoint_max` newest. Summaries every
  `save_summary_steps` steps, the training progress line every
  `log_step_count_steps` steps. One process: a TF_CONFIG cluster and the
  `*_distribute` strategies are not supported (a clear error says so).
  """

  def __init__(
    self,
    model_dir=None,
    tf_random_seed=None,
    save_summary_steps=100,
    save_checkpoints_steps=None,
    save_checkpoints_secs=None,
    session_config=None,
    keep_checkpoint_max=5,
    keep_checkpoint_every_n_hours=10000,
    log_step_count_steps=100,
    train_distribute=None,
    device_fn=None,
    protocol=None,
    eval_distribute=None,
    experimental_distribute=None,
    experimental_max_worker_delay_secs=None,
    session_creation_timeout_secs=7200,
    checkpoint_save_graph_def=True,
  ):
    if save_checkpoints_steps is not None and save_checkpoints_secs is not None:
      raise ScriptError("RunConfig: give save_checkpoints_steps or save_checkpoints_secs, not both")
    for name, value in (
      ("train_distribute", train_distribute),
      ("eval_distribute", eval_distribute),
      ("experimental_distribute", experimental_distribute),
    ):
      if value is not None:
        raise NotSupported(
          "RunConfig(%s=...): distribution strategies are not supported by the Estimator of "
          "bert-run-tf1 (it trains in one process); run_classifier.py --distribution_strategy "
          "runs on several devices or machines" % name
        )
    if save_checkpoints_steps is None and save_checkpoints_secs is None:
      save_checkpoints_secs = _DEFAULT_SAVE_SECS
    self._model_dir = model_dir
    self._tf_random_seed = tf_random_seed
    self._save_summary_steps = save_summary_steps
    self._save_checkpoints_steps = save_checkpoints_steps
    self._save_checkpoints_secs = save_checkpoints_secs
    self._session_config = session_config
    self._keep_checkpoint_max = keep_checkpoint_max
    self._keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
    self._log_step_count_steps = log_step_count_steps
    self._device_fn = device_fn
    self._session_creation_timeout_secs = session_creation_timeout_secs
    self._checkpoint_save_graph_def = checkpoint_save_graph_def

  model_dir = property(lambda self: self._model_dir)
  tf_random_seed = property(lambda self: self._tf_random_seed)
  save_summary_steps = property(lambda self: self._save_summary_steps)
  save_checkpoints_steps = property(lambda self: self._save_checkpoints_steps)
  save_checkpoints_secs = property(lambda self: self._save_checkpoints_secs)
  session_config = property(lambda self: self._session_config)
  keep_checkpoint_max = property(lambda self: self._keep_checkpoint_max)
  keep_checkpoint_every_n_hours = property(lambda self: self._keep_checkpoint_every_n_hours)
  log_step_count_steps = property(lambda self: self._log_step_count_steps)
  device_fn = property(lambda self: self._device_fn)
  session_creation_timeout_secs = property(lambda self: self._session_creation_timeout_secs)
  checkpoint_save_graph_def = property(lambda self: self._checkpoint_save_graph_def)
  # One local process: the chief, worker 0 of a one-worker "cluster".
  is_chief = property(lambda self: True)
  master = property(lambda self: "")
  evaluation_master = property(lambda self: "")
  task_type = property(lambda self: "worker")
  task_id = property(lambda self: 0)
  num_worker_replicas = property(lambda self: 1)
  num_ps_replicas = property(lambda self: 0)
  cluster_spec = property(lambda self: None)
  global_id_in_cluster = property(lambda self: 0)
  train_distribute = property(lambda self: None)
  eval_distribute = property(lambda self: None)

  def replace(self, **kwargs) -> RunConfig:
    """A copy with the given settings changed (the same names as the constructor's)."""
    new = copy.copy(self)
    if "save_checkpoints_steps" in kwargs and "save_checkpoints_secs" not in kwargs:
      kwargs["save_checkpoints_secs"] = None
    if "save_checkpoints_secs" in kwargs and "save_checkpoints_steps" not in kwargs:
      kwargs["save_checkpoints_steps"] = None
    for name, value in kwargs.items():
      if not hasattr(new, "_" + name):
        raise ScriptError("RunConfig.replace: unknown setting %r" % name)
      setattr(new, "_" + name, value)
    return new

  def __repr__(self):
    settings = sorted(
      (name[1:], value) for name, value in vars(self).items() if name.startswith("_")
    )
    return "RunConfig(%s)" % ", ".join("%s=%r" % item for item in settings)
