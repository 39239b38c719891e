"""legacy.crf, legacy.contrib_names and the tf.contrib / tf.estimator namespaces,
in-process (graph mode), checked against independent NumPy references."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from legacy import contrib, crf
from legacy.contrib_names import layer_norm, map_and_batch, parallel_interleave
from legacy.errors import NotProvided

v1 = tf.compat.v1


def _logsumexp(x, axis):
  top = np.max(x, axis=axis, keepdims=True)
  return np.squeeze(top, axis) + np.log(np.sum(np.exp(x - top), axis=axis))


def _forward_backward(unary, transitions):
  """log Z of one sequence [L, N] by the forward and by the backward recursion."""
  alpha = unary[0]
  for t in range(1, len(unary)):
    alpha = unary[t] + _logsumexp(alpha[:, None] + transitions, axis=0)
  beta = np.zeros(unary.shape[1])
  for t in range(len(unary) - 1, 0, -1):
    beta = _logsumexp(transitions + (unary[t] + beta)[None, :], axis=1)
  return _logsumexp(alpha, axis=0), _logsumexp(unary[0] + beta, axis=0)


def _score(unary, transitions, tags):
  return sum(unary[t, y] for t, y in enumerate(tags)) + sum(
    transitions[a, b] for a, b in zip(tags, tags[1:])
  )


def _run(*tensors):
  with v1.Session() as session:
    session.run(v1.global_variables_initializer())
    return session.run(list(tensors))


@pytest.mark.parametrize("max_length", [1, 2, 6])
def test_crf_against_numpy_forward_backward_and_viterbi(max_length):
  rng = np.random.RandomState(max_length)
  batch, num_tags = 5, 4
  unary = rng.randn(batch, max_length, num_tags).astype(np.float32)
  transitions = rng.randn(num_tags, num_tags).astype(np.float32)
  lengths = np.array([max_length, max(max_length - 1, 0), 1, 0, max_length], np.int32)
  tags = rng.randint(0, num_tags, (batch, max_length)).astype(np.int32)
  with tf.Graph().as_default():
    log_likelihood, _ = crf.crf_log_likelihood(
      tf.constant(unary), tf.constant(tags), tf.constant(lengths), tf.constant(transitions)
    )
    log_norm = crf.crf_log_norm(tf.constant(unary), tf.constant(lengths), tf.constant(transitions))
    decoded, best = crf.crf_decode(
      tf.constant(unary), tf.constant(transitions), tf.constant(lengths)
    )
    log_likelihood, log_norm, decoded, best = _run(log_likelihood, log_norm, decoded, best)
  for b, length in enumerate(lengths):
    if length == 0:
      assert log_likelihood[b] == 0 and log_norm[b] == 0 and not decoded[b].any()
      continue
    forward, backward = _forward_backward(unary[b, :length], transitions)
    np.testing.assert_allclose([log_norm[b], backward], forward, rtol=1e-5)
    expected = _score(unary[b], transitions, list(tags[b, :length])) - forward
    np.testing.assert_allclose(log_likelihood[b], expected, rtol=1e-5, atol=1e-5)
    # Viterbi: the best of all num_tags ** length sequences.
    every = {
      path: _score(unary[b], transitions, path)
      for path in itertools.product(range(num_tags), repeat=int(length))
    }
    best_path = max(every, key=every.get)
    assert list(decoded[b, :length]) == list(best_path) and not decoded[b, length:].any()
    np.testing.assert_allclose(best[b], every[best_path], rtol=1e-5)
    path, score = crf.viterbi_decode(unary[b, :length], transitions)
    assert path == list(best_path)
    np.testing.assert_allclose(score, every[best_path], rtol=1e-5)


def test_crf_log_likelihood_makes_its_transitions_variable():
  with tf.Graph().as_default():
    with v1.variable_scope("crf_layer"):
      _, transitions = crf.crf_log_likelihood(
        tf.zeros([2, 3, 5]), tf.zeros([2, 3], tf.int32), tf.constant([3, 2])
      )
    assert transitions.name == "crf_layer/transitions:0"
    assert transitions.shape.as_list() == [5, 5]


def test_layer_norm_has_tf1_names_and_equals_bert_modeling():
  from bert import modeling

  x = np.random.RandomState(0).randn(3, 4, 8).astype(np.float32)
  with tf.Graph().as_default():
    with v1.variable_scope("encoder"):
      theirs = layer_norm(tf.constant(x), begin_norm_axis=-1, begin_params_axis=-1)
      ours = modeling.layer_norm(tf.constant(x), name="ours")
    names = sorted(v.name for v in v1.global_variables())
    theirs, ours = _run(theirs, ours)
  assert names == [
    "encoder/LayerNorm/beta:0",
    "encoder/LayerNorm/gamma:0",
    "encoder/ours/beta:0",
    "encoder/ours/gamma:0",
  ]
  np.testing.assert_allclose(theirs, ours, atol=1e-5)
  normalised = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-12)
  np.testing.assert_allclose(theirs, normalised, atol=1e-5)


def test_data_transformations():
  with tf.Graph().as_default():
    numbers = tf.data.Dataset.range(10)
    batched = numbers.apply(map_and_batch(lambda x: x * 2, 4, drop_remainder=True))
    files = tf.data.Dataset.range(3).apply(
      parallel_interleave(lambda x: tf.data.Dataset.from_tensors(x).repeat(2), cycle_length=2)
    )
    first = v1.data.make_one_shot_iterator(batched).get_next()
    every = v1.data.make_one_shot_iterator(files.batch(6)).get_next()
    first, every = _run(first, every)
  assert first.tolist() == [0, 2, 4, 6]
  assert sorted(every.tolist()) == [0, 0, 1, 1, 2, 2]


def test_names_not_provided_say_what_is():
  with pytest.raises(NotProvided, match=r"tf.contrib.slim is not provided \(tf.contrib here has: "):
    _ = contrib.slim
  assert not hasattr(contrib, "slim")
  with pytest.raises(NotProvided, match=r"tf.contrib.rnn.LSTMBlockFusedCell is not provided"):
    _ = contrib.rnn.LSTMBlockFusedCell
  # The cells are Keras 2's (tf-keras), which only bert-run-tf1 selects: named here, not loaded.
  assert contrib.PARTS["rnn"]["LSTMCell"] == "tensorflow.compat.v1.nn.rnn_cell:LSTMCell"
  assert contrib.crf.viterbi_decode is crf.viterbi_decode
  from legacy import estimator

  with pytest.raises(NotProvided, match="tf.estimator.DNNClassifier is not provided"):
    _ = estimator.DNNClassifier
  assert estimator.ModeKeys.PREDICT == "infer"


def test_contrib_layers_under_their_tf1_module_path():
  """NER forks import the initializers from where TF1 kept them:
  `from tensorflow.contrib.layers.python.layers import initializers`."""
  from legacy import contrib_names, hooks

  legacy_import = hooks.legacy_import(v1=True)
  layers = legacy_import(
    "tensorflow.contrib.layers.python.layers", {}, {}, ("initializers", "regularizers"), 0
  )
  assert layers.initializers.xavier_initializer is contrib_names.xavier_initializer
  assert layers.regularizers.l2_regularizer is contrib_names.l2_regularizer
  assert layers.layers.layer_norm is contrib_names.layer_norm
  with pytest.raises(NotProvided, match=r"initializers.he_normal is not provided"):
    _ = layers.initializers.he_normal


def test_estimator_under_its_tf1_module_paths():
  """Scripts of the bert-as-service family import the Estimator from TF1's
  private modules (`from tensorflow.python.estimator.estimator import Estimator`)."""
  from legacy import estimator, hooks

  def from_import(module, *names):
    return hooks.legacy_import(v1=True)(module, {}, {}, names, 0)

  assert from_import("tensorflow.python.estimator.estimator", "Estimator").Estimator is (
    estimator.Estimator
  )
  assert from_import("tensorflow.python.estimator.run_config", "RunConfig").RunConfig is (
    estimator.RunConfig
  )
  model_fn = from_import("tensorflow.python.estimator", "model_fn").model_fn
  assert (model_fn.EstimatorSpec, model_fn.ModeKeys) == (
    estimator.EstimatorSpec,
    estimator.ModeKeys,
  )
  export = from_import("tensorflow.python.estimator.export", "export").export
  assert export.build_raw_serving_input_receiver_fn is (
    estimator.export.build_raw_serving_input_receiver_fn
  )
  with pytest.raises(NotProvided, match=r"tensorflow.python.estimator.canned is not provided"):
    from_import("tensorflow.python.estimator.canned.linear", "LinearClassifier")
  # Private modules TensorFlow 2 still has stay TensorFlow's.
  assert from_import("tensorflow.python.ops", "math_ops").math_ops.cast is tf.cast


def test_tpu_estimator_under_tf_estimator_tpu():
  """Scripts moved to TF 1.15 (`tf = tf.compat.v1`) spell tf.contrib.tpu `tf.estimator.tpu`."""
  from legacy import estimator, tpu

  assert estimator.tpu.TPUEstimator is tpu.TPUEstimator
  assert estimator.tpu.InputPipelineConfig.PER_HOST_V2 == tpu.InputPipelineConfig.PER_HOST_V2
  assert "tpu" in dir(estimator)
  with pytest.raises(NotProvided, match=r"tf.estimator.tpu.CrossShardOptimizer is not provided"):
    _ = estimator.tpu.CrossShardOptimizer


def test_estimator_spec_and_run_config_checks():
  from legacy.errors import NotSupported
  from legacy.estimator import EstimatorSpec, ModeKeys, RunConfig

  with pytest.raises(ValueError, match="TRAIN needs both loss and train_op"):
    EstimatorSpec(ModeKeys.TRAIN, loss=tf.constant(1.0))
  with pytest.raises(TypeError, match=r"must be a \(value, update_op\) pair"):
    EstimatorSpec(ModeKeys.EVAL, loss=tf.constant(1.0), eval_metric_ops={"acc": tf.constant(1.0)})
  assert RunConfig().save_checkpoints_secs == 600
  config = RunConfig(save_checkpoints_steps=5).replace(keep_checkpoint_max=1)
  assert (config.save_checkpoints_steps, config.save_checkpoints_secs) == (5, None)
  assert config.keep_checkpoint_max == 1
  with pytest.raises(ValueError, match="not both"):
    RunConfig(save_checkpoints_steps=5, save_checkpoints_secs=5)
  with pytest.raises(NotSupported, match="run_classifier.py --distribution_strategy"):
    RunConfig(train_distribute=object())


def test_tpu_estimator_spec_on_cpu():
  """eval_metrics=(metric_fn, tensors) become the metrics (a list: positional,
  a dict: by name), scaffold_fn the scaffold, host_call runs with the train op."""
  from legacy.estimator import ModeKeys
  from legacy.tpu import TPUEstimatorSpec

  with tf.Graph().as_default():
    calls = v1.get_variable("calls", [], initializer=v1.zeros_initializer())
    labels = tf.constant([1, 0, 1])
    predictions = tf.constant([1, 1, 1])
    for tensors in ([labels, predictions], {"labels": labels, "predictions": predictions}):
      spec = TPUEstimatorSpec(
        ModeKeys.EVAL,
        loss=tf.constant(0.5),
        eval_metrics=(
          lambda labels, predictions: {"acc": v1.metrics.accuracy(labels, predictions)},
          tensors,
        ),
        scaffold_fn=lambda: v1.train.Scaffold(init_op=tf.no_op()),
      ).as_estimator_spec()
      value, update = spec.eval_metric_ops["acc"]
      assert isinstance(spec.scaffold, v1.train.Scaffold)
    train = TPUEstimatorSpec(
      ModeKeys.TRAIN,
      loss=tf.constant(0.5),
      train_op=tf.no_op(),
      host_call=(lambda step: [v1.assign_add(calls, step)], [tf.constant(2.0)]),
    ).as_estimator_spec()
    with v1.Session() as session:
      session.run([v1.global_variables_initializer(), v1.local_variables_initializer()])
      session.run(update)
      session.run(train.train_op)
      session.run(train.train_op)
      np.testing.assert_allclose(session.run(value), 2 / 3, rtol=1e-6)
      assert session.run(calls) == 4.0


def test_graph_face_fused_kernels_only_when_asked_and_training(tiny_config):
  """bert-run-tf1 turns on bert.fused_ops for training BertModels: the same
  outputs (dropout 0) and gradients to float32 rounding; inference keeps the plain ops."""
  from bert import modeling

  tiny_config.hidden_dropout_prob = tiny_config.attention_probs_dropout_prob = 0.0
  ids = np.random.RandomState(0).randint(0, tiny_config.vocab_size, (2, 8))

  def build(fused, is_training):
    modeling.use_fused_kernels_in_graph_face(fused)
    try:
      with tf.Graph().as_default() as graph:
        v1.set_random_seed(3)
        model = modeling.BertModel(tiny_config, is_training, tf.constant(ids))
        output = model.get_sequence_output()
        gamma = [v for v in v1.trainable_variables() if "layer_0/output/LayerNorm/gamma" in v.name]
        gradient = tf.gradients(tf.reduce_sum(output**2), gamma)[0]
        calls = [
          op
          for op in graph.get_operations()
          if op.type in ("PartitionedCall", "StatefulPartitionedCall")
        ]
        with v1.Session() as session:
          session.run(v1.global_variables_initializer())
          return session.run([output, gradient]) + [len(calls)]
    finally:
      modeling.use_fused_kernels_in_graph_face(False)

  plain_output, plain_gradient, plain_calls = build(False, True)
  fused_output, fused_gradient, fused_calls = build(True, True)
  assert plain_calls == 0 and fused_calls > 0
  np.testing.assert_allclose(fused_output, plain_output, atol=1e-5)
  np.testing.assert_allclose(fused_gradient, plain_gradient, atol=1e-5)
  assert build(True, False)[2] == 0
