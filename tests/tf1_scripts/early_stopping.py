# coding=utf-8
"""train_and_evaluate with early stopping, reusing the classifier script beside it.

`import classifier` gives this script classifier.py's flags, data reading and
create_model. The Estimator evaluates after every checkpoint, and the
early-stopping hook (tf.contrib.estimator spelling) stops training once the
eval loss has not gone down for --patience steps.
"""

import os

import classifier
import modeling
import optimization
import tensorflow as tf

flags = tf.flags
FLAGS = flags.FLAGS
flags.DEFINE_integer("max_steps", 100, "")
flags.DEFINE_integer("patience", 2, "")


def model_fn(features, labels, mode, params):
  config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
  training = mode == tf.estimator.ModeKeys.TRAIN
  loss, per_example_loss, logits, _ = classifier.create_model(
    config,
    training,
    features["input_ids"],
    features["input_mask"],
    features["segment_ids"],
    features["label_ids"],
  )
  import script_utils

  script_utils.restore_from(FLAGS.init_checkpoint)
  if mode == tf.estimator.ModeKeys.EVAL:
    predictions = tf.argmax(logits, -1, output_type=tf.int32)
    metrics = {"accuracy": tf.metrics.accuracy(features["label_ids"], predictions)}
    return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)
  train_op = optimization.create_optimizer(loss, FLAGS.learning_rate, FLAGS.max_steps, 0, False)
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  tokenizer = classifier.script_utils.tokenizer_from(FLAGS.vocab_file)
  tf.gfile.MakeDirs(FLAGS.output_dir)
  train_file = os.path.join(FLAGS.output_dir, "train.tf_record")
  eval_file = os.path.join(FLAGS.output_dir, "eval.tf_record")
  classifier.convert(classifier.read_examples("train", "train"), tokenizer, train_file)
  classifier.convert(classifier.read_examples("val", "dev"), tokenizer, eval_file)
  estimator = tf.estimator.Estimator(
    model_fn,
    config=tf.estimator.RunConfig(model_dir=FLAGS.output_dir, save_checkpoints_steps=2),
    params={"batch_size": 8},
  )
  early_stop = tf.contrib.estimator.stop_if_no_decrease_hook(
    estimator, "loss", FLAGS.patience, run_every_secs=None, run_every_steps=1
  )
  train_spec = tf.estimator.TrainSpec(
    classifier.input_fn_for(train_file, True), max_steps=FLAGS.max_steps, hooks=[early_stop]
  )
  eval_spec = tf.estimator.EvalSpec(
    classifier.input_fn_for(eval_file, False), steps=None, throttle_secs=0
  )
  metrics, exports = tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
  print(
    "stopped at global_step %d of %d, exports %r"
    % (metrics["global_step"], FLAGS.max_steps, exports)
  )


if __name__ == "__main__":
  tf.app.run()
