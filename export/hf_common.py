"""What bert-import-hf and bert-export-hf share.

The correspondence between HuggingFace's BERT weight names and Google's
checkpoint variable names, the activation names on both sides, and the flags
of the output check both commands run. (bert_config.json's keys: `bert.model_config`.)
No TensorFlow, no NumPy.
"""

from __future__ import annotations

import argparse
import re

GOOGLE_LAYER_NORM_EPS = 1e-12

# bert-export-hf keeps what the run's predictions depend on beyond HF's own keys under
# this config.json key, so that bert-import-hf gives the folder back as it was trained.
RUN_SETTINGS_KEY = "bert_classic_run"
RUN_SETTINGS = ("max_seq_length", "multi_label_threshold", "doc_stride", "window_pooling")

# HuggingFace `hidden_act` -> this project's name (bert.modeling.get_activation).
HF_TO_GOOGLE_ACT = {
  "gelu": "gelu_exact",  # HF's "gelu" is the exact erf GELU
  "gelu_python": "gelu_exact",
  "gelu_new": "gelu",  # the tanh approximation = Google's "gelu"
  "gelu_pytorch_tanh": "gelu",
  "gelu_accurate": "gelu",
  "gelu_fast": "gelu",
  "relu": "relu",
  "tanh": "tanh",
  "linear": "linear",
}

# The other way: every name bert.modeling.get_activation accepts -> the HF
# name of the same function. Google's "gelu" is the tanh approximation, which
# HF calls "gelu_new" (the same formula, written out as Google wrote it).
GOOGLE_TO_HF_ACT = {
  "gelu": "gelu_new",
  "gelu_new": "gelu_new",
  "gelu_tanh": "gelu_new",
  "gelu_pytorch_tanh": "gelu_new",
  "gelu_exact": "gelu",
  "gelu_erf": "gelu",
  "relu": "relu",
  "tanh": "tanh",
  "linear": "linear",
}

_LN = {"weight": "gamma", "gamma": "gamma", "bias": "beta", "beta": "beta"}
_DENSE = {"weight": "kernel", "bias": "bias"}
_LAYER_DENSE = (
  "attention.self.query",
  "attention.self.key",
  "attention.self.value",
  "attention.output.dense",
  "intermediate.dense",
  "output.dense",
)
_LAYER_LN = ("attention.output.LayerNorm", "output.LayerNorm")


def google_bert_names(num_layers: int) -> list[str]:
  """`bert/*` variable names in Google's creation order (§6.4)."""
  names = [
    "bert/embeddings/word_embeddings",
    "bert/embeddings/token_type_embeddings",
    "bert/embeddings/position_embeddings",
    "bert/embeddings/LayerNorm/beta",
    "bert/embeddings/LayerNorm/gamma",
  ]
  for n in range(num_layers):
    p = "bert/encoder/layer_%d/" % n
    for part in (
      "attention/self/query",
      "attention/self/key",
      "attention/self/value",
      "attention/output/dense",
    ):
      names += [p + part + "/kernel", p + part + "/bias"]
    names += [
      p + "attention/output/LayerNorm/beta",
      p + "attention/output/LayerNorm/gamma",
      p + "intermediate/dense/kernel",
      p + "intermediate/dense/bias",
      p + "output/dense/kernel",
      p + "output/dense/bias",
      p + "output/LayerNorm/beta",
      p + "output/LayerNorm/gamma",
    ]
  return names + ["bert/pooler/dense/kernel", "bert/pooler/dense/bias"]


def map_bert_name(rel: str, num_layers: int) -> tuple[str, bool, str] | None:
  """HF name relative to the BERT prefix -> (google name, transpose, HF
  canonical name) or None."""
  m = re.fullmatch(r"embeddings\.(word|position|token_type)_embeddings\.weight", rel)
  if m:
    return ("bert/embeddings/%s_embeddings" % m.group(1), False, rel)
  m = re.fullmatch(r"embeddings\.LayerNorm\.(weight|bias|gamma|beta)", rel)
  if m:
    g = _LN[m.group(1)]
    return (
      "bert/embeddings/LayerNorm/" + g,
      False,
      "embeddings.LayerNorm." + ("weight" if g == "gamma" else "bias"),
    )
  m = re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias|gamma|beta)", rel)
  if m and int(m.group(1)) < num_layers:
    n, part, leaf = int(m.group(1)), m.group(2), m.group(3)
    prefix = "bert/encoder/layer_%d/" % n
    hf_prefix = "encoder.layer.%d.%s." % (n, part)
    if part in _LAYER_DENSE and leaf in _DENSE:
      return (
        prefix + part.replace(".", "/") + "/" + _DENSE[leaf],
        leaf == "weight",
        hf_prefix + leaf,
      )
    if part in _LAYER_LN:
      g = _LN[leaf]
      return (
        prefix + part.replace(".", "/") + "/" + g,
        False,
        hf_prefix + ("weight" if g == "gamma" else "bias"),
      )
  m = re.fullmatch(r"pooler\.dense\.(weight|bias)", rel)
  if m:
    return ("bert/pooler/dense/" + _DENSE[m.group(1)], m.group(1) == "weight", rel)
  return None


def map_head_name(rel: str) -> tuple[str, bool] | None:
  """HF head name (pre-training, sequence classifier) -> (google name, transpose) or None."""
  m = re.fullmatch(r"cls\.predictions\.transform\.dense\.(weight|bias)", rel)
  if m:
    return ("cls/predictions/transform/dense/" + _DENSE[m.group(1)], m.group(1) == "weight")
  m = re.fullmatch(r"cls\.predictions\.transform\.LayerNorm\.(weight|bias|gamma|beta)", rel)
  if m:
    return ("cls/predictions/transform/LayerNorm/" + _LN[m.group(1)], False)
  if rel == "cls.predictions.bias":
    return ("cls/predictions/output_bias", False)
  m = re.fullmatch(r"classifier\.(weight|bias)", rel)
  if m:  # BertForSequenceClassification's head: run_classifier's output layer, [out, in] too
    return ("output_weights" if m.group(1) == "weight" else "output_bias", False)
  m = re.fullmatch(r"cls\.seq_relationship\.(weight|bias)", rel)
  if m:  # Google's output_weights are [out, in] like torch's: no transpose
    return (
      "cls/seq_relationship/" + ("output_weights" if m.group(1) == "weight" else "output_bias"),
      False,
    )
  return None


def hf_bert_name(google: str, prefix: str = "") -> str:
  """The HF name of a Google `bert/*` variable, after `prefix` (e.g. "bert.")."""
  name = google[len("bert/") :]
  m = re.fullmatch(r"encoder/layer_(\d+)/(.*)", name)
  if m:
    name = "encoder/layer/%s/%s" % (m.group(1), m.group(2))
  if name.endswith("_embeddings"):
    name += "/weight"
  name = re.sub(r"/(kernel|gamma)$", "/weight", name)
  name = re.sub(r"/beta$", "/bias", name)
  return prefix + name.replace("/", ".")


def bert_name_pairs(num_layers: int) -> list[tuple[str, str, bool]]:
  """(google name, HF name without prefix, transpose) for every `bert/*` variable.

  In Google's creation order. The pairs are the importer's own mapping read
  backwards: each HF name is checked to map back to its Google name through
  `map_bert_name`, so export and import cannot drift apart.
  """
  pairs = []
  for google in google_bert_names(num_layers):
    hf_name = hf_bert_name(google)
    mapped = map_bert_name(hf_name, num_layers)
    if mapped is None or mapped[0] != google:
      raise AssertionError("no HF name maps back to %s (tried %s)" % (google, hf_name))
    pairs.append((google, hf_name, mapped[1]))
  return pairs


def add_check_flags(parser: argparse.ArgumentParser, reference: str, tolerance: float) -> None:
  """Adds --no_check and --tolerance, which govern comparing the outputs with `reference`."""
  parser.add_argument(
    "--no_check", action="store_true", help="skip comparing the outputs with %s" % reference
  )
  parser.add_argument(
    "--tolerance",
    type=float,
    default=tolerance,
    help="largest accepted output difference relative to the output scale (default %(default)g)",
  )
