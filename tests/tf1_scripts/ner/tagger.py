# coding=utf-8
"""A BERT + BiLSTM + CRF tagger, as the NER forks built it.

Every word piece of an emotion keyword is tagged EMO, the rest O. BERT's
sequence output goes through a bidirectional LSTM (tf.contrib.rnn cells with
DropoutWrapper), a dense layer gives the tag scores, and tf.contrib.crf gives
the loss and the decoding. The metrics come from the fork's own
bert/tf_metrics.py; predictions are decoded in the graph (crf_decode) and
checked again outside it with viterbi_decode.
"""

import os

import modeling
import numpy as np
import tensorflow as tf
import tokenization
from bert import tf_metrics

flags = tf.flags
FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "")
flags.DEFINE_string("bert_config_file", None, "")
flags.DEFINE_string("vocab_file", None, "")
flags.DEFINE_string("init_checkpoint", None, "")
flags.DEFINE_string("output_dir", None, "")
flags.DEFINE_integer("max_seq_length", 16, "")
flags.DEFINE_integer("num_train_steps", 8, "")
flags.DEFINE_integer("lstm_size", 8, "")

TAGS = ["[PAD]", "O", "EMO"]
KEYWORDS = {"happy", "sad", "angry", "fear", "love", "surprise", "calm"}


def tagged(name, tokenizer):
  with tf.gfile.GFile(os.path.join(FLAGS.data_dir, "fine_tuning_%s_data.tsv" % name)) as f:
    texts = [line.rstrip("\n").split("\t")[-1] for line in f][1:]
  ids = np.zeros([len(texts), FLAGS.max_seq_length], np.int32)
  tags = np.zeros_like(ids)
  lengths = np.zeros([len(texts)], np.int32)
  for i, text in enumerate(texts):
    tokens, labels = ["[CLS]"], ["O"]
    for word in text.split():
      for piece in tokenizer.tokenize(word):
        tokens.append(piece)
        labels.append("EMO" if word in KEYWORDS else "O")
    tokens, labels = (
      tokens[: FLAGS.max_seq_length - 1] + ["[SEP]"],
      labels[: FLAGS.max_seq_length - 1] + ["O"],
    )
    ids[i, : len(tokens)] = tokenizer.convert_tokens_to_ids(tokens)
    tags[i, : len(tokens)] = [TAGS.index(label) for label in labels]
    lengths[i] = len(tokens)
  return {"input_ids": ids, "lengths": lengths}, tags


def model_fn(features, labels, mode, params):
  config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
  training = mode == tf.estimator.ModeKeys.TRAIN
  lengths = features["lengths"]
  mask = tf.sequence_mask(lengths, FLAGS.max_seq_length, dtype=tf.int32)
  model = modeling.BertModel(config, training, features["input_ids"], mask)
  tvars = tf.trainable_variables()
  assignment, _ = modeling.get_assignment_map_from_checkpoint(tvars, FLAGS.init_checkpoint)
  tf.train.init_from_checkpoint(FLAGS.init_checkpoint, assignment)
  keep = 0.9 if training else 1.0
  cells = [
    tf.contrib.rnn.DropoutWrapper(tf.contrib.rnn.LSTMCell(FLAGS.lstm_size), output_keep_prob=keep)
    for _ in range(2)
  ]
  (forward, backward), _ = tf.nn.bidirectional_dynamic_rnn(
    cells[0], cells[1], model.get_sequence_output(), sequence_length=lengths, dtype=tf.float32
  )
  scores = tf.layers.dense(tf.concat([forward, backward], axis=-1), len(TAGS), name="tag_scores")
  with tf.variable_scope("crf"):
    transitions = tf.get_variable("transitions", [len(TAGS), len(TAGS)])
  decoded, _ = tf.contrib.crf.crf_decode(scores, transitions, lengths)
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(
      mode,
      predictions={"tags": decoded, "scores": scores, "lengths": lengths},
      export_outputs=None,
    )
  log_likelihood, _ = tf.contrib.crf.crf_log_likelihood(scores, labels, lengths, transitions)
  loss = -tf.reduce_mean(log_likelihood)
  if mode == tf.estimator.ModeKeys.EVAL:
    weights = tf.cast(mask, tf.float32)
    precision, recall = tf_metrics.precision_recall(labels, decoded, len(TAGS), [2], weights)
    return tf.estimator.EstimatorSpec(
      mode, loss=loss, eval_metric_ops={"emo_precision": precision, "emo_recall": recall}
    )
  optimizer = tf.train.AdamOptimizer(5e-3)
  gradients, variables = zip(*optimizer.compute_gradients(loss))
  gradients, _ = tf.clip_by_global_norm(gradients, 1.0)
  train_op = optimizer.apply_gradients(
    zip(gradients, variables), global_step=tf.train.get_global_step()
  )
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  tokenizer = tokenization.FullTokenizer(FLAGS.vocab_file, do_lower_case=True)
  train = tagged("train", tokenizer)
  dev = tagged("val", tokenizer)
  estimator = tf.estimator.Estimator(model_fn, FLAGS.output_dir)

  def input_fn(data, training):
    def fn():
      dataset = tf.data.Dataset.from_tensor_slices(data)
      return (dataset.repeat().shuffle(50, seed=3) if training else dataset).batch(8)

    return fn

  estimator.train(input_fn(train, True), max_steps=FLAGS.num_train_steps)
  result = estimator.evaluate(input_fn(dev, False))
  transitions = estimator.get_variable_value("crf/transitions")
  agree = 0
  lines = []
  predictions = list(estimator.predict(input_fn(dev[0], False)))
  for prediction in predictions:
    length = prediction["lengths"]
    best, _ = tf.contrib.crf.viterbi_decode(prediction["scores"][:length], transitions)
    agree += int(list(prediction["tags"][:length]) == best)
    lines.append(" ".join(TAGS[t] for t in best))
  with tf.gfile.GFile(os.path.join(FLAGS.output_dir, "label_test.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("emo_precision %.4f emo_recall %.4f" % (result["emo_precision"], result["emo_recall"]))
  print("viterbi agrees on %d of %d" % (agree, len(predictions)))


if __name__ == "__main__":
  tf.app.run()
