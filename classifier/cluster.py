"""Which machines a run spans, read from TF_CONFIG without TensorFlow.

Every worker of a multi-worker run starts the same command; TF_CONFIG (set by
Kubernetes TFJob, Vertex AI, SageMaker or by hand) tells each one the cluster
and its own place in it:

    {"cluster": {"worker": ["host1:2222", "host2:2222"]},
     "task": {"type": "worker", "index": 0}}

The chief (the "chief" task, else worker 0) writes the output folder; the
others write to a private temporary folder that is removed at the end.
"""

from __future__ import annotations

import dataclasses
import json
import os

from bert.errors import UsageError

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker_mirrored", "tpu")


@dataclasses.dataclass(frozen=True)
class Cluster:
  """This process's view of TF_CONFIG: how many training tasks, and which one it is."""

  num_workers: int = 1
  task_type: str = "worker"
  task_index: int = 0

  @property
  def is_chief(self) -> bool:
    """True for the task that writes checkpoints, events and result files."""
    return self.task_type == "chief" or (self.task_type == "worker" and self.task_index == 0)

  @property
  def is_multi_worker(self) -> bool:
    return self.num_workers > 1


def read_cluster(environ: dict | None = None) -> Cluster:
  """The cluster TF_CONFIG describes (one worker without it).

  Raises UsageError when TF_CONFIG is not the JSON TensorFlow expects.
  """
  text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
  if not text:
    return Cluster()
  try:
    config = json.loads(text)
    members = config.get("cluster", {})
    task = config.get("task", {})
    num_workers = len(members.get("chief", [])) + len(members.get("worker", []))
    task_type, task_index = str(task.get("type", "worker")), int(task.get("index", 0))
  except (ValueError, AttributeError, TypeError) as e:
    raise UsageError("TF_CONFIG is not valid: %s" % e) from None
  if task_type not in ("chief", "worker", "evaluator", "ps"):
    raise UsageError("TF_CONFIG task type %r: expected chief or worker" % task_type)
  if task_type in ("evaluator", "ps"):
    raise UsageError("TF_CONFIG task type %r is not supported: every task trains" % task_type)
  return Cluster(max(num_workers, 1), task_type, task_index)


def check_strategy_flags(flags, cluster: Cluster) -> None:
  """Refuses combinations the chosen --distribution_strategy cannot run."""
  strategy = flags.distribution_strategy
  if strategy == "tpu" and not flags.use_tpu:
    raise UsageError("--distribution_strategy=tpu needs --use_tpu and --tpu_name")
  if strategy == "multi_worker_mirrored" or (strategy == "auto" and cluster.is_multi_worker):
    if flags.use_tpu:
      raise UsageError("multi-worker training and --use_tpu exclude each other")
    if flags.eval_every_steps or flags.eval_every_epoch:
      raise UsageError(
        "evaluation during training is not supported in multi-worker runs: evaluate "
        "afterwards with --do_eval on one machine"
      )
  if flags.num_gpus is not None and flags.num_gpus < 0:
    raise UsageError("--num_gpus=%d: must be at least 0" % flags.num_gpus)
