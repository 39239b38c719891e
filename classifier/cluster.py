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
from classifier.run_config import RunConfig

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

  Raises UsageError, naming the field, when TF_CONFIG is not the JSON
  TensorFlow expects (before TensorFlow reads it and fails with a traceback).
  """
  text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
  if not text:
    return Cluster()
  try:
    config = json.loads(text)
  except ValueError as e:
    raise UsageError("TF_CONFIG is not valid: %s" % e) from None
  if not isinstance(config, dict):
    raise UsageError("TF_CONFIG is not valid: expected a JSON object, found %s" % _kind(config))
  task_type, task_index = _read_task(config)
  members = _read_members(config)
  listed = len(members.get(task_type, []))
  if not listed:
    raise UsageError(
      "TF_CONFIG task type %r is not a job of its cluster (%s)"
      % (task_type, ", ".join(sorted(members)) or "no jobs")
    )
  if task_index >= listed:
    raise UsageError(
      "TF_CONFIG task.index %d is out of range: cluster.%s lists %d task%s (index 0 to %d)"
      % (task_index, task_type, listed, "" if listed == 1 else "s", listed - 1)
    )
  if len(members.get("chief", [])) > 1:
    raise UsageError("TF_CONFIG cluster.chief lists %d tasks: at most one" % len(members["chief"]))
  num_workers = len(members.get("chief", [])) + len(members.get("worker", []))
  return Cluster(max(num_workers, 1), task_type, task_index)


def _kind(value) -> str:
  """A JSON value's kind, for messages."""
  names = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}
  return names.get(type(value), "a number" if isinstance(value, (int, float)) else "null")


def _read_task(config: dict) -> tuple[str, int]:
  """TF_CONFIG's task: (type, index)."""
  if "task" not in config:
    raise UsageError(
      'TF_CONFIG has no "task": expected {"type": "worker", "index": N}, this machine\'s place '
      "in the cluster"
    )
  task = config["task"]
  if not isinstance(task, dict):
    raise UsageError(
      'TF_CONFIG task must be an object such as {"type": "worker", "index": 0}, found %s'
      % _kind(task)
    )
  task_type = task.get("type", "worker")
  if task_type not in ("chief", "worker", "evaluator", "ps"):
    raise UsageError("TF_CONFIG task type %r: expected chief or worker" % (task_type,))
  if task_type in ("evaluator", "ps"):
    raise UsageError("TF_CONFIG task type %r is not supported: every task trains" % task_type)
  index = task.get("index", 0)
  if isinstance(index, str) and index.strip().isdigit():  # TensorFlow takes "1" too.
    index = int(index)
  if isinstance(index, bool) or not isinstance(index, int) or index < 0:
    raise UsageError("TF_CONFIG task.index must be an integer from 0, found %s" % json.dumps(index))
  return task_type, index


def _read_members(config: dict) -> dict[str, list[str]]:
  """TF_CONFIG's cluster: job name -> its "host:port" addresses."""
  members = config.get("cluster")
  if not isinstance(members, dict):
    raise UsageError(
      'TF_CONFIG cluster must be an object such as {"worker": ["host1:2222", "host2:2222"]}, '
      "found %s" % ("nothing" if members is None else _kind(members))
    )
  for job, addresses in members.items():
    if not isinstance(addresses, list) or not all(
      isinstance(address, str) and address.strip() for address in addresses
    ):
      raise UsageError(
        'TF_CONFIG cluster.%s must be a list of "host:port" strings, found %s'
        % (job, json.dumps(addresses))
      )
  return members


def check_strategy_flags(config: RunConfig, cluster: Cluster) -> None:
  """Refuses combinations the chosen --distribution_strategy cannot run."""
  runtime, training = config.runtime, config.training
  strategy = runtime.distribution_strategy
  if strategy == "tpu" and not runtime.use_tpu:
    raise UsageError("--distribution_strategy=tpu needs --use_tpu and --tpu_name")
  if strategy == "multi_worker_mirrored" or (strategy == "auto" and cluster.is_multi_worker):
    if runtime.use_tpu:
      raise UsageError("multi-worker training and --use_tpu exclude each other")
    if training.eval_every_steps or training.eval_every_epoch:
      raise UsageError(
        "evaluation during training is not supported in multi-worker runs: evaluate "
        "afterwards with --do_eval on one machine"
      )
  if runtime.num_gpus is not None and runtime.num_gpus < 0:
    raise UsageError("--num_gpus=%d: must be at least 0" % runtime.num_gpus)
