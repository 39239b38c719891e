"""The do_train / do_eval / do_predict sequence of Google's main()."""

from __future__ import annotations

import logging
import os

import tensorflow as tf

from bert import checkpoint
from classifier import features as feature_lib
from classifier import input_pipeline, outputs, reports
from classifier.trainer import ClassifierRunner, make_strategy
from processors import PaddingInputExample

logger = logging.getLogger("run_classifier")

RUN_CONFIG_FILENAME = "run_config.json"
LABELS_FILENAME = "labels.json"


def _copy_beside_checkpoints(source: str, output_dir: str, name: str) -> None:
  """Copies `source` to output_dir/name (atomically) unless it is that file."""
  target = os.path.join(output_dir, name)
  if os.path.exists(target) and os.path.samefile(source, target):
    return
  with open(source, "rb") as f:
    data = f.read()
  with outputs.atomic_write(target, "wb") as f:
    f.write(data)


def _record_run(flags, label_list) -> None:
  """Writes what export/serving need to know about this run.

  vocab.txt and bert_config.json are copied beside the checkpoints, so the
  output folder itself is a bert-as-service model folder
  (`bert-serving-start -model_dir output`), with no renaming.
  """
  _copy_beside_checkpoints(flags.vocab_file, flags.output_dir, "vocab.txt")
  _copy_beside_checkpoints(flags.bert_config_file, flags.output_dir,
                           "bert_config.json")
  outputs.write_json(os.path.join(flags.output_dir, LABELS_FILENAME),
                     list(label_list))
  outputs.write_json(
      os.path.join(flags.output_dir, RUN_CONFIG_FILENAME), {
          "task_name": flags.task_name.lower(),
          "label_list": list(label_list),
          "vocab_file": os.path.abspath(flags.vocab_file),
          "bert_config_file": os.path.abspath(flags.bert_config_file),
          "init_checkpoint": flags.init_checkpoint,
          "do_lower_case": flags.do_lower_case,
          "max_seq_length": flags.max_seq_length,
      })


def _load_examples(what, getter, data_dir, label_list):
  """The processor's examples, each label checked against get_labels()."""
  examples = getter(data_dir)
  feature_lib.check_labels(examples, label_list, "%s set" % what)
  return examples


def run(flags, processor, label_list, tokenizer, bert_config) -> None:
  """Runs the requested stages and writes Google's output files."""
  _record_run(flags, label_list)
  if flags.seed is not None:
    tf.random.set_seed(flags.seed)
  strategy = make_strategy(flags.use_tpu, flags.tpu_name, flags.tpu_zone,
                           flags.gcp_project, flags.master)

  train_examples = None
  num_train_steps = None
  num_warmup_steps = None
  if flags.do_train:
    train_examples = _load_examples("train", processor.get_train_examples,
                                    flags.data_dir, label_list)
    num_train_steps = int(
        len(train_examples) / flags.train_batch_size * flags.num_train_epochs)
    num_warmup_steps = int(num_train_steps * flags.warmup_proportion)

  runner = ClassifierRunner(bert_config, len(label_list), flags.output_dir,
                            strategy, use_one_hot_embeddings=flags.use_tpu)

  if flags.do_train:
    train_file = os.path.join(flags.output_dir, "train.tf_record")
    feature_lib.file_based_convert_examples_to_features(
        train_examples, label_list, flags.max_seq_length, tokenizer,
        train_file, flags.num_conversion_workers)
    logger.info("***** Running training *****")
    logger.info("  Num examples = %d", len(train_examples))
    logger.info("  Batch size = %d", flags.train_batch_size)
    logger.info("  Num steps = %d", num_train_steps)
    runner.create_optimizer(flags.learning_rate, num_train_steps,
                            num_warmup_steps)
    initialized = runner.restore(flags.init_checkpoint,
                                 flags.allow_partial_checkpoint)
    logger.info("**** Trainable Variables ****")
    checkpoint.log_variables(runner.model.variables_by_name.values(),
                             initialized, log=logger.info)
    dataset = input_pipeline.file_based_dataset(
        train_file, flags.max_seq_length, is_training=True,
        drop_remainder=True, batch_size=flags.train_batch_size,
        shuffle_buffer_size=flags.shuffle_buffer_size, seed=flags.seed,
        dynamic_padding=flags.dynamic_padding)
    runner.train(dataset, num_train_steps, flags.save_checkpoints_steps,
                 flags.iterations_per_loop, flags.train_batch_size)

  if flags.do_eval:
    eval_examples = _load_examples("dev", processor.get_dev_examples,
                                   flags.data_dir, label_list)
    dataset, _ = _inference_dataset(
        flags, runner, eval_examples, label_list, tokenizer, "eval.tf_record",
        flags.eval_batch_size, "***** Running evaluation *****")
    result = runner.evaluate(dataset, len(eval_examples))

    output_eval_file = os.path.join(flags.output_dir, "eval_results.txt")
    outputs.write_eval_results(output_eval_file, result)
    runner.write_eval_summaries(result)
    _write_eval_reports(flags.output_dir, runner.last_eval, label_list)

  if flags.do_predict:
    predict_examples = _load_examples("test", processor.get_test_examples,
                                      flags.data_dir, label_list)
    dataset, num_actual_predict_examples = _inference_dataset(
        flags, runner, predict_examples, label_list, tokenizer,
        "predict.tf_record", flags.predict_batch_size,
        "***** Running prediction*****")
    probabilities = list(runner.predict(dataset, len(predict_examples)))
    output_predict_file = os.path.join(flags.output_dir, "test_results.tsv")
    outputs.write_test_results(output_predict_file, probabilities,
                               num_actual_predict_examples)
    predictions_file = os.path.join(flags.output_dir,
                                    reports.PREDICTIONS_FILENAME)
    reports.write_predictions(
        predictions_file, predict_examples[:num_actual_predict_examples],
        probabilities, label_list)
    logger.info("Predicted labels with their probability: %s",
                predictions_file)


def _inference_dataset(flags, runner, examples, label_list, tokenizer,
                       record_name, batch_size, banner):
  """Google's eval/predict preamble: TPU padding, tf_record, logs, weights.

  Pads `examples` in place on TPU; returns (dataset, number of real examples).
  """
  num_actual_examples = len(examples)
  if flags.use_tpu:
    # TPU requires a fixed batch size for all batches, therefore the number
    # of examples must be a multiple of the batch size, or else examples
    # will get dropped. So we pad with fake examples which are ignored
    # later on.
    while len(examples) % batch_size != 0:
      examples.append(PaddingInputExample())

  record_file = os.path.join(flags.output_dir, record_name)
  feature_lib.file_based_convert_examples_to_features(
      examples, label_list, flags.max_seq_length, tokenizer, record_file,
      flags.num_conversion_workers)

  logger.info(banner)
  logger.info("  Num examples = %d (%d actual, %d padding)", len(examples),
              num_actual_examples, len(examples) - num_actual_examples)
  logger.info("  Batch size = %d", batch_size)

  runner.restore_for_inference(flags.init_checkpoint,
                               flags.allow_partial_checkpoint)
  dataset = input_pipeline.file_based_dataset(
      record_file, flags.max_seq_length, is_training=False,
      drop_remainder=flags.use_tpu, batch_size=batch_size,
      dynamic_padding=flags.dynamic_padding)
  return dataset, num_actual_examples


def _write_eval_reports(output_dir, last_eval, label_list) -> None:
  """eval_metrics.json (per-class P/R/F1, macro-F1, confusion matrix) + PNG."""
  labels, predictions, weights = last_eval
  metrics = reports.classification_metrics(labels, predictions, weights,
                                           label_list)
  metrics_file = os.path.join(output_dir, reports.METRICS_FILENAME)
  reports.write_metrics(metrics_file, metrics)
  png_file = os.path.join(output_dir, reports.CONFUSION_PNG_FILENAME)
  reports.write_png(png_file, reports.render_confusion_matrix(
      metrics["confusion_matrix"]))
  logger.info("macro_f1 = %.4f; per-class metrics in %s, confusion matrix "
              "in %s", metrics["macro_f1"], metrics_file, png_file)
