"""Fused training kernels for the TF2 face: dropout, GELU, LayerNorm and the
attention softmax, each compiled by XLA into one pass over memory forward and
one backward (hand-written gradients), while the matmuls stay with TensorFlow's
oneDNN kernels.

On a CPU these element-wise steps are bound by memory traffic: TensorFlow runs
each of their ops (and each op of their gradients) as a separate pass over
[batch * seq, width] or [batch, heads, seq, seq] arrays. Here each becomes one
or two passes. The functions compute the same formulas as `bert.modeling`'s
(results agree to float32 rounding: tests/test_fused_ops.py); XLA compiles one
kernel per input shape and dtype, so dynamic padding compiles once per length
bucket.

Mixed precision: a float16 or bfloat16 input is read and written in its own
type (half the memory traffic) and computed in float32 inside the kernel, the
result rounded once: LayerNorm and the softmax keep float32 arithmetic without
cast ops of their own before and after, and GELU runs 2-3x faster than when
XLA's CPU code computes it in bfloat16.

`BertEncoder(..., fused_kernels=True)` uses them when training; inference and
the graph face never do.
"""

from __future__ import annotations

import math

import tensorflow as tf

SQRT_HALF = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
TANH_GELU_C = math.sqrt(2.0 / math.pi)
TANH_GELU_A = 0.044715


def _jit(function):
  return tf.function(function, jit_compile=True, autograph=False)


# -- dropout ---------------------------------------------------------------------------


def _float32(x):
  """`x` in float32 (inside a kernel: a conversion fused into its loop)."""
  return tf.cast(x, tf.float32)


def _scaled_where(keep, x, rate):
  """x / (1 - rate) where `keep`, else 0, in x's dtype (the product taken in float32)."""
  kept = tf.cast(_float32(x) * (1.0 / (1.0 - rate)), x.dtype)
  return tf.where(keep, kept, tf.zeros_like(x))


@_jit
def _dropout_forward(x, rate, seed):
  # A stateless draw from `seed` (XLA ignores the seeds of stateful random
  # ops); ThreeFry is XLA's quickest generator on CPUs. The draw and the
  # rate are float32 whatever x is, so the rate is exact.
  keep = tf.random.stateless_uniform(tf.shape(x), seed, dtype=tf.float32, alg="threefry") >= rate
  return _scaled_where(keep, x, rate), keep


def _dropout_seed() -> tf.Tensor:
  """A fresh [2] seed for one dropout mask, drawn outside XLA by a stateful op.

  Each call site is its own op, and each run of it draws anew, so masks
  differ between sites and steps; with `tf.random.set_seed` (--seed) the
  sequence is the same in every run, as with `tf.nn.dropout`.
  """
  return tf.random.uniform([2], minval=tf.int32.min, maxval=tf.int32.max, dtype=tf.int32)


@_jit
def _dropout_backward(dy, keep, rate):
  return _scaled_where(keep, dy, rate)


def dropout(x: tf.Tensor, rate: float) -> tf.Tensor:
  """Inverted dropout at `rate` (kept values scaled by 1/(1-rate)), as tf.nn.dropout."""
  rate_tensor = tf.constant(rate, tf.float32)

  @tf.custom_gradient
  def apply(x):
    y, keep = _dropout_forward(x, rate_tensor, _dropout_seed())
    return y, lambda dy: _dropout_backward(dy, keep, rate_tensor)

  return apply(x)


# -- GELU ------------------------------------------------------------------------------


@_jit
def _gelu_exact_forward(x_in):
  x = _float32(x_in)
  return tf.cast(0.5 * x * (1.0 + tf.math.erf(x * SQRT_HALF)), x_in.dtype)


@_jit
def _gelu_exact_backward(x_in, dy):
  x = _float32(x_in)
  cdf = 0.5 * (1.0 + tf.math.erf(x * SQRT_HALF))
  return tf.cast(_float32(dy) * (cdf + x * tf.exp(-0.5 * x * x) * INV_SQRT_2PI), dy.dtype)


@_jit
def _gelu_tanh_forward(x_in):
  x = _float32(x_in)
  inner = TANH_GELU_C * (x + TANH_GELU_A * x * x * x)
  return tf.cast(x * (0.5 * (1.0 + tf.tanh(inner))), x_in.dtype)


@_jit
def _gelu_tanh_backward(x_in, dy):
  x = _float32(x_in)
  t = tf.tanh(TANH_GELU_C * (x + TANH_GELU_A * x * x * x))
  slope = TANH_GELU_C * (1.0 + 3.0 * TANH_GELU_A * x * x)
  grad = _float32(dy) * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * slope)
  return tf.cast(grad, dy.dtype)


@tf.custom_gradient
def gelu_exact(x: tf.Tensor) -> tf.Tensor:
  """The erf GELU, fused."""
  return _gelu_exact_forward(x), lambda dy: _gelu_exact_backward(x, dy)


@tf.custom_gradient
def gelu_tanh(x: tf.Tensor) -> tf.Tensor:
  """The tanh GELU BERT was trained with, fused."""
  return _gelu_tanh_forward(x), lambda dy: _gelu_tanh_backward(x, dy)


# -- LayerNorm -------------------------------------------------------------------------


def _row_statistics(x, epsilon):
  mean = tf.reduce_mean(x, axis=-1, keepdims=True)
  centred = x - mean
  variance = tf.reduce_mean(centred * centred, axis=-1, keepdims=True)
  return centred, tf.math.rsqrt(variance + epsilon)


@_jit
def _layer_norm_forward(x_in, gamma, beta, epsilon):
  centred, rstd = _row_statistics(_float32(x_in), epsilon)
  return tf.cast(centred * rstd * gamma + beta, x_in.dtype)


@_jit
def _layer_norm_backward(x_in, gamma, dy_in, epsilon):
  x, dy = _float32(x_in), _float32(dy_in)
  centred, rstd = _row_statistics(x, epsilon)
  normalised = centred * rstd
  rows = tf.reduce_prod(tf.shape(x)[:-1])
  flat_dy = tf.reshape(dy, [rows, -1])
  dgamma = tf.reduce_sum(flat_dy * tf.reshape(normalised, [rows, -1]), axis=0)
  dbeta = tf.reduce_sum(flat_dy, axis=0)
  g = dy * gamma
  mean_g = tf.reduce_mean(g, axis=-1, keepdims=True)
  mean_gn = tf.reduce_mean(g * normalised, axis=-1, keepdims=True)
  dx = rstd * (g - mean_g - normalised * mean_gn)
  return tf.cast(dx, x_in.dtype), dgamma, dbeta


def layer_norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float) -> tf.Tensor:
  """`(x - mean) / sqrt(var + epsilon) * gamma + beta` over the last axis, fused: computed
  in float32 (`gamma`, `beta` float32), returned in x's dtype."""
  eps = tf.constant(epsilon, tf.float32)

  @tf.custom_gradient
  def apply(x, gamma, beta):
    def grad(dy):
      return _layer_norm_backward(x, gamma, dy, eps)

    return _layer_norm_forward(x, gamma, beta, eps), grad

  return apply(x, gamma, beta)


# -- attention softmax ------------------------------------------------------------------


# The backward pass takes the float32 probabilities; the next matmul, those in
# the scores' dtype (a second output only for 16-bit scores).


@_jit
def _softmax_probabilities(scores, bias, scale):
  return tf.nn.softmax(_float32(scores) * scale + bias)


@_jit
def _softmax_forward_16(scores, bias, scale):
  probs = _softmax_probabilities(scores, bias, scale)
  return probs, tf.cast(probs, scores.dtype)


@_jit
def _softmax_backward(probs, dprobs, scale):
  dp = _float32(dprobs)
  inner = tf.reduce_sum(dp * probs, axis=-1, keepdims=True)
  return tf.cast(scale * probs * (dp - inner), dprobs.dtype)


@_jit
def _softmax_dropout_forward(scores, bias, scale, rate, seed):
  probs = _softmax_probabilities(scores, bias, scale)
  dropped, keep = _dropout_forward(probs, rate, seed)
  return tf.cast(dropped, scores.dtype), probs, keep


@_jit
def _softmax_dropout_backward(probs, keep, ddropped, scale, rate):
  return _softmax_backward(probs, _dropout_backward(ddropped, keep, rate), scale)


def scaled_masked_softmax(
  scores: tf.Tensor, bias: tf.Tensor | None, scale: float, dropout_rate: float = 0.0
) -> tf.Tensor:
  """softmax(scores * scale + bias) over the last axis, then dropout at
  `dropout_rate` (if any), fused: computed in float32 (`bias` float32, the
  additive mask broadcast over heads, gets no gradient), returned in the
  scores' dtype."""
  if bias is None:
    bias = tf.zeros([], tf.float32)
  scale_tensor = tf.constant(scale, tf.float32)
  rate = tf.constant(dropout_rate, tf.float32)

  @tf.custom_gradient
  def softmax_only(scores):
    if scores.dtype == tf.float32:
      probs = out = _softmax_probabilities(scores, bias, scale_tensor)
    else:
      probs, out = _softmax_forward_16(scores, bias, scale_tensor)
    return out, lambda dprobs: _softmax_backward(probs, dprobs, scale_tensor)

  @tf.custom_gradient
  def softmax_and_dropout(scores):
    dropped, probs, keep = _softmax_dropout_forward(
      scores, bias, scale_tensor, rate, _dropout_seed()
    )

    def grad(ddropped):
      return _softmax_dropout_backward(probs, keep, ddropped, scale_tensor, rate)

    return dropped, grad

  return softmax_and_dropout(scores) if dropout_rate else softmax_only(scores)
