# coding=utf-8
"""One training step two ways, on the same batch, the same initial values and
no dropout: a plain tf.Session running the graph (BertModel,
create_optimizer, init_from_checkpoint), and an Estimator with the same
model_fn. Prints the largest difference between the weights they end with.
"""

import classifier
import modeling
import numpy as np
import optimization
import tensorflow as tf

flags = tf.flags
FLAGS = flags.FLAGS


def first_batch(size=8):
  tokenizer = classifier.script_utils.tokenizer_from(FLAGS.vocab_file)
  features = {"input_ids": [], "input_mask": [], "segment_ids": [], "label_ids": []}
  for example in classifier.read_examples("train", "train")[:size]:
    ids, mask, segments = classifier.script_utils.encode_pair(
      tokenizer, example.text, None, FLAGS.max_seq_length
    )
    for name, value in zip(features, (ids, mask, segments, int(example.label))):
      features[name].append(value)
  return {name: np.array(value, np.int32) for name, value in features.items()}


def build(features, is_training, init_checkpoint):
  config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
  config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
  loss, _, _, _ = classifier.create_model(
    config,
    is_training,
    features["input_ids"],
    features["input_mask"],
    features["segment_ids"],
    features["label_ids"],
  )
  classifier.script_utils.restore_from(init_checkpoint)
  # A flat schedule: the rate must not depend on whether the step reads the global step
  # before or after create_optimizer increments it in the same run.
  return loss, optimization.create_optimizer(loss, FLAGS.learning_rate, 10**9, 0, False)


def graph_face(batch, start):
  """One step in a tf.Session; the values it starts from are saved to `start` first."""
  with tf.Graph().as_default():
    _, train_op = build({k: tf.constant(v) for k, v in batch.items()}, True, FLAGS.init_checkpoint)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      tf.train.Saver(tf.trainable_variables()).save(session, start)
      session.run(train_op)
      return {v.name[:-2]: session.run(v) for v in tf.trainable_variables()}


def estimator_face(batch, start):
  def model_fn(features, labels, mode):
    loss, train_op = build(features, True, start)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

  estimator = tf.estimator.Estimator(model_fn, FLAGS.output_dir)
  estimator.train(lambda: tf.data.Dataset.from_tensors(batch).repeat(), max_steps=1)
  return {name: estimator.get_variable_value(name) for name in estimator.get_variable_names()}


def main(_):
  batch = first_batch()
  start = FLAGS.output_dir + "-start/start.ckpt"
  by_session = graph_face(batch, start)
  by_estimator = estimator_face(batch, start)
  diff = max(float(np.abs(value - by_estimator[name]).max()) for name, value in by_session.items())
  initial = tf.train.load_variable(FLAGS.init_checkpoint, "bert/pooler/dense/kernel")
  moved = float(np.abs(by_session["bert/pooler/dense/kernel"] - initial).max())
  print(
    "compared %d variables: max difference %.3g (the step moved them by up to %.3g)"
    % (len(by_session), diff, moved)
  )


if __name__ == "__main__":
  tf.app.run()
