"""Trains 4 steps on the default strategy and on MirroredStrategy over two logical CPUs.

    python tests/mirrored_replicas.py BERT_CONFIG_JSON

Prints {"worst": largest weight difference, "moved": how far training moved the
weights}. Dropout is off; both start from the same weights and see the same batches.
The CPU is split into two logical devices before TensorFlow starts anything, so
this runs in a process of its own.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _largest_difference(a: dict, b: dict) -> float:
  return max(float(np.max(np.abs(a[name] - b[name]))) for name in a)


def main(argv) -> int:
  import tensorflow as tf

  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  from bert import modeling
  from classifier import model as model_lib
  from classifier.trainer import ClassifierRunner, make_strategy

  model_lib.HEAD_DROPOUT = 0.0
  config = modeling.BertConfig.from_json_file(argv[1])
  rng = np.random.RandomState(0)
  ids = rng.randint(1, config.vocab_size, size=(64, 12)).astype(np.int32)
  features = {
    "input_ids": ids,
    "input_mask": np.ones_like(ids),
    "segment_ids": np.zeros_like(ids),
    "label_ids": rng.randint(0, 3, size=64).astype(np.int32),
  }
  initial, trained = None, {}
  for name in ("auto", "mirrored"):
    strategy = make_strategy(distribution_strategy=name, num_gpus=0)
    runner = ClassifierRunner(config, 3, "unused", strategy)
    variables = runner.model.variables_by_name
    if initial is None:
      initial = {n: v.numpy() for n, v in variables.items()}
    else:
      assert strategy.num_replicas_in_sync == 2
      for n, v in variables.items():
        v.assign(initial[n])
    runner.create_optimizer(1e-3, 10, 1)
    dataset = tf.data.Dataset.from_tensor_slices(features).batch(16)
    runner.train_loop_fn()(iter(strategy.experimental_distribute_dataset(dataset)), tf.constant(4))
    trained[name] = {n: v.numpy() for n, v in variables.items()}
  figures = {
    "worst": _largest_difference(trained["auto"], trained["mirrored"]),
    "moved": _largest_difference(trained["auto"], initial),
  }
  print(json.dumps(figures))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
