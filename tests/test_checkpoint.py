"""bert/checkpoint.py: Google-layout reads, strict name checks, writes, keep-5."""

import os

import numpy as np
import pytest
import tensorflow as tf

from bert import checkpoint, modeling


def test_load_google_checkpoint_logs_and_ignores_extras(google_checkpoint, tiny_config, caplog):
  prefix, values = google_checkpoint
  assert "cls/predictions/output_bias" in dict(checkpoint.list_variables(prefix))
  encoder = modeling.BertEncoder(tiny_config)
  loaded = checkpoint.load_variables(encoder.variables_by_name, prefix)
  assert loaded == set(encoder.variables_by_name)
  np.testing.assert_array_equal(
    encoder.variables_by_name["bert/embeddings/word_embeddings"].numpy(),
    values["bert/embeddings/word_embeddings"],
  )
  lines = []
  checkpoint.log_variables(
    encoder.trainable_variables, loaded, log=lambda fmt, *a: lines.append(fmt % a)
  )
  assert "  name = bert/embeddings/word_embeddings:0, shape = (99, 32), *INIT_FROM_CKPT*" in lines


def test_missing_and_mismatched_variables_are_errors(google_checkpoint, tiny_config_dict):
  prefix, _ = google_checkpoint
  bigger = modeling.BertConfig.from_dict(dict(tiny_config_dict, num_hidden_layers=3))
  encoder = modeling.BertEncoder(bigger)
  with pytest.raises(
    checkpoint.CheckpointMismatchError,
    match="lacks 16 of the model's variables: bert/encoder/layer_2",
  ):
    checkpoint.load_variables(encoder.variables_by_name, prefix)
  loaded = checkpoint.load_variables(encoder.variables_by_name, prefix, allow_partial=True)
  assert len(loaded) == len(encoder.variables_by_name) - 16

  wider_vocab = modeling.BertConfig.from_dict(dict(tiny_config_dict, vocab_size=100))
  with pytest.raises(
    checkpoint.CheckpointMismatchError,
    match=r"word_embeddings \(checkpoint \[99, 32\], model \[100, 32\]\)",
  ):
    checkpoint.load_variables(modeling.BertEncoder(wider_vocab).variables_by_name, prefix)


def test_bad_paths(tmp_path, google_checkpoint):
  prefix, _ = google_checkpoint
  with pytest.raises(checkpoint.CheckpointError, match="drop the file extension"):
    checkpoint.resolve_checkpoint(prefix + ".index")
  with pytest.raises(checkpoint.CheckpointError, match="does not exist"):
    checkpoint.resolve_checkpoint(str(tmp_path / "nothing"))
  with pytest.raises(checkpoint.CheckpointError, match="No checkpoint in directory"):
    checkpoint.resolve_checkpoint(os.path.dirname(prefix))


def test_round_trip_keep_five_and_graph_mode_reads(tmp_path, tiny_config):
  encoder = modeling.BertEncoder(tiny_config)
  step = tf.Variable(0, dtype=tf.int64, name="global_step")
  manager = checkpoint.CheckpointManager(str(tmp_path), max_to_keep=5)
  to_save = dict(encoder.variables_by_name, global_step=step)
  for n in [0, 10, 20, 30, 40, 50, 60]:
    step.assign(n)
    manager.save(to_save, n)
  assert manager.latest_checkpoint == str(tmp_path / "model.ckpt-60")
  state = (tmp_path / "checkpoint").read_text()
  assert state.splitlines()[0] == 'model_checkpoint_path: "model.ckpt-60"'
  assert state.count("all_model_checkpoint_paths") == 5
  assert not list(tmp_path.glob("model.ckpt-10.*"))
  assert sorted(p.name for p in tmp_path.glob("model.ckpt-60.*")) == [
    "model.ckpt-60.data-00000-of-00001",
    "model.ckpt-60.index",
  ]
  assert not list(tmp_path.glob(".tmp*"))
  assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-60")
  reader = tf.train.load_checkpoint(str(tmp_path))
  assert reader.get_tensor("global_step") == 60
  assert checkpoint.resolve_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-60")

  fresh = modeling.BertEncoder(tiny_config)
  checkpoint.load_variables(fresh.variables_by_name, str(tmp_path))
  for name, var in encoder.variables_by_name.items():
    np.testing.assert_array_equal(var.numpy(), fresh.variables_by_name[name].numpy())

  expected = encoder.variables_by_name["bert/pooler/dense/kernel"].numpy()
  with tf.Graph().as_default():
    ids = tf.compat.v1.placeholder(tf.int32, [None, None])
    modeling.BertModel(tiny_config, False, ids)
    tvars = tf.compat.v1.trainable_variables()
    amap, _ = modeling.get_assignment_map_from_checkpoint(tvars, manager.latest_checkpoint)
    tf.compat.v1.train.init_from_checkpoint(manager.latest_checkpoint, amap)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      got = sess.run([v for v in tvars if v.name == "bert/pooler/dense/kernel:0"][0])
  np.testing.assert_array_equal(got, expected)


def test_save_mirrored_variables(tmp_path, tiny_config):
  strategy = tf.distribute.MirroredStrategy(["CPU:0"])
  with strategy.scope():
    encoder = modeling.BertEncoder(tiny_config)
  prefix = checkpoint.save_variables(encoder.variables_by_name, str(tmp_path / "m.ckpt"))
  names = dict(tf.train.list_variables(prefix))
  assert names["bert/embeddings/word_embeddings"] == [99, 32]
