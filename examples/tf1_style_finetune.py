# coding=utf-8
"""A fine-tuning script in the TF1 style of 2019, kept as such on purpose.

It is what many users wrote next to Google's modeling.py / tokenization.py /
optimization.py: flags through tf.flags, a graph built on placeholders, the
pre-trained weights mapped in with tf.train.init_from_checkpoint, a few
training steps in a tf.Session, then a prediction. It runs unchanged on
TensorFlow 2 with

    bert-run-tf1 examples/tf1_style_finetune.py \
        --bert_dir=chinese_L-12_H-768_A-12 --texts="good day|||bad day"

(the README's "Old TF1 scripts" section says what the runner provides).
"""

import os

import modeling
import optimization
import tokenization
import tensorflow as tf

flags = tf.flags
FLAGS = flags.FLAGS

flags.DEFINE_string("bert_dir", None, "Folder with bert_config.json, vocab.txt, bert_model.ckpt.")
flags.DEFINE_string(
  "texts", "", "Training texts separated by '|||'; the label of the i-th text is i % 2."
)
flags.DEFINE_integer("max_seq_length", 16, "Tokens per example.")
flags.DEFINE_integer("num_steps", 3, "Training steps to run.")
flags.DEFINE_float("learning_rate", 1e-3, "Peak learning rate.")
flags.DEFINE_string("save_path", None, "Where to save the trained variables.")


def encode(tokenizer, text, max_seq_length):
  tokens = ["[CLS]"] + tokenizer.tokenize(text)[: max_seq_length - 2] + ["[SEP]"]
  ids = tokenizer.convert_tokens_to_ids(tokens)
  mask = [1] * len(ids)
  padding = [0] * (max_seq_length - len(ids))
  return ids + padding, mask + padding, [0] * max_seq_length


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO if FLAGS.num_steps else tf.logging.WARN)
  config = modeling.BertConfig.from_json_file(os.path.join(FLAGS.bert_dir, "bert_config.json"))
  tokenizer = tokenization.FullTokenizer(
    vocab_file=os.path.join(FLAGS.bert_dir, "vocab.txt"), do_lower_case=True
  )
  init_checkpoint = os.path.join(FLAGS.bert_dir, "bert_model.ckpt")

  texts = [t.strip() for t in FLAGS.texts.split("|||") if t.strip()]
  batch = [encode(tokenizer, t, FLAGS.max_seq_length) for t in texts]
  labels = [i % 2 for i in range(len(texts))]

  input_ids = tf.placeholder(tf.int32, [None, FLAGS.max_seq_length])
  input_mask = tf.placeholder(tf.int32, [None, FLAGS.max_seq_length])
  segment_ids = tf.placeholder(tf.int32, [None, FLAGS.max_seq_length])
  label_ids = tf.placeholder(tf.int32, [None])

  model = modeling.BertModel(
    config, True, input_ids, input_mask=input_mask, token_type_ids=segment_ids
  )
  pooled = model.get_pooled_output()
  hidden_size = pooled.shape[-1].value
  output_weights = tf.get_variable(
    "output_weights", [2, hidden_size], initializer=tf.truncated_normal_initializer(stddev=0.02)
  )
  output_bias = tf.get_variable("output_bias", [2], initializer=tf.zeros_initializer())
  logits = tf.nn.bias_add(
    tf.matmul(tf.nn.dropout(pooled, keep_prob=0.9), output_weights, transpose_b=True), output_bias
  )
  probabilities = tf.nn.softmax(logits)
  one_hot = tf.one_hot(label_ids, depth=2, dtype=tf.float32)
  loss = tf.reduce_mean(-tf.reduce_sum(one_hot * tf.nn.log_softmax(logits, axis=-1), axis=-1))

  tvars = tf.trainable_variables()
  assignment_map, initialized = modeling.get_assignment_map_from_checkpoint(tvars, init_checkpoint)
  tf.train.init_from_checkpoint(ckpt_dir_or_file=init_checkpoint, assignment_map=assignment_map)
  for var in tvars:
    note = ", *INIT_FROM_CKPT*" if var.name in initialized else ""
    tf.logging.info("  name = %s, shape = %s%s", var.name, var.shape, note)

  train_op = optimization.create_optimizer(loss, FLAGS.learning_rate, FLAGS.num_steps, 0, False)

  feed = {
    input_ids: [b[0] for b in batch],
    input_mask: [b[1] for b in batch],
    segment_ids: [b[2] for b in batch],
    label_ids: labels,
  }
  with tf.Session() as sess:
    init_op = tf.global_variables_initializer()
    sess.run(init_op)
    for step in range(FLAGS.num_steps):
      _, loss_value = sess.run([train_op, loss], feed_dict=feed)
      print("step %d loss %.6f" % (step, loss_value))
    print("global_step %d" % sess.run(tf.train.get_global_step()))
    print("probabilities %s" % sess.run(probabilities, feed_dict=feed).tolist())
    if FLAGS.save_path:
      tf.train.Saver().save(sess, FLAGS.save_path)


if __name__ == "__main__":
  flags.mark_flag_as_required("bert_dir")
  tf.app.run()
