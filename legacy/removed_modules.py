"""TF1 module paths that TensorFlow 2 removed, for the names this package provides.

Scripts of the bert-as-service family import the Estimator from where TF 1.x
kept it, not from `tf.estimator`:

    from tensorflow.python.estimator.estimator import Estimator
    from tensorflow.python.estimator.run_config import RunConfig
    from tensorflow.python.estimator.model_fn import EstimatorSpec

Under `bert-run-tf1` such an import (of a module TensorFlow 2.20 does not
have) finds its names in `MODULES`; a name or module not listed is a
`NotProvided` error that says what the module has here.
"""

from __future__ import annotations

from legacy.contrib import Namespace

_SPEC = "legacy.estimator.spec:"
_EXPORT = "legacy.estimator.export:"
_TRAINING = "legacy.estimator.training:"

_EXPORT_NAMES = {
  name: _EXPORT + name
  for name in (
    "ServingInputReceiver",
    "build_raw_serving_input_receiver_fn",
    "build_parsing_serving_input_receiver_fn",
  )
}
_OUTPUT_NAMES = {
  name: _EXPORT + name for name in ("PredictOutput", "ClassificationOutput", "RegressionOutput")
}

# Module path -> its names ("module:attribute"), or a dict for a module inside it.
MODULES = {
  "tensorflow.python.estimator": {
    "estimator": {"Estimator": "legacy.estimator.estimator:Estimator"},
    "model_fn": {"EstimatorSpec": _SPEC + "EstimatorSpec", "ModeKeys": _SPEC + "ModeKeys"},
    "mode_keys": {"ModeKeys": _SPEC + "ModeKeys"},
    "run_config": {"RunConfig": "legacy.estimator.run_config:RunConfig"},
    "training": {
      name: _TRAINING + name for name in ("TrainSpec", "EvalSpec", "train_and_evaluate")
    },
    "export": {
      "export": _EXPORT_NAMES,
      "export_output": _OUTPUT_NAMES,
      "export_lib": {**_EXPORT_NAMES, **_OUTPUT_NAMES},
    },
  },
}

_NAMESPACES = {path: Namespace(path, names) for path, names in MODULES.items()}


def find(name: str):
  """The namespace standing in for the removed module `name`, or None when
  `name` is not inside one of `MODULES` (a missing part inside one is a
  `NotProvided` error)."""
  for path, namespace in _NAMESPACES.items():
    if name == path or name.startswith(path + "."):
      module = namespace
      for part in name[len(path) + 1 :].split(".") if name != path else ():
        module = getattr(module, part)
      return module
  return None
