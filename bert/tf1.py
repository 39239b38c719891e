"""Runs a script written for TF1 and Google's BERT files, as it is.

    python -m bert.tf1 my_old_script.py --its_flags ...
    bert-run-tf1 my_old_script.py --its_flags ...

Scripts that lived next to Google's `modeling.py`, `tokenization.py` and
`optimization.py` do `import modeling, tokenization, optimization` and use
TF1 graph mode (`tf.placeholder`, `tf.Session`, `tf.train.init_from_checkpoint`,
`tf.flags`, `tf.app.run`). TensorFlow's own answer is to rewrite them with
`tf_upgrade_v2`; this runner needs no rewrite:

* TF1 behaviour is switched on for the whole process
  (`tf.compat.v1.disable_v2_behavior()`: graph mode, v1 shapes, ...);
* the script, and every module it imports from its own folder, gets
  `tf.compat.v1` for `import tensorflow as tf`, and `bert.modeling`,
  `bert.tokenization`, `bert.optimization` and our `run_classifier` for those
  module names (see `processors.legacy`); our own modules are not affected.

The script runs as `__main__` with `sys.argv` = [script, its arguments], so
`tf.app.run()` and `if __name__ == "__main__":` work as they did. No script
named is a usage error (exit status 2), a script that cannot be read an input
error (exit status 1), each one line; what the script itself raises keeps its
traceback, as under `python`.
"""

from __future__ import annotations

import os
import runpy
import sys

from bert import errors

PROGRAM = "bert-run-tf1"
USAGE = "usage: python -m bert.tf1 SCRIPT.py [ARGUMENTS...]\n"


def run_script(path: str, argv: list[str]) -> None:
  """Runs the TF1 script `path` as `__main__` with `sys.argv = [path] + argv`."""
  from bert import tf_startup
  from processors import legacy

  tf = tf_startup.import_tensorflow()

  tf.compat.v1.disable_v2_behavior()
  path = os.path.abspath(path)
  folder = os.path.dirname(path)
  sys.argv = [path] + list(argv)
  sys.path.insert(0, folder)
  legacy.install_folder_finder([folder], v1=True)
  legacy.LEGACY_FILES.add(os.path.realpath(path))
  runpy.run_path(
    path, init_globals={"__builtins__": legacy.legacy_builtins(v1=True)}, run_name="__main__"
  )


def _readable_script(path: str) -> str:
  """`path` if it is a file we can read; else an InputError naming it."""
  if not os.path.isfile(path):
    raise errors.InputError("%s: no such script" % path)
  try:
    with open(path, "rb"):
      pass
  except OSError as e:
    raise errors.InputError("%s: cannot read: %s" % (path, e.strerror or e)) from None
  return path


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
  run_script(script, argv[1:])
  return 0


if __name__ == "__main__":
  sys.exit(main())
