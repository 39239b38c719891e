"""Non-finite training stops with one line, and no non-finite checkpoint is ever the newest."""

import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from emotion_data import tiny_config

from bert import model_folder
from bert.errors import UsageError
from classifier import checks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Flags:
  def __init__(self, class_weights):
    self.class_weights = class_weights


@pytest.mark.parametrize("spec", ["inf,1,1", "1,nan,1", "1,1,1e999"])
def test_class_weights_must_be_finite(spec):
  with pytest.raises(UsageError, match="each finite"):
    checks.class_weights(_Flags(spec), ["a", "b", "c"], [])
  assert checks.class_weights(_Flags("2,1,0.5"), ["a", "b", "c"], []) == [2.0, 1.0, 0.5]


def _runner(tmp_path, class_weights=None):
  import tensorflow as tf

  from bert import modeling
  from classifier.trainer import ClassifierRunner

  rng = np.random.RandomState(0)
  ids = rng.randint(1, 40, size=(32, 12)).astype(np.int32)
  features = {
    "input_ids": ids,
    "input_mask": np.ones_like(ids),
    "segment_ids": np.zeros_like(ids),
    "label_ids": rng.randint(0, 3, size=32).astype(np.int32),
  }
  config = modeling.BertConfig.from_dict(tiny_config(40))
  runner = ClassifierRunner(config, 3, str(tmp_path), class_weights=class_weights)
  return runner, tf.data.Dataset.from_tensor_slices(features).repeat().batch(8)


def _train(runner, dataset):
  runner.train(dataset, 4, save_checkpoints_steps=1, iterations_per_loop=1, batch_size=8)


def test_a_nan_loss_stops_training_at_its_step(tmp_path):
  from classifier.trainer import TrainingDiverged

  runner, dataset = _runner(tmp_path, class_weights=[float("inf"), 1.0, 1.0])
  runner.create_optimizer(1e-3, 4, 0)
  with pytest.raises(TrainingDiverged, match=r"at step 1: the loss is nan; the newest checkpoint"):
    _train(runner, dataset)
  assert model_folder.newest_local_checkpoint(str(tmp_path)).endswith("model.ckpt-0")


def test_non_finite_weights_are_never_saved(tmp_path):
  """An infinite learning rate: the first loss is finite, the weights after it are not."""
  from classifier.trainer import TrainingDiverged

  runner, dataset = _runner(tmp_path)
  runner.create_optimizer(float("inf"), 4, 0)
  with pytest.raises(
    TrainingDiverged, match=r"at step 1: the weights are no longer finite.*ckpt-0"
  ):
    _train(runner, dataset)
  assert model_folder.newest_local_checkpoint(str(tmp_path)).endswith("model.ckpt-0")


@pytest.mark.slow
def test_diverging_run_exits_1_with_one_line_and_a_finite_newest_checkpoint(tmp_path):
  import tensorflow as tf
  from conftest import write_google_checkpoint
  from emotion_data import KEYWORDS, write_emotion_data, write_model_dir

  vocab_file, config_file = write_model_dir(str(tmp_path / "model"))
  init = str(tmp_path / "model" / "bert_model.ckpt")
  write_google_checkpoint(init, json.load(open(config_file)))
  write_emotion_data(str(tmp_path / "data"), n_train=64, n_val=8, n_test=8)
  output = tmp_path / "out"
  command = [
    sys.executable,
    "run_classifier.py",
    "--task_name=emotion",
    "--do_train=true",
    "--do_eval=true",
    "--data_dir=%s" % (tmp_path / "data"),
    "--vocab_file=%s" % vocab_file,
    "--bert_config_file=%s" % config_file,
    "--init_checkpoint=%s" % init,
    "--max_seq_length=16",
    "--train_batch_size=8",
    "--num_train_epochs=1",
    "--save_checkpoints_steps=1",
    "--output_dir=%s" % output,
  ]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  run = functools.partial(
    subprocess.run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
  )
  refused = run(command + ["--class_weights=inf" + ",1" * (len(KEYWORDS) - 1)])
  assert refused.returncode == 2, refused.stderr[-2000:]
  assert refused.stderr.strip().splitlines()[-1].endswith("each finite")
  assert not output.exists()
  # Adam moves every weight by about the learning rate: 1e30 gives finite weights after
  # step 1 (saved), whose loss at step 2 is NaN.
  diverged = run(command + ["--learning_rate=1e30"])
  assert diverged.returncode == 1, diverged.stderr[-2000:]
  last = diverged.stderr.strip().splitlines()[-1]
  assert last.startswith("run_classifier.py: error: training stopped at step 2: the loss is nan;")
  assert "(model.ckpt-1) holds the last finite weights" in last
  assert "Traceback" not in diverged.stderr
  newest = model_folder.newest_local_checkpoint(str(output))
  assert newest.endswith("model.ckpt-1")
  reader = tf.train.load_checkpoint(newest)
  for name in reader.get_variable_to_shape_map():
    assert np.all(np.isfinite(reader.get_tensor(name))), name
  assert not (output / "eval_results.txt").exists()
