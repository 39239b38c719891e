"""Runs a script written for TF1 and Google's BERT files, as it is.

    bert-run-tf1 my_old_script.py --its_flags ...
    python -m legacy my_old_script.py --its_flags ...

Scripts that lived next to Google's `modeling.py`, `tokenization.py` and
`optimization.py` do `import modeling, tokenization, optimization` and use
TF1: `tf.placeholder`, `tf.Session`, `tf.flags`, `tf.app.run`, and most of
them `tf.estimator` / `tf.contrib.tpu.TPUEstimator`. TensorFlow's own answer is
to rewrite them; this runner needs no rewrite:

* TF1 behaviour is switched on for the whole process
  (`tf.compat.v1.disable_v2_behavior()`: graph mode, v1 shapes, ...), with
  Keras 2 (`tf-keras`) behind `tf.layers`, `tf.keras` and the RNN cells, as
  TF1 had; the variable that selects it is set for this process only, before
  TensorFlow is imported, and removed from the environment once TensorFlow
  has read it, so programs the script starts are not affected;
* the script, and every module it imports from its own folder (packages
  included), gets `tf.compat.v1` for `import tensorflow as tf`, plus
  `tf.estimator` and `tf.contrib` from this package, and its own
  `modeling.py` & co. or else ours (see `legacy.hooks`);
* TensorFlow's log lines are printed once, in TF1's `INFO:tensorflow:` form.

The script runs as `__main__` with `sys.argv` = [script, its arguments], so
`tf.app.run()` and `if __name__ == "__main__":` work as they did. No script
named is a usage error (exit status 2), a script that cannot be read an input
error (exit status 1), each one line; so is a TensorFlow name that this
package does not provide (`file:line: tf.contrib.x is not provided ...`).
What the script itself raises keeps its traceback, as under `python`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import runpy
import sys
import warnings

from bert import errors

PROGRAM = "bert-run-tf1"
USAGE = "usage: bert-run-tf1 SCRIPT.py [ARGUMENTS...]\n"
LEGACY_KERAS_VARIABLE = "TF_USE_LEGACY_KERAS"


def import_tf1():
  """Imports TensorFlow for TF1 code: quietly, with `tf-keras` behind
  `tf.keras` / `tf.layers`, v2 behaviour off, log lines once. Returns it."""
  from bert import tf_startup

  if importlib.util.find_spec("tf_keras") is None:
    raise errors.ProjectError(
      "the tf-keras package is not installed; bert-run-tf1 needs it for tf.layers, tf.keras and "
      "the RNN cells of TF1 scripts: pip install tf-keras==2.20.1"
    )
  saved = os.environ.get(LEGACY_KERAS_VARIABLE)
  os.environ[LEGACY_KERAS_VARIABLE] = "1"
  try:
    tf = tf_startup.import_tensorflow()
    # The lazy loaders read the variable on first use: use them now.
    v1 = tf.compat.v1
    _ = v1.layers.Dense, v1.keras.layers.Dense, v1.nn.rnn_cell.LSTMCell, tf.keras.layers.Dense
  finally:
    if saved is None:
      os.environ.pop(LEGACY_KERAS_VARIABLE, None)
    else:
      os.environ[LEGACY_KERAS_VARIABLE] = saved
  # Keras 2 warns at every call site of tf.layers.dense & co.; TF1 said it once per function.
  warnings.filterwarnings("once", message=r"`tf\.layers\.\w+` is deprecated", category=UserWarning)
  tf_logger = logging.getLogger("tensorflow")
  level = tf_logger.level
  tf_logger.setLevel(logging.ERROR)  # Its deprecation notice is about TensorFlow's own calls.
  tf.compat.v1.disable_v2_behavior()
  tf_logger.setLevel(level)
  # TensorFlow's logger has its own handler; once absl's (tf.app.run) sits on
  # the root logger too, every line would be printed twice.
  tf_logger.propagate = False
  from bert import modeling
  from legacy import private_names

  private_names.add_removed_names()
  # Training graphs of our BertModel get the project's fused kernels, as run_classifier.py has.
  modeling.use_fused_kernels_in_graph_face(True)
  return tf


def run_script(path: str, argv: list[str]) -> None:
  """Runs the TF1 script `path` as `__main__` with `sys.argv = [path] + argv`."""
  from legacy import hooks

  import_tf1()
  path = os.path.abspath(path)
  folder = os.path.dirname(path)
  sys.argv = [path] + list(argv)
  # Last, not first as `python script.py` would; the folder finder, first on sys.meta_path,
  # puts the folder's modules first for the script and keeps our own packages ours.
  sys.path.append(folder)
  hooks.install_folder_finder([folder], v1=True)
  hooks.LEGACY_FILES.add(os.path.realpath(path))
  runpy.run_path(
    path,
    init_globals={"__builtins__": hooks.legacy_builtins(v1=True, folders=[folder])},
    run_name="__main__",
  )


def _readable_script(path: str) -> str:
  """`path` if it is a Python file we can read; else an InputError naming it."""
  if os.path.isdir(path):
    raise errors.InputError("%s: is a directory, not a script" % path)
  if not os.path.isfile(path):
    raise errors.InputError("%s: no such script" % path)
  try:
    with open(path, "rb") as f:
      source = f.read()
  except OSError as e:
    raise errors.InputError("%s: cannot read: %s" % (path, errors.os_reason(e))) from None
  if b"\0" in source:
    line = source[: source.index(b"\0")].count(b"\n") + 1
    raise errors.InputError(
      "%s: cannot read: null byte on line %d; not a Python script" % (path, line)
    )
  return path


def _located(error: BaseException) -> str:
  """The error's message, after `file:line` of the script code that caused it."""
  from legacy import hooks

  frame = hooks.legacy_frame(error)
  message = errors.first_line(error)
  return message if frame is None else "%s:%s: %s" % (frame.filename, frame.lineno, message)


def main(argv: list[str] | None = None) -> int:
  """Command line: `bert-run-tf1 SCRIPT.py [ARGUMENTS...]`; returns the exit status."""
  argv = sys.argv[1:] if argv is None else argv
  if argv and argv[0] in ("-h", "--help"):
    sys.stderr.write(USAGE)
    return 0
  try:
    if not argv:
      raise errors.UsageError("no script to run; " + USAGE.strip())
    script = _readable_script(argv[0])
  except errors.ProjectError as e:
    return errors.report(PROGRAM, e)
  try:
    run_script(script, argv[1:])
  except errors.ProjectError as e:
    located = errors.ProjectError(_located(e))
    located.exit_status = e.exit_status
    return errors.report(PROGRAM, located)
  return 0


if __name__ == "__main__":
  sys.exit(main())
