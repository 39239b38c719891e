"""Dynamic loss scaling for --precision=mixed_float16 training."""

from __future__ import annotations

import tensorflow as tf


class LossScale:
  """Dynamic loss scaling for float16 training.

  The loss is multiplied by `scale` before the gradients are taken, so that
  small float16 gradients do not flush to zero; they are divided by it again
  before the update. A step whose gradients hold an inf or NaN is skipped and
  the scale halved (never below 1); after `growth_interval` good steps in a
  row the scale doubles. Its variables are not checkpointed: a resumed run
  starts from `initial_scale` again.
  """

  def __init__(
    self,
    aggregation: tf.VariableAggregation,
    initial_scale: float = 2.0**15,
    growth_interval: int = 2000,
  ) -> None:
    self.growth_interval = growth_interval
    with tf.init_scope():
      self.scale = tf.Variable(
        initial_scale, dtype=tf.float32, trainable=False, aggregation=aggregation
      )
      self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, aggregation=aggregation)

  def unscale(self, grads: list, squares: list | None = None) -> tuple[list, list, tf.Tensor]:
    """(gradients divided by the scale, norm shares divided by its square,
    whether all of them are finite)."""
    inverse = 1.0 / self.scale
    unscaled, finite = [], []
    for grad in grads:
      if grad is None:
        unscaled.append(None)
        continue
      if isinstance(grad, tf.IndexedSlices):
        grad = tf.IndexedSlices(grad.values * inverse, grad.indices, grad.dense_shape)
        values = grad.values
      else:
        grad = grad * inverse
        values = grad
      unscaled.append(grad)
      finite.append(tf.reduce_all(tf.math.is_finite(values)))
    shares = [None if share is None else share * inverse * inverse for share in squares or []]
    finite += [tf.math.is_finite(share) for share in shares if share is not None]
    return unscaled, shares or None, tf.reduce_all(tf.stack(finite))

  def update(self, finite: tf.Tensor) -> None:
    """Halves the scale after an overflow, doubles it after enough good steps."""
    good = tf.where(finite, self.good_steps + 1, tf.zeros_like(self.good_steps))
    grow = good >= self.growth_interval
    scale = tf.where(
      finite,
      tf.where(grow, self.scale * 2.0, self.scale),
      tf.maximum(self.scale * 0.5, 1.0),
    )
    self.scale.assign(scale)
    self.good_steps.assign(tf.where(grow, tf.zeros_like(good), good))
