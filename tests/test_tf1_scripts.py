"""Whole TF1 scripts in the Estimator style run unchanged under bert-run-tf1.

The scripts in tests/tf1_scripts/ are written the way users wrote them around
Google's BERT (TPUEstimator / Estimator, tf.contrib, tf.flags, their own
helper modules and packages beside them); each runs end to end on a tiny model.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from emotion_data import VOCAB, tiny_config, write_emotion_data, write_model_dir

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPTS = os.path.join(HERE, "tf1_scripts")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
  """A tiny pre-trained model and emotion data shared by the scripts."""
  from conftest import write_google_checkpoint

  root = tmp_path_factory.mktemp("tf1_scripts")
  model_dir = str(root / "model")
  vocab, config = write_model_dir(model_dir)
  ckpt = os.path.join(model_dir, "bert_model.ckpt")
  write_google_checkpoint(ckpt, tiny_config(len(VOCAB)))
  data = str(root / "data")
  write_emotion_data(data, n_train=96, n_val=24, n_test=16)
  return {"root": root, "vocab": vocab, "config": config, "ckpt": ckpt, "data": data}


def _model_flags(work):
  return [
    "--data_dir=%s" % work["data"],
    "--bert_config_file=%s" % work["config"],
    "--vocab_file=%s" % work["vocab"],
  ]


def _command(script, *args):
  return [sys.executable, "-m", "legacy", os.path.join(SCRIPTS, script)] + list(args)


def _env():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")


def run_script(script, *args, expect=0):
  proc = subprocess.run(
    _command(script, *args), capture_output=True, text=True, cwd=ROOT, timeout=600, env=_env()
  )
  assert proc.returncode == expect, proc.stderr[-4000:]
  return proc


def run_from_checkpoint(work, script, name, *args):
  """Runs `script` with the model flags, --init_checkpoint and --output_dir=<work>/<name>;
  returns (the finished process, the output folder)."""
  out = str(work["root"] / name)
  flags = _model_flags(work) + ["--init_checkpoint=%s" % work["ckpt"], "--output_dir=%s" % out]
  return run_script(script, *flags, *args), out


def _results(path):
  with open(path) as f:
    return {key: float(value) for key, value in (line.split(" = ") for line in f)}


def _checkpoint_files(folder):
  return sorted(name for name in os.listdir(folder) if name.startswith("model.ckpt-"))


@pytest.mark.slow
def test_classifier_with_custom_head_trains_evaluates_predicts(work):
  proc, out = run_from_checkpoint(
    work,
    "classifier.py",
    "custom_head",
    "--do_train",
    "--do_eval",
    "--do_predict",
    "--head_size=8",
    "--save_checkpoints_steps=5",
  )
  results = _results(os.path.join(out, "eval_results.txt"))
  assert sorted(results) == [
    "eval_accuracy",
    "eval_loss",
    "eval_recall_of_0",
    "global_step",
    "loss",
  ]
  assert results["global_step"] == 12 and 0 <= results["eval_accuracy"] <= 1
  probabilities = np.loadtxt(os.path.join(out, "test_results.tsv"))
  assert probabilities.shape == (16, 7)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
  # Google's file names: checkpoints every 5 steps and at the end, the graph, events.
  assert _checkpoint_files(out) == [
    "model.ckpt-%d.%s" % (step, suffix)
    for step in (0, 10, 12, 5)
    for suffix in ("data-00000-of-00001", "index", "meta")
  ]
  assert os.path.isfile(os.path.join(out, "graph.pbtxt"))
  assert any(name.startswith("events.out.tfevents.") for name in os.listdir(out))
  assert any(name.startswith("events.out.tfevents.") for name in os.listdir(out + "/eval"))
  assert "head/dense/kernel:0, shape = (32, 8)" in proc.stderr  # the custom head, not restored
  progress = [line for line in proc.stderr.splitlines() if "examples/s, ETA" in line]
  assert progress and "step = 12/12" in progress[-1]


@pytest.mark.slow
def test_google_style_eval_and_predict_equal_run_classifier(work):
  """Item 7: a checkpoint trained by our run_classifier.py, evaluated and
  predicted by a Google-style TPUEstimator script, gives the same numbers."""
  trained = str(work["root"] / "run_classifier_out")
  proc = subprocess.run(
    [
      sys.executable,
      os.path.join(ROOT, "run_classifier.py"),
      "--task_name=emotion",
      *_model_flags(work),
      "--init_checkpoint=%s" % work["ckpt"],
      "--output_dir=%s" % trained,
      "--max_seq_length=16",
      "--train_batch_size=8",
      "--learning_rate=5e-4",
      "--num_train_epochs=1",
      "--do_train",
      "--do_eval",
      "--do_predict",
    ],
    capture_output=True,
    text=True,
    cwd=ROOT,
    timeout=600,
    env=_env(),
  )
  assert proc.returncode == 0, proc.stderr[-4000:]
  copy = str(work["root"] / "google_style")
  os.makedirs(copy)
  for name in os.listdir(trained):
    if name == "checkpoint" or name.startswith("model.ckpt-12."):
      shutil.copy(os.path.join(trained, name), copy)
  run_script(
    "classifier.py", *_model_flags(work), "--output_dir=%s" % copy, "--do_eval", "--do_predict"
  )
  ours, theirs = _results(trained + "/eval_results.txt"), _results(copy + "/eval_results.txt")
  for key in ("eval_accuracy", "eval_loss"):
    assert abs(ours[key] - theirs[key]) <= 1e-5, (key, ours[key], theirs[key])
  assert theirs["global_step"] == ours["global_step"] == 12
  ours_p = np.loadtxt(trained + "/test_results.tsv")
  theirs_p = np.loadtxt(copy + "/test_results.tsv")
  assert ours_p.shape == theirs_p.shape == (16, 7)
  assert np.abs(ours_p - theirs_p).max() <= 1e-5


@pytest.mark.slow
def test_one_estimator_step_equals_the_graph_face(work):
  proc, _ = run_from_checkpoint(work, "one_step.py", "one_step", "--head_dropout=0")
  (line,) = [x for x in proc.stdout.splitlines() if x.startswith("compared")]
  found = re.match(r"compared (\d+) variables: max difference (\S+) .* up to (\S+)\)", line)
  count, diff, moved = int(found[1]), float(found[2]), float(found[3])
  assert count == 41 and diff <= 1e-6 and moved > 1e-4, line


@pytest.mark.slow
def test_multi_label_sigmoid_head_with_warm_start(work):
  proc, out = run_from_checkpoint(work, "multi_label.py", "multi_label")
  with open(os.path.join(out, "multi_label.json")) as f:
    result = json.load(f)
  assert result["global_step"] == 6
  assert 0 <= result["auc"] <= 1 and 0 <= result["label_accuracy"] <= 1
  assert len(result["predictions"]) == 24
  assert "Warm-started 39 variables." in proc.stderr
  # The SavedModel it exported answers as predict() did.
  import tensorflow as tf

  assert os.path.dirname(result["export_dir"]) == os.path.join(out, "export")
  serving = tf.saved_model.load(result["export_dir"]).signatures["serving_default"]
  ids, mask, segments = np.load(os.path.join(out, "first_features.npy"))
  outputs = serving(
    input_ids=tf.constant(ids[None]),
    input_mask=tf.constant(mask[None]),
    segment_ids=tf.constant(segments[None]),
  )
  np.testing.assert_allclose(outputs["probabilities"].numpy()[0], result["first"], atol=1e-5)
  assert "sigmoid_loss = " in proc.stderr
  # keep_checkpoint_max=2: checkpoints of steps 3 and 6 remain.
  assert {name.split(".")[1] for name in _checkpoint_files(out)} == {"ckpt-3", "ckpt-6"}


@pytest.mark.slow
def test_script_with_its_own_model_package_and_optimization(work):
  """The fork's model/modeling.py (tf.contrib.layers.layer_norm, tf.layers.dense)
  and optimization.py are used, ours stands in for tokenization.py; its
  encoder loads Google's checkpoint and computes what bert.modeling does."""
  import tensorflow as tf

  from bert import modeling

  proc, out = run_from_checkpoint(work, "own_model/run_own_model.py", "own_model")
  assert "optimization from %s/own_model/optimization.py, own: True" % SCRIPTS in proc.stderr
  assert "tokenization from %s/bert/tokenization.py" % ROOT in proc.stderr
  assert "trained to step 3" in proc.stderr
  ids, mask = np.load(os.path.join(out, "features.npy"))
  pooled = np.load(os.path.join(out, "pooled.npy"))
  config = modeling.BertConfig.from_json_file(work["config"])
  with tf.Graph().as_default():
    model = modeling.BertModel(config, False, tf.constant(ids), tf.constant(mask))
    tf.compat.v1.train.init_from_checkpoint(work["ckpt"], {"bert/": "bert/"})
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      ours = session.run(model.get_pooled_output())
  assert pooled.shape == (24, 32)
  assert np.abs(ours - pooled).max() <= 1e-5


@pytest.mark.slow
def test_siamese_model_alternating_train_and_evaluate(work):
  proc, out = run_from_checkpoint(work, "siamese.py", "siamese")
  rounds = [line for line in proc.stdout.splitlines() if line.startswith("round")]
  assert [line.split()[3] for line in rounds] == ["3", "6", "9"]
  assert os.path.isdir(os.path.join(out, "eval_pairs"))
  from legacy.estimator.early_stopping import read_eval_metrics

  assert sorted(read_eval_metrics(os.path.join(out, "eval_pairs"))) == [3, 6, 9]


@pytest.mark.slow
def test_train_and_evaluate_with_early_stopping(work):
  """Learning rate 0: the eval loss never goes down, so the hook stops
  training after --patience steps without a decrease, far before max_steps."""
  proc, out = run_from_checkpoint(
    work,
    "early_stopping.py",
    "early_stopping",
    "--learning_rate=0",
    "--max_steps=100",
    "--patience=2",
  )
  assert "stopped at global_step 4 of 100, exports []" in proc.stdout
  assert "Early stopping: no improvement of loss for 2 steps" in proc.stderr
  from legacy.estimator.early_stopping import read_eval_metrics

  assert sorted(read_eval_metrics(os.path.join(out, "eval"))) == [2, 4]


@pytest.mark.slow
def test_bilstm_crf_tagger(work):
  proc, out = run_from_checkpoint(work, "ner/tagger.py", "ner")
  assert "viterbi agrees on 24 of 24" in proc.stdout
  assert "emo_precision" in proc.stdout
  with open(os.path.join(out, "label_test.txt")) as f:
    lines = f.read().splitlines()
  assert len(lines) == 24 and set(" ".join(lines).split()) <= {"O", "EMO", "[PAD]"}


@pytest.mark.slow
def test_run_squad_style_script(work):
  _, out = run_from_checkpoint(work, "squad_style.py", "squad")
  with open(os.path.join(out, "predictions.json")) as f:
    answers = json.load(f)
  assert sorted(answers) == [str(2000000000 + i) for i in range(24)]
  assert all(1 <= len(answer.split()) <= 3 for answer in answers.values())


@pytest.mark.slow
def test_run_pretraining_style_script(work):
  proc, out = run_from_checkpoint(work, "pretraining_style.py", "pretraining")
  results = _results(os.path.join(out, "eval_results.txt"))
  assert sorted(results) == [
    "global_step",
    "loss",
    "masked_lm_accuracy",
    "masked_lm_loss",
    "next_sentence_accuracy",
    "next_sentence_loss",
  ]
  assert results["global_step"] == 6
  assert (
    "cls/predictions/output_bias:0, shape = (%d,), *INIT_FROM_CKPT*" % len(VOCAB) in proc.stderr
  )


@pytest.mark.slow
def test_kill_9_during_training_then_the_same_command_resumes_to_the_last_step(work):
  import tensorflow as tf

  out = str(work["root"] / "killed")
  args = [
    *_model_flags(work),
    "--init_checkpoint=%s" % work["ckpt"],
    "--output_dir=%s" % out,
    "--do_train",
    "--num_train_epochs=4",  # 48 steps
    "--save_checkpoints_steps=1",
  ]
  proc = subprocess.Popen(
    _command("classifier.py", *args),
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
    cwd=ROOT,
    env=_env(),
  )
  try:
    deadline = time.time() + 300
    while not os.path.exists(os.path.join(out, "model.ckpt-5.index")):
      assert proc.poll() is None and time.time() < deadline, "training ended before step 5"
      time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
  finally:
    proc.wait()
  killed_at = tf.train.latest_checkpoint(out)
  assert tf.train.load_variable(killed_at, "global_step") < 48
  second = run_script("classifier.py", *args)
  assert "Restoring parameters from %s" % killed_at in second.stderr
  assert "Saving checkpoints for 0 into" not in second.stderr
  state = tf.train.get_checkpoint_state(out)
  assert state.model_checkpoint_path.endswith("model.ckpt-48")
  for path in state.all_model_checkpoint_paths:  # every checkpoint listed loads
    assert tf.train.load_variable(path, "global_step") == int(path.rsplit("-", 1)[1])


def test_use_tpu_is_one_line_naming_the_way_to_a_tpu(work):
  status_lines = []
  for extra in (["--use_tpu=true"], ["--use_tpu=true", "--tpu_name=my-tpu"]):
    proc = run_script(
      "classifier.py",
      *_model_flags(work),
      "--output_dir=%s" % (work["root"] / "tpu"),
      *extra,
      expect=2,
    )
    last = proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr
    status_lines.append(last)
  assert status_lines[0].startswith("bert-run-tf1: error: %s/classifier.py:" % SCRIPTS)
  assert (
    "TPUEstimator(use_tpu=True): bert-run-tf1 runs TPUEstimator on the CPU/GPU only"
    in (status_lines[0])
  )
  assert "TPUClusterResolver('my-tpu')" in status_lines[1]
  for line in status_lines:
    assert "run_classifier.py --use_tpu --tpu_name=... (tf.distribute.TPUStrategy)" in line
