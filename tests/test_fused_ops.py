"""bert/fused_ops.py: the XLA-fused training kernels compute modeling's formulas
(values and gradients), and the encoder and trainer use them only when training."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY_CONFIG

from bert import fused_ops, modeling

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def values_and_grads(fn, *inputs):
  inputs = [tf.constant(x) for x in inputs]
  with tf.GradientTape() as tape:
    for x in inputs:
      tape.watch(x)
    y = fn(*inputs)
    # A weighted sum, so that every output position gets a different upstream gradient.
    weights = tf.reshape(tf.range(tf.size(y), dtype=y.dtype) % 7 - 3.0, tf.shape(y))
    total = tf.reduce_sum(y * weights)
  return [y.numpy()] + [g.numpy() for g in tape.gradient(total, inputs)]


def assert_close(fused, reference, atol):
  for got, want in zip(fused, reference):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol)


@pytest.fixture
def activations():
  return np.random.default_rng(0).normal(0.0, 2.0, size=(6, 40)).astype(np.float32)


def test_gelu_exact_matches_modeling(activations):
  assert_close(
    values_and_grads(fused_ops.gelu_exact, activations),
    values_and_grads(modeling.gelu_exact, activations),
    atol=1e-6,
  )


def test_gelu_tanh_matches_modeling(activations):
  assert_close(
    values_and_grads(fused_ops.gelu_tanh, activations),
    values_and_grads(modeling.gelu, activations),
    atol=1e-5,  # Where tanh saturates, the two gradient formulas round differently.
  )


def test_layer_norm_matches_the_unfused_formula():
  rng = np.random.default_rng(1)
  x = rng.normal(3.0, 2.0, size=(2, 5, 16)).astype(np.float32)
  gamma = rng.normal(1.0, 0.3, size=16).astype(np.float32)
  beta = rng.normal(0.0, 0.3, size=16).astype(np.float32)

  def reference(x, gamma, beta):
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    inv = tf.math.rsqrt(variance + modeling.LAYER_NORM_EPSILON) * gamma
    return x * inv + (beta - mean * inv)

  def fused(x, gamma, beta):
    return fused_ops.layer_norm(x, gamma, beta, modeling.LAYER_NORM_EPSILON)

  assert_close(
    values_and_grads(fused, x, gamma, beta), values_and_grads(reference, x, gamma, beta), 2e-5
  )


def test_scaled_masked_softmax_matches_the_unfused_ops():
  rng = np.random.default_rng(2)
  scores = rng.normal(0.0, 3.0, size=(2, 3, 4, 6)).astype(np.float32)
  mask = np.ones((2, 4, 6), np.int32)
  mask[0, :, 4:] = 0
  bias = (1.0 - mask[:, None].astype(np.float32)) * -10000.0
  scale = 0.125

  def reference(scores):
    return tf.nn.softmax(scores * scale + bias)

  def fused(scores):
    return fused_ops.scaled_masked_softmax(scores, tf.constant(bias), scale)

  got = values_and_grads(fused, scores)
  assert_close(got, values_and_grads(reference, scores), 1e-6)
  assert np.all(got[0][0, :, :, 4:] < 1e-30)  # masked keys get no weight


def test_dropout_keeps_at_the_rate_and_scales_and_routes_gradients():
  x = tf.ones([200, 500])
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = fused_ops.dropout(x, 0.1)
  grad = tape.gradient(y, x).numpy()
  y = y.numpy()
  kept = y != 0
  assert abs(kept.mean() - 0.9) < 0.005
  np.testing.assert_allclose(y[kept], 1 / 0.9, rtol=1e-6)
  np.testing.assert_array_equal(grad, y)  # d(x * mask / keep)/dx is the same mask / keep
  again = fused_ops.dropout(x, 0.1).numpy()
  assert (again != y).any()  # a fresh mask every call


def _masks(seed):
  tf.random.set_seed(seed)
  x = tf.ones([64, 64])
  scores = tf.zeros([2, 2, 8, 8])
  return [
    fused_ops.dropout(x, 0.1).numpy() != 0,
    fused_ops.dropout(x, 0.1).numpy() != 0,
    fused_ops.scaled_masked_softmax(scores, None, 1.0, 0.1).numpy() != 0,
  ]


def test_seeded_dropout_masks_repeat_with_the_seed_and_change_without_it():
  first, again, other = _masks(7), _masks(7), _masks(8)
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a, b)
  assert all((a != b).any() for a, b in zip(first, other))
  assert (first[0] != first[1]).any()  # Each call draws a new mask.


def _seeded_training(seed):
  from classifier.trainer import ClassifierRunner

  tf.random.set_seed(seed)
  runner = ClassifierRunner(modeling.BertConfig.from_dict(TINY_CONFIG), 3, "unused")
  runner.create_optimizer(1e-3, 10, 0)
  ids = np.random.default_rng(0).integers(1, TINY_CONFIG["vocab_size"], size=(16, 8))
  features = {
    "input_ids": ids.astype(np.int32),
    "input_mask": np.ones_like(ids, np.int32),
    "segment_ids": np.zeros_like(ids, np.int32),
    "label_ids": np.arange(16, dtype=np.int32) % 3,
  }
  dataset = tf.data.Dataset.from_tensor_slices(features).batch(8)
  runner.train_loop_fn()(iter(dataset), tf.constant(2))
  return {n: v.numpy() for n, v in runner.model.variables_by_name.items()}


def test_two_seeded_fused_trainings_are_identical():
  first, again, other = _seeded_training(3), _seeded_training(3), _seeded_training(4)
  for name in first:
    np.testing.assert_array_equal(first[name], again[name], err_msg=name)
  assert max(float(np.max(np.abs(first[n] - other[n]))) for n in first) > 1e-5


def test_the_xla_kernels_draw_no_seed_ignoring_random_numbers():
  """XLA ignores the seeds of stateful random ops (and says so on every seeded
  run): the kernels take a seed and draw statelessly."""
  x = tf.ones([4, 8])
  seed = tf.constant([1, 2])
  for kernel, args in [
    (fused_ops._dropout_forward, (x, tf.constant(0.1), seed)),
    (fused_ops._softmax_dropout_forward, (x, x, tf.constant(1.0), tf.constant(0.1), seed)),
  ]:
    graph_def = kernel.get_concrete_function(*args).graph.as_graph_def()
    ops = {node.op for node in graph_def.node}
    ops.update(node.op for function in graph_def.library.function for node in function.node_def)
    assert "StatelessRandomUniformV2" in ops
    assert not ops & {"RandomUniform", "RandomUniformInt", "RandomStandardNormal"}


def test_seeded_fused_training_prints_no_seed_warning():
  script = (
    "import tensorflow as tf\n"
    "from bert import fused_ops\n"
    "tf.random.set_seed(1)\n"
    "fused_ops.dropout(tf.ones([4, 8]), 0.1)\n"
    "fused_ops.scaled_masked_softmax(tf.ones([1, 2, 3, 3]), None, 0.5, 0.1)\n"
    "print('done')\n"
  )
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0")
  proc = subprocess.run(
    [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
  )
  assert proc.returncode == 0 and "done" in proc.stdout, proc.stderr[-2000:]
  assert "Compiled cluster using XLA" in proc.stderr  # The log is on and the kernels ran.
  assert "ignore seeds" not in proc.stderr


def encoder_pair(**overrides):
  config = modeling.BertConfig.from_dict(dict(TINY_CONFIG, **overrides))
  tf.random.set_seed(3)
  plain = modeling.BertEncoder(config)
  fused = modeling.BertEncoder(config, fused_kernels=True)
  for name, variable in fused.variables_by_name.items():
    variable.assign(plain.variables_by_name[name])
  return plain, fused


def batch():
  rng = np.random.default_rng(4)
  ids = tf.constant(rng.integers(0, TINY_CONFIG["vocab_size"], size=(3, 9)), tf.int32)
  mask = tf.constant([[1] * 9, [1] * 5 + [0] * 4, [1] * 2 + [0] * 7], tf.int32)
  return ids, mask, tf.zeros_like(ids)


def test_inference_never_uses_the_fused_kernels():
  plain, fused = encoder_pair()
  ids, mask, types = batch()
  want = plain(ids, mask, types)["pooled_output"].numpy()
  got = fused(ids, mask, types)["pooled_output"].numpy()
  np.testing.assert_array_equal(got, want)


def test_fused_training_pass_matches_the_plain_one_without_dropout():
  plain, fused = encoder_pair(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
  hidden_act = TINY_CONFIG["hidden_act"]
  assert hidden_act in ("gelu", "gelu_exact"), hidden_act  # a fused activation is exercised
  ids, mask, types = batch()
  results = []
  for encoder in (plain, fused):
    variables = list(encoder.variables_by_name.values())
    with tf.GradientTape() as tape:
      output = encoder(ids, mask, types, training=True)["sequence_output"]
      loss = tf.reduce_sum(output * tf.sin(tf.range(output.shape[-1], dtype=tf.float32)))
    grads = tape.gradient(loss, variables)
    # The pooler is not on the path to sequence_output: no gradient in either.
    results.append(
      [output.numpy()] + [g if g is None else tf.convert_to_tensor(g).numpy() for g in grads]
    )
  assert [g is None for g in results[1]] == [g is None for g in results[0]]
  assert sum(g is not None for g in results[0]) > 10
  for got, want in zip(results[1], results[0]):
    if want is not None:
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5)


def test_fused_training_uses_dropout():
  _, fused = encoder_pair()
  ids, mask, types = batch()
  first = fused(ids, mask, types, training=True)["sequence_output"].numpy()
  second = fused(ids, mask, types, training=True)["sequence_output"].numpy()
  assert np.abs(first - second).max() > 1e-3


def test_softmax_with_dropout_matches_softmax_then_the_same_mask():
  rng = np.random.default_rng(5)
  scores = tf.constant(rng.normal(0.0, 2.0, size=(4, 3, 8, 8)).astype(np.float32))
  bias = tf.zeros([4, 1, 8, 8])
  upstream = tf.constant(rng.normal(size=(4, 3, 8, 8)).astype(np.float32))
  with tf.GradientTape() as tape:
    tape.watch(scores)
    dropped = fused_ops.scaled_masked_softmax(scores, bias, 0.5, dropout_rate=0.2)
    total = tf.reduce_sum(dropped * upstream)
  got = tape.gradient(total, scores).numpy()
  keep = tf.cast(dropped != 0, tf.float32)  # the mask this call drew
  assert 0.7 < float(tf.reduce_mean(keep)) < 0.9
  with tf.GradientTape() as tape:
    tape.watch(scores)
    reference = tf.nn.softmax(scores * 0.5 + bias) * keep / 0.8
    total = tf.reduce_sum(reference * upstream)
  np.testing.assert_allclose(dropped.numpy(), reference.numpy(), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(got, tape.gradient(total, scores).numpy(), rtol=1e-5, atol=1e-6)


def _workflow_weights(base, name, seed):
  from emotion_data import write_emotion_data, write_model_dir

  from classifier import RunConfig, run_workflow

  vocab, bert_config = write_model_dir(str(base / "model"))
  if not (base / "data").exists():
    write_emotion_data(str(base / "data"), n_train=32, n_val=8, n_test=8)
  output_dir = str(base / name)
  config = RunConfig.from_flat(
    str(base / "data"),
    bert_config,
    "emotion",
    vocab,
    output_dir,
    do_train=True,
    max_seq_length=16,
    train_batch_size=8,
    num_train_epochs=1.0,
    seed=seed,
  )
  run_workflow(config)
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(output_dir))
  names = [n for n, _ in tf.train.list_variables(output_dir) if n.startswith(("bert/", "output_"))]
  return {n: reader.get_tensor(n) for n in names}


@pytest.mark.slow
def test_two_seeded_workflows_in_one_process_train_the_same_weights(tmp_path):
  """--seed fixes the fused dropout masks of every run_workflow call in a process, not only
  the first (XLA's random state is process-wide; the masks' seeds are not)."""
  first = _workflow_weights(tmp_path, "first", 5)
  again = _workflow_weights(tmp_path, "again", 5)
  other = _workflow_weights(tmp_path, "other", 6)
  assert len(first) > 10 and first.keys() == again.keys()
  for name in first:
    np.testing.assert_array_equal(first[name], again[name], err_msg=name)
  assert max(float(np.max(np.abs(first[n] - other[n]))) for n in first) > 1e-6


# -- 16-bit inputs: read and written in their dtype, computed in float32 -----------------


def _rounded(values, dtype):
  return tf.cast(tf.cast(values, dtype), tf.float32).numpy()


@pytest.mark.parametrize("dtype", [tf.bfloat16, tf.float16])
def test_16_bit_kernels_compute_in_float32_and_round_once(dtype):
  """Each kernel takes and returns the 16-bit type (LayerNorm and the softmax included, which
  took float32 before), and its result is its float32 result rounded once."""
  rng = np.random.default_rng(9)
  x32 = tf.constant(_rounded(rng.normal(0.0, 2.0, size=(64, 96)), dtype))
  x = tf.cast(x32, dtype)
  for kernel in (fused_ops.gelu_tanh, fused_ops.gelu_exact):
    got = kernel(x)
    assert got.dtype == dtype
    np.testing.assert_array_equal(tf.cast(got, tf.float32).numpy(), _rounded(kernel(x32), dtype))
  dropped = fused_ops.dropout(x, 0.1)
  kept = dropped.numpy() != 0
  assert dropped.dtype == dtype and 0.85 < kept.mean() < 0.95
  want = _rounded(x32 / 0.9, dtype)
  np.testing.assert_array_equal(tf.cast(dropped, tf.float32).numpy()[kept], want[kept])

  gamma = tf.constant(rng.normal(1.0, 0.1, size=96).astype(np.float32))
  beta = tf.constant(rng.normal(0.0, 0.1, size=96).astype(np.float32))
  normalised = fused_ops.layer_norm(x, gamma, beta, 1e-12)
  assert normalised.dtype == dtype
  reference = fused_ops.layer_norm(x32, gamma, beta, 1e-12)
  np.testing.assert_array_equal(tf.cast(normalised, tf.float32).numpy(), _rounded(reference, dtype))

  scores = tf.reshape(x, [2, 4, 8, 96])
  probabilities = fused_ops.scaled_masked_softmax(scores, None, 0.5)
  assert probabilities.dtype == dtype
  reference = fused_ops.scaled_masked_softmax(tf.reshape(x32, [2, 4, 8, 96]), None, 0.5)
  np.testing.assert_array_equal(
    tf.cast(probabilities, tf.float32).numpy(), _rounded(reference, dtype)
  )


def test_16_bit_kernels_give_float32_parameter_gradients_and_16_bit_input_gradients():
  rng = np.random.default_rng(10)
  x = tf.constant(rng.normal(size=(2, 3, 8, 8)), tf.bfloat16)
  gamma, beta = tf.ones([8]), tf.zeros([8])
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([x, gamma, beta])
    normalised = fused_ops.layer_norm(x, gamma, beta, 1e-12)
    softmax = fused_ops.scaled_masked_softmax(x, tf.zeros([2, 1, 1, 8]), 0.5, 0.1)
    activated = fused_ops.gelu_tanh(x)
  for output in (normalised, softmax, activated):
    assert tape.gradient(output, x).dtype == tf.bfloat16
  assert {g.dtype for g in tape.gradient(normalised, [gamma, beta])} == {tf.float32}


def test_fused_bf16_training_pass_matches_the_plain_bf16_one_without_dropout():
  config = modeling.BertConfig.from_dict(
    dict(TINY_CONFIG, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
  )
  tf.random.set_seed(3)
  plain = modeling.BertEncoder(config, compute_dtype="bfloat16")
  fused = modeling.BertEncoder(config, compute_dtype="bfloat16", fused_kernels=True)
  for name, variable in fused.variables_by_name.items():
    variable.assign(plain.variables_by_name[name])
  ids, mask, types = batch()
  outputs, gradients = [], []
  for encoder in (plain, fused):
    variables = list(encoder.variables_by_name.values())
    with tf.GradientTape() as tape:
      output = encoder(ids, mask, types, training=True)["sequence_output"]
      loss = tf.reduce_sum(output * tf.sin(tf.range(output.shape[-1], dtype=tf.float32)))
    outputs.append(output.numpy())
    grads = tape.gradient(loss, variables)
    gradients.append(
      np.concatenate([tf.convert_to_tensor(g).numpy().ravel() for g in grads if g is not None])
    )
  # bf16 rounds in other places along the two paths: close, not equal.
  np.testing.assert_allclose(outputs[1], outputs[0], atol=0.1)
  cosine = gradients[0] @ gradients[1] / np.linalg.norm(gradients[0]) / np.linalg.norm(gradients[1])
  assert cosine > 0.999
