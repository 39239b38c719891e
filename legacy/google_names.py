"""The module-level names of Google's run_classifier.py, for old code.

Old scripts and notebooks import them from the script (`from run_classifier
import DataProcessor, InputExample`, `run_classifier.convert_examples_to_features`,
`input_fn_builder`, ...); processor classes cut out of that file use them
without any import. Our `run_classifier.py` offers them as a module
(`ALL`, `eager_names()`, `lazy_name`), and plugin files find them among their
builtins (`plugin_builtins()`). The names that need TensorFlow load on first
use, so `--help` and plugin discovery stay fast.
"""

from __future__ import annotations

import importlib

# Name -> (module, attribute or None for the module itself), loaded on first use.
_LAZY_NAMES = {
  "create_model": ("bert.classifier_model", "create_model"),
  "input_fn_builder": ("classifier.input_pipeline", "input_fn_builder"),
  "file_based_input_fn_builder": ("classifier.input_pipeline", "file_based_input_fn_builder"),
  "modeling": ("bert.modeling", None),
  "optimization": ("bert.optimization", None),
  "tokenization": ("bert.tokenization", None),
  "tf": ("legacy.tf_view", "tensorflow_view"),
  "csv": ("csv", None),
  "collections": ("collections", None),
}

# Module -> the names of Google's file that it defines (TensorFlow-free modules).
_EAGER_SOURCES = {
  "processors.base": ["InputExample", "PaddingInputExample", "InputFeatures", "DataProcessor"],
  "processors.glue": ["XnliProcessor", "MnliProcessor", "MrpcProcessor", "ColaProcessor"],
  "classifier.features": [
    "convert_single_example",
    "convert_examples_to_features",
    "file_based_convert_examples_to_features",
    "_truncate_seq_pair",
  ],
}

ALL = (
  ["FLAGS", "flags", "os"]
  + [name for names in _EAGER_SOURCES.values() for name in names]
  + sorted(_LAZY_NAMES)
)

_MODEL_FN_BUILDER = (
  "run_classifier.model_fn_builder built a model_fn for tf.estimator, which TensorFlow 2.16 "
  "removed; use run_classifier.create_model for the graph, or bert.classifier_model.BertClassifier "
  "(TF2) with classifier.trainer.ClassifierRunner for training, evaluation and prediction, as "
  "run_classifier.py itself does (a whole Estimator script runs as it is under bert-run-tf1)"
)


def eager_names() -> dict:
  """Google's TensorFlow-free names: the example/feature classes, the GLUE
  processors and the feature conversion functions.

  A module still being loaded (glue.py, itself loaded as a plugin file) lacks
  its names; they are left out.
  """
  names = {}
  for module_name, attributes in _EAGER_SOURCES.items():
    module = importlib.import_module(module_name)
    names.update((name, getattr(module, name)) for name in attributes if hasattr(module, name))
  return names


def lazy_name(name: str):
  """A module `__getattr__`: loads one of Google's TensorFlow-side names."""
  if name == "model_fn_builder":
    raise ImportError(_MODEL_FN_BUILDER)
  if name not in _LAZY_NAMES:
    raise AttributeError("module 'run_classifier' has no attribute %r" % name)
  module_name, attribute = _LAZY_NAMES[name]
  value = importlib.import_module(module_name)
  if attribute == "tensorflow_view":
    return value.tensorflow_view()
  return getattr(value, attribute) if attribute else value


def plugin_builtins() -> dict:
  """The names a plugin file finds among its builtins (its own definitions
  and imports come first): Google's module-level names, with `modeling` and
  `optimization` loading TensorFlow only when used."""
  import collections
  import csv
  import os

  from bert import tokenization
  from legacy.flags import legacy_flags
  from legacy.lazy import lazy_module
  from legacy.tf_view import tensorflow_view

  names = {
    "collections": collections,
    "csv": csv,
    "os": os,
    "tf": tensorflow_view(False),
    "flags": legacy_flags,
    "FLAGS": legacy_flags.FLAGS,
    "tokenization": tokenization,
    "modeling": lazy_module("bert.modeling"),
    "optimization": lazy_module("bert.optimization"),
  }
  names.update(eager_names())
  return names
