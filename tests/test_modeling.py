"""bert/modeling.py: names, shapes, config semantics, and graph face == TF2 face."""

import json

import numpy as np
import pytest
import tensorflow as tf

from bert import checkpoint, modeling

# Google's variable names and shapes, in the order BertModel creates them ({n}: layer index).
EMBEDDING_NAMES = [
  ("bert/embeddings/word_embeddings", "V,H"),
  ("bert/embeddings/token_type_embeddings", "T,H"),
  ("bert/embeddings/position_embeddings", "P,H"),
  ("bert/embeddings/LayerNorm/beta", "H"),
  ("bert/embeddings/LayerNorm/gamma", "H"),
]
LAYER_NAMES = [
  ("attention/self/query/kernel", "H,H"),
  ("attention/self/query/bias", "H"),
  ("attention/self/key/kernel", "H,H"),
  ("attention/self/key/bias", "H"),
  ("attention/self/value/kernel", "H,H"),
  ("attention/self/value/bias", "H"),
  ("attention/output/dense/kernel", "H,H"),
  ("attention/output/dense/bias", "H"),
  ("attention/output/LayerNorm/beta", "H"),
  ("attention/output/LayerNorm/gamma", "H"),
  ("intermediate/dense/kernel", "H,I"),
  ("intermediate/dense/bias", "I"),
  ("output/dense/kernel", "I,H"),
  ("output/dense/bias", "H"),
  ("output/LayerNorm/beta", "H"),
  ("output/LayerNorm/gamma", "H"),
]
POOLER_NAMES = [("bert/pooler/dense/kernel", "H,H"), ("bert/pooler/dense/bias", "H")]


def expected_variables(cfg):
  dims = {
    "V": cfg.vocab_size,
    "H": cfg.hidden_size,
    "T": cfg.type_vocab_size,
    "P": cfg.max_position_embeddings,
    "I": cfg.intermediate_size,
  }
  shape = lambda s: [dims[d] for d in s.split(",")]
  out = [(n, shape(s)) for n, s in EMBEDDING_NAMES]
  for n in range(cfg.num_hidden_layers):
    out += [("bert/encoder/layer_%d/%s" % (n, name), shape(s)) for name, s in LAYER_NAMES]
  out += [(n, shape(s)) for n, s in POOLER_NAMES]
  return out


def test_tf2_face_variable_names_and_shapes(tiny_config):
  encoder = modeling.BertEncoder(tiny_config)
  got = [(n, v.shape.as_list()) for n, v in encoder.variables_by_name.items()]
  assert got == expected_variables(tiny_config)
  assert len(got) == 5 + 16 * tiny_config.num_hidden_layers + 2
  assert all(v.name == n + ":0" for n, v in encoder.variables_by_name.items())
  assert len(encoder.trainable_variables) == len(got)


def test_graph_face_variable_names_and_shapes(tiny_config):
  with tf.Graph().as_default():
    ids = tf.compat.v1.placeholder(tf.int32, [None, None])
    model = modeling.BertModel(tiny_config, True, ids)
    got = [(v.name, v.shape.as_list()) for v in tf.compat.v1.trainable_variables()]
    assert model.get_embedding_table().shape.as_list() == [99, 32]
    assert len(model.get_all_encoder_layers()) == 2
  assert got == [(n + ":0", s) for n, s in expected_variables(tiny_config)]


def test_second_graph_model_gets_bert_1_scope(tiny_config):
  with tf.Graph().as_default():
    ids = tf.compat.v1.placeholder(tf.int32, [None, None])
    modeling.BertModel(tiny_config, False, ids)
    modeling.BertModel(tiny_config, False, ids)
    names = [v.name for v in tf.compat.v1.trainable_variables()]
  assert "bert_1/pooler/dense/bias:0" in names


def _inputs(seed=1):
  rng = np.random.RandomState(seed)
  ids = rng.randint(0, 99, (3, 12)).astype(np.int32)
  mask = np.ones((3, 12), np.int32)
  mask[1, 7:] = 0
  mask[2, 3:] = 0
  types = np.zeros((3, 12), np.int32)
  types[:, 6:] = 1
  return ids, mask, types


def test_graph_face_equals_tf2_face_on_google_checkpoint(google_checkpoint, tiny_config):
  prefix, values = google_checkpoint
  ids, mask, types = _inputs()

  with tf.Graph().as_default():
    i = tf.compat.v1.placeholder(tf.int32, [None, None])
    m = tf.compat.v1.placeholder(tf.int32, [None, None])
    t = tf.compat.v1.placeholder(tf.int32, [None, None])
    model = modeling.BertModel(tiny_config, False, i, m, t)
    tvars = tf.compat.v1.trainable_variables()
    assignment_map, initialized = modeling.get_assignment_map_from_checkpoint(tvars, prefix)
    assert len(assignment_map) == len(tvars)
    assert "bert/pooler/dense/bias:0" in initialized
    tf.compat.v1.train.init_from_checkpoint(prefix, assignment_map)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      graph_out = sess.run(
        {
          "pooled": model.get_pooled_output(),
          "seq": model.get_sequence_output(),
          "emb": model.get_embedding_output(),
          "layers": model.get_all_encoder_layers(),
        },
        {i: ids, m: mask, t: types},
      )

  encoder = modeling.BertEncoder(tiny_config)
  loaded = checkpoint.load_variables(encoder.variables_by_name, prefix)
  assert loaded == set(encoder.variables_by_name)
  eager = encoder(ids, mask, types)
  fn = tf.function(lambda a, b, c: encoder(a, b, c)["pooled_output"])
  diffs = [
    np.abs(graph_out["pooled"] - eager["pooled_output"].numpy()).max(),
    np.abs(graph_out["seq"] - eager["sequence_output"].numpy()).max(),
    np.abs(graph_out["emb"] - eager["embedding_output"].numpy()).max(),
    np.abs(graph_out["pooled"] - fn(ids, mask, types).numpy()).max(),
  ] + [
    np.abs(g - e.numpy()).max() for g, e in zip(graph_out["layers"], eager["all_encoder_layers"])
  ]
  print("largest graph-vs-TF2 difference: %.3g" % max(diffs))
  assert max(diffs) < 1e-5


def test_tf2_face_under_mirrored_strategy(tiny_config):
  strategy = tf.distribute.MirroredStrategy(["CPU:0"])
  with strategy.scope():
    encoder = modeling.BertEncoder(tiny_config)
  ids, mask, types = _inputs()
  plain = encoder(ids, mask, types)["pooled_output"].numpy()

  @tf.function
  def step(a, b, c):
    return strategy.run(lambda x, y, z: encoder(x, y, z)["pooled_output"], (a, b, c))

  out = strategy.experimental_local_results(step(ids, mask, types))[0].numpy()
  np.testing.assert_allclose(out, plain, atol=1e-6)
  assert encoder.variables_by_name["bert/pooler/dense/bias"].name == "bert/pooler/dense/bias:0"


def test_mask_and_dropout_behaviour(tiny_config):
  encoder = modeling.BertEncoder(tiny_config)
  ids, mask, types = _inputs()
  # Changing padded ids does not change the real positions' outputs.
  ids2 = ids.copy()
  ids2[2, 3:] = 5
  a = encoder(ids, mask, types)["sequence_output"].numpy()
  b = encoder(ids2, mask, types)["sequence_output"].numpy()
  np.testing.assert_allclose(a[2, :3], b[2, :3], atol=1e-5)
  # No dropout without training; dropout with it.
  c = encoder(ids, mask, types)["sequence_output"].numpy()
  np.testing.assert_array_equal(a, c)
  d = encoder(ids, mask, types, training=True)["sequence_output"].numpy()
  assert np.abs(a - d).max() > 1e-3


def test_config_semantics(tmp_path, tiny_config_dict):
  d = dict(tiny_config_dict, some_unknown_key="kept")
  path = tmp_path / "bert_config.json"
  path.write_text(json.dumps(d))
  cfg = modeling.BertConfig.from_json_file(str(path))
  assert cfg.some_unknown_key == "kept"
  assert cfg.to_dict() == d
  assert cfg.to_json_string() == json.dumps(d, indent=2, sort_keys=True) + "\n"
  defaults = modeling.BertConfig(vocab_size=10)
  assert (
    defaults.hidden_size,
    defaults.type_vocab_size,
    defaults.hidden_act,
    defaults.max_position_embeddings,
  ) == (768, 16, "gelu", 512)
  partial = modeling.BertConfig.from_dict({"vocab_size": 5})
  assert partial.num_hidden_layers == 12 and partial.vocab_size == 5


def test_activations():
  x = tf.constant(np.linspace(-5, 5, 101), tf.float32)
  tanh_form = modeling.gelu(x).numpy()
  exact = modeling.gelu_exact(x).numpy()
  xs = x.numpy()
  ref = xs * 0.5 * (1 + np.tanh(np.sqrt(2 / np.pi) * (xs + 0.044715 * xs**3)))
  np.testing.assert_allclose(tanh_form, ref, atol=1e-6)
  assert 1e-4 < np.abs(tanh_form - exact).max() < 1e-3
  assert modeling.get_activation("gelu") is modeling.gelu
  assert modeling.get_activation("GELU_EXACT") is modeling.gelu_exact
  assert modeling.get_activation("relu") is tf.nn.relu
  assert modeling.get_activation("tanh") is tf.tanh
  assert modeling.get_activation("linear") is None
  assert modeling.get_activation("") is None
  assert modeling.get_activation(None) is None
  assert modeling.get_activation(tf.sigmoid) is tf.sigmoid
  with pytest.raises(ValueError, match="Unsupported activation: swish"):
    modeling.get_activation("swish")


def test_helpers():
  with pytest.raises(ValueError, match="not a multiple of the number of attention heads"):
    modeling.transformer_model(tf.zeros([1, 2, 30]), hidden_size=30, num_attention_heads=4)
  with pytest.raises(ValueError, match="actual rank `3`"):
    modeling.assert_rank(tf.zeros([1, 2, 3]), 2)
  mask = modeling.create_attention_mask_from_input_mask(
    tf.zeros([2, 3], tf.int32), tf.constant([[1, 1, 0], [1, 0, 0]])
  )
  assert mask.shape == (2, 3, 3)
  np.testing.assert_array_equal(mask.numpy()[1], [[1, 0, 0]] * 3)
  x = tf.zeros([2, 3, 4])
  assert modeling.reshape_to_matrix(x).shape == (6, 4)
  assert modeling.reshape_from_matrix(tf.zeros([6, 5]), [2, 3, 4]).shape == (2, 3, 5)
  assert modeling.get_shape_list(x) == [2, 3, 4]
  assert modeling.dropout(x, 0.0) is x


def test_layer_norm_epsilon_and_math():
  store = modeling._VariableStore()
  store.creating = True
  x = tf.constant([[1.0, 2.0, 3.0, 4.0]])
  with modeling._use_store(store):
    y = modeling.layer_norm(x).numpy()
  assert list(store.variables) == ["LayerNorm/beta", "LayerNorm/gamma"]
  xs = x.numpy()
  ref = (xs - xs.mean()) / np.sqrt(xs.var() + 1e-12)
  np.testing.assert_allclose(y, ref, rtol=1e-6)
  assert modeling.LAYER_NORM_EPSILON == 1e-12


def test_unnamed_layers_in_one_scope_graph_face_renames():
  with tf.Graph().as_default():
    x = tf.ones([2, 4])
    with tf.compat.v1.variable_scope("head"):
      modeling.dense_layer(x, 3)
      modeling.dense_layer(x, 3)
      modeling.layer_norm(x)
      modeling.layer_norm(x)
    names = [v.name for v in tf.compat.v1.global_variables()]
  assert names == [
    "head/dense/kernel:0",
    "head/dense/bias:0",
    "head/dense_1/kernel:0",
    "head/dense_1/bias:0",
    "head/LayerNorm/beta:0",
    "head/LayerNorm/gamma:0",
    "head/LayerNorm_1/beta:0",
    "head/LayerNorm_1/gamma:0",
  ]


@pytest.mark.parametrize(
  "layer, scope",
  [
    (lambda x: modeling.dense_layer(x, 3), "head/dense"),
    (lambda x: modeling.layer_norm(x), "head/LayerNorm"),
  ],
)
def test_unnamed_layers_in_one_scope_tf2_face_refuses_to_share(layer, scope):
  # The graph face would make a second variable set (`dense_1`); the TF2 face must not
  # silently hand back the first one's variables.
  store = modeling._VariableStore()
  store.creating = True
  x = tf.ones([2, 4])
  with modeling._use_store(store):
    with modeling._variable_scope("head"):
      layer(x)
      with pytest.raises(
        ValueError, match="'%s' is opened a second time.*distinct `name=`" % scope
      ):
        layer(x)
  assert len(store.variables) == 2


def test_tf2_face_distinct_names_and_explicit_reentry_are_fine():
  store = modeling._VariableStore()
  store.creating = True
  x = tf.ones([2, 4])
  with modeling._use_store(store):
    with modeling._variable_scope("head"):
      modeling.dense_layer(x, 3, name="first")
      modeling.dense_layer(x, 3, name="second")
      modeling.dense_layer(x, 3)  # the default name, used once
  assert list(store.variables) == [
    "head/first/kernel",
    "head/first/bias",
    "head/second/kernel",
    "head/second/bias",
    "head/dense/kernel",
    "head/dense/bias",
  ]
  # Every pass re-opens the same scopes (unnamed ones included): that reuses, not duplicates.
  store.creating = False
  for _ in range(2):
    with modeling._use_store(store):
      with modeling._variable_scope("head"):
        y = modeling.dense_layer(x, 3)
  np.testing.assert_array_equal(y.numpy(), (x @ store.variables["head/dense/kernel"]).numpy())
  # Re-entering a scope by its explicit name within one pass shares, as in the graph face.
  with modeling._use_store(store):
    with modeling._variable_scope("head"):
      a = modeling.dense_layer(x, 3, name="first")
    with modeling._variable_scope("head"):
      b = modeling.dense_layer(x, 3, name="first")
  np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_tf2_face_scope_none_gets_default_bert(tiny_config):
  encoder = modeling.BertEncoder(tiny_config, scope=None)
  names = list(encoder.variables_by_name)
  assert names == [n for n, _ in expected_variables(tiny_config)]
  ids, mask, types = _inputs()
  first = encoder(ids, mask, types)["pooled_output"].numpy()
  np.testing.assert_array_equal(first, encoder(ids, mask, types)["pooled_output"].numpy())


def test_graph_face_helpers_shapes_and_errors():
  with tf.Graph().as_default():
    x = tf.compat.v1.placeholder(tf.float32, [None, None, 8])
    with tf.compat.v1.variable_scope("three_d"):
      out = modeling.attention_layer(x, x, num_attention_heads=2, size_per_head=3)
    assert out.shape.as_list() == [None, None, 6]
    flat = modeling.reshape_to_matrix(x)
    with tf.compat.v1.variable_scope("two_d"):
      out2d = modeling.attention_layer(
        flat,
        flat,
        num_attention_heads=2,
        size_per_head=3,
        do_return_2d_tensor=True,
        batch_size=tf.shape(x)[0],
        from_seq_length=tf.shape(x)[1],
        to_seq_length=tf.shape(x)[1],
        initializer_range=0.1,
      )
    assert out2d.shape.as_list() == [None, 6]
    with pytest.raises(ValueError, match="rank 2 .* rank 3"):
      modeling.attention_layer(flat, x)
    with pytest.raises(ValueError, match="batch_size"):
      modeling.attention_layer(flat, flat)
    with pytest.raises(ValueError, match="The width of the input tensor \\(8\\) != hidden size"):
      modeling.transformer_model(x, hidden_size=16, num_attention_heads=2)
    with pytest.raises(ValueError, match="token_type_ids"):
      modeling.embedding_postprocessor(x, use_token_type=True)
    with pytest.raises(ValueError, match="longer than max_position_embeddings 4"):
      modeling.embedding_postprocessor(tf.zeros([1, 5, 8]), max_position_embeddings=4)
    with pytest.raises(ValueError, match="rank 2 or more"):
      modeling.reshape_to_matrix(tf.zeros([3]))
