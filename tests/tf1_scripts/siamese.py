# coding=utf-8
"""A siamese (two-tower) text matcher that alternates train(max_steps) and evaluate.

Both towers are one BERT (shared variables); a pair matches when its two
texts carry the same emotion. The loop trains to 3, 6, 9 steps and evaluates
after each round, as many forks did instead of train_and_evaluate.
"""

import os

import modeling
import numpy as np
import optimization
import tensorflow as tf

import script_utils

flags = tf.flags
FLAGS = flags.FLAGS
script_utils.define_model_flags(16)
flags.DEFINE_integer("rounds", 3, "")
flags.DEFINE_integer("steps_per_round", 3, "")


def pairs(name, tokenizer):
  rows = script_utils.read_tsv(os.path.join(FLAGS.data_dir, "fine_tuning_%s_data.tsv" % name))
  left, right, same = [], [], []
  for a, b in zip(rows[0::2], rows[1::2]):
    left.append(script_utils.encode_pair(tokenizer, a[1], None, FLAGS.max_seq_length))
    right.append(script_utils.encode_pair(tokenizer, b[1], None, FLAGS.max_seq_length))
    same.append(float(a[0] == b[0]))
  features = {}
  for side, encoded in (("left", left), ("right", right)):
    ids, mask, segments = (np.array(part, np.int32) for part in zip(*encoded))
    features.update({side + "_ids": ids, side + "_mask": mask, side + "_segments": segments})
  return features, np.array(same, np.float32)


def tower(config, features, side, training):
  with tf.variable_scope(tf.get_variable_scope(), reuse=tf.AUTO_REUSE):
    model = modeling.BertModel(
      config,
      training,
      features[side + "_ids"],
      features[side + "_mask"],
      features[side + "_segments"],
      scope="bert",
    )
    return tf.nn.l2_normalize(model.get_pooled_output(), axis=-1)


def model_fn(features, labels, mode, params):
  config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
  training = mode == tf.estimator.ModeKeys.TRAIN
  cosine = tf.reduce_sum(
    tower(config, features, "left", training) * tower(config, features, "right", training), -1
  )
  scale = tf.get_variable("similarity_scale", [], initializer=tf.constant_initializer(5.0))
  logits = scale * cosine
  script_utils.restore_from(FLAGS.init_checkpoint)
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(mode, predictions={"cosine": cosine})
  loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
  if mode == tf.estimator.ModeKeys.EVAL:
    matched = tf.cast(logits > 0, tf.float32)
    return tf.estimator.EstimatorSpec(
      mode, loss=loss, eval_metric_ops={"pair_accuracy": tf.metrics.accuracy(labels, matched)}
    )
  train_op = optimization.create_optimizer(loss, 1e-3, params["total_steps"], 0, False)
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  tokenizer = script_utils.tokenizer_from(FLAGS.vocab_file)
  train_features, train_same = pairs("train", tokenizer)
  dev_features, dev_same = pairs("val", tokenizer)
  total = FLAGS.rounds * FLAGS.steps_per_round
  estimator = tf.estimator.Estimator(
    model_fn,
    model_dir=FLAGS.output_dir,
    config=tf.estimator.RunConfig(save_checkpoints_steps=100),
    params={"total_steps": total},
  )

  def train_input_fn():
    data = tf.data.Dataset.from_tensor_slices((train_features, train_same))
    return data.repeat().batch(4)

  def dev_input_fn():
    return tf.data.Dataset.from_tensor_slices((dev_features, dev_same)).batch(4)

  for round_number in range(1, FLAGS.rounds + 1):
    estimator.train(train_input_fn, max_steps=round_number * FLAGS.steps_per_round)
    result = estimator.evaluate(dev_input_fn, name="pairs")
    print(
      "round %d: global_step %d pair_accuracy %.4f"
      % (round_number, result["global_step"], result["pair_accuracy"])
    )


if __name__ == "__main__":
  tf.app.run()
