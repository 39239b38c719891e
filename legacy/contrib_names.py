"""The small `tf.contrib` names BERT scripts use: `tf.contrib.data` and `tf.contrib.layers`.

Graph-mode functions on `tf.compat.v1`, with TF1's signatures and variable
names, so that a script's own copy of Google's `modeling.py` builds the same
variables (`.../LayerNorm/beta`, `.../LayerNorm/gamma`) and loads Google's
checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

_v1 = tf.compat.v1


# ---------------------------------------------------------------------------
# tf.contrib.data


def map_and_batch(
  map_func: Callable,
  batch_size,
  num_parallel_batches=None,
  drop_remainder: bool = False,
  num_parallel_calls=None,
) -> Callable[[tf.data.Dataset], tf.data.Dataset]:
  """A `Dataset.apply` transformation: `map(map_func)` then `batch(batch_size)`.

  TF1 fused the two; `num_parallel_batches` batches were built at once, which
  here becomes that many times `batch_size` parallel map calls.
  """
  if num_parallel_calls is None and num_parallel_batches:
    num_parallel_calls = num_parallel_batches * batch_size
  return lambda dataset: dataset.map(map_func, num_parallel_calls=num_parallel_calls).batch(
    batch_size, drop_remainder=drop_remainder
  )


def parallel_interleave(
  map_func: Callable,
  cycle_length: int,
  block_length: int = 1,
  sloppy: bool = False,
  buffer_output_elements=None,
  prefetch_input_elements=None,
) -> Callable[[tf.data.Dataset], tf.data.Dataset]:
  """A `Dataset.apply` transformation: `interleave` with `cycle_length`
  parallel calls; `sloppy=True` lets elements come out of order. The buffer
  sizes of TF1 are left to tf.data."""
  del buffer_output_elements, prefetch_input_elements
  return lambda dataset: dataset.interleave(
    map_func,
    cycle_length=cycle_length,
    block_length=block_length,
    num_parallel_calls=cycle_length,
    deterministic=not sloppy,
  )


# ---------------------------------------------------------------------------
# tf.contrib.layers

LAYER_NORM_EPSILON = 1e-12  # TF1's contrib layer_norm


def layer_norm(
  inputs,
  center: bool = True,
  scale: bool = True,
  activation_fn=None,
  reuse=None,
  variables_collections=None,
  outputs_collections=None,
  trainable: bool = True,
  begin_norm_axis: int = 1,
  begin_params_axis: int = -1,
  scope=None,
):
  """Layer normalisation as TF1's `tf.contrib.layers.layer_norm`.

  Mean and variance are taken over the axes from `begin_norm_axis` to the
  last; `beta` (if `center`) and `gamma` (if `scale`) have the shape of the
  axes from `begin_params_axis` on and live in variable scope `scope`
  (default `LayerNorm`): `<scope>/beta`, `<scope>/gamma`.
  """
  del outputs_collections
  inputs = tf.convert_to_tensor(inputs)
  rank = inputs.shape.ndims
  if rank is None:
    raise ValueError("layer_norm: inputs %s must have a known rank" % inputs.name)
  norm_axes = list(range(begin_norm_axis % rank, rank))
  params_shape = inputs.shape[begin_params_axis % rank :]
  collections = None
  if variables_collections:
    collections = list(variables_collections) + [_v1.GraphKeys.GLOBAL_VARIABLES]
  with _v1.variable_scope(scope, "LayerNorm", [inputs], reuse=reuse):

    def parameter(name, initializer):
      return _v1.get_variable(
        name,
        params_shape,
        dtype=inputs.dtype.base_dtype,
        initializer=initializer,
        collections=collections,
        trainable=trainable,
      )

    beta = parameter("beta", _v1.zeros_initializer()) if center else None
    gamma = parameter("gamma", _v1.ones_initializer()) if scale else None
    mean, variance = tf.nn.moments(inputs, norm_axes, keepdims=True)
    outputs = tf.nn.batch_normalization(inputs, mean, variance, beta, gamma, LAYER_NORM_EPSILON)
    outputs.set_shape(inputs.shape)
    return activation_fn(outputs) if activation_fn is not None else outputs


def variance_scaling_initializer(
  factor: float = 2.0, mode: str = "FAN_IN", uniform: bool = False, seed=None, dtype=tf.float32
):
  """TF1's contrib initializer: variance `factor / n` for n = fan in, fan out
  or their mean (`mode` FAN_IN, FAN_OUT, FAN_AVG); uniform or truncated normal."""
  if mode not in ("FAN_IN", "FAN_OUT", "FAN_AVG"):
    raise TypeError("Unknown mode %s [FAN_IN, FAN_OUT, FAN_AVG]" % mode)
  return _v1.variance_scaling_initializer(
    scale=factor,
    mode=mode.lower(),
    distribution="uniform" if uniform else "truncated_normal",
    seed=seed,
    dtype=dtype,
  )


def xavier_initializer(uniform: bool = True, seed=None, dtype=tf.float32):
  """Glorot's initializer as TF1's contrib named it: variance 1 / mean fan."""
  return variance_scaling_initializer(1.0, "FAN_AVG", uniform, seed, dtype)


def l2_regularizer(scale: float, scope=None) -> Callable:
  """A function of a weight tensor: `scale * sum(w ** 2) / 2`; `scale` 0 adds nothing."""
  if scale < 0.0:
    raise ValueError("Setting a scale less than 0 on a regularizer: %g" % scale)

  def l2(weights):
    if not scale:
      return None
    with tf.name_scope(scope or "l2_regularizer"):
      return tf.multiply(tf.cast(scale, weights.dtype.base_dtype), tf.nn.l2_loss(weights))

  return l2
