"""One exit-status rule for every console script (README, "Bad input"): 2 when the command
line is wrong whatever the files hold, 1 when a file or folder is not as the command needs it."""

import os
import subprocess
import sys

import pytest
from emotion_data import write_emotion_data, write_model_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
  base = tmp_path_factory.mktemp("exit_status")
  vocab, config = write_model_dir(str(base / "model"))
  write_emotion_data(str(base / "data"), n_train=16, n_val=4, n_test=4)
  (base / "a_file").write_text("in the way\n")
  (base / "empty").mkdir()
  return {"base": str(base), "vocab": vocab, "config": config, "file": str(base / "a_file")}


def _classifier(paths, *extra):
  return [
    "run_classifier.py",
    "--task_name=emotion",
    "--data_dir=%s" % os.path.join(paths["base"], "data"),
    "--vocab_file=%s" % paths["vocab"],
    "--bert_config_file=%s" % paths["config"],
    "--max_seq_length=16",
  ] + list(extra)


CASES = [
  # (command, exit status, the start of the message after "error: ")
  (lambda p: _classifier(p, "--output_dir={file}", "--do_train"), 1, "--output_dir {file} exists"),
  (lambda p: _classifier(p, "--output_dir=o", "--do_train", "--eval_every_steps=-1"), 2, "--eval"),
  (
    lambda p: ["-m", "export.hf_export", "--output_dir", "{base}", "--hf_dir", "{file}"],
    1,
    "--hf_dir",
  ),
  (
    lambda p: [
      "-m",
      "export.hf_export",
      "--output_dir",
      "{base}",
      "--hf_dir",
      "x",
      "--tolerance=-1",
    ],
    2,
    "--tolerance",
  ),
  (
    lambda p: ["-m", "export.onnx_export", "--output_dir", "{base}", "--onnx_dir", "{file}"],
    1,
    "--onnx",
  ),
  (
    lambda p: [
      "-m",
      "export.savedmodel_export",
      "--output_dir",
      "{base}",
      "--export_dir",
      "{file}",
    ],
    1,
    "export_dir {file} exists and is not a directory",
  ),
  (
    lambda p: [
      "-m",
      "export.savedmodel_export",
      "--output_dir",
      "x",
      "--export_dir",
      "y",
      "--version",
      "-1",
    ],
    2,
    "argument --version",
  ),
  (
    lambda p: ["-m", "export.serving_export", "--output_dir", "{base}", "--export_dir", "{file}"],
    1,
    "export_dir {file} exists and is not a directory",
  ),
  (
    lambda p: ["-m", "export.hf_import", "--hf_dir", "{base}/none", "--output_dir", "z"],
    1,
    "--hf_dir",
  ),
  (
    lambda p: ["-m", "classifier.data_prep", "--input", "{base}/none.csv", "--output_dir", "q"],
    1,
    "{base}",
  ),
  (
    lambda p: [
      "-m",
      "classifier.data_prep",
      "--input",
      "x.csv",
      "--output_dir",
      "q",
      "--test_ratio",
      "2",
    ],
    2,
    "argument --test_ratio",
  ),
  (lambda p: ["-m", "serving", "-model_dir", "{file}"], 1, "-model_dir {file} is not a directory"),
  (lambda p: ["-m", "serving", "-model_dir", "{base}", "-num_worker", "0"], 2, "-num_worker"),
  (lambda p: ["-m", "legacy.runner", "{base}"], 1, "{base}: is a directory"),
]


@pytest.mark.parametrize("command, status, message", CASES)
def test_every_console_script_follows_the_rule(paths, command, status, message):
  argv = [part.format(**paths) for part in command(paths)]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
  done = subprocess.run(
    [sys.executable] + argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
  )
  lines = done.stderr.strip().splitlines()
  assert done.returncode == status, done.stderr[-2000:]
  assert ": error: " + message.format(**paths) in lines[-1]
  assert "Traceback" not in done.stderr
