"""classifier.RunConfig / run_workflow: the whole job from Python, without absl flags."""

import os

import pytest
from emotion_data import write_emotion_data, write_model_dir

from bert.errors import UsageError
from classifier import (
  DataSettings,
  EvaluationSettings,
  ModelFiles,
  PredictionSettings,
  RunConfig,
  RuntimeSettings,
  TrainingSettings,
  run_workflow,
)
from classifier.run_config import FLAG_SECTIONS, flag_default


def test_fields_match_the_flags_of_run_classifier():
  import run_classifier

  defined = [flag for flag in run_classifier.FLAGS.get_flags_for_module(run_classifier)]
  names = [flag.name for flag in defined if flag.name != "list_tasks"]
  assert sorted(names) == sorted(FLAG_SECTIONS)
  for flag in defined:
    if flag.name != "list_tasks":
      assert flag.default == flag_default(flag.name), flag.name
  google = [
    "data_dir",
    "bert_config_file",
    "task_name",
    "vocab_file",
    "output_dir",
    "init_checkpoint",
    "do_lower_case",
    "max_seq_length",
    "do_train",
    "do_eval",
    "do_predict",
    "train_batch_size",
    "eval_batch_size",
    "predict_batch_size",
    "learning_rate",
    "num_train_epochs",
    "warmup_proportion",
    "save_checkpoints_steps",
    "iterations_per_loop",
    "use_tpu",
    "tpu_name",
    "tpu_zone",
    "gcp_project",
    "master",
    "num_tpu_cores",
  ]
  assert names[:25] == google


def test_from_flags_reads_each_flag():
  class Parsed:
    def __getattr__(self, name):
      return "value of " + name

  config = RunConfig.from_flags(Parsed())
  assert config.output_dir == "value of output_dir"
  assert config.data.has_header == "value of has_header"
  assert config.command_line is None  # Not absl's FlagValues: given means "not the default".


def test_from_flags_remembers_the_command_line():
  import run_classifier

  flag_values = run_classifier.FLAGS
  argv = ["run_classifier.py", "--data_dir=d", "--bert_config_file=c", "--task_name=t"]
  argv += ["--vocab_file=v", "--output_dir=o", "--window_pooling=mean", "--do_train"]
  flag_values(argv)
  try:
    config = RunConfig.from_flags(flag_values)
  finally:
    flag_values.unparse_flags()
  assert config.given("window_pooling")  # On the command line at its default: given.
  assert not config.given("max_seq_length")
  assert config.training.do_train and config.prediction.window_pooling == "mean"
  assert config.replace(max_seq_length=64).given("max_seq_length")


def test_the_flat_names_build_the_same_config():
  flat = RunConfig.from_flat("d", "c.json", "t", "v.txt", "o", do_train=True, num_gpus=0)
  sections = RunConfig(
    model=ModelFiles("c.json", "v.txt"),
    data=DataSettings("d", "t"),
    output_dir="o",
    training=TrainingSettings(do_train=True),
    runtime=RuntimeSettings(num_gpus=0),
  )
  assert flat == sections
  assert flat.value("num_gpus") == 0 and flat.value("output_dir") == "o"
  assert flat.given("do_train") and not flat.given("do_eval")  # Built in Python: not the default.
  with pytest.raises(TypeError, match="'do_nothing'"):
    RunConfig.from_flat("d", "c.json", "t", "v.txt", "o", do_nothing=True)


def test_replace_copies_every_section():
  config = RunConfig.from_flat("d", "c.json", "t", "v.txt", "o")
  copy = config.replace(output_dir="elsewhere", do_eval=True)
  assert (copy.output_dir, copy.evaluation.do_eval) == ("elsewhere", True)
  copy.training.seed = 5
  assert config.training.seed is None and config.evaluation.do_eval is False


def test_usage_error_before_anything_is_written(tmp_path):
  vocab, bert_config = write_model_dir(str(tmp_path / "model"))
  config = RunConfig.from_flat(
    str(tmp_path / "data"), bert_config, "emotion", vocab, str(tmp_path / "out")
  )
  with pytest.raises(UsageError, match="At least one of `do_train`"):
    run_workflow(config)
  assert not os.path.exists(tmp_path / "out")


def test_train_eval_predict_from_python(tmp_path):
  vocab, bert_config = write_model_dir(str(tmp_path / "model"))
  write_emotion_data(str(tmp_path / "data"), n_train=32, n_val=8, n_test=8)
  config = RunConfig(
    model=ModelFiles(bert_config_file=bert_config, vocab_file=vocab),
    data=DataSettings(data_dir=str(tmp_path / "data"), task_name="emotion", max_seq_length=16),
    output_dir=str(tmp_path / "out"),
    training=TrainingSettings(do_train=True, train_batch_size=8, num_train_epochs=1.0, seed=1),
    evaluation=EvaluationSettings(do_eval=True),
    prediction=PredictionSettings(do_predict=True),
  )
  results = run_workflow(config)
  assert results["eval_results"]["global_step"] == 4
  assert 0.0 <= results["eval_results"]["eval_accuracy"] <= 1.0
  with open(results["test_results_file"]) as f:
    assert len(f.read().splitlines()) == 8
  assert {"labels.json", "run_config.json", "eval_results.txt"} <= set(os.listdir(tmp_path / "out"))


_SCRIPT = """
import logging, sys
sys.path.insert(0, {root!r})
if {configured}:
  logging.basicConfig(level=logging.WARNING)
from classifier import RunConfig, run_workflow
run_workflow(RunConfig.from_flat({data!r}, {config!r}, "emotion", {vocab!r}, {out!r},
  do_train=True, do_eval=True, max_seq_length=16, train_batch_size=8, num_train_epochs=1.0))
"""


@pytest.mark.slow
@pytest.mark.parametrize("configured", [False, True])
def test_a_plain_script_shows_the_progress_unless_it_set_up_logging(tmp_path, configured):
  import subprocess
  import sys

  vocab, bert_config = write_model_dir(str(tmp_path / "model"))
  write_emotion_data(str(tmp_path / "data"), n_train=16, n_val=8, n_test=8)
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  script = _SCRIPT.format(
    root=root,
    configured=configured,
    data=str(tmp_path / "data"),
    config=bert_config,
    vocab=vocab,
    out=str(tmp_path / "out"),
  )
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  done = subprocess.run(
    [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env
  )
  assert done.returncode == 0, done.stderr[-3000:]
  lines = ["***** Running training *****", "examples/s, ETA", "***** Eval results *****"]
  for line in lines:
    assert (line in done.stderr) != configured, line
  if configured:  # The caller's logging decides: its WARNING level shows no progress.
    assert "INFO" not in done.stderr


@pytest.mark.slow
def test_the_readme_example_runs_as_written(tmp_path):
  import json
  import subprocess
  import sys

  from conftest import write_google_checkpoint
  from emotion_data import VOCAB, tiny_config

  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
    library = f.read().split("\n## Library\n", 1)[1]
  example = library.split("```python\n", 1)[1].split("```\n", 1)[0]
  _, config_file = write_model_dir(str(tmp_path / "model"))
  sizes = tiny_config(len(VOCAB), max_position_embeddings=128)  # The example's default length.
  with open(config_file, "w") as f:
    json.dump(sizes, f)
  write_google_checkpoint(str(tmp_path / "model" / "bert_model.ckpt"), sizes)
  write_emotion_data(str(tmp_path / "data"), n_train=32, n_val=8, n_test=8)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=root)
  done = subprocess.run(
    [sys.executable, "-c", example],
    cwd=tmp_path,
    capture_output=True,
    text=True,
    timeout=600,
    env=env,
  )
  assert done.returncode == 0, done.stderr[-3000:]
  assert 0.0 <= float(done.stdout.split()[-1]) <= 1.0
  assert os.path.isfile(tmp_path / "output" / "eval_results.txt")
