"""BERT as an ONNX graph, written node by node from checkpoint weights.

No TensorFlow here: the graph is assembled with the `onnx` helper API from a
dict of NumPy arrays under Google's checkpoint names, and the initializers keep
those names (`bert/encoder/layer_0/attention/self/query/kernel`, ...).

The math is `bert.modeling.BertEncoder`'s at inference time (no dropout):
LayerNorm with epsilon 1e-12, attention scores scaled by 1/sqrt(head size) and
-10000 added where the input mask is 0, the activation `hidden_act` names (the
tanh GELU for Google's "gelu"), a tanh pooler over the first token, and
run_classifier's head (`output_weights` [L, H], `output_bias` [L]) with a
softmax, or a sigmoid per label for a multi-label model.

It is laid out the way ONNX Runtime's graph optimizer recognizes (the
standard LayerNormalization op, the usual attention and GELU node patterns),
so a session fuses it into its LayerNorm, attention and GELU kernels.

Inputs: `input_ids`, `input_mask`, `segment_ids`, int32 [batch, sequence]
(both axes dynamic). Outputs: `encoder_layer_0` ... `encoder_layer_{L-1}`
[batch, sequence, hidden], `pooled_output` [batch, hidden], and with a head
`logits` and `probabilities` [batch, labels].
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from bert.model_config import HEAD_NAMES

INPUT_NAMES = ("input_ids", "input_mask", "segment_ids")
POOLED_OUTPUT = "pooled_output"
LOGITS = "logits"
PROBABILITIES = "probabilities"
OPSET = 17
LAYER_NORM_EPSILON = 1e-12
MASK_PENALTY = -10000.0

# hidden_act (lower case) -> how the feed-forward activation is drawn.
ACTIVATION_KINDS = {
  "gelu": "gelu_tanh",
  "gelu_new": "gelu_tanh",
  "gelu_tanh": "gelu_tanh",
  "gelu_pytorch_tanh": "gelu_tanh",
  "gelu_exact": "gelu_erf",
  "gelu_erf": "gelu_erf",
  "relu": "relu",
  "tanh": "tanh",
  "linear": "linear",
}


def layer_output(index: int) -> str:
  """The graph output holding encoder layer `index` (0-based, counted from the bottom)."""
  return "encoder_layer_%d" % index


def activation_kind(hidden_act: str | None) -> str:
  """`ACTIVATION_KINDS`' entry for a config's hidden_act; ValueError for others."""
  key = (hidden_act or "linear").lower()
  if key not in ACTIVATION_KINDS:
    raise ValueError(
      "hidden_act %r cannot be exported to ONNX (supported: %s)"
      % (hidden_act, ", ".join(sorted(ACTIVATION_KINDS)))
    )
  return ACTIVATION_KINDS[key]


class _Builder:
  """Collects nodes and initializers; every node gets one fresh output name."""

  def __init__(self) -> None:
    import onnx

    self.onnx = onnx
    self.nodes: list = []
    self.initializers: list = []
    self._constants: dict = {}
    self._count = 0

  def weight(self, name: str, value: np.ndarray) -> str:
    """Adds a float32 initializer under `name` and returns the name."""
    array = np.ascontiguousarray(value, dtype=np.float32)
    self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
    return name

  def constant(self, value, dtype=np.float32) -> str:
    """A small constant initializer, shared by every use of the same value."""
    array = np.asarray(value, dtype=dtype)
    key = (array.dtype.str, array.shape, array.tobytes())
    if key not in self._constants:
      name = "const_%d" % len(self._constants)
      self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
      self._constants[key] = name
    return self._constants[key]

  def op(self, op_type: str, *inputs: str, output: str | None = None, **attrs) -> str:
    """Appends one node; returns the name of its (single) output."""
    if output is None:
      self._count += 1
      output = "%s_%d" % (op_type.lower(), self._count)
    self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [output], **attrs))
    return output


def _dense(g: _Builder, x: str, weights: Mapping, scope: str) -> str:
  """x @ kernel + bias, with the kernel in Google's [in, out] layout."""
  kernel = g.weight(scope + "/kernel", weights[scope + "/kernel"])
  bias = g.weight(scope + "/bias", weights[scope + "/bias"])
  return g.op("Add", g.op("MatMul", x, kernel), bias)


def _layer_norm(g: _Builder, x: str, weights: Mapping, scope: str, output: str | None = None):
  gamma = g.weight(scope + "/gamma", weights[scope + "/gamma"])
  beta = g.weight(scope + "/beta", weights[scope + "/beta"])
  return g.op(
    "LayerNormalization", x, gamma, beta, axis=-1, epsilon=LAYER_NORM_EPSILON, output=output
  )


def _activation(g: _Builder, x: str, kind: str) -> str:
  if kind == "gelu_tanh":
    # x * 0.5 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
    cube = g.op("Pow", x, g.constant(3.0))
    inner = g.op("Add", x, g.op("Mul", cube, g.constant(0.044715)))
    squashed = g.op("Tanh", g.op("Mul", inner, g.constant(math.sqrt(2.0 / math.pi))))
    half = g.op("Mul", g.op("Add", squashed, g.constant(1.0)), g.constant(0.5))
    return g.op("Mul", x, half)
  if kind == "gelu_erf":
    # x * 0.5 * (1 + erf(x / sqrt(2)))
    erf = g.op("Erf", g.op("Div", x, g.constant(math.sqrt(2.0))))
    return g.op("Mul", g.op("Mul", x, g.constant(0.5)), g.op("Add", erf, g.constant(1.0)))
  if kind == "relu":
    return g.op("Relu", x)
  if kind == "tanh":
    return g.op("Tanh", x)
  return x


def _heads(g: _Builder, x: str, num_heads: int, head_size: int, key: bool = False) -> str:
  """[B, S, N*D] -> [B, N, S, D], or [B, N, D, S] for the keys (ready for Q.K^T)."""
  split = g.op("Reshape", x, g.constant([0, 0, num_heads, head_size], np.int64))
  return g.op("Transpose", split, perm=[0, 2, 3, 1] if key else [0, 2, 1, 3])


def _attention(
  g: _Builder, x: str, bias: str, weights: Mapping, scope: str, num_heads: int, hidden: int
) -> str:
  """Multi-head self-attention of one layer; returns the context [B, S, H] before its dense."""
  head_size = hidden // num_heads
  query = _heads(g, _dense(g, x, weights, scope + "/query"), num_heads, head_size)
  key = _heads(g, _dense(g, x, weights, scope + "/key"), num_heads, head_size, key=True)
  value = _heads(g, _dense(g, x, weights, scope + "/value"), num_heads, head_size)
  # Divided by sqrt(D) rather than multiplied by its inverse (as bert.modeling does, a last-bit
  # difference): the form ONNX Runtime's attention fusion looks for.
  scores = g.op("Div", g.op("MatMul", query, key), g.constant(math.sqrt(float(head_size))))
  attention = g.op("Softmax", g.op("Add", scores, bias), axis=-1)
  context = g.op("Transpose", g.op("MatMul", attention, value), perm=[0, 2, 1, 3])
  return g.op("Reshape", context, g.constant([0, 0, hidden], np.int64))


def _embeddings(g: _Builder, weights: Mapping) -> str:
  """Word + segment + position vectors, layer-normalised: [B, S, H]."""
  scope = "bert/embeddings/"
  words = g.op(
    "Gather", g.weight(scope + "word_embeddings", weights[scope + "word_embeddings"]), "input_ids"
  )
  segments = g.op(
    "Gather",
    g.weight(scope + "token_type_embeddings", weights[scope + "token_type_embeddings"]),
    "segment_ids",
  )
  length = g.op("Shape", "input_ids", start=1, end=2)  # [S] as a 1-element int64 tensor
  positions = g.op(
    "Slice",
    g.weight(scope + "position_embeddings", weights[scope + "position_embeddings"]),
    g.constant([0], np.int64),
    length,
    g.constant([0], np.int64),
  )
  summed = g.op("Add", g.op("Add", words, segments), positions)
  return _layer_norm(g, summed, weights, scope + "LayerNorm")


def _mask_bias(g: _Builder) -> str:
  """[B, 1, 1, S]: 0 for real tokens, -10000 for padding, added to every score."""
  mask = g.op(
    "Unsqueeze",
    g.op("Unsqueeze", "input_mask", g.constant([1], np.int64)),
    g.constant([2], np.int64),
  )
  blocked = g.op("Sub", g.constant(1.0), g.op("Cast", mask, to=1))  # 1 = FLOAT
  return g.op("Mul", blocked, g.constant(MASK_PENALTY))


def build_model(
  weights: Mapping[str, np.ndarray],
  bert_config: Mapping,
  multi_label: bool = False,
  with_head: bool = True,
):
  """The ONNX model (an `onnx.ModelProto`) of BERT and, when present, its classifier head.

  Args:
    weights: float arrays by checkpoint name; every `bert/*` variable of the
      config's shape, plus `output_weights` and `output_bias` for a head.
    bert_config: the bert_config.json dict.
    multi_label: a sigmoid per label instead of the softmax.
    with_head: add `logits` and `probabilities` (needs the head variables).

  Raises:
    ValueError: the activation cannot be exported, or `with_head` without a head.
  """
  import onnx
  from onnx import TensorProto, helper

  kind = activation_kind(bert_config.get("hidden_act", "gelu"))
  hidden = int(bert_config["hidden_size"])
  num_heads = int(bert_config["num_attention_heads"])
  num_layers = int(bert_config["num_hidden_layers"])
  if with_head and not all(name in weights for name in HEAD_NAMES):
    raise ValueError("the weights have no classifier head (%s)" % " and ".join(HEAD_NAMES))

  g = _Builder()
  x = _embeddings(g, weights)
  bias = _mask_bias(g)
  outputs = []
  for index in range(num_layers):
    scope = "bert/encoder/layer_%d/" % index
    context = _attention(g, x, bias, weights, scope + "attention/self", num_heads, hidden)
    projected = _dense(g, context, weights, scope + "attention/output/dense")
    attended = _layer_norm(
      g, g.op("Add", projected, x), weights, scope + "attention/output/LayerNorm"
    )
    widened = _activation(g, _dense(g, attended, weights, scope + "intermediate/dense"), kind)
    narrowed = _dense(g, widened, weights, scope + "output/dense")
    x = _layer_norm(
      g,
      g.op("Add", narrowed, attended),
      weights,
      scope + "output/LayerNorm",
      output=layer_output(index),
    )
    outputs.append(
      helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", "sequence", hidden])
    )

  first = g.op("Gather", x, g.constant(0, np.int64), axis=1)  # [B, H]: the [CLS] vectors
  pooler = "bert/pooler/dense/"
  pooled = g.op(
    "Gemm",
    first,
    g.weight(pooler + "kernel", weights[pooler + "kernel"]),
    g.weight(pooler + "bias", weights[pooler + "bias"]),
  )
  g.op("Tanh", pooled, output=POOLED_OUTPUT)
  outputs.append(helper.make_tensor_value_info(POOLED_OUTPUT, TensorProto.FLOAT, ["batch", hidden]))

  if with_head:
    num_labels = int(np.shape(weights["output_bias"])[0])
    logits = g.op(
      "Gemm",
      POOLED_OUTPUT,
      g.weight("output_weights", weights["output_weights"]),
      g.weight("output_bias", weights["output_bias"]),
      transB=1,
      output=LOGITS,
    )
    if multi_label:
      g.op("Sigmoid", logits, output=PROBABILITIES)
    else:
      g.op("Softmax", logits, axis=-1, output=PROBABILITIES)
    for name in (LOGITS, PROBABILITIES):
      outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", num_labels]))

  inputs = [
    helper.make_tensor_value_info(name, TensorProto.INT32, ["batch", "sequence"])
    for name in INPUT_NAMES
  ]
  graph = helper.make_graph(g.nodes, "bert", inputs, outputs, initializer=g.initializers)
  model = helper.make_model(
    graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="bert-classic"
  )
  model.ir_version = 8  # what ONNX Runtime releases of the last years all read
  onnx.checker.check_model(model)
  return model
