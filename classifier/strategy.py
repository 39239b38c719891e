"""The tf.distribute strategy of --distribution_strategy, and what depends on its kind.

`make_strategy` picks and builds it (TPU, multi-worker, mirrored, one device or the
default); `plain_variables` tells whether its variables can be updated inside a nested
XLA function; `stack_local_results` brings per-replica outputs to the host as one batch.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bert.errors import UsageError


def make_strategy(
  use_tpu: bool = False,
  tpu_name: str | None = None,
  tpu_zone: str | None = None,
  gcp_project: str | None = None,
  master: str | None = None,
  distribution_strategy: str = "auto",
  num_gpus: int | None = None,
  num_workers: int = 1,
) -> tf.distribute.Strategy:
  """The tf.distribute strategy of --distribution_strategy.

  "auto" is TPUStrategy with --use_tpu, MultiWorkerMirroredStrategy when
  TF_CONFIG names several workers (`num_workers`), MirroredStrategy on 2+
  GPUs, else the default strategy. "one_device" and "mirrored" use the first
  `num_gpus` GPUs (None: every GPU; 0, or no GPU: the CPU devices).
  """
  choice = distribution_strategy
  devices = None  # Listed only for the strategies that place replicas on this machine's devices.
  if choice == "auto":
    if use_tpu:
      choice = "tpu"
    elif num_workers > 1:
      choice = "multi_worker_mirrored"
    else:
      devices = _devices(num_gpus)
      if len(devices) < 2 or devices[0].device_type != "GPU":
        return tf.distribute.get_strategy()
      choice = "mirrored"
  if choice == "tpu":
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
      tpu=tpu_name or master or "", zone=tpu_zone, project=gcp_project
    )
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  if choice == "multi_worker_mirrored":
    return tf.distribute.MultiWorkerMirroredStrategy()
  names = [device.name for device in devices or _devices(num_gpus)]
  if choice == "one_device":
    return tf.distribute.OneDeviceStrategy(names[0])
  return tf.distribute.MirroredStrategy(names)


def plain_variables(strategy: tf.distribute.Strategy) -> bool:
  """Whether `strategy` keeps plain variables (the default and one-device strategies).

  Mirrored and multi-worker strategies, even with one replica, update their
  variables through a cross-replica merge that a nested XLA function cannot
  make.
  """
  return not isinstance(
    strategy,
    (
      tf.distribute.MirroredStrategy,
      tf.distribute.MultiWorkerMirroredStrategy,
      tf.distribute.TPUStrategy,
    ),
  )


def _devices(num_gpus: int | None) -> list:
  """The logical devices a one-machine strategy may use (GPUs first, else CPUs)."""
  gpus = tf.config.list_logical_devices("GPU")
  if num_gpus is not None:
    if num_gpus > len(gpus):
      raise UsageError("--num_gpus=%d: only %d GPU(s) visible" % (num_gpus, len(gpus)))
    gpus = gpus[:num_gpus]
  return gpus or tf.config.list_logical_devices("CPU")


def stack_local_results(strategy: tf.distribute.Strategy, per_replica) -> np.ndarray:
  """Concatenates per-replica tensors along the batch axis, on the host."""
  parts = strategy.experimental_local_results(per_replica)
  return np.concatenate([np.asarray(p) for p in parts], axis=0)
