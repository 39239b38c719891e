"""An independent NumPy implementation of HuggingFace's `BertModel` forward.

It works on HuggingFace's names and layouts (`encoder.layer.0.attention.self.
query.weight`, dense weights `[out, in]`, LayerNorm `weight`/`bias`) and on
HuggingFace's config semantics (`hidden_act` "gelu" is the exact erf GELU,
`layer_norm_eps` from the config, mask adder `finfo(float32).min`), in float64
by default. It shares no code with `bert.modeling`, so it can check that a
converted checkpoint computes what the source model computes.

Inference only (no dropout); absolute position embeddings; encoder only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu_exact(x):
  return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
  return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * np.power(x, 3))))


def _gelu_fast(x):  # HF's "gelu_fast": the tanh form with a rounded constant
  return 0.5 * x * (1.0 + np.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


# HuggingFace ACT2FN names this module implements.
ACTIVATIONS = {
  "gelu": _gelu_exact,
  "gelu_python": _gelu_exact,
  "gelu_new": _gelu_tanh,
  "gelu_pytorch_tanh": _gelu_tanh,
  "gelu_accurate": _gelu_tanh,
  "gelu_fast": _gelu_fast,
  "relu": lambda x: np.maximum(x, 0.0),
  "tanh": np.tanh,
  "linear": lambda x: x,
}

# HuggingFace BertConfig defaults, for keys a config.json leaves out.
HF_BERT_DEFAULTS = {
  "vocab_size": 30522,
  "hidden_size": 768,
  "num_hidden_layers": 12,
  "num_attention_heads": 12,
  "intermediate_size": 3072,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "attention_probs_dropout_prob": 0.1,
  "max_position_embeddings": 512,
  "type_vocab_size": 2,
  "initializer_range": 0.02,
  "layer_norm_eps": 1e-12,
  "position_embedding_type": "absolute",
}


def _layer_norm(x, weight, bias, eps):
  mean = x.mean(axis=-1, keepdims=True)
  var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
  return (x - mean) / np.sqrt(var + eps) * weight + bias


def _linear(x, weights, name, dtype):
  w = np.asarray(weights[name + ".weight"], dtype=dtype)  # [out, in]
  b = np.asarray(weights[name + ".bias"], dtype=dtype)
  return x @ w.T + b


def bert_forward(
  weights: Mapping[str, np.ndarray],
  config: Mapping,
  input_ids,
  attention_mask=None,
  token_type_ids=None,
  layer_norm_eps: float | None = None,
  dtype=np.float64,
) -> dict:
  """HuggingFace `BertModel(...)(input_ids, attention_mask, token_type_ids)`.

  Args:
    weights: HuggingFace names without a model prefix (`embeddings.word_
      embeddings.weight`, `encoder.layer.0...`, `pooler.dense.weight`).
    config: HuggingFace config dict (missing keys take HF's defaults).
    input_ids: int [B, S].
    attention_mask: optional 0/1 [B, S] (default all ones).
    token_type_ids: optional int [B, S] (default zeros).
    layer_norm_eps: overrides the config's `layer_norm_eps`.
    dtype: compute dtype.

  Returns:
    dict with "embedding_output" [B,S,H], "all_encoder_layers" (list of
    [B,S,H]), "sequence_output" [B,S,H] and "pooled_output" [B,H] (None if
    the weights have no pooler).
  """
  cfg = dict(HF_BERT_DEFAULTS)
  cfg.update({k: v for k, v in config.items() if v is not None})
  if cfg["position_embedding_type"] != "absolute":
    raise ValueError("position_embedding_type %r is not supported" % cfg["position_embedding_type"])
  act_name = str(cfg["hidden_act"]).lower()
  if act_name not in ACTIVATIONS:
    raise ValueError("hidden_act %r is not supported" % cfg["hidden_act"])
  act = ACTIVATIONS[act_name]
  eps = float(cfg["layer_norm_eps"] if layer_norm_eps is None else layer_norm_eps)
  hidden = int(cfg["hidden_size"])
  heads = int(cfg["num_attention_heads"])
  head_size = hidden // heads

  input_ids = np.asarray(input_ids, dtype=np.int64)
  batch, seq = input_ids.shape
  if attention_mask is None:
    attention_mask = np.ones_like(input_ids)
  if token_type_ids is None:
    token_type_ids = np.zeros_like(input_ids)
  attention_mask = np.asarray(attention_mask, dtype=dtype)
  token_type_ids = np.asarray(token_type_ids, dtype=np.int64)

  def w(name):
    return np.asarray(weights[name], dtype=dtype)

  # Gather rows first, so a large float32 table is never copied whole.
  x = np.asarray(weights["embeddings.word_embeddings.weight"])[input_ids].astype(dtype)
  x = x + np.asarray(weights["embeddings.token_type_embeddings.weight"])[token_type_ids]
  x = x + np.asarray(weights["embeddings.position_embeddings.weight"])[:seq][None, :, :]
  x = _layer_norm(x, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"), eps)
  embedding_output = x

  # [B, 1, 1, S] additive mask, as HF's get_extended_attention_mask.
  adder = (1.0 - attention_mask)[:, None, None, :] * float(np.finfo(np.float32).min)

  def split_heads(t):
    return t.reshape(batch, seq, heads, head_size).transpose(0, 2, 1, 3)

  layers = []
  for n in range(int(cfg["num_hidden_layers"])):
    p = "encoder.layer.%d." % n
    q = split_heads(_linear(x, weights, p + "attention.self.query", dtype))
    k = split_heads(_linear(x, weights, p + "attention.self.key", dtype))
    v = split_heads(_linear(x, weights, p + "attention.self.value", dtype))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_size) + adder
    scores = scores - scores.max(axis=-1, keepdims=True)
    probs = np.exp(scores)
    probs = probs / probs.sum(axis=-1, keepdims=True)
    context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, hidden)
    attn = _linear(context, weights, p + "attention.output.dense", dtype)
    attn = _layer_norm(
      attn + x,
      w(p + "attention.output.LayerNorm.weight"),
      w(p + "attention.output.LayerNorm.bias"),
      eps,
    )
    inter = act(_linear(attn, weights, p + "intermediate.dense", dtype))
    out = _linear(inter, weights, p + "output.dense", dtype)
    x = _layer_norm(
      out + attn, w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias"), eps
    )
    layers.append(x)

  pooled = None
  if "pooler.dense.weight" in weights:
    pooled = np.tanh(_linear(x[:, 0], weights, "pooler.dense", dtype))
  return {
    "embedding_output": embedding_output,
    "all_encoder_layers": layers,
    "sequence_output": x,
    "pooled_output": pooled,
  }
