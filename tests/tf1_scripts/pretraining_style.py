# coding=utf-8
"""Masked LM + next sentence pre-training in the style of run_pretraining.py.

The script makes its own shards (one masked word per text, pairs of texts
for next-sentence labels), reads them with tf.contrib.data.parallel_interleave
and map_and_batch, continues from a Google checkpoint (the heads'
`cls/predictions/...` and `cls/seq_relationship/...` names) with a
TPUEstimator, and writes eval_results.txt.
"""

import collections
import os
import random

import modeling
import optimization
import tensorflow as tf
import tokenization

import script_utils

flags = tf.flags
FLAGS = flags.FLAGS
script_utils.define_model_flags(24)
flags.DEFINE_integer("max_predictions_per_seq", 2, "")
flags.DEFINE_integer("num_train_steps", 6, "")


def make_shards(tokenizer, paths):
  with tf.gfile.GFile(os.path.join(FLAGS.data_dir, "fine_tuning_train_data.tsv")) as f:
    texts = [line.rstrip("\n").split("\t")[-1] for line in f][1:]
  rng = random.Random(5)
  shards = [[] for _ in paths]
  for i in range(0, len(texts) - 1, 2):
    is_random_next = rng.random() < 0.5
    second = texts[rng.randrange(len(texts))] if is_random_next else texts[i + 1]
    ids, mask, segments = script_utils.encode_pair(
      tokenizer, texts[i], second, FLAGS.max_seq_length
    )
    position = rng.randrange(1, sum(mask) - 1)
    masked_id = ids[position]
    ids[position] = tokenizer.convert_tokens_to_ids(["[MASK]"])[0]
    pad = FLAGS.max_predictions_per_seq - 1
    shards[i // 2 % len(paths)].append(
      collections.OrderedDict(
        input_ids=ids,
        input_mask=mask,
        segment_ids=segments,
        masked_lm_positions=[position] + [0] * pad,
        masked_lm_ids=[masked_id] + [0] * pad,
        masked_lm_weights=[1] + [0] * pad,
        next_sentence_labels=[int(is_random_next)],
      )
    )
  for path, features in zip(paths, shards):
    script_utils.write_records(features, path)


def input_fn_builder(input_files, is_training):
  lengths = {
    "input_ids": FLAGS.max_seq_length,
    "input_mask": FLAGS.max_seq_length,
    "segment_ids": FLAGS.max_seq_length,
    "masked_lm_positions": FLAGS.max_predictions_per_seq,
    "masked_lm_ids": FLAGS.max_predictions_per_seq,
    "masked_lm_weights": FLAGS.max_predictions_per_seq,
    "next_sentence_labels": 1,
  }

  def decode(record):
    example = tf.parse_single_example(
      record, {k: tf.FixedLenFeature([n], tf.int64) for k, n in lengths.items()}
    )
    example = {k: tf.to_int32(v) for k, v in example.items()}
    example["masked_lm_weights"] = tf.to_float(example["masked_lm_weights"])
    return example

  def input_fn(params):
    files = tf.data.Dataset.from_tensor_slices(tf.constant(input_files))
    if is_training:
      files = files.repeat()
    records = files.apply(
      tf.contrib.data.parallel_interleave(
        tf.data.TFRecordDataset, sloppy=is_training, cycle_length=2
      )
    )
    return records.apply(
      tf.contrib.data.map_and_batch(decode, params["batch_size"], drop_remainder=is_training)
    )

  return input_fn


def masked_lm_output(config, sequence, embeddings, positions, label_ids, label_weights):
  batch, length, width = modeling.get_shape_list(sequence, expected_rank=3)
  flat = tf.reshape(positions + tf.range(batch)[:, None] * length, [-1])
  picked = tf.gather(tf.reshape(sequence, [-1, width]), flat)
  with tf.variable_scope("cls/predictions"):
    with tf.variable_scope("transform"):
      picked = tf.layers.dense(
        picked,
        config.hidden_size,
        activation=modeling.get_activation(config.hidden_act),
        kernel_initializer=modeling.create_initializer(config.initializer_range),
      )
      picked = modeling.layer_norm(picked)
    bias = tf.get_variable("output_bias", [config.vocab_size], initializer=tf.zeros_initializer())
    log_probs = tf.nn.log_softmax(tf.matmul(picked, embeddings, transpose_b=True) + bias, axis=-1)
  labels = tf.reshape(label_ids, [-1])
  weights = tf.reshape(label_weights, [-1])
  per_example = -tf.reduce_sum(log_probs * tf.one_hot(labels, config.vocab_size), axis=-1)
  loss = tf.reduce_sum(weights * per_example) / (tf.reduce_sum(weights) + 1e-5)
  return loss, per_example, log_probs


def next_sentence_output(config, pooled, labels):
  with tf.variable_scope("cls/seq_relationship"):
    weights = tf.get_variable(
      "output_weights",
      [2, config.hidden_size],
      initializer=modeling.create_initializer(config.initializer_range),
    )
    bias = tf.get_variable("output_bias", [2], initializer=tf.zeros_initializer())
    log_probs = tf.nn.log_softmax(tf.matmul(pooled, weights, transpose_b=True) + bias, axis=-1)
    per_example = -tf.reduce_sum(tf.one_hot(tf.reshape(labels, [-1]), 2) * log_probs, axis=-1)
    return tf.reduce_mean(per_example), per_example, log_probs


def model_fn(features, labels, mode, params):
  config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
  training = mode == tf.estimator.ModeKeys.TRAIN
  model = modeling.BertModel(
    config, training, features["input_ids"], features["input_mask"], features["segment_ids"]
  )
  lm_loss, lm_example_loss, lm_log_probs = masked_lm_output(
    config,
    model.get_sequence_output(),
    model.get_embedding_table(),
    features["masked_lm_positions"],
    features["masked_lm_ids"],
    features["masked_lm_weights"],
  )
  ns_loss, ns_example_loss, ns_log_probs = next_sentence_output(
    config, model.get_pooled_output(), features["next_sentence_labels"]
  )
  total_loss = lm_loss + ns_loss
  scaffold_fn = script_utils.restore_from(FLAGS.init_checkpoint, in_scaffold_fn=True)
  if training:
    train_op = optimization.create_optimizer(total_loss, 1e-3, FLAGS.num_train_steps, 1, False)
    return tf.contrib.tpu.TPUEstimatorSpec(
      mode, loss=total_loss, train_op=train_op, scaffold_fn=scaffold_fn
    )

  def metric_fn(
    lm_example_loss, lm_log_probs, lm_ids, lm_weights, ns_example_loss, ns_log_probs, ns_labels
  ):
    lm_predictions = tf.argmax(lm_log_probs, axis=-1, output_type=tf.int32)
    lm_weights = tf.reshape(lm_weights, [-1])
    ns_predictions = tf.argmax(ns_log_probs, axis=-1, output_type=tf.int32)
    return {
      "masked_lm_accuracy": tf.metrics.accuracy(
        tf.reshape(lm_ids, [-1]), lm_predictions, weights=lm_weights
      ),
      "masked_lm_loss": tf.metrics.mean(lm_example_loss, weights=lm_weights),
      "next_sentence_accuracy": tf.metrics.accuracy(tf.reshape(ns_labels, [-1]), ns_predictions),
      "next_sentence_loss": tf.metrics.mean(ns_example_loss),
    }

  tensors = [
    lm_example_loss,
    lm_log_probs,
    features["masked_lm_ids"],
    features["masked_lm_weights"],
    ns_example_loss,
    ns_log_probs,
    features["next_sentence_labels"],
  ]
  return tf.contrib.tpu.TPUEstimatorSpec(
    mode, loss=total_loss, eval_metrics=(metric_fn, tensors), scaffold_fn=scaffold_fn
  )


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  tf.gfile.MakeDirs(FLAGS.output_dir)
  tokenizer = tokenization.FullTokenizer(FLAGS.vocab_file, do_lower_case=True)
  shards = [os.path.join(FLAGS.output_dir, "shard-%d.tfrecord" % i) for i in range(2)]
  make_shards(tokenizer, shards)
  estimator = tf.contrib.tpu.TPUEstimator(
    use_tpu=False,
    model_fn=model_fn,
    config=tf.contrib.tpu.RunConfig(model_dir=FLAGS.output_dir, save_checkpoints_steps=3),
    train_batch_size=8,
    eval_batch_size=8,
  )
  estimator.train(input_fn_builder(shards, True), max_steps=FLAGS.num_train_steps)
  result = estimator.evaluate(input_fn_builder(shards, False), steps=2)
  with tf.gfile.GFile(os.path.join(FLAGS.output_dir, "eval_results.txt"), "w") as writer:
    writer.write("".join("%s = %s\n" % (key, result[key]) for key in sorted(result)))


if __name__ == "__main__":
  tf.app.run()
