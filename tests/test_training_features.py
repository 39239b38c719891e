"""Gradient accumulation, evaluation during training, the best checkpoint and early stopping."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from emotion_data import tiny_config, write_emotion_data, write_model_dir

from bert import model_folder
from bert.errors import UsageError
from classifier import RunConfig, run_workflow
from classifier.training_eval import TrainingEvaluator, read_history

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _features(num_examples, seq_length, vocab_size, num_labels, seed):
  rng = np.random.RandomState(seed)
  ids = rng.randint(1, vocab_size, size=(num_examples, seq_length)).astype(np.int32)
  mask = np.ones_like(ids)
  mask[:, seq_length // 2 :] = rng.randint(0, 2, size=(num_examples, seq_length - seq_length // 2))
  return {
    "input_ids": ids * mask,
    "input_mask": mask,
    "segment_ids": np.zeros_like(ids),
    "label_ids": rng.randint(0, num_labels, size=num_examples).astype(np.int32),
  }


def _trained_weights(batch_size, accumulation_steps, steps, initial=None):
  import tensorflow as tf

  from bert import modeling
  from classifier.trainer import ClassifierRunner

  config = tiny_config(
    40, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0
  )
  runner = ClassifierRunner(modeling.BertConfig.from_dict(config), 3, output_dir="unused")
  if initial is not None:
    for name, variable in runner.model.variables_by_name.items():
      variable.assign(initial[name])
  runner.create_optimizer(1e-3, num_train_steps=10, num_warmup_steps=2)
  features = _features(32 * steps, 12, 40, 3, seed=5)
  dataset = tf.data.Dataset.from_tensor_slices(features).batch(batch_size)
  loop = runner.train_loop_fn(accumulation_steps)
  loss, _ = loop(iter(dataset), tf.constant(steps))
  assert int(runner.optimizer.global_step.numpy()) == steps
  return {n: v.numpy() for n, v in runner.model.variables_by_name.items()}, float(loss)


def test_accumulated_batches_equal_one_big_batch():
  """4 x 8 examples with --gradient_accumulation_steps=4 == 32 examples in one batch."""
  from bert import modeling
  from classifier.trainer import ClassifierRunner

  config = modeling.BertConfig.from_dict(tiny_config(40))
  initial = {
    n: v.numpy() for n, v in ClassifierRunner(config, 3, "unused").model.variables_by_name.items()
  }
  big, big_loss = _trained_weights(32, 1, 3, initial)
  accumulated, accumulated_loss = _trained_weights(8, 4, 3, initial)
  moved = max(float(np.max(np.abs(big[n] - initial[n]))) for n in big)
  assert moved > 1e-3  # The weights did change.
  for name in big:
    np.testing.assert_allclose(accumulated[name], big[name], atol=1e-5, err_msg=name)
  assert abs(accumulated_loss - big_loss) < 1e-4
  unaccumulated, _ = _trained_weights(8, 1, 3, initial)
  assert max(float(np.max(np.abs(unaccumulated[n] - big[n]))) for n in big) > 1e-4


def _fake_evaluator(tmp_path, values, **options):
  saved = []
  results = iter(values)

  def evaluate():
    value = next(results)
    return {
      "eval_accuracy": value,
      "eval_loss": 1 - value,
      "macro_f1": value,
      "loss": 1 - value,
      "global_step": 0,
    }

  def save_weights(prefix):
    saved.append(prefix)
    with open(prefix + ".index", "w") as f:
      f.write("weights")

  return TrainingEvaluator(str(tmp_path), evaluate, save_weights, **options), saved


def test_best_checkpoint_and_patience_survive_a_restart(tmp_path):
  (tmp_path / "labels.json").write_text('["a", "b"]')
  evaluator, saved = _fake_evaluator(tmp_path, [0.5, 0.7, 0.6], metric="eval_accuracy", patience=2)
  assert evaluator(2) is False
  assert evaluator(4) is False  # New best.
  assert evaluator(6) is False  # One evaluation without improvement.
  assert [os.path.basename(p) for p in saved] == ["model.ckpt-2", "model.ckpt-4"]
  best = tmp_path / "best"
  assert sorted(os.listdir(best)) == [
    "checkpoint",
    "eval_results.txt",
    "labels.json",
    "model.ckpt-4.index",
  ]
  assert model_folder.newest_local_checkpoint(str(best)) == str(best / "model.ckpt-4")
  assert "eval_accuracy = 0.7\n" in (best / "eval_results.txt").read_text()
  assert [row["global_step"] for row in read_history(str(tmp_path))] == [2, 4, 6]

  # A new process (after kill -9) goes on from the history: one more miss stops it.
  evaluator, saved = _fake_evaluator(tmp_path, [0.65], metric="eval_accuracy", patience=2)
  assert evaluator(6) is False  # Already evaluated: not repeated.
  assert evaluator(8) is True
  assert saved == []
  assert [row["global_step"] for row in read_history(str(tmp_path))] == [2, 4, 6, 8]


def test_resumed_from_an_older_checkpoint_forgets_later_evaluations(tmp_path):
  evaluator, _ = _fake_evaluator(tmp_path, [0.5, 0.6, 0.4], metric="eval_loss")
  for step in (2, 4):
    evaluator(step)
  evaluator, _ = _fake_evaluator(tmp_path, [0.3], metric="eval_loss")
  evaluator(4)  # The history has step 4: nothing new.
  assert [row["global_step"] for row in read_history(str(tmp_path))] == [2, 4]
  evaluator, _ = _fake_evaluator(tmp_path, [0.45], metric="eval_loss")
  evaluator(2)  # Resumed at step 2: the step-4 row described weights that are gone.
  assert [row["global_step"] for row in read_history(str(tmp_path))] == [2]


@pytest.fixture
def workspace(tmp_path):
  vocab, bert_config = write_model_dir(str(tmp_path / "model"))
  write_emotion_data(str(tmp_path / "data"), n_train=48, n_val=16, n_test=8)
  return dict(
    data_dir=str(tmp_path / "data"),
    bert_config_file=bert_config,
    task_name="emotion",
    vocab_file=vocab,
    output_dir=str(tmp_path / "out"),
    max_seq_length=16,
    train_batch_size=8,
    seed=1,
  )


@pytest.mark.parametrize(
  "options, message",
  [
    ({"do_eval": True, "eval_every_steps": 2}, "need --do_train"),
    ({"do_train": True, "keep_best_checkpoint": "macro_f1"}, "needs --eval_every_steps"),
    ({"do_train": True, "early_stopping_patience": 2}, "needs --eval_every_steps"),
    ({"do_train": True, "gradient_accumulation_steps": 0}, "must be at least 1"),
  ],
)
def test_flag_combinations_are_checked_first(workspace, options, message):
  with pytest.raises(UsageError, match=message):
    run_workflow(RunConfig.from_flat(**workspace, **options))
  assert not os.path.exists(workspace["output_dir"])


def test_eval_during_training_keeps_the_best_folder_for_export_and_serving(workspace):
  config = RunConfig.from_flat(
    **workspace,
    do_train=True,
    num_train_epochs=2.0,
    gradient_accumulation_steps=2,
    eval_every_epoch=True,
    keep_best_checkpoint="eval_loss",
  )
  run_workflow(config)
  out = workspace["output_dir"]
  rows = read_history(out)
  assert [row["global_step"] for row in rows] == [3, 6]  # 48 examples / (8 x 2) per epoch.
  best_step = min(rows, key=lambda row: row["eval_loss"])["global_step"]
  best = os.path.join(out, "best")
  assert model_folder.newest_local_checkpoint(best) == os.path.join(
    best, "model.ckpt-%d" % best_step
  )
  assert model_folder.read_labels(best) == [str(i) for i in range(7)]
  assert os.path.isdir(os.path.join(out, "eval"))  # TensorBoard scalars.

  from export.serving_export import export_for_serving
  from serving import files

  exported = os.path.join(os.path.dirname(out), "exported")
  export_for_serving(best, exported)
  assert files.resolve(exported).labels == tuple(str(i) for i in range(7))
  assert files.resolve(best).checkpoint == os.path.join(best, "model.ckpt-%d" % best_step)


@pytest.mark.slow
def test_kill_during_training_keeps_best_and_history(workspace):
  args = [
    sys.executable,
    "run_classifier.py",
    "--do_train=true",
    "--num_train_epochs=40",
    "--eval_every_steps=1",
    "--keep_best_checkpoint=eval_accuracy",
    "--save_checkpoints_steps=1000",
  ] + ["--%s=%s" % item for item in workspace.items()]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  history = os.path.join(workspace["output_dir"], "eval_history.tsv")
  proc = subprocess.Popen(
    args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
  )
  deadline = time.time() + 240
  while time.time() < deadline and len(read_history(workspace["output_dir"])) < 4:
    time.sleep(0.2)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  before = read_history(workspace["output_dir"])
  assert len(before) >= 4, proc.stderr.read().decode()[-2000:]
  best_before = max(row["eval_accuracy"] for row in before)

  args[args.index("--num_train_epochs=40")] = "--num_train_epochs=%s" % (
    (before[-1]["global_step"] + 2) * 8 / 48
  )
  done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  after = read_history(workspace["output_dir"])
  steps = [row["global_step"] for row in after]
  assert steps == sorted(set(steps))  # Nothing evaluated twice.
  assert steps[: len(before)] == [row["global_step"] for row in before]
  assert len(after) >= len(before) + 1
  best_after = max(row["eval_accuracy"] for row in after)
  assert best_after >= best_before
  best_results = open(os.path.join(workspace["output_dir"], "best", "eval_results.txt")).read()
  assert "eval_accuracy = %s" % np.float32(best_after) in best_results
  assert os.path.isfile(history)


def test_loss_scale_skips_overflowing_steps_and_adapts():
  import tensorflow as tf

  from classifier.loss_scale import LossScale

  scale = LossScale(tf.VariableAggregation.NONE, initial_scale=8.0, growth_interval=2)
  grads, squares, finite = scale.unscale(
    [tf.constant([8.0, 16.0]), None], [tf.constant(128.0), None]
  )
  assert bool(finite) and grads[1] is None and squares[1] is None
  np.testing.assert_array_equal(grads[0].numpy(), [1.0, 2.0])
  assert float(squares[0]) == 2.0  # A norm share is divided by the scale's square.
  scale.update(finite)
  scale.update(finite)
  assert float(scale.scale) == 16.0  # Two good steps: doubled.
  _, _, finite = scale.unscale([tf.constant([np.inf]), tf.constant([1.0])])
  assert not bool(finite)
  scale.update(finite)
  assert float(scale.scale) == 8.0 and int(scale.good_steps) == 0


def test_float16_step_with_overflow_is_skipped(monkeypatch):
  import tensorflow as tf

  from bert import modeling
  from classifier.trainer import ClassifierRunner

  runner = ClassifierRunner(
    modeling.BertConfig.from_dict(tiny_config(40)), 3, "unused", precision="mixed_float16"
  )
  runner.create_optimizer(1e-3, num_train_steps=10, num_warmup_steps=0)
  runner.loss_scale.scale.assign(2.0**60)  # Sure to overflow float16's range.
  before = {n: v.numpy() for n, v in runner.model.variables_by_name.items()}
  dataset = tf.data.Dataset.from_tensor_slices(_features(16, 12, 40, 3, seed=1)).batch(8)
  runner.train_loop_fn()(iter(dataset), tf.constant(1))
  assert int(runner.optimizer.global_step.numpy()) == 0
  assert float(runner.loss_scale.scale) == 2.0**59
  for name, variable in runner.model.variables_by_name.items():
    np.testing.assert_array_equal(variable.numpy(), before[name])


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_and_its_checkpoint_loads_in_float32(workspace, precision):
  import shutil

  from bert import checkpoint, modeling
  from classifier.trainer import ClassifierRunner

  # Evaluated on its own 48 training examples: whether it learned, not how it generalizes
  # (16 unseen examples of 7 classes made the check depend on the seed and the CPU).
  data = workspace["data_dir"]
  shutil.copy(
    os.path.join(data, "fine_tuning_train_data.tsv"), os.path.join(data, "fine_tuning_val_data.tsv")
  )
  config = RunConfig.from_flat(
    **workspace,
    do_train=True,
    do_eval=True,
    num_train_epochs=30.0,
    learning_rate=1e-3,
    precision=precision,
  )
  results = run_workflow(config)
  # From log(7) = 1.95 at the start (7 classes, random weights) it must have learned
  # (float32, bfloat16 and float16 all reach 1.31 here).
  assert results["eval_results"]["eval_loss"] < 1.5, results
  bert_config = modeling.BertConfig.from_json_file(workspace["bert_config_file"])
  latest = checkpoint.latest_checkpoint(workspace["output_dir"])
  reader = __import__("tensorflow").train.load_checkpoint(latest)
  assert reader.get_variable_to_dtype_map()["output_weights"].name == "float32"
  runners = {}
  for name in ("float32", precision):
    runners[name] = ClassifierRunner(bert_config, 7, workspace["output_dir"], precision=name)
    runners[name].restore_for_inference(None)
  ids = _features(8, 16, 30, 7, seed=3)
  outputs = {
    name: runner.model(ids["input_ids"], ids["input_mask"], ids["segment_ids"], ids["label_ids"])[3]
    for name, runner in runners.items()
  }
  np.testing.assert_allclose(outputs[precision], outputs["float32"], atol=3e-2)


@pytest.mark.slow
def test_readme_accumulation_commands_give_the_big_batchs_weights(tmp_path):
  """The README's two commands ("Same numbers on every path"), with the tiny model: every
  dropout off in bert_config.json, 8 x 4 accumulated == 32 in one batch, slots included."""
  import json

  import tensorflow as tf
  from conftest import write_google_checkpoint

  model = tmp_path / "model"
  _, config_file = write_model_dir(str(model))
  config = json.load(open(config_file))
  write_google_checkpoint(str(model / "bert_model.ckpt"), config)
  config.update(hidden_dropout_prob=0, attention_probs_dropout_prob=0, classifier_dropout=0)
  (model / "bert_config_nodropout.json").write_text(json.dumps(config))
  write_emotion_data(str(tmp_path / "data"), n_train=96, n_val=8, n_test=8)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  variables = {}
  for batch, steps in [(32, 1), (8, 4)]:
    output = tmp_path / ("out_%dx%d" % (batch, steps))
    command = [
      sys.executable,
      "run_classifier.py",
      "--task_name=emotion",
      "--do_train=true",
      "--data_dir=%s" % (tmp_path / "data"),
      "--vocab_file=%s" % (model / "vocab.txt"),
      "--bert_config_file=%s" % (model / "bert_config_nodropout.json"),
      "--init_checkpoint=%s" % (model / "bert_model.ckpt"),
      "--max_seq_length=64",
      "--num_train_epochs=1",
      "--seed=1",
      "--train_batch_size=%d" % batch,
      "--gradient_accumulation_steps=%d" % steps,
      "--output_dir=%s" % output,
    ]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.load(open(output / "run_config.json"))["classifier_dropout"] == 0.0
    reader = tf.train.load_checkpoint(model_folder.newest_local_checkpoint(str(output)))
    variables[batch] = {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}
  big, accumulated = variables[32], variables[8]
  assert int(big["global_step"]) == int(accumulated["global_step"]) == 3
  assert sorted(big) == sorted(accumulated)
  worst = max(float(np.max(np.abs(big[n] - accumulated[n]))) for n in big)
  assert worst < 1e-5, worst
  start = tf.train.load_checkpoint(str(model / "bert_model.ckpt"))
  assert (
    float(
      np.max(np.abs(big["bert/pooler/dense/kernel"] - start.get_tensor("bert/pooler/dense/kernel")))
    )
    > 1e-5
  )
