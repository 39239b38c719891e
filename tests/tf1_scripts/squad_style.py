# coding=utf-8
"""Span extraction in the style of run_squad.py: start and end logits over the
context from one `cls/squad/output_weights` layer, a TPUEstimator, features
keyed by unique_id, and predictions.json with the best span of each question.

Each question asks for the emotion word of a dev text; its context is the text.
"""

import collections
import json
import os

import modeling
import optimization
import tensorflow as tf
import tokenization

import script_utils

flags = tf.flags
FLAGS = flags.FLAGS
script_utils.define_model_flags(24)
flags.DEFINE_integer("num_train_steps", 6, "")
flags.DEFINE_integer("max_answer_length", 3, "")

KEYWORDS = {"happy", "sad", "angry", "fear", "love", "surprise", "calm"}
QUESTION = "how do they feel ?"


def features_of(name, tokenizer, first_id):
  rows = script_utils.read_tsv(os.path.join(FLAGS.data_dir, "fine_tuning_%s_data.tsv" % name))
  features, contexts = [], {}
  question = tokenizer.tokenize(QUESTION)
  for i, row in enumerate(rows):
    context = tokenizer.tokenize(row[-1])[: FLAGS.max_seq_length - len(question) - 3]
    tokens = ["[CLS]"] + question + ["[SEP]"] + context + ["[SEP]"]
    offset = len(question) + 2
    answer = [j for j, token in enumerate(context) if token in KEYWORDS] or [-offset]
    ids = tokenizer.convert_tokens_to_ids(tokens)
    pad = FLAGS.max_seq_length - len(ids)
    unique_id = first_id + i
    contexts[unique_id] = (offset, context)
    features.append(
      collections.OrderedDict(
        unique_ids=[unique_id],
        input_ids=ids + [0] * pad,
        input_mask=[1] * len(ids) + [0] * pad,
        segment_ids=[0] * offset + [1] * (len(context) + 1) + [0] * pad,
        start_positions=[answer[0] + offset],
        end_positions=[answer[0] + offset],
      )
    )
  return features, contexts


def model_fn_builder(bert_config):
  def model_fn(features, labels, mode, params):
    training = mode == tf.estimator.ModeKeys.TRAIN
    model = modeling.BertModel(
      bert_config, training, features["input_ids"], features["input_mask"], features["segment_ids"]
    )
    sequence = model.get_sequence_output()
    batch, length, hidden = modeling.get_shape_list(sequence, expected_rank=3)
    weights = tf.get_variable(
      "cls/squad/output_weights",
      [2, hidden],
      initializer=tf.truncated_normal_initializer(stddev=0.02),
    )
    bias = tf.get_variable("cls/squad/output_bias", [2], initializer=tf.zeros_initializer())
    logits = tf.matmul(tf.reshape(sequence, [-1, hidden]), weights, transpose_b=True) + bias
    logits = tf.transpose(tf.reshape(logits, [batch, length, 2]), [2, 0, 1])
    start_logits, end_logits = tf.unstack(logits, axis=0)
    scaffold_fn = script_utils.restore_from(FLAGS.init_checkpoint, in_scaffold_fn=True)
    if mode == tf.estimator.ModeKeys.PREDICT:
      return tf.contrib.tpu.TPUEstimatorSpec(
        mode,
        predictions={
          "unique_ids": features["unique_ids"],
          "start_logits": start_logits,
          "end_logits": end_logits,
        },
        scaffold_fn=scaffold_fn,
      )

    def position_loss(logits, positions):
      one_hot = tf.one_hot(positions, depth=length, dtype=tf.float32)
      return -tf.reduce_mean(tf.reduce_sum(one_hot * tf.nn.log_softmax(logits, axis=-1), axis=-1))

    loss = (
      position_loss(start_logits, features["start_positions"])
      + position_loss(end_logits, features["end_positions"])
    ) / 2.0
    train_op = optimization.create_optimizer(loss, 1e-3, FLAGS.num_train_steps, 1, False)
    return tf.contrib.tpu.TPUEstimatorSpec(
      mode, loss=loss, train_op=train_op, scaffold_fn=scaffold_fn
    )

  return model_fn


def best_span(start_logits, end_logits, offset, context):
  best = (-1e9, 0, 0)
  for start in range(len(context)):
    for end in range(start, min(len(context), start + FLAGS.max_answer_length)):
      score = start_logits[start + offset] + end_logits[end + offset]
      best = max(best, (score, start, end))
  return " ".join(context[best[1] : best[2] + 1]).replace(" ##", "")


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  tokenizer = tokenization.FullTokenizer(FLAGS.vocab_file, do_lower_case=True)
  tf.gfile.MakeDirs(FLAGS.output_dir)
  name_to_features = {
    "unique_ids": tf.FixedLenFeature([], tf.int64),
    "input_ids": tf.FixedLenFeature([FLAGS.max_seq_length], tf.int64),
    "input_mask": tf.FixedLenFeature([FLAGS.max_seq_length], tf.int64),
    "segment_ids": tf.FixedLenFeature([FLAGS.max_seq_length], tf.int64),
    "start_positions": tf.FixedLenFeature([], tf.int64),
    "end_positions": tf.FixedLenFeature([], tf.int64),
  }
  train_features, _ = features_of("train", tokenizer, 1000000000)
  dev_features, contexts = features_of("val", tokenizer, 2000000000)
  train_file = os.path.join(FLAGS.output_dir, "train.tf_record")
  dev_file = os.path.join(FLAGS.output_dir, "eval.tf_record")
  script_utils.write_records(train_features, train_file)
  script_utils.write_records(dev_features, dev_file)
  estimator = tf.contrib.tpu.TPUEstimator(
    use_tpu=False,
    model_fn=model_fn_builder(modeling.BertConfig.from_json_file(FLAGS.bert_config_file)),
    config=tf.contrib.tpu.RunConfig(model_dir=FLAGS.output_dir, save_checkpoints_steps=1000),
    train_batch_size=8,
    predict_batch_size=8,
  )
  estimator.train(
    script_utils.record_input_fn_builder(train_file, name_to_features, True, True),
    max_steps=FLAGS.num_train_steps,
  )
  predict_input_fn = script_utils.record_input_fn_builder(dev_file, name_to_features, False, False)
  answers = collections.OrderedDict()
  for result in estimator.predict(predict_input_fn, yield_single_examples=True):
    unique_id = int(result["unique_ids"])
    offset, context = contexts[unique_id]
    answers[str(unique_id)] = best_span(
      result["start_logits"], result["end_logits"], offset, context
    )
  with tf.gfile.GFile(os.path.join(FLAGS.output_dir, "predictions.json"), "w") as writer:
    writer.write(json.dumps(answers, indent=4) + "\n")


if __name__ == "__main__":
  tf.app.run()
