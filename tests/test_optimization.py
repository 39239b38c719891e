"""bert/optimization.py: schedule and update rule against NumPy, both faces."""

import numpy as np
import pytest
import tensorflow as tf

from bert import optimization


def numpy_lr(step, init_lr, total, warmup):
  lr = init_lr * (1.0 - min(step, total) / total)
  if warmup and step < warmup:
    lr = init_lr * step / warmup
  return lr


class NumpyAdamWD:
  """Google's AdamWeightDecay update (no bias correction, decoupled decay) in NumPy."""

  def __init__(self, params, init_lr, total, warmup, decay_names):
    self.params = {k: v.astype(np.float64) for k, v in params.items()}
    self.m = {k: np.zeros_like(v) for k, v in self.params.items()}
    self.v = {k: np.zeros_like(v) for k, v in self.params.items()}
    self.step = 0
    self.init_lr, self.total, self.warmup = init_lr, total, warmup
    self.decay_names = decay_names

  def apply(self, grads):
    norm = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads.values()))
    scale = 1.0 / max(norm, 1.0)
    lr = numpy_lr(self.step, self.init_lr, self.total, self.warmup)
    for k, g in grads.items():
      g = g * scale
      self.m[k] = 0.9 * self.m[k] + 0.1 * g
      self.v[k] = 0.999 * self.v[k] + 0.001 * g * g
      update = self.m[k] / (np.sqrt(self.v[k]) + 1e-6)
      if k in self.decay_names:
        update = update + 0.01 * self.params[k]
      self.params[k] = self.params[k] - lr * update
    self.step += 1


def test_learning_rate_schedule():
  for step in [0, 1, 5, 9, 10, 11, 50, 100, 150]:
    got = float(optimization.learning_rate_at(step, 2e-5, 100, 10))
    assert got == pytest.approx(numpy_lr(step, 2e-5, 100, 10), rel=1e-6, abs=1e-12)
  assert float(optimization.learning_rate_at(0, 1e-3, 100, 10)) == 0.0
  # At step W the rate jumps to init_lr * (1 - W/N): no renormalisation.
  assert float(optimization.learning_rate_at(10, 1.0, 100, 10)) == pytest.approx(0.9)
  assert float(optimization.learning_rate_at(7, 1.0, 100, 0)) == pytest.approx(0.93)


NAMES = [
  "bert/encoder/layer_0/output/dense/kernel",
  "bert/encoder/layer_0/output/dense/bias",
  "bert/embeddings/LayerNorm/gamma",
  "output_weights",
]
DECAYED = {"bert/encoder/layer_0/output/dense/kernel", "output_weights"}


def _problem(seed=0):
  rng = np.random.RandomState(seed)
  params = {n: rng.randn(3, 4).astype(np.float32) for n in NAMES}
  targets = {n: rng.randn(3, 4).astype(np.float32) for n in NAMES}
  return params, targets


def test_tf2_face_matches_numpy_first_steps():
  params, targets = _problem()
  variables = [tf.Variable(params[n], name=n) for n in NAMES]
  opt = optimization.AdamWeightDecay(variables, init_lr=0.1, num_train_steps=20, num_warmup_steps=3)
  ref = NumpyAdamWD(params, 0.1, 20, 3, DECAYED)
  assert [v.name for v in opt.slot_variables][:2] == [
    NAMES[0] + "/adam_m:0",
    NAMES[0] + "/adam_v:0",
  ]

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = tf.add_n([tf.reduce_sum((v - targets[n]) ** 2) for n, v in zip(NAMES, variables)])
    opt.apply_gradients(tape.gradient(loss, variables))

  for _ in range(6):
    grads = {n: 2 * (ref.params[n] - targets[n]) for n in NAMES}
    ref.apply(grads)
    step()
  for n, v in zip(NAMES, variables):
    np.testing.assert_allclose(v.numpy(), ref.params[n], rtol=1e-5, atol=1e-6)
  assert int(opt.global_step.numpy()) == 6


def test_graph_face_matches_numpy_first_steps():
  params, targets = _problem(1)
  ref = NumpyAdamWD(params, 0.1, 20, 3, DECAYED)
  with tf.Graph().as_default():
    variables = [tf.compat.v1.get_variable(n, initializer=tf.constant(params[n])) for n in NAMES]
    loss = tf.add_n([tf.reduce_sum((v - targets[n]) ** 2) for n, v in zip(NAMES, variables)])
    train_op = optimization.create_optimizer(loss, 0.1, 20, 3, use_tpu=False)
    names = [v.name for v in tf.compat.v1.global_variables()]
    step = tf.compat.v1.train.get_global_step()
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for _ in range(6):
        ref.apply({n: 2 * (ref.params[n] - targets[n]) for n in NAMES})
        sess.run(train_op)
      got = sess.run(variables)
      assert sess.run(step) == 6
  assert "output_weights/adam_m:0" in names and "output_weights/adam_v:0" in names
  for n, g in zip(NAMES, got):
    np.testing.assert_allclose(g, ref.params[n], rtol=1e-5, atol=1e-6)


def test_first_update_changes_nothing_with_warmup():
  params, targets = _problem(2)
  variables = [tf.Variable(params[n], name=n) for n in NAMES]
  opt = optimization.AdamWeightDecay(variables, 0.1, 20, 3)
  opt.apply_gradients([tf.ones_like(v) for v in variables])
  for n, v in zip(NAMES, variables):
    np.testing.assert_array_equal(v.numpy(), params[n])
  assert np.abs(opt.slot_variables[0].numpy()).max() > 0


def test_google_optimization_test_converges():
  # google-research/bert optimization_test: w -> x.
  w = tf.Variable([0.1, -0.2, -0.1], name="w")
  x = tf.constant([0.4, 0.2, -0.5])
  opt = optimization.AdamWeightDecay([w], 0.2, 100, 0, weight_decay_rate=0.0)
  for _ in range(100):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.square(x - w))
    opt.apply_gradients(tape.gradient(loss, [w]))
  np.testing.assert_allclose(w.numpy(), x.numpy(), rtol=1e-2, atol=1e-2)


def test_weight_decay_exclusions():
  f = optimization._do_use_weight_decay
  ex = list(optimization.DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY)
  assert f("output_weights", 0.01, ex)
  assert f("bert/embeddings/word_embeddings", 0.01, ex)
  assert not f("output_bias", 0.01, ex)
  assert not f("bert/encoder/layer_0/output/LayerNorm/gamma", 0.01, ex)
  assert not f("bert/pooler/dense/bias", 0.01, ex)
  assert not f("output_weights", 0.0, ex)


def test_a_sparse_gradient_counts_each_row_in_the_norm():
  """Google's tf.clip_by_global_norm over a gather's IndexedSlices: a row given twice
  adds two squares, not the square of the sum; `densified` keeps that share."""
  rows = tf.constant([[3.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
  sparse = tf.IndexedSlices(rows, tf.constant([1, 1, 2]), tf.constant([3, 2]))
  assert float(optimization.squared_norm(sparse)) == 34.0
  assert float(optimization.squared_norm(tf.convert_to_tensor(sparse))) == 52.0
  dense, squares = optimization.densified([sparse, tf.constant([1.0]), None])
  assert [s is None for s in squares] == [False, True, True] and dense[2] is None
  results = []
  for grads, shares in [([sparse], None), (dense[:1], squares[:1]), (dense[:1], None)]:
    table = tf.Variable(tf.zeros([3, 2]), name="bert/embeddings/word_embeddings")
    opt = optimization.AdamWeightDecay([table], 1.0, 10, 0, weight_decay_rate=0.0)
    opt.apply_gradients(grads, shares)
    results.append(opt.slot_variables[0].numpy())  # adam_m = 0.1 * clipped gradient
  np.testing.assert_allclose(results[0][1], [0.1 * 6 / np.sqrt(34), 0.0], rtol=1e-6)
  np.testing.assert_array_equal(results[1], results[0])
  np.testing.assert_allclose(results[2][1], [0.1 * 6 / np.sqrt(52), 0.0], rtol=1e-6)
