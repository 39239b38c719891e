"""`tf.contrib` for TF1 scripts: the parts BERT scripts and their forks use.

TensorFlow 2 removed `tf.contrib`. Under `bert-run-tf1`, `tf.contrib.<part>`
(and `import tensorflow.contrib.<part>`) answers with the parts in `PARTS`,
each a namespace of the names listed there, loaded on first use. Any other
part or name is a `NotProvided` error that says what is provided, e.g.
`tf.contrib.slim is not provided (tf.contrib here has: cluster_resolver, crf,
...)`.
"""

from __future__ import annotations

import importlib
import types

from legacy.errors import README_SECTION, NotProvided

_SMALL = "legacy.contrib_names"
_RNN_CELLS = "tensorflow.compat.v1.nn.rnn_cell"
_V1_NN = "tensorflow.compat.v1.nn"

# tf.contrib.layers, and the TF1 modules of tensorflow/contrib/layers/python/layers/ they are in.
_LAYERS = ("layer_norm", "xavier_initializer", "variance_scaling_initializer", "l2_regularizer")
_LAYERS_MODULES = {
  "initializers": ("xavier_initializer", "variance_scaling_initializer"),
  "layers": ("layer_norm",),
  "regularizers": ("l2_regularizer",),
}

# Part -> {name: "module" or "module:attribute", or a dict: a namespace inside it}.
PARTS = {
  "cluster_resolver": {"TPUClusterResolver": "legacy.tpu:TPUClusterResolver"},
  "crf": {
    name: "legacy.crf:" + name
    for name in (
      "crf_log_likelihood",
      "crf_log_norm",
      "crf_sequence_score",
      "crf_unary_score",
      "crf_binary_score",
      "crf_decode",
      "viterbi_decode",
    )
  },
  "data": {name: _SMALL + ":" + name for name in ("map_and_batch", "parallel_interleave")},
  "estimator": {
    name: "legacy.estimator.early_stopping:" + name
    for name in (
      "stop_if_no_decrease_hook",
      "stop_if_no_increase_hook",
      "stop_if_higher_hook",
      "stop_if_lower_hook",
    )
  },
  "layers": {
    **{name: _SMALL + ":" + name for name in _LAYERS},
    # The module path they live at in TF1, which NER forks import from
    # (`from tensorflow.contrib.layers.python.layers import initializers`).
    "python": {
      "layers": {
        module: {name: _SMALL + ":" + name for name in names}
        for module, names in _LAYERS_MODULES.items()
      }
    },
  },
  "rnn": {
    **{
      name: _RNN_CELLS + ":" + name
      for name in (
        "RNNCell",
        "BasicRNNCell",
        "BasicLSTMCell",
        "LSTMCell",
        "GRUCell",
        "LSTMStateTuple",
        "DropoutWrapper",
        "MultiRNNCell",
        "ResidualWrapper",
        "DeviceWrapper",
      )
    },
    "static_rnn": _V1_NN + ":static_rnn",
    "static_bidirectional_rnn": _V1_NN + ":static_bidirectional_rnn",
    "static_state_saving_rnn": _V1_NN + ":static_state_saving_rnn",
  },
  "tpu": {
    name: "legacy.tpu:" + name
    for name in (
      "TPUEstimator",
      "TPUEstimatorSpec",
      "RunConfig",
      "TPUConfig",
      "InputPipelineConfig",
      "CrossShardOptimizer",
    )
  },
}


def _load(target: str):
  module_name, _, attribute = target.partition(":")
  module = importlib.import_module(module_name)
  return getattr(module, attribute) if attribute else module


class Namespace(types.ModuleType):
  """A module whose names are loaded on first use from `names`
  (name -> "module[:attribute]"); other names are `NotProvided`."""

  def __init__(self, path: str, names: dict):
    super().__init__(path, "%s as TF1 scripts use it (see legacy.contrib)." % path)
    self._names = {
      name: Namespace(path + "." + name, value) if isinstance(value, dict) else value
      for name, value in names.items()
    }

  def __getattr__(self, name):
    if name.startswith("__"):
      raise AttributeError(name)
    if name not in self._names:
      raise NotProvided(
        "%s.%s is not provided (%s here has: %s; %s)"
        % (self.__name__, name, self.__name__, ", ".join(sorted(self._names)), README_SECTION)
      )
    value = self._names[name]
    if isinstance(value, str):
      value = _load(value)
      setattr(self, name, value)
    return value

  def __dir__(self):
    return sorted(self._names)


_CONTRIB = Namespace("tf.contrib", PARTS)


def __getattr__(name: str):
  """`tf.contrib.<name>`: one of `PARTS`, else `NotProvided`."""
  return getattr(_CONTRIB, name)


def __dir__():
  return dir(_CONTRIB)
