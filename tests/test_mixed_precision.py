"""Mixed precision in the TF2 face: BertEncoder / BertClassifier with compute_dtype.

The float32 default must add no op at all; float16 and bfloat16 must keep float32 variables
(so checkpoints do not change), return float32 results close to the float32 ones, and give
float32 gradients.
"""

import numpy as np
import pytest
import tensorflow as tf

from bert import checkpoint, modeling
from bert.classifier_model import BertClassifier, create_model

NUM_LABELS = 3

# Largest differences from the float32 model allowed here. Measured on CPU with the tiny model of
# these tests (run with -s to see them): probabilities 5.3e-3 (bfloat16) and 4.8e-4 (float16)
# relative; encoder layers 0.028 and 0.0037, pooled output 1.2e-3 and 2.6e-4 absolute.
TOLERANCES = {
  "bfloat16": {"probabilities_rtol": 2e-2, "sequence_atol": 0.1, "pooled_atol": 1e-2},
  "float16": {"probabilities_rtol": 5e-3, "sequence_atol": 2e-2, "pooled_atol": 2e-3},
}
MIXED = sorted(TOLERANCES)


def _batch():
  """Three examples of 12 positions: padding in two, two segments in all, one label each."""
  rng = np.random.RandomState(7)
  ids = rng.randint(0, 99, (3, 12)).astype(np.int32)
  mask = np.ones_like(ids)
  mask[1, 8:] = 0
  mask[2, 4:] = 0
  segments = np.zeros_like(ids)
  segments[:, 6:] = 1
  return ids, mask, segments, np.array([0, 2, 1], np.int32)


def _classifier(config, prefix, compute_dtype=tf.float32):
  """A BertClassifier with the encoder from `prefix` and a head whose logits are not all ~0.

  The head's own initializer (stddev 0.02) would give nearly uniform probabilities, which
  any precision matches; a stddev of 1 spreads them (about 0.15 to 0.55).
  """
  model = BertClassifier(config, NUM_LABELS, compute_dtype=compute_dtype)
  checkpoint.load_variables(model.bert.variables_by_name, prefix)
  head = np.random.RandomState(3).normal(size=[NUM_LABELS, config.hidden_size])
  model.output_weights.assign(head.astype(np.float32))
  model.output_bias.assign([0.1, -0.2, 0.05])
  return model


def _trace_ops(encoder):
  """The operations of one traced call of `encoder` on int32 [None, None] inputs."""
  spec = tf.TensorSpec([None, None], tf.int32)
  traced = tf.function(lambda a, b, c: encoder(a, b, c)).get_concrete_function(spec, spec, spec)
  return traced.graph.get_operations()


def _float_dtypes_by_op_type(ops, op_types):
  """op type -> the set of dtype names its `T` attribute takes in `ops`."""
  found = {}
  for op in ops:
    if op.type in op_types:
      found.setdefault(op.type, set()).add(op.get_attr("T").name)
  return found


def test_float32_default_adds_no_op(tiny_config):
  encoder = modeling.BertEncoder(tiny_config)
  assert encoder.compute_dtype == tf.float32
  ops = _trace_ops(encoder)
  half_types = (tf.float16, tf.bfloat16)
  assert not [op.name for op in ops for t in op.outputs if t.dtype in half_types]
  # The only cast of the float32 model is the one it always had: the int32 input mask.
  casts = [(op.get_attr("SrcT"), op.get_attr("DstT")) for op in ops if op.type == "Cast"]
  assert casts == [(tf.int32, tf.float32)]

  explicit = modeling.BertEncoder(tiny_config, compute_dtype="float32")
  for name, variable in encoder.variables_by_name.items():
    explicit.variables_by_name[name].assign(variable)
  ids, mask, segments, _ = _batch()
  default_out, explicit_out = encoder(ids, mask, segments), explicit(ids, mask, segments)
  for key in ("embedding_output", "sequence_output", "pooled_output"):
    np.testing.assert_array_equal(default_out[key].numpy(), explicit_out[key].numpy())


def test_only_three_compute_dtypes(tiny_config):
  for wrong in (tf.float64, tf.int32, "int8"):
    with pytest.raises(ValueError, match="computes in float32, float16 or bfloat16"):
      modeling.BertEncoder(tiny_config, compute_dtype=wrong)


@pytest.mark.parametrize("dtype_name", MIXED)
def test_mixed_variables_are_the_float32_ones(tiny_config, dtype_name):
  reference = BertClassifier(tiny_config, NUM_LABELS)
  mixed = BertClassifier(tiny_config, NUM_LABELS, compute_dtype=tf.as_dtype(dtype_name))
  assert mixed.bert.compute_dtype.name == dtype_name

  def described(model):
    return [(n, v.shape.as_list(), v.dtype) for n, v in model.variables_by_name.items()]

  assert described(mixed) == described(reference)
  assert {v.dtype for v in mixed.trainable_variables} == {tf.float32}
  assert len(mixed.trainable_variables) == len(reference.trainable_variables)


@pytest.mark.parametrize("dtype_name", MIXED)
def test_mixed_ops_run_in_the_intended_dtype(tiny_config, dtype_name):
  encoder = modeling.BertEncoder(tiny_config, compute_dtype=dtype_name)
  found = _float_dtypes_by_op_type(
    _trace_ops(encoder), {"MatMul", "BatchMatMulV2", "BiasAdd", "Tanh", "Softmax", "Rsqrt"}
  )
  assert found == {
    "MatMul": {dtype_name},  # every dense layer
    "BatchMatMulV2": {dtype_name},  # query x key, weights x value
    "BiasAdd": {dtype_name},
    "Tanh": {dtype_name},  # GELU and the pooler
    "Softmax": {"float32"},  # attention weights
    "Rsqrt": {"float32"},  # LayerNorm
  }


@pytest.mark.parametrize("dtype_name", MIXED)
def test_mixed_forward_is_close_to_float32(google_checkpoint, tiny_config, dtype_name):
  prefix, _ = google_checkpoint
  limits = TOLERANCES[dtype_name]
  ids, mask, segments, labels = _batch()
  reference = _classifier(tiny_config, prefix)
  mixed = _classifier(tiny_config, prefix, tf.as_dtype(dtype_name))

  loss, per_example_loss, logits, probabilities = mixed(ids, mask, segments, labels)
  ref_loss, ref_per_example, ref_logits, ref_probabilities = reference(ids, mask, segments, labels)
  for result in (loss, per_example_loss, logits, probabilities):
    assert result.dtype == tf.float32
  probabilities_rtol = np.max(np.abs(probabilities - ref_probabilities) / ref_probabilities)
  np.testing.assert_allclose(probabilities, ref_probabilities, rtol=limits["probabilities_rtol"])
  np.testing.assert_allclose(per_example_loss, ref_per_example, rtol=limits["probabilities_rtol"])
  np.testing.assert_allclose(loss, ref_loss, rtol=limits["probabilities_rtol"])

  encoded = mixed.bert(ids, mask, segments)
  ref_encoded = reference.bert(ids, mask, segments)
  layers = encoded["all_encoder_layers"]
  assert encoded["sequence_output"] is layers[-1]
  for tensor in [encoded["embedding_output"], encoded["pooled_output"]] + layers:
    assert tensor.dtype == tf.float32
  assert (
    encoded["embedding_table"] is mixed.bert.variables_by_name["bert/embeddings/word_embeddings"]
  )
  sequence_atol = max(
    np.abs(mine - ref).max() for mine, ref in zip(layers, ref_encoded["all_encoder_layers"])
  )
  pooled_atol = np.abs(encoded["pooled_output"] - ref_encoded["pooled_output"]).max()
  print(
    "%s vs float32: probabilities %.2g relative, layers %.2g, pooled %.2g absolute"
    % (dtype_name, probabilities_rtol, sequence_atol, pooled_atol)
  )
  assert sequence_atol < limits["sequence_atol"]
  assert pooled_atol < limits["pooled_atol"]


@pytest.mark.parametrize("dtype_name", MIXED)
def test_mixed_gradients_are_float32_finite_and_close(google_checkpoint, tiny_config, dtype_name):
  prefix, _ = google_checkpoint
  ids, mask, segments, labels = _batch()

  def gradients(model, training):
    variables = list(model.variables_by_name.values())
    with tf.GradientTape() as tape:
      loss = model(ids, mask, segments, labels, training=training)[0]
    return [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]

  mixed = _classifier(tiny_config, prefix, tf.as_dtype(dtype_name))
  for training in (False, True):
    grads = gradients(mixed, training)
    assert {g.dtype for g in grads} == {tf.float32}
    assert all(np.isfinite(g.numpy()).all() for g in grads)
  # Without dropout, the mixed gradient points where the float32 one does.
  mixed_flat = np.concatenate([g.numpy().ravel() for g in gradients(mixed, False)])
  reference = _classifier(tiny_config, prefix)
  ref_flat = np.concatenate([g.numpy().ravel() for g in gradients(reference, False)])
  cosine = mixed_flat @ ref_flat / (np.linalg.norm(mixed_flat) * np.linalg.norm(ref_flat))
  print("%s gradient cosine with float32: %.6f" % (dtype_name, cosine))
  assert cosine > 0.999


def test_mixed_checkpoint_loads_into_the_graph_face(google_checkpoint, tiny_config, tmp_path):
  prefix, _ = google_checkpoint
  ids, mask, segments, labels = _batch()
  mixed = _classifier(tiny_config, prefix, tf.bfloat16)
  mixed_probabilities = mixed(ids, mask, segments, labels)[3].numpy()
  saved = checkpoint.save_variables(mixed.variables_by_name, str(tmp_path / "model.ckpt-1"))
  dtypes = tf.train.load_checkpoint(saved).get_variable_to_dtype_map()
  assert dtypes == {name: tf.float32 for name in mixed.variables_by_name}

  with tf.Graph().as_default():
    placeholders = [tf.compat.v1.placeholder(tf.int32, [None, None]) for _ in range(3)]
    label_ids = tf.compat.v1.placeholder(tf.int32, [None])
    outputs = create_model(tiny_config, False, *placeholders, label_ids, NUM_LABELS, False)
    tvars = tf.compat.v1.trainable_variables()
    assignment_map, _ = modeling.get_assignment_map_from_checkpoint(tvars, saved)
    assert len(assignment_map) == len(tvars)
    tf.compat.v1.train.init_from_checkpoint(saved, assignment_map)
    feed = dict(zip(placeholders + [label_ids], (ids, mask, segments, labels)))
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      graph_probabilities = session.run(outputs[3], feed)

  np.testing.assert_allclose(
    graph_probabilities, mixed_probabilities, rtol=TOLERANCES["bfloat16"]["probabilities_rtol"]
  )
  # And the float32 TF2 face, loading the same files, agrees with the graph face.
  reloaded = BertClassifier(tiny_config, NUM_LABELS)
  checkpoint.load_variables(reloaded.variables_by_name, saved)
  reloaded_probabilities = reloaded(ids, mask, segments, labels)[3].numpy()
  np.testing.assert_allclose(reloaded_probabilities, graph_probabilities, atol=1e-6)


def test_mixed_under_mirrored_strategy(tiny_config):
  strategy = tf.distribute.MirroredStrategy(["CPU:0"])
  with strategy.scope():
    model = BertClassifier(
      tiny_config,
      NUM_LABELS,
      aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
      compute_dtype=tf.bfloat16,
    )
  ids, mask, segments, labels = _batch()
  plain = model(ids, mask, segments, labels)[3].numpy()

  @tf.function
  def replicated(*batch):
    return strategy.run(lambda *b: model(*b)[3], batch)

  per_replica = replicated(ids, mask, segments, labels)
  # Not bit-equal: inside tf.function, grappler fuses bfloat16 ops and rounds elsewhere
  # (measured: 3e-5 relative).
  np.testing.assert_allclose(strategy.experimental_local_results(per_replica)[0], plain, rtol=1e-3)


def test_unnamed_layer_refused_twice_in_a_mixed_pass():
  store = modeling._VariableStore()
  store.creating = True
  x = tf.ones([2, 4], tf.float16)
  with modeling._use_store(store, tf.float16):
    with modeling._variable_scope("head"):
      assert modeling.dense_layer(x, 3).dtype == tf.float16
      assert modeling.layer_norm(x).dtype == tf.float16
      with pytest.raises(ValueError, match="'head/dense' is opened a second time"):
        modeling.dense_layer(x, 3)
  assert {v.dtype for v in store.variables.values()} == {tf.float32}
