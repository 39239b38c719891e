# coding=utf-8
"""A fork that ships its own model package (model/modeling.py) and its own
optimization.py, and takes tokenization.py from wherever it is installed.

First it predicts the pooled vectors of the dev texts straight from the
pre-trained checkpoint (nothing trained yet: the Estimator initializes, and
the model_fn maps the checkpoint in), saving them to pooled.npy; then it
trains a few steps of a classifier on top.
"""

import os

import numpy as np
import optimization
import tensorflow as tf
import tokenization
from model import modeling

flags = tf.flags
FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "")
flags.DEFINE_string("bert_config_file", None, "")
flags.DEFINE_string("vocab_file", None, "")
flags.DEFINE_string("init_checkpoint", None, "")
flags.DEFINE_string("output_dir", None, "")
flags.DEFINE_string("pooling", "first", "first or mean")
flags.DEFINE_integer("max_seq_length", 16, "")


def features_of(texts, tokenizer):
  ids = np.zeros([len(texts), FLAGS.max_seq_length], np.int32)
  mask = np.zeros_like(ids)
  for i, text in enumerate(texts):
    tokens = ["[CLS]"] + tokenizer.tokenize(text)[: FLAGS.max_seq_length - 2] + ["[SEP]"]
    ids[i, : len(tokens)] = tokenizer.convert_tokens_to_ids(tokens)
    mask[i, : len(tokens)] = 1
  return {"input_ids": ids, "input_mask": mask, "segment_ids": np.zeros_like(ids)}


def model_fn(features, labels, mode, params):
  config = modeling.Config.from_json_file(FLAGS.bert_config_file)
  encoder = modeling.Encoder(
    config,
    features["input_ids"],
    features["input_mask"],
    features["segment_ids"],
    pooling=FLAGS.pooling,
  )
  tvars = tf.trainable_variables()
  names = {v.name.split(":")[0] for v in tvars}
  in_checkpoint = {n for n, _ in tf.train.list_variables(FLAGS.init_checkpoint)}
  tf.train.init_from_checkpoint(FLAGS.init_checkpoint, {n: n for n in names & in_checkpoint})
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions={"pooled": encoder.pooled_output})
  logits = tf.layers.dense(encoder.pooled_output, 7, name="classes")
  loss = tf.losses.sparse_softmax_cross_entropy(labels, logits)
  train_op = optimization.create_optimizer(loss, 1e-3, params["steps"])
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  tf.logging.info(
    "optimization from %s, own: %s", optimization.__file__, optimization.OWN_OPTIMIZATION
  )
  tf.logging.info("tokenization from %s", tokenization.__file__)
  tf.gfile.MakeDirs(FLAGS.output_dir)
  tokenizer = tokenization.FullTokenizer(FLAGS.vocab_file, do_lower_case=True)
  rows = []
  with tf.gfile.GFile(os.path.join(FLAGS.data_dir, "fine_tuning_val_data.tsv")) as f:
    rows = [line.rstrip("\n").split("\t") for line in f][1:]
  features = features_of([row[1] for row in rows], tokenizer)
  labels = np.array([int(row[0]) for row in rows], np.int32)
  estimator = tf.estimator.Estimator(model_fn, FLAGS.output_dir, params={"steps": 3})

  def predict_input_fn():
    return tf.data.Dataset.from_tensor_slices(features).batch(8)

  pooled = np.stack([p["pooled"] for p in estimator.predict(predict_input_fn)])
  np.save(os.path.join(FLAGS.output_dir, "pooled.npy"), pooled)
  np.save(
    os.path.join(FLAGS.output_dir, "features.npy"),
    np.stack([features["input_ids"], features["input_mask"]]),
  )

  def train_input_fn():
    return tf.data.Dataset.from_tensor_slices((features, labels)).repeat().batch(8)

  estimator.train(train_input_fn, steps=3)
  tf.logging.info("trained to step %d", estimator.get_variable_value("global_step"))


if __name__ == "__main__":
  tf.app.run()
