"""Trains 4 steps on the default strategy and on MirroredStrategy over two logical CPUs.

    python tests/mirrored_replicas.py BERT_CONFIG_JSON

Prints {"worst": {path: largest difference from the default strategy, over
weights and Adam slots}, "moved": how far training moved the weights}. The
paths: two replicas, and two replicas accumulating 2 half batches. The config
turns dropout off; all start from the same weights (the head at 100 times
Google's scale, so that clipping is active) and see the same batches. The CPU
is split into two logical devices before TensorFlow starts anything, so this
runs in a process of its own.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BATCH = 16


def _largest_difference(a: dict, b: dict) -> float:
  return max(float(np.max(np.abs(a[name] - b[name]))) for name in a)


def main(argv) -> int:
  import tensorflow as tf

  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  from bert import modeling
  from classifier.strategy import make_strategy
  from classifier.trainer import ClassifierRunner

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
  # One MirroredStrategy for both of its runs: a second one in the same process would
  # reuse the first one's collective keys.
  mirrored = make_strategy(distribution_strategy="mirrored", num_gpus=0)
  for path, strategy, accumulation_steps in [
    ("one device", make_strategy(num_gpus=0), 1),
    ("two replicas", mirrored, 1),
    ("two replicas, accumulating 2", mirrored, 2),
  ]:
    runner = ClassifierRunner(config, 3, "unused", strategy)
    variables = runner.model.variables_by_name
    if initial is None:
      initial = {n: v.numpy() for n, v in variables.items()}
      initial["output_weights"] = 2.0 * rng.randn(3, config.hidden_size).astype(np.float32)
    else:
      assert strategy.num_replicas_in_sync == 2
    for n, v in variables.items():
      v.assign(initial[n])
    runner.create_optimizer(1e-3, 10, 1)
    dataset = tf.data.Dataset.from_tensor_slices(features).batch(BATCH // accumulation_steps)
    loop = runner.train_loop_fn(accumulation_steps)
    loop(iter(strategy.experimental_distribute_dataset(dataset)), tf.constant(4))
    trained[path] = {n: v.numpy() for n, v in runner._checkpoint_variables().items()}
  reference = trained.pop("one device")
  figures = {
    "worst": {path: _largest_difference(got, reference) for path, got in trained.items()},
    "moved": _largest_difference({n: reference[n] for n in initial}, initial),
  }
  print(json.dumps(figures))
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
