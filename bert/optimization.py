# coding=utf-8
"""Functions and classes related to optimization (weight updates).

Google's `optimization.py` on TensorFlow 2.20, with one update rule behind two
faces:

* `create_optimizer(loss, init_lr, num_train_steps, num_warmup_steps, use_tpu)`
  and `AdamWeightDecayOptimizer` for `tf.compat.v1` graph mode, as Google's;
* `AdamWeightDecay` for the TF2 face (eager, `tf.function`, `tf.distribute`).

The rule: linear warmup then linear decay to 0 (no renormalisation after the
warmup); Adam WITHOUT bias correction (beta1 0.9, beta2 0.999, eps 1e-6);
decoupled weight decay 0.01 skipping LayerNorm/layer_norm/bias; gradients
clipped to a global norm of 1.0; `global_step += 1` per step. Slots are the
variables `<var>/adam_m` and `<var>/adam_v`.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

import tensorflow as tf

DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")


def learning_rate_at(global_step, init_lr, num_train_steps, num_warmup_steps):
  """Google's learning rate at `global_step` (a scalar tensor or number).

  `init_lr * (1 - min(step, N) / N)`, and `init_lr * step / W` while
  `step < W` when there is a warmup. At step 0 with a warmup the rate is 0.
  """
  step = tf.cast(global_step, tf.float32)
  total = float(num_train_steps) if num_train_steps else 1.0
  learning_rate = init_lr * (1.0 - tf.minimum(step, total) / total)
  if num_warmup_steps:
    warmup_steps = float(num_warmup_steps)
    warmup_learning_rate = init_lr * step / warmup_steps
    learning_rate = tf.where(step < warmup_steps, warmup_learning_rate, learning_rate)
  return learning_rate


def _do_use_weight_decay(param_name, weight_decay_rate, exclude_from_weight_decay):
  """Whether to use L2 weight decay for `param_name`."""
  if not weight_decay_rate:
    return False
  if exclude_from_weight_decay:
    for r in exclude_from_weight_decay:
      if re.search(r, param_name) is not None:
        return False
  return True


def _get_variable_name(param_name):
  """Get the variable name from the tensor name."""
  m = re.match("^(.*):\\d+$", param_name)
  if m is not None:
    param_name = m.group(1)
  return param_name


def _adam_weight_decay_assignments(
  param, grad, m, v, learning_rate, weight_decay_rate, beta_1, beta_2, epsilon, use_weight_decay
):
  """The update of one parameter; returns the three assign ops (p, m, v)."""
  # Standard Adam update.
  next_m = tf.multiply(beta_1, m) + tf.multiply(1.0 - beta_1, grad)
  next_v = tf.multiply(beta_2, v) + tf.multiply(1.0 - beta_2, tf.square(grad))

  update = next_m / (tf.sqrt(next_v) + epsilon)

  # Just adding the square of the weights to the loss function is *not*
  # the correct way of using L2 regularization/weight decay with Adam,
  # since that will interact with the m and v parameters in strange ways.
  #
  # Instead we want to decay the weights in a manner that doesn't interact
  # with the m/v parameters. This is equivalent to adding the square
  # of the weights to the loss with plain (non-momentum) SGD.
  if use_weight_decay:
    update += weight_decay_rate * param

  update_with_lr = learning_rate * update

  next_param = param - update_with_lr

  return [param.assign(next_param), m.assign(next_m), v.assign(next_v)]


def create_optimizer(loss, init_lr, num_train_steps, num_warmup_steps, use_tpu):
  """Creates an optimizer training op (graph mode, as Google's).

  `use_tpu` is accepted for compatibility; under TF2 a TPU is driven by
  `tf.distribute.TPUStrategy` rather than a `CrossShardOptimizer`.
  """
  del use_tpu
  global_step = tf.compat.v1.train.get_or_create_global_step()

  learning_rate = learning_rate_at(global_step, init_lr, num_train_steps, num_warmup_steps)

  # It is recommended that you use this optimizer for fine tuning, since this
  # is how the model was trained (note that the Adam m/v variables are NOT
  # loaded from init_checkpoint.)
  optimizer = AdamWeightDecayOptimizer(
    learning_rate=learning_rate,
    weight_decay_rate=0.01,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-6,
    exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"],
  )

  tvars = tf.compat.v1.trainable_variables()
  grads = tf.gradients(loss, tvars)

  # This is how the model was pre-trained.
  (grads, _) = tf.clip_by_global_norm(grads, clip_norm=1.0)

  train_op = optimizer.apply_gradients(zip(grads, tvars), global_step=global_step)

  # Normally the global step update is done inside of `apply_gradients`.
  # However, `AdamWeightDecayOptimizer` doesn't do this. But if you use
  # a different optimizer, you should probably take this line out.
  new_global_step = global_step + 1
  train_op = tf.group(train_op, [global_step.assign(new_global_step)])
  return train_op


class AdamWeightDecayOptimizer(tf.compat.v1.train.Optimizer):
  """A basic Adam optimizer that includes "correct" L2 weight decay (graph mode)."""

  def __init__(
    self,
    learning_rate,
    weight_decay_rate=0.0,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-6,
    exclude_from_weight_decay=None,
    name="AdamWeightDecayOptimizer",
  ):
    """Constructs a AdamWeightDecayOptimizer."""
    super(AdamWeightDecayOptimizer, self).__init__(False, name)

    self.learning_rate = learning_rate
    self.weight_decay_rate = weight_decay_rate
    self.beta_1 = beta_1
    self.beta_2 = beta_2
    self.epsilon = epsilon
    self.exclude_from_weight_decay = exclude_from_weight_decay

  def apply_gradients(self, grads_and_vars, global_step=None, name=None):
    """See base class. `global_step` is not incremented (as Google's)."""
    assignments = []
    for grad, param in grads_and_vars:
      if grad is None or param is None:
        continue

      param_name = _get_variable_name(param.name)

      m = tf.compat.v1.get_variable(
        name=param_name + "/adam_m",
        shape=param.shape.as_list(),
        dtype=tf.float32,
        trainable=False,
        initializer=tf.compat.v1.zeros_initializer(),
      )
      v = tf.compat.v1.get_variable(
        name=param_name + "/adam_v",
        shape=param.shape.as_list(),
        dtype=tf.float32,
        trainable=False,
        initializer=tf.compat.v1.zeros_initializer(),
      )

      assignments.extend(
        _adam_weight_decay_assignments(
          param,
          grad,
          m,
          v,
          self.learning_rate,
          self.weight_decay_rate,
          self.beta_1,
          self.beta_2,
          self.epsilon,
          _do_use_weight_decay(param_name, self.weight_decay_rate, self.exclude_from_weight_decay),
        )
      )
    return tf.group(*assignments, name=name)

  def _apply_dense(self, grad, var):
    raise NotImplementedError("Use apply_gradients")

  def _apply_sparse(self, grad, var):
    raise NotImplementedError("Use apply_gradients")


class AdamWeightDecay(tf.Module):
  """The TF2 face of `AdamWeightDecayOptimizer`, with Google's schedule.

  Create it inside the strategy scope that holds the model's variables. Its
  slot variables are named `<var>/adam_m` and `<var>/adam_v`, and it owns the
  int64 `global_step`, so all of them go into name-based checkpoints.
  """

  def __init__(
    self,
    variables: Sequence[tf.Variable],
    init_lr: float,
    num_train_steps: int,
    num_warmup_steps: int,
    weight_decay_rate: float = 0.01,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-6,
    clip_norm: float | None = 1.0,
    exclude_from_weight_decay: Iterable[str] = (DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY),
    aggregation=tf.VariableAggregation.NONE,
  ):
    """Creates the slots of `variables` and the global step.

    Args:
      variables: the trainable variables, in the order gradients will come.
      init_lr: peak learning rate.
      num_train_steps: steps of the linear decay to 0.
      num_warmup_steps: steps of the linear warmup (0: none).
      weight_decay_rate: decoupled weight decay, skipped for names matching
        `exclude_from_weight_decay`.
      beta_1, beta_2, epsilon: Adam constants (no bias correction).
      clip_norm: global-norm clip of the gradients (None: no clipping).
      exclude_from_weight_decay: regexes of names without weight decay.
      aggregation: `tf.VariableAggregation` of the slots and step.
    """
    super().__init__(name=None)
    self.init_lr = init_lr
    self.num_train_steps = num_train_steps
    self.num_warmup_steps = num_warmup_steps
    self.weight_decay_rate = weight_decay_rate
    self.beta_1 = beta_1
    self.beta_2 = beta_2
    self.epsilon = epsilon
    self.clip_norm = clip_norm
    self.exclude_from_weight_decay = list(exclude_from_weight_decay)
    self._params = list(variables)
    self._slots = []
    with tf.init_scope():
      self.global_step = tf.Variable(
        0, dtype=tf.int64, trainable=False, name="global_step", aggregation=aggregation
      )
      for param in self._params:
        param_name = _get_variable_name(param.name)
        m = tf.Variable(
          tf.zeros(param.shape, tf.float32),
          trainable=False,
          name=param_name + "/adam_m",
          aggregation=aggregation,
        )
        v = tf.Variable(
          tf.zeros(param.shape, tf.float32),
          trainable=False,
          name=param_name + "/adam_v",
          aggregation=aggregation,
        )
        self._slots.append((m, v))
    self._use_weight_decay = [
      _do_use_weight_decay(
        _get_variable_name(p.name), weight_decay_rate, self.exclude_from_weight_decay
      )
      for p in self._params
    ]

  @property
  def slot_variables(self) -> list[tf.Variable]:
    """All `adam_m` and `adam_v` variables, interleaved per parameter."""
    return [slot for pair in self._slots for slot in pair]

  def learning_rate(self):
    """The learning rate of the current global step."""
    return learning_rate_at(
      self.global_step, self.init_lr, self.num_train_steps, self.num_warmup_steps
    )

  def apply_gradients(self, grads: Sequence[tf.Tensor]):
    """Clips `grads`, updates every parameter and increments global_step.

    `grads` are aligned with the `variables` given at construction (None
    entries are skipped). Returns the learning rate used.
    """
    grads = list(grads)
    if self.clip_norm is not None:
      (grads, _) = tf.clip_by_global_norm(grads, clip_norm=self.clip_norm)
    learning_rate = self.learning_rate()
    for grad, param, (m, v), decay in zip(grads, self._params, self._slots, self._use_weight_decay):
      if grad is None:
        continue
      _adam_weight_decay_assignments(
        param,
        grad,
        m,
        v,
        learning_rate,
        self.weight_decay_rate,
        self.beta_1,
        self.beta_2,
        self.epsilon,
        decay,
      )
    self.global_step.assign_add(1)
    return learning_rate
