"""classifier.RunConfig / run_workflow: the whole job from Python, without absl flags."""

import dataclasses
import os

import pytest

from bert.errors import UsageError
from classifier import RunConfig, run_workflow
from emotion_data import write_emotion_data, write_model_dir


def test_fields_match_the_flags_of_run_classifier():
  import run_classifier

  flag_values = run_classifier.FLAGS
  for field in dataclasses.fields(RunConfig):
    flag = flag_values[field.name]
    default = None if field.default is dataclasses.MISSING else field.default
    assert flag.default == default, field.name
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
  assert [f.name for f in dataclasses.fields(RunConfig)][:25] == google


def test_from_flags_reads_each_flag():
  class Parsed:
    def __getattr__(self, name):
      return "value of " + name

  config = RunConfig.from_flags(Parsed())
  assert config.output_dir == "value of output_dir"
  assert config.has_header == "value of has_header"


def test_usage_error_before_anything_is_written(tmp_path):
  vocab, bert_config = write_model_dir(str(tmp_path / "model"))
  config = RunConfig(str(tmp_path / "data"), bert_config, "emotion", vocab, str(tmp_path / "out"))
  with pytest.raises(UsageError, match="At least one of `do_train`"):
    run_workflow(config)
  assert not os.path.exists(tmp_path / "out")


def test_train_eval_predict_from_python(tmp_path):
  vocab, bert_config = write_model_dir(str(tmp_path / "model"))
  write_emotion_data(str(tmp_path / "data"), n_train=32, n_val=8, n_test=8)
  config = RunConfig(
    data_dir=str(tmp_path / "data"),
    bert_config_file=bert_config,
    task_name="emotion",
    vocab_file=vocab,
    output_dir=str(tmp_path / "out"),
    do_train=True,
    do_eval=True,
    do_predict=True,
    max_seq_length=16,
    train_batch_size=8,
    num_train_epochs=1.0,
    seed=1,
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
run_workflow(RunConfig({data!r}, {config!r}, "emotion", {vocab!r}, {out!r}, do_train=True,
                       do_eval=True, max_seq_length=16, train_batch_size=8, num_train_epochs=1.0))
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
