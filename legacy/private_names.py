"""Private TensorFlow names that old metric files import and TensorFlow 2 dropped.

Copies of TF1's streaming metrics (the `tf_metrics.py` of NER forks and the
like) create their accumulators with
`tensorflow.python.ops.variable_scope.variable(...)`, TF1's function for a
plain graph variable. TensorFlow 2.20 still has the class behind it,
`VariableV1`, under another private module. `add_removed_names()` puts such
names back where the old code looks for them; it only adds names that are
missing, so nothing TensorFlow itself uses changes. `bert-run-tf1` calls it.
"""

from __future__ import annotations

import importlib

# (module, name) -> (module, name) that holds the same thing in TensorFlow 2.20.
REMOVED = {
  ("tensorflow.python.ops.variable_scope", "variable"): (
    "tensorflow.python.ops.variable_v1",
    "VariableV1",
  ),
}


def add_removed_names() -> None:
  """Adds each of `REMOVED`'s names to its old module, where it is missing."""
  for (module_name, name), (source_module, source_name) in REMOVED.items():
    module = importlib.import_module(module_name)
    if not hasattr(module, name):
      setattr(module, name, getattr(importlib.import_module(source_module), source_name))
