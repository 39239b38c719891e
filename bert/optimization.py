"""BERT's optimizer: Adam with decoupled weight decay and a linear schedule.

`from bert import optimization` keeps working as with Google's module. The
update rule is offered twice:

* `create_optimizer(loss, init_lr, num_train_steps, num_warmup_steps, use_tpu)`
  and `AdamWeightDecayOptimizer`, for `tf.compat.v1` graph code;
* `AdamWeightDecay`, for TF2 code (eager, `tf.function`, `tf.distribute`).

The rule: linear warmup then linear decay to 0 (no renormalisation after the
warmup); Adam WITHOUT bias correction (beta1 0.9, beta2 0.999, eps 1e-6);
decoupled weight decay 0.01 skipping LayerNorm/layer_norm/bias; gradients
clipped to a global norm of 1.0, taken as `tf.clip_by_global_norm` takes it
on Google's graph (the rows of a `tf.gather`'s sparse gradient count one by
one: `squared_norm`); `global_step += 1` per step. Slots are the variables
`<var>/adam_m` and `<var>/adam_v`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import tensorflow as tf

DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")


def learning_rate_at(
  global_step: tf.Tensor | int, init_lr: float, num_train_steps: int, num_warmup_steps: int
) -> tf.Tensor:
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


def _do_use_weight_decay(
  param_name: str, weight_decay_rate: float, exclude_from_weight_decay: Iterable[str] | None
) -> bool:
  """False for a zero rate or when an exclusion regex is found in the name."""
  if not weight_decay_rate:
    return False
  patterns = exclude_from_weight_decay or ()
  return not any(re.search(pattern, param_name) for pattern in patterns)


def _get_variable_name(param_name: str) -> str:
  """Drops a tensor's output index: "bert/pooler/dense/bias:0" -> "bert/pooler/dense/bias"."""
  base, colon, index = param_name.rpartition(":")
  return base if colon and index.isdecimal() else param_name


def _adam_weight_decay_assignments(
  param, grad, m, v, learning_rate, weight_decay_rate, beta_1, beta_2, epsilon, use_weight_decay
):
  """Assign ops that step one parameter and its two slots: [param, m, v]."""
  next_m = tf.multiply(beta_1, m) + tf.multiply(1.0 - beta_1, grad)
  next_v = tf.multiply(beta_2, v) + tf.multiply(1.0 - beta_2, tf.square(grad))
  update = next_m / (tf.sqrt(next_v) + epsilon)  # No bias correction.
  if use_weight_decay:
    # Decay is added to the step after Adam's scaling, not to the loss: an L2
    # term in the loss would pass through m and v and be rescaled with the
    # gradients. Here every weight shrinks by lr * rate * itself.
    update += weight_decay_rate * param
  next_param = param - learning_rate * update
  return [param.assign(next_param), m.assign(next_m), v.assign(next_v)]


def squared_norm(grad: tf.Tensor | tf.IndexedSlices) -> tf.Tensor:
  """`grad`'s share of the squared global norm that `tf.clip_by_global_norm` clips by.

  A dense gradient adds the squares of its elements. An `IndexedSlices` (the
  gradient of a `tf.gather`, such as the word embeddings') adds the squares
  of its rows as they are: a word that occurs twice adds two rows' squares,
  not the square of their sum, as in Google's graph.
  """
  values = grad.values if isinstance(grad, tf.IndexedSlices) else grad
  return tf.reduce_sum(tf.square(values))


def densified(grads: Sequence) -> tuple[list, list]:
  """(`grads` with every `IndexedSlices` made dense, their `squared_norm`s).

  The second list is aligned with `grads`: the row squares of each gradient
  that was sparse, None for the others. Give both to
  `AdamWeightDecay.apply_gradients`, and clipping stays Google's.
  """
  dense, squares = [], []
  for grad in grads:
    sparse = isinstance(grad, tf.IndexedSlices)
    dense.append(tf.convert_to_tensor(grad) if sparse else grad)
    squares.append(squared_norm(grad) if sparse else None)
  return dense, squares


def create_optimizer(
  loss: tf.Tensor, init_lr: float, num_train_steps: int, num_warmup_steps: int, use_tpu: bool
) -> tf.Operation:
  """Builds the graph-mode training op of Google's fine-tuning recipe.

  The op clips the gradients of all trainable variables to a global norm of
  1.0, applies `AdamWeightDecayOptimizer` with the `learning_rate_at` schedule
  and adds 1 to the global step. `use_tpu` is accepted for compatibility
  only: under TF2 a TPU runs under `tf.distribute.TPUStrategy`, not a
  `CrossShardOptimizer`.
  """
  del use_tpu
  global_step = tf.compat.v1.train.get_or_create_global_step()
  learning_rate = learning_rate_at(global_step, init_lr, num_train_steps, num_warmup_steps)
  # BERT's pre-training settings. The slots start at zero on a first run:
  # pre-trained checkpoints carry no adam_m / adam_v to restore.
  optimizer = AdamWeightDecayOptimizer(
    learning_rate=learning_rate,
    weight_decay_rate=0.01,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-6,
    exclude_from_weight_decay=list(DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY),
  )
  params = tf.compat.v1.trainable_variables()
  clipped, _ = tf.clip_by_global_norm(tf.gradients(loss, params), clip_norm=1.0)
  update_op = optimizer.apply_gradients(zip(clipped, params), global_step=global_step)
  # The optimizer leaves `global_step` alone, so the step is counted here.
  return tf.group(update_op, global_step.assign(global_step + 1))


class AdamWeightDecayOptimizer(tf.compat.v1.train.Optimizer):
  """Graph-mode Adam without bias correction, plus decoupled weight decay.

  Its slots are `tf.compat.v1.get_variable`s named `<var>/adam_m` and
  `<var>/adam_v` in the current variable scope. `apply_gradients` never
  touches `global_step`; `create_optimizer` increments it.
  """

  def __init__(
    self,
    learning_rate: float | tf.Tensor,
    weight_decay_rate: float = 0.0,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-6,
    exclude_from_weight_decay: Sequence[str] | None = None,
    name: str = "AdamWeightDecayOptimizer",
  ) -> None:
    """Keeps the hyperparameters; `exclude_from_weight_decay` holds name regexes."""
    super().__init__(use_locking=False, name=name)
    # Google's attribute names: old code reads them.
    self.learning_rate, self.weight_decay_rate = learning_rate, weight_decay_rate
    self.beta_1, self.beta_2 = beta_1, beta_2
    self.epsilon, self.exclude_from_weight_decay = epsilon, exclude_from_weight_decay

  def apply_gradients(
    self,
    grads_and_vars: Iterable[tuple[tf.Tensor | None, tf.Variable | None]],
    global_step: tf.Variable | None = None,
    name: str | None = None,
  ) -> tf.Operation:
    """Returns one op that updates every pair; pairs with a None are skipped.

    `global_step` is part of the base-class signature and is not incremented.
    """
    updates = []
    for grad, param in grads_and_vars:
      if grad is None or param is None:
        continue
      param_name = _get_variable_name(param.name)
      shape = param.shape.as_list()
      m = self._adam_slot(param_name + "/adam_m", shape)
      v = self._adam_slot(param_name + "/adam_v", shape)
      decays = _do_use_weight_decay(
        param_name, self.weight_decay_rate, self.exclude_from_weight_decay
      )
      updates += _adam_weight_decay_assignments(
        param,
        grad,
        m,
        v,
        self.learning_rate,
        self.weight_decay_rate,
        self.beta_1,
        self.beta_2,
        self.epsilon,
        decays,
      )
    return tf.group(*updates, name=name)

  @staticmethod
  def _adam_slot(name: str, shape: list) -> tf.Variable:
    """A zero-initialised, non-trainable float32 slot variable."""
    return tf.compat.v1.get_variable(
      name=name,
      shape=shape,
      dtype=tf.float32,
      trainable=False,
      initializer=tf.compat.v1.zeros_initializer(),
    )

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
    exclude_from_weight_decay: Iterable[str] = DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
    aggregation: tf.VariableAggregation = tf.VariableAggregation.NONE,
  ) -> None:
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
    self.weight_decay_rate, self.clip_norm = weight_decay_rate, clip_norm
    self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
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

  def learning_rate(self) -> tf.Tensor:
    """The learning rate of the current global step."""
    return learning_rate_at(
      self.global_step, self.init_lr, self.num_train_steps, self.num_warmup_steps
    )

  def apply_gradients(
    self, grads: Sequence[tf.Tensor | None], squares: Sequence[tf.Tensor | None] | None = None
  ) -> tf.Tensor:
    """Clips `grads`, updates every parameter and increments global_step.

    `grads` are aligned with the `variables` given at construction (None
    entries are skipped). The global norm they are clipped by is
    `tf.clip_by_global_norm`'s, an `IndexedSlices` counting each of its rows
    (`squared_norm`). `squares`, aligned with `grads`, gives the share of a
    gradient that was sparse where it no longer is (made dense for an XLA
    kernel, summed over micro-batches): its rows' squares as they came
    (`densified`); None entries are measured on the gradient. Returns the
    learning rate used.
    """
    grads = list(grads)
    if self.clip_norm is not None:
      squares = list(squares) if squares is not None else [None] * len(grads)
      total = tf.add_n(
        [
          squared_norm(grad) if share is None else share
          for grad, share in zip(grads, squares)
          if grad is not None
        ]
      )
      (grads, _) = tf.clip_by_global_norm(grads, self.clip_norm, use_norm=tf.sqrt(total))
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
