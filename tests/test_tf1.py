"""legacy/runner.py (bert-run-tf1): its command-line errors and what every script gets;
whole Estimator scripts are in test_tf1_scripts.py."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USAGE = "usage: bert-run-tf1 SCRIPT.py [ARGUMENTS...]"


def _runner(*argv):
  """`python -m legacy ARGV...` (what bert-run-tf1 runs), finished."""
  return subprocess.run(
    [sys.executable, "-m", "legacy"] + [str(arg) for arg in argv],
    capture_output=True,
    text=True,
    cwd=ROOT,
    timeout=120,
    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
  )


def _run_tf1(*argv):
  """(exit status, stderr lines) of `python -m legacy ARGV...`."""
  r = _runner(*argv)
  return r.returncode, r.stderr.splitlines()


def test_no_script_is_a_usage_error():
  assert _run_tf1() == (2, ["bert-run-tf1: error: no script to run; " + USAGE])


def test_missing_script_is_an_input_error(tmp_path):
  script = str(tmp_path / "old_script.py")
  assert _run_tf1(script, "--flag=1") == (1, ["bert-run-tf1: error: %s: no such script" % script])


def test_directory_is_named_as_such(tmp_path):
  assert _run_tf1(str(tmp_path)) == (
    1,
    ["bert-run-tf1: error: %s: is a directory, not a script" % tmp_path],
  )


def test_script_with_null_bytes_is_an_input_error(tmp_path):
  script = tmp_path / "saved_from_a_notebook.py"
  script.write_bytes(b"import tensorflow as tf\n\nprint(1)\x00\x00\n")
  assert _run_tf1(str(script)) == (
    1,
    ["bert-run-tf1: error: %s: cannot read: null byte on line 3; not a Python script" % script],
  )


def test_help_is_not_an_error():
  assert _run_tf1("--help") == (0, [USAGE])


def test_console_script_entry_point():
  from importlib.metadata import entry_points

  (entry,) = [e for e in entry_points(group="console_scripts") if e.name == "bert-run-tf1"]
  assert entry.value == "legacy.runner:main"


TF1_LOGGING = """
import os
import subprocess
import sys
import tensorflow as tf

tf.logging.set_verbosity(tf.logging.INFO)
tf.logging.info("marker-before-run")


def main(_):
  tf.logging.info("marker-in-main")
  # Keras 2 behind tf.layers; the process it starts does not inherit the switch.
  x = tf.placeholder(tf.float32, [None, 3])
  print("dense", tf.layers.dense(x, 2, name="head").name, tf.trainable_variables()[0].name)
  child = subprocess.run(
      [sys.executable, "-c", "import os; print(os.environ.get('TF_USE_LEGACY_KERAS'))"],
      capture_output=True, text=True)
  print("child", child.stdout.strip(), "own", os.environ.get("TF_USE_LEGACY_KERAS"))


if __name__ == "__main__":
  tf.app.run()
"""


def test_log_lines_once_and_keras_2_for_this_process_only(tmp_path):
  """Issue 24 item 9: each tf.logging line was printed twice once tf.app.run
  had put absl's handler beside TensorFlow's."""
  script = tmp_path / "logs.py"
  script.write_text(TF1_LOGGING)
  r = _runner(script)
  assert r.returncode == 0, r.stderr[-3000:]
  for marker in ("marker-before-run", "marker-in-main"):
    lines = [line for line in r.stderr.splitlines() if marker in line]
    assert lines == ["INFO:tensorflow:" + marker]
  assert "dense head/BiasAdd:0 head/kernel:0" in r.stdout
  assert "child None own None" in r.stdout


def test_name_not_provided_is_one_line_with_the_place(tmp_path):
  script = tmp_path / "slim_user.py"
  script.write_text("import tensorflow as tf\n\nslim = tf.contrib.slim\n")
  status, lines = _run_tf1(str(script))
  assert status == 1
  assert lines[-1].startswith("bert-run-tf1: error: %s:3: tf.contrib.slim is not provided" % script)
  assert len([line for line in lines if "Traceback" in line]) == 0


def test_missing_tf_keras_is_named_before_tensorflow_starts(monkeypatch):
  import importlib.util

  from bert import errors
  from legacy import runner

  real_find_spec = importlib.util.find_spec
  monkeypatch.setattr(
    importlib.util,
    "find_spec",
    lambda name, *args: None if name == "tf_keras" else real_find_spec(name, *args),
  )
  with pytest.raises(
    errors.ProjectError, match=r"tf-keras package is not installed; .* pip install"
  ):
    runner.import_tf1()


TF_1_15_STYLE = """
import tensorflow.compat.v1 as tf
from tensorflow.compat.v1 import estimator
import tensorflow.contrib.crf as crf
from tensorflow.contrib import rnn

tf.disable_v2_behavior()
print(tf.estimator.ModeKeys.PREDICT, estimator.ModeKeys.EVAL, crf.crf_decode.__name__)
print(rnn.LSTMCell(4).__class__.__name__, tf.contrib.layers.layer_norm.__module__)
"""


def test_tf_1_15_imports_get_the_same_view(tmp_path):
  """`import tensorflow.compat.v1 as tf` (TF 1.15 / 2.x-era scripts) and
  `import tensorflow.contrib.crf` find what `import tensorflow as tf` does."""
  script = tmp_path / "compat_style.py"
  script.write_text(TF_1_15_STYLE)
  r = _runner(script)
  assert r.returncode == 0, r.stderr[-3000:]
  assert r.stdout.splitlines() == ["infer eval crf_decode", "LSTMCell legacy.contrib_names"]


def test_folder_finder_keeps_our_packages_ours(tmp_path):
  """A script folder holding classifier.py: `classifier` still finds our package
  (in a fresh virtual environment an editable install's finder comes after the
  path finder, which searched the script's folder first)."""
  from legacy import hooks

  (tmp_path / "classifier.py").write_text("raise SystemExit('the script, not ours')\n")
  (tmp_path / "helpers.py").write_text("VALUE = 1\n")
  finder = hooks.LegacyFolderFinder([str(tmp_path)], v1=True)
  ours = finder.find_spec("classifier")
  assert ours.origin == os.path.join(ROOT, "classifier", "__init__.py")
  assert finder.find_spec("classifier.features") is None  # found in our package's own path
  theirs = finder.find_spec("helpers")
  assert theirs.origin == str(tmp_path / "helpers.py")
  assert isinstance(theirs.loader, hooks.LegacySourceLoader)


SPEC_WITHOUT_LOSS = """
import tensorflow as tf


def model_fn(features, labels, mode):
  scores = tf.layers.dense(features["x"], 2)
  return tf.estimator.EstimatorSpec(mode=mode, predictions=scores)


def input_fn():
  return tf.data.Dataset.from_tensors({"x": [[1.0, 2.0]]})


tf.estimator.Estimator(model_fn, model_dir=MODEL_DIR).{call}(input_fn{arguments})
"""


@pytest.mark.parametrize(
  "call, arguments, line, message",
  [
    ("evaluate", "", 7, "EstimatorSpec for mode EVAL needs loss"),
    ("train", ", steps=1", 7, "EstimatorSpec for mode TRAIN needs both loss and train_op"),
    ("train", ", steps=1, max_steps=2", 14, "Can not provide both steps and max_steps."),
  ],
)
def test_what_tf1_refused_is_one_line_at_the_script_line(tmp_path, call, arguments, line, message):
  """A script that breaks the Estimator's rules (a model_fn whose spec lacks what
  its mode needs, ...) gets TF1's complaint as one line at its own line, not a
  traceback through this package."""
  script = tmp_path / "rule_breaker.py"
  script.write_text(
    SPEC_WITHOUT_LOSS.replace("MODEL_DIR", repr(str(tmp_path / "model")))
    .replace("{call}", call)
    .replace("{arguments}", arguments)
  )
  status, lines = _run_tf1(str(script))
  assert status == 1
  assert lines[-1].startswith("bert-run-tf1: error: %s:%d: %s" % (script, line, message))
  assert not [line for line in lines if "Traceback" in line]


TWO_DENSE_LAYERS = """
import tensorflow as tf

x = tf.placeholder(tf.float32, [None, 3])
hidden = tf.layers.dense(x, 4, name="hidden")
print(tf.layers.dense(hidden, 2, name="out").name)
"""


def test_tf_layers_deprecation_is_said_once_per_function(tmp_path):
  """Keras 2 warns at each call site of tf.layers.dense (a script's own copy of
  Google's modeling.py has seven); TF1 said it once, and so does the runner."""
  script = tmp_path / "layers.py"
  script.write_text(TWO_DENSE_LAYERS)
  r = _runner(script)
  assert r.returncode == 0, r.stderr[-3000:]
  assert r.stdout.strip() == "out/BiasAdd:0"
  assert (
    len([line for line in r.stderr.splitlines() if "`tf.layers.dense` is deprecated" in line]) == 1
  )
