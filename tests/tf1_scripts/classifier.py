# coding=utf-8
"""A sentence classifier in the TPUEstimator style of 2019 forks.

Reads the emotion layout (fine_tuning_{train,val,test}_data.tsv), writes
tf_record files, trains/evaluates/predicts with tf.contrib.tpu.TPUEstimator
and writes eval_results.txt and test_results.tsv as Google's script did. With
--head_size=0 the head is Google's (output_weights/output_bias on the pooled
output), so a checkpoint of run_classifier.py evaluates here as it is; with
--head_size>0 a hidden tanh layer sits in between (a custom head). Metrics go
through eval_metrics=(metric_fn, tensors).
"""

import collections
import os

import modeling
import optimization
import tensorflow as tf

import script_utils

flags = tf.flags
FLAGS = flags.FLAGS

script_utils.define_model_flags(16)
flags.DEFINE_bool("do_train", False, "Train.")
flags.DEFINE_bool("do_eval", False, "Evaluate on the val file.")
flags.DEFINE_bool("do_predict", False, "Predict the test file.")
flags.DEFINE_integer("train_batch_size", 8, "")
flags.DEFINE_integer("eval_batch_size", 8, "")
flags.DEFINE_integer("predict_batch_size", 8, "")
flags.DEFINE_float("learning_rate", 5e-4, "")
flags.DEFINE_float("num_train_epochs", 1.0, "")
flags.DEFINE_float("warmup_proportion", 0.1, "")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "")
flags.DEFINE_integer("iterations_per_loop", 1000, "")
flags.DEFINE_integer("head_size", 0, "Hidden units of the custom head; 0: Google's head.")
flags.DEFINE_float("head_dropout", 0.1, "Dropout on the pooled output while training.")
flags.DEFINE_bool("use_tpu", False, "Use a TPU.")
flags.DEFINE_string("tpu_name", None, "The Cloud TPU.")
flags.DEFINE_integer("num_tpu_cores", 8, "")

LABELS = [str(i) for i in range(7)]
Example = collections.namedtuple("Example", ["guid", "text", "label"])


def read_examples(name, set_type):
  rows = script_utils.read_tsv(os.path.join(FLAGS.data_dir, "fine_tuning_%s_data.tsv" % name))
  examples = []
  for i, row in enumerate(rows):
    if set_type == "test":
      examples.append(Example("test-%d" % i, row[-1], "0"))
    else:
      examples.append(Example("%s-%d" % (set_type, i), row[1], row[0]))
  return examples


def convert(examples, tokenizer, path):
  features = []
  for example in examples:
    ids, mask, segments = script_utils.encode_pair(
      tokenizer, example.text, None, FLAGS.max_seq_length
    )
    features.append(
      collections.OrderedDict(
        input_ids=ids,
        input_mask=mask,
        segment_ids=segments,
        label_ids=[LABELS.index(example.label)],
        is_real_example=[1],
      )
    )
  script_utils.write_records(features, path)


def create_model(bert_config, is_training, input_ids, input_mask, segment_ids, labels):
  model = modeling.BertModel(
    config=bert_config,
    is_training=is_training,
    input_ids=input_ids,
    input_mask=input_mask,
    token_type_ids=segment_ids,
    use_one_hot_embeddings=False,
  )
  output_layer = model.get_pooled_output()
  if FLAGS.head_size:
    with tf.variable_scope("head"):
      output_layer = tf.layers.dense(
        output_layer,
        FLAGS.head_size,
        activation=tf.tanh,
        kernel_initializer=modeling.create_initializer(0.02),
      )
  hidden_size = output_layer.shape[-1].value
  output_weights = tf.get_variable(
    "output_weights",
    [len(LABELS), hidden_size],
    initializer=tf.truncated_normal_initializer(stddev=0.02),
  )
  output_bias = tf.get_variable("output_bias", [len(LABELS)], initializer=tf.zeros_initializer())
  if is_training and FLAGS.head_dropout:
    output_layer = tf.nn.dropout(output_layer, keep_prob=1.0 - FLAGS.head_dropout)
  logits = tf.nn.bias_add(tf.matmul(output_layer, output_weights, transpose_b=True), output_bias)
  targets = tf.one_hot(labels, depth=len(LABELS))
  per_example_loss = -tf.reduce_sum(targets * tf.nn.log_softmax(logits), axis=-1)
  return tf.reduce_mean(per_example_loss), per_example_loss, logits, tf.nn.softmax(logits)


def model_fn_builder(bert_config, init_checkpoint, num_train_steps, num_warmup_steps):
  def model_fn(features, labels, mode, params):
    is_training = mode == tf.estimator.ModeKeys.TRAIN
    total_loss, per_example_loss, logits, probabilities = create_model(
      bert_config,
      is_training,
      features["input_ids"],
      features["input_mask"],
      features["segment_ids"],
      features["label_ids"],
    )
    scaffold_fn = script_utils.restore_from(init_checkpoint, in_scaffold_fn=True)
    if mode == tf.estimator.ModeKeys.TRAIN:
      train_op = optimization.create_optimizer(
        total_loss, FLAGS.learning_rate, num_train_steps, num_warmup_steps, FLAGS.use_tpu
      )
      return tf.contrib.tpu.TPUEstimatorSpec(
        mode=mode, loss=total_loss, train_op=train_op, scaffold_fn=scaffold_fn
      )
    if mode == tf.estimator.ModeKeys.EVAL:

      def metric_fn(per_example_loss, label_ids, logits, is_real_example):
        predicted = tf.argmax(logits, -1, output_type=tf.int32)
        return {
          "eval_accuracy": tf.metrics.accuracy(label_ids, predicted, weights=is_real_example),
          "eval_loss": tf.metrics.mean(per_example_loss, weights=is_real_example),
          "eval_recall_of_0": tf.metrics.recall(
            tf.equal(label_ids, 0), tf.equal(predicted, 0), weights=is_real_example
          ),
        }

      eval_metrics = (
        metric_fn,
        [per_example_loss, features["label_ids"], logits, features["is_real_example"]],
      )
      return tf.contrib.tpu.TPUEstimatorSpec(
        mode=mode, loss=total_loss, eval_metrics=eval_metrics, scaffold_fn=scaffold_fn
      )
    return tf.contrib.tpu.TPUEstimatorSpec(
      mode=mode, predictions={"probabilities": probabilities}, scaffold_fn=scaffold_fn
    )

  return model_fn


def input_fn_for(path, is_training):
  lengths = {"input_ids": FLAGS.max_seq_length, "input_mask": FLAGS.max_seq_length}
  lengths.update(segment_ids=FLAGS.max_seq_length, label_ids=1, is_real_example=1)
  name_to_features = {
    name: tf.FixedLenFeature([n] if n > 1 else [], tf.int64) for name, n in lengths.items()
  }
  return script_utils.record_input_fn_builder(path, name_to_features, is_training, is_training)


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  bert_config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
  tf.io.gfile.makedirs(FLAGS.output_dir)
  tokenizer = script_utils.tokenizer_from(FLAGS.vocab_file)
  tpu_cluster_resolver = None
  if FLAGS.tpu_name and FLAGS.use_tpu:
    tpu_cluster_resolver = tf.contrib.cluster_resolver.TPUClusterResolver(FLAGS.tpu_name)
  run_config = tf.contrib.tpu.RunConfig(
    cluster=tpu_cluster_resolver,
    model_dir=FLAGS.output_dir,
    save_checkpoints_steps=FLAGS.save_checkpoints_steps,
    log_step_count_steps=2,
    tpu_config=tf.contrib.tpu.TPUConfig(
      iterations_per_loop=FLAGS.iterations_per_loop,
      num_shards=FLAGS.num_tpu_cores,
      per_host_input_for_training=tf.contrib.tpu.InputPipelineConfig.PER_HOST_V2,
    ),
  )
  train_examples = None
  num_train_steps = num_warmup_steps = None
  if FLAGS.do_train:
    train_examples = read_examples("train", "train")
    num_train_steps = int(len(train_examples) / FLAGS.train_batch_size * FLAGS.num_train_epochs)
    num_warmup_steps = int(num_train_steps * FLAGS.warmup_proportion)
  estimator = tf.contrib.tpu.TPUEstimator(
    use_tpu=FLAGS.use_tpu,
    model_fn=model_fn_builder(
      bert_config, FLAGS.init_checkpoint, num_train_steps, num_warmup_steps
    ),
    config=run_config,
    train_batch_size=FLAGS.train_batch_size,
    eval_batch_size=FLAGS.eval_batch_size,
    predict_batch_size=FLAGS.predict_batch_size,
  )
  if FLAGS.do_train:
    train_file = os.path.join(FLAGS.output_dir, "train.tf_record")
    convert(train_examples, tokenizer, train_file)
    estimator.train(input_fn=input_fn_for(train_file, True), max_steps=num_train_steps)
  if FLAGS.do_eval:
    eval_file = os.path.join(FLAGS.output_dir, "eval.tf_record")
    convert(read_examples("val", "dev"), tokenizer, eval_file)
    result = estimator.evaluate(input_fn=input_fn_for(eval_file, False), steps=None)
    with tf.gfile.GFile(os.path.join(FLAGS.output_dir, "eval_results.txt"), "w") as writer:
      writer.write("".join("%s = %s\n" % (key, result[key]) for key in sorted(result)))
  if FLAGS.do_predict:
    predict_file = os.path.join(FLAGS.output_dir, "predict.tf_record")
    convert(read_examples("test", "test"), tokenizer, predict_file)
    result = estimator.predict(input_fn=input_fn_for(predict_file, False))
    script_utils.write_probabilities(
      os.path.join(FLAGS.output_dir, "test_results.tsv"),
      (prediction["probabilities"] for prediction in result),
    )


if __name__ == "__main__":
  tf.app.run()
