# coding=utf-8
"""Multi-label classification with a sigmoid head on tf.estimator.Estimator.

Each text has its emotion keyword's label and, when it has more than six
words, the label "long": several labels per example, one sigmoid each. The
encoder is warm-started from a Google checkpoint (WarmStartSettings), the
loss is logged by a LoggingTensorHook, and predictions are written as the
labels at or above 0.5.
"""

import json
import os

import numpy as np
import optimization
import tensorflow as tf

import modeling
import script_utils

flags = tf.flags
FLAGS = flags.FLAGS
script_utils.define_model_flags(16)
flags.DEFINE_integer("num_train_steps", 6, "")

LABELS = [str(i) for i in range(7)] + ["long"]


def load(name, tokenizer):
  rows = script_utils.read_tsv(os.path.join(FLAGS.data_dir, "fine_tuning_%s_data.tsv" % name))
  ids, masks, segments, targets = [], [], [], []
  for row in rows:
    text = row[-1]
    a, b, c = script_utils.encode_pair(tokenizer, text, None, FLAGS.max_seq_length)
    ids.append(a)
    masks.append(b)
    segments.append(c)
    target = [0.0] * len(LABELS)
    if len(row) > 1:
      target[int(row[0])] = 1.0
    target[-1] = 1.0 if len(text.split()) > 6 else 0.0
    targets.append(target)
  features = {
    "input_ids": np.array(ids, np.int32),
    "input_mask": np.array(masks, np.int32),
    "segment_ids": np.array(segments, np.int32),
  }
  return features, np.array(targets, np.float32)


def make_input_fn(features, targets, training):
  def input_fn(params):
    dataset = tf.data.Dataset.from_tensor_slices((features, targets))
    if training:
      dataset = dataset.repeat().shuffle(64, seed=1)
    return dataset.batch(params["batch_size"])

  return input_fn


def model_fn(features, labels, mode, params, config):
  bert_config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
  training = mode == tf.estimator.ModeKeys.TRAIN
  model = modeling.BertModel(
    bert_config, training, features["input_ids"], features["input_mask"], features["segment_ids"]
  )
  pooled = model.get_pooled_output()
  if training:
    pooled = tf.nn.dropout(pooled, rate=0.1)
  logits = tf.layers.dense(pooled, len(LABELS), name="multi_label_head")
  probabilities = tf.sigmoid(logits)
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions={"probabilities": probabilities})
  loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
  if mode == tf.estimator.ModeKeys.EVAL:
    predicted = tf.cast(probabilities >= 0.5, tf.float32)
    metrics = {
      "auc": tf.metrics.auc(labels, probabilities),
      "label_accuracy": tf.metrics.accuracy(labels, predicted),
      "precision": tf.metrics.precision(labels, predicted),
    }
    return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)
  train_op = optimization.create_optimizer(loss, 1e-3, params["num_train_steps"], 1, False)
  logging_hook = tf.train.LoggingTensorHook({"sigmoid_loss": loss}, every_n_iter=2)
  return tf.estimator.EstimatorSpec(
    mode, loss=loss, train_op=train_op, training_hooks=[logging_hook]
  )


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  tokenizer = script_utils.tokenizer_from(FLAGS.vocab_file)
  train = load("train", tokenizer)
  dev = load("val", tokenizer)
  config = tf.estimator.RunConfig(
    model_dir=FLAGS.output_dir, tf_random_seed=7, save_checkpoints_steps=3, keep_checkpoint_max=2
  )
  warm = tf.estimator.WarmStartSettings(FLAGS.init_checkpoint, vars_to_warm_start="bert/.*")
  estimator = tf.estimator.Estimator(
    model_fn,
    config=config,
    params={"batch_size": 8, "num_train_steps": FLAGS.num_train_steps},
    warm_start_from=warm,
  )
  estimator.train(make_input_fn(*train, training=True), max_steps=FLAGS.num_train_steps)
  result = estimator.evaluate(make_input_fn(*dev, training=False))
  predictions = []
  for prediction in estimator.predict(make_input_fn(dev[0], dev[1], training=False)):
    predictions.append([LABELS[i] for i, p in enumerate(prediction["probabilities"]) if p >= 0.5])
  placeholders = {name: tf.placeholder(tf.int32, [None, FLAGS.max_seq_length]) for name in dev[0]}
  receiver_fn = tf.estimator.export.build_raw_serving_input_receiver_fn(placeholders)
  export_dir = estimator.export_saved_model(os.path.join(FLAGS.output_dir, "export"), receiver_fn)
  np.save(
    os.path.join(FLAGS.output_dir, "first_features.npy"),
    np.stack([dev[0][name][0] for name in ("input_ids", "input_mask", "segment_ids")]),
  )
  first = next(estimator.predict(make_input_fn(dev[0], dev[1], training=False)))["probabilities"]
  summary = {k: float(v) for k, v in result.items()}
  summary.update(predictions=predictions, export_dir=export_dir.decode(), first=first.tolist())
  with tf.gfile.GFile(os.path.join(FLAGS.output_dir, "multi_label.json"), "w") as f:
    json.dump(summary, f)


if __name__ == "__main__":
  tf.app.run()
