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
`tf.app.run()` and `if __name__ == "__main__":` work as they did.
"""

from __future__ import annotations

import os
import runpy
import sys

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


def main(argv: list[str] | None = None) -> int:
  """Command line: `bert-run-tf1 SCRIPT.py [ARGUMENTS...]`."""
  argv = sys.argv[1:] if argv is None else argv
  if not argv or argv[0] in ("-h", "--help"):
    sys.stderr.write(USAGE)
    return 0 if argv else 2
  if not os.path.isfile(argv[0]):
    sys.stderr.write("bert-run-tf1: error: %s: no such script\n" % argv[0])
    return 2
  run_script(argv[0], argv[1:])
  return 0


if __name__ == "__main__":
  sys.exit(main())
