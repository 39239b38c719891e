"""What bert-import-tf2 and bert-export-tf2 share: the TF Model Garden side of the names.

TF Model Garden's `BertEncoder` (tf-models-official, `tfm.nlp.networks.BertEncoder`), and
the TF Hub BERT encoders exported from it, keep BERT's weights under Keras layer names
(`transformer/layer_0/self_attention/query/kernel`) and keep the attention projections in
einsum layouts: query, key and value kernels [hidden, heads, head_size] with biases
[heads, head_size], the attention output kernel [heads, head_size, hidden]. Google's
checkpoint has the same numbers as [hidden, hidden] and [hidden] matrices; the other
tensors are the same on both sides. This module holds that correspondence (both
directions come from one table), the encoder config on both sides, and the check that
tf-models-official is installed. No TensorFlow, no NumPy.
"""

from __future__ import annotations

import importlib
import importlib.util
import re

from bert.errors import InputError, UsageError
from export.hf_common import google_bert_names

INSTALL_HINT = "pip install 'bert-classic[tfm]'"
# The package tf-models-official installs; `import tensorflow_models as tfm` is its front.
TFM_MODULES = ("official", "tensorflow_models")

# Google name (after "bert/") -> Model Garden name, applied in this order.
_GOOGLE_TO_GARDEN = (
  (r"embeddings/word_embeddings", "word_embeddings/embeddings"),
  (r"embeddings/token_type_embeddings", "type_embeddings/embeddings"),
  (r"embeddings/position_embeddings", "position_embedding/embeddings"),
  (r"embeddings/LayerNorm/(gamma|beta)", r"embeddings/layer_norm/\1"),
  (
    r"encoder/layer_(\d+)/attention/self/(query|key|value)/(kernel|bias)",
    r"transformer/layer_\1/self_attention/\2/\3",
  ),
  (
    r"encoder/layer_(\d+)/attention/output/dense/(kernel|bias)",
    r"transformer/layer_\1/self_attention/attention_output/\2",
  ),
  (
    r"encoder/layer_(\d+)/attention/output/LayerNorm/(gamma|beta)",
    r"transformer/layer_\1/self_attention_layer_norm/\2",
  ),
  (
    r"encoder/layer_(\d+)/intermediate/dense/(kernel|bias)",
    r"transformer/layer_\1/intermediate/\2",
  ),
  (r"encoder/layer_(\d+)/output/dense/(kernel|bias)", r"transformer/layer_\1/output/\2"),
  (
    r"encoder/layer_(\d+)/output/LayerNorm/(gamma|beta)",
    r"transformer/layer_\1/output_layer_norm/\2",
  ),
  (r"pooler/dense/(kernel|bias)", r"pooler_transform/\1"),
)

# The Model Garden name that marks an encoder (its prefix is what comes before it).
WORD_EMBEDDINGS = "word_embeddings/embeddings"
# run_classifier.py's head as `tfm.nlp.models.BertClassifier` keeps it (use_encoder_pooler):
# a Dense layer "logits" in the head "sentence_prediction", kernel [hidden, num_labels].
HEAD_NAME = "sentence_prediction"
HEAD_PAIRS = (
  ("output_weights", HEAD_NAME + "/logits/kernel"),
  ("output_bias", HEAD_NAME + "/logits/bias"),
)

# bert_config.json `hidden_act` -> the Model Garden encoder config's `hidden_activation`.
# Model Garden's "gelu" is the tanh form, as Google's; the exact erf GELU has no name there.
GOOGLE_TO_GARDEN_ACT = {
  "gelu": "gelu",
  "gelu_new": "gelu",
  "gelu_tanh": "gelu",
  "gelu_pytorch_tanh": "gelu",
  "relu": "relu",
  "tanh": "tanh",
  "linear": "linear",
}
GARDEN_TO_GOOGLE_ACT = {
  "gelu": "gelu",
  "relu": "relu",
  "tanh": "tanh",
  "linear": "linear",
  "identity": "linear",
}

# Model Garden's BertEncoderConfig key -> bert_config.json key (the same numbers).
GARDEN_CONFIG_KEYS = {
  "vocab_size": "vocab_size",
  "hidden_size": "hidden_size",
  "num_layers": "num_hidden_layers",
  "num_attention_heads": "num_attention_heads",
  "intermediate_size": "intermediate_size",
  "dropout_rate": "hidden_dropout_prob",
  "attention_dropout_rate": "attention_probs_dropout_prob",
  "max_position_embeddings": "max_position_embeddings",
  "type_vocab_size": "type_vocab_size",
  "initializer_range": "initializer_range",
}
# The encoder types of Model Garden's EncoderConfig whose weights and outputs are BERT's.
GARDEN_BERT_TYPES = ("bert", "bert_v2")


def garden_name(google: str) -> str:
  """The Model Garden name (relative to the encoder) of a Google `bert/*` variable."""
  rel = google[len("bert/") :] if google.startswith("bert/") else None
  for pattern, replacement in _GOOGLE_TO_GARDEN:
    if rel is not None and re.fullmatch(pattern, rel):
      return re.sub(pattern, replacement, rel)
  raise ValueError("%s is not a BERT encoder variable" % google)


def name_pairs(num_layers: int) -> list[tuple[str, str]]:
  """(Google name, Model Garden name) of every encoder variable, in Google's creation order."""
  return [(google, garden_name(google)) for google in google_bert_names(num_layers)]


def garden_shape(google: str, google_shape: tuple[int, ...], heads: int) -> tuple[int, ...]:
  """The Model Garden shape of a Google variable's tensor of `google_shape`.

  The attention projections are split by head; every other tensor keeps its shape.
  """
  if re.search(r"/attention/self/(query|key|value)/kernel$", google):
    rows, cols = google_shape
    return (rows, heads, cols // heads)
  if re.search(r"/attention/self/(query|key|value)/bias$", google):
    return (heads, google_shape[0] // heads)
  if re.search(r"/attention/output/dense/kernel$", google):
    rows, cols = google_shape
    return (heads, rows // heads, cols)
  return tuple(google_shape)


def garden_encoder_config(google_config: dict) -> dict:
  """The `bert` part of a Model Garden EncoderConfig for a bert_config.json dict.

  Raises:
    InputError: an activation that Model Garden has no name for (the exact erf GELU).
  """
  act = str(google_config.get("hidden_act") or "linear").lower()
  if act not in GOOGLE_TO_GARDEN_ACT:
    raise InputError(
      "hidden_act %r has no Model Garden name (its hidden_activation knows %s; Model "
      "Garden's \"gelu\" is the tanh form, Google's \"gelu\")"
      % (google_config.get("hidden_act"), ", ".join(sorted(GARDEN_TO_GOOGLE_ACT)))
    )
  config = {garden: google_config[google] for garden, google in GARDEN_CONFIG_KEYS.items()}
  config["hidden_activation"] = GOOGLE_TO_GARDEN_ACT[act]
  return config


def check_installed(what: str) -> None:
  """Refuses `what` (a command or flag) when tf-models-official is not installed; no import.

  Raises:
    UsageError: it is not installed (exit status 2), naming the extra that installs it.
  """
  if importlib.util.find_spec(TFM_MODULES[0]) is None:
    raise UsageError("%s needs tf-models-official: %s" % (what, INSTALL_HINT))


def import_tfm(what: str):
  """Imports tf-models-official's NLP modelling for `what`; returns its `encoders` config module.

  Raises:
    UsageError: it is not installed (exit status 2), naming the extra that installs it.
    InputError: it is installed but does not import (the cause in one line).
  """
  check_installed(what)
  try:
    importlib.import_module("official.nlp.modeling.networks")
    importlib.import_module("official.nlp.modeling.models")
    return importlib.import_module("official.nlp.configs.encoders")
  except Exception as e:  # Any failure of a broken install.
    text = " ".join(str(e).split()) or type(e).__name__
    raise InputError(
      "%s needs tf-models-official, which is installed but does not import (%s: %s): "
      "reinstall it with %s" % (what, type(e).__name__, text, INSTALL_HINT)
    ) from None
