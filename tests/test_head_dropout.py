"""The head's dropout comes from bert_config.json's `classifier_dropout` (absent: Google's 0.1)."""

import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY_CONFIG

from bert import classifier_model as model_lib
from bert import model_config, modeling
from export import hf_export
from processors.base import DataError

NO_ENCODER_DROPOUT = dict(TINY_CONFIG, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


@pytest.mark.parametrize(
  "settings, rate",
  [
    ({}, 0.1),  # Google's hard-coded head
    ({"classifier_dropout": 0.0}, 0.0),
    ({"classifier_dropout": 0.3}, 0.3),
    ({"classifier_dropout": None, "hidden_dropout_prob": 0.2}, 0.2),  # HF's rule for null
  ],
)
def test_the_rate_is_read_from_the_config(settings, rate):
  config = dict(TINY_CONFIG, **settings)
  assert model_lib.head_dropout(config) == rate
  assert model_lib.head_dropout(modeling.BertConfig.from_dict(config)) == rate
  assert model_lib.BertClassifier(modeling.BertConfig.from_dict(config), 3).dropout_rate == rate


def _two_training_losses(config):
  model = model_lib.BertClassifier(modeling.BertConfig.from_dict(config), 3)
  ids = np.random.RandomState(0).randint(1, 99, size=(16, 8)).astype(np.int32)
  inputs = (ids, np.ones_like(ids), np.zeros_like(ids), np.zeros(16, np.int32))
  return [float(model(*inputs, training=True)[0]) for _ in range(2)]


def test_zero_turns_the_heads_dropout_off():
  first, second = _two_training_losses(dict(NO_ENCODER_DROPOUT, classifier_dropout=0.0))
  assert first == second
  first, second = _two_training_losses(NO_ENCODER_DROPOUT)  # Google's 0.1
  assert first != second


def test_the_graph_face_reads_it_too():
  config = modeling.BertConfig.from_dict(dict(NO_ENCODER_DROPOUT, classifier_dropout=0.0))
  ids = np.random.RandomState(0).randint(1, 99, size=(16, 8)).astype(np.int32)
  with tf.Graph().as_default():
    inputs = [tf.constant(x) for x in (ids, np.ones_like(ids), np.zeros_like(ids))]
    labels = tf.zeros([16], tf.int32)
    loss, _, _, _ = model_lib.create_model(config, True, *inputs, labels, 3, False)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      assert sess.run(loss) == sess.run(loss)


@pytest.mark.parametrize("value", [1.0, -0.1, "0.1", True])
def test_a_bad_rate_is_refused_before_tensorflow(tmp_path, value):
  path = tmp_path / "bert_config.json"
  path.write_text(json.dumps(dict(TINY_CONFIG, classifier_dropout=value)))
  with pytest.raises(DataError, match="classifier_dropout"):
    model_config.read_bert_config(str(path))


def test_the_hf_export_writes_the_rate_trained_with():
  assert hf_export.hf_config(dict(TINY_CONFIG), ["a", "b"])["classifier_dropout"] == 0.1
  config = dict(TINY_CONFIG, classifier_dropout=0.0)
  assert hf_export.hf_config(config, ["a", "b"])["classifier_dropout"] == 0.0
