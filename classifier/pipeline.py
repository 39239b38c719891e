"""The do_train / do_eval / do_predict sequence of Google's main(), on a checked `RunPlan`."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from bert import checkpoint, classifier_model, model_folder, modeling
from classifier import features as feature_lib
from classifier import input_pipeline, outputs, reports
from classifier.plan import RunPlan
from classifier.strategy import make_strategy
from classifier.trainer import ClassifierRunner
from classifier.training_eval import TrainingEvaluator
from processors import PaddingInputExample

logger = logging.getLogger(__name__)


def _copy_beside_checkpoints(source: str, output_dir: str, name: str) -> None:
  """Copies `source` to output_dir/name (atomically) unless it is that file."""
  target = os.path.join(output_dir, name)
  if os.path.exists(target) and os.path.samefile(source, target):
    return
  with open(source, "rb") as f:
    data = f.read()
  with model_folder.atomic_write(target, "wb") as f:
    f.write(data)


def _record_run(plan: RunPlan, bert_config) -> None:
  """Writes what export/serving need to know about this run (and the head's dropout).

  vocab.txt and bert_config.json are copied beside the checkpoints, so the
  output folder itself is a bert-as-service model folder
  (`bert-serving-start -model_dir output`), with no renaming. The class
  weights are those of the run that trained (an eval or predict run keeps them).
  """
  config, model = plan.config, plan.config.model
  _copy_beside_checkpoints(model.vocab_file, config.output_dir, model_folder.VOCAB_FILENAME)
  _copy_beside_checkpoints(
    model.bert_config_file, config.output_dir, model_folder.BERT_CONFIG_FILENAME
  )
  label_list = plan.data.label_list
  model_folder.write_labels(config.output_dir, label_list)
  model_folder.write_json(
    os.path.join(config.output_dir, model_folder.RUN_CONFIG_FILENAME),
    {
      "task_name": config.data.task_name.lower(),
      "label_list": model_folder.labels_as_strings(label_list),
      "vocab_file": os.path.abspath(model.vocab_file),
      "bert_config_file": os.path.abspath(model.bert_config_file),
      "init_checkpoint": model.init_checkpoint,
      "do_lower_case": model.do_lower_case,
      "max_seq_length": config.data.max_seq_length,
      "multi_label": plan.data.multi_label,
      "multi_label_threshold": config.prediction.multi_label_threshold,
      "doc_stride": config.data.doc_stride,
      "window_pooling": config.prediction.window_pooling,
      "classifier_dropout": classifier_model.head_dropout(bert_config),
      "class_weights": plan.recorded_class_weights,
    },
  )


def run(plan: RunPlan) -> dict:
  """Runs the requested stages and writes Google's output files.

  Returns {"eval_results": dict} after do_eval, {"test_results_file": path}
  after do_predict. `plan` holds what `classifier.plan.plan_run` checked and
  worked out before TensorFlow started (the example sets, their labels in the
  order of the checkpoint in use, the class weights, the cluster).
  """
  config, cluster = plan.config, plan.cluster
  runtime = config.runtime
  # First: a multi-worker strategy must be made before TensorFlow runs anything.
  strategy = make_strategy(
    runtime.use_tpu,
    runtime.tpu_name,
    runtime.tpu_zone,
    runtime.gcp_project,
    runtime.master,
    runtime.distribution_strategy,
    runtime.num_gpus,
    cluster.num_workers,
  )
  bert_config = modeling.BertConfig.from_dict(plan.bert_config)
  if cluster.is_chief:
    return _run_stages(plan, bert_config, strategy)
  private = tempfile.mkdtemp(prefix="bert-worker-%d-" % cluster.task_index)
  logger.info(
    "Worker %s %d of %d: the chief writes %s; this one writes to %s (removed at the end) "
    "and leaves eval and predict to the chief",
    cluster.task_type,
    cluster.task_index,
    cluster.num_workers,
    config.output_dir,
    private,
  )
  try:
    mine = config.replace(output_dir=private, do_eval=False, do_predict=False)
    return _run_stages(
      dataclasses.replace(plan, config=mine), bert_config, strategy, restore_dir=config.output_dir
    )
  finally:
    shutil.rmtree(private, ignore_errors=True)


def _run_stages(plan: RunPlan, bert_config, strategy, restore_dir=None) -> dict:
  """`run` for one worker: writes into the plan's output_dir, resumes from `restore_dir`."""
  config, data = plan.config, plan.data
  label_list = data.label_list
  results = {}
  eval_examples, predict_examples = data.dev, data.test

  outputs.remove_orphans(config.output_dir)
  if plan.class_weights is not None:
    logger.info(
      "Class weights (--class_weights=%s), by label: %s",
      config.training.class_weights,
      ", ".join("%s: %.4g" % item for item in plan.class_weights.items()),
    )
  _record_run(plan, bert_config)
  if config.training.seed is not None:
    tf.random.set_seed(config.training.seed)

  runtime, prediction = config.runtime, config.prediction
  runner = ClassifierRunner(
    bert_config,
    len(label_list),
    config.output_dir,
    strategy,
    use_one_hot_embeddings=runtime.use_tpu,
    precision=runtime.precision,
    multi_label=data.multi_label,
    class_weights=plan.loss_weights,
    threshold=prediction.multi_label_threshold,
    window_pooling=prediction.window_pooling,
    restore_dir=restore_dir,
    fused_kernels=runtime.fused_kernels,
  )
  runner.log_precision()

  eval_data = []  # _inference_dataset's (dataset, examples, windows), made once when first needed.

  def eval_dataset(banner):
    if not eval_data:
      eval_data.append(
        _inference_dataset(
          plan,
          eval_examples,
          "eval.tf_record",
          config.evaluation.eval_batch_size,
          banner,
        )
      )
    return eval_data[0][0], eval_data[0][2]

  if config.training.do_train:
    _train(plan, runner, eval_dataset)

  init_checkpoint = config.model.init_checkpoint
  allow_partial = config.model.allow_partial_checkpoint
  if config.evaluation.do_eval:
    dataset, windows = eval_dataset("***** Running evaluation *****")
    runner.restore_for_inference(init_checkpoint, allow_partial)
    result, metrics = _evaluate(
      runner, dataset, (len(eval_examples), windows), label_list, data.multi_label
    )
    if data.multi_label:
      labels, _, weights = runner.last_eval
      real = weights > 0
      warning = reports.empty_predictions_warning(
        "dev", runner.last_probabilities[real], prediction.multi_label_threshold, labels[real]
      )
      if warning:
        logger.warning("%s", warning)

    output_eval_file = os.path.join(config.output_dir, "eval_results.txt")
    outputs.write_eval_results(output_eval_file, result)
    runner.write_eval_summaries(result)
    results["eval_results"] = result
    _write_eval_reports(config.output_dir, runner.last_eval, label_list, data.multi_label)

  if prediction.do_predict:
    dataset, num_actual_predict_examples, windows = _inference_dataset(
      plan,
      predict_examples,
      "predict.tf_record",
      prediction.predict_batch_size,
      "***** Running prediction*****",
    )
    restored = runner.restore_for_inference(init_checkpoint, allow_partial)
    if prediction.predict_backend == "tensorflow":
      probabilities = list(runner.predict(dataset, len(predict_examples), windows))
    else:
      from classifier import onnx_predict

      probabilities = onnx_predict.predict(
        config, restored, dataset, len(predict_examples), label_list, data.multi_label, windows
      )
    output_predict_file = os.path.join(config.output_dir, "test_results.tsv")
    outputs.write_test_results(output_predict_file, probabilities, num_actual_predict_examples)
    results["test_results_file"] = output_predict_file
    predictions_file = os.path.join(config.output_dir, reports.PREDICTIONS_FILENAME)
    reports.write_predictions(
      predictions_file,
      predict_examples[:num_actual_predict_examples],
      probabilities,
      label_list,
      prediction.multi_label_threshold if data.multi_label else None,
    )
    logger.info("Predicted labels with their probability: %s", predictions_file)
  return results


def _train(plan: RunPlan, runner, eval_dataset) -> None:
  """Google's training stage, plus evaluation during training when asked for.

  Steps count the records: with --doc_stride, every window is a training example.
  """
  config, training, runtime = plan.config, plan.config.training, plan.config.runtime
  train_examples, label_list, layout = plan.data.train, plan.data.label_list, plan.layout
  train_file = os.path.join(config.output_dir, "train.tf_record")
  num_records = feature_lib.file_based_convert_examples_to_features(
    train_examples,
    label_list,
    config.data.max_seq_length,
    plan.tokenizer,
    train_file,
    runtime.num_conversion_workers,
    layout,
  )
  schedule = plan.schedule(num_records)
  num_train_steps = schedule.num_train_steps
  logger.info("***** Running training *****")
  logger.info("  Num examples = %d", len(train_examples))
  if num_records != len(train_examples):
    logger.info("  Num windows = %d", num_records)
  logger.info("  Batch size = %d", training.train_batch_size)
  if training.gradient_accumulation_steps > 1:
    logger.info(
      "  Gradient accumulation steps = %d (%d examples per optimizer step)",
      training.gradient_accumulation_steps,
      training.train_batch_size * training.gradient_accumulation_steps,
    )
  logger.info("  Num steps = %d", num_train_steps)
  runner.create_optimizer(training.learning_rate, num_train_steps, schedule.num_warmup_steps)
  initialized = runner.restore(config.model.init_checkpoint, config.model.allow_partial_checkpoint)
  logger.info("**** Trainable Variables ****")
  checkpoint.log_variables(runner.model.variables_by_name.values(), initialized, log=logger.info)
  dataset = input_pipeline.file_based_dataset(
    train_file,
    config.data.max_seq_length,
    is_training=True,
    drop_remainder=True,
    batch_size=training.train_batch_size,
    shuffle_buffer_size=training.shuffle_buffer_size,
    seed=training.seed,
    dynamic_padding=runtime.dynamic_padding,
    **_record_spec(layout, len(label_list)),
  )
  on_eval = None
  if schedule.eval_every:
    data, windows = eval_dataset("***** Evaluation during training *****")

    def evaluate_now() -> dict:
      size = (len(plan.data.dev), windows)
      result, metrics = _evaluate(runner, data, size, label_list, layout.multi_label)
      result["macro_f1"] = np.float32(metrics["macro_f1"])  # For eval_history.tsv.
      runner.write_eval_summaries(result)
      return result

    on_eval = TrainingEvaluator(
      config.output_dir,
      evaluate_now,
      runner.save_weights,
      metric=training.keep_best_checkpoint,
      patience=training.early_stopping_patience,
      num_train_steps=num_train_steps,
    )
  runner.train(
    dataset,
    num_train_steps,
    training.save_checkpoints_steps,
    training.iterations_per_loop,
    training.train_batch_size,
    accumulation_steps=training.gradient_accumulation_steps,
    eval_every_steps=schedule.eval_every,
    on_eval=on_eval,
  )
  if on_eval is not None:
    on_eval.finish(runner.global_step)


def _record_spec(layout, num_labels: int) -> dict:
  """`file_based_dataset`'s arguments for records of `layout`."""
  return {
    "num_labels": num_labels if layout.multi_label else 0,
    "with_example_id": bool(layout.doc_stride),
  }


def _inference_dataset(plan: RunPlan, examples, record_name, batch_size, banner):
  """Google's eval/predict preamble: TPU padding, tf_record, logs.

  Pads `examples` in place on TPU; returns (dataset, number of real examples,
  number of --doc_stride windows or None without them).
  """
  config, layout, label_list = plan.config, plan.layout, plan.data.label_list
  use_tpu = config.runtime.use_tpu
  num_actual_examples = len(examples)
  if use_tpu:
    # Every TPU batch has the same size: fill the last one with padding
    # examples, which the metrics and test_results.tsv leave out.
    while len(examples) % batch_size != 0:
      examples.append(PaddingInputExample())

  record_file = os.path.join(config.output_dir, record_name)
  num_records = feature_lib.file_based_convert_examples_to_features(
    examples,
    label_list,
    config.data.max_seq_length,
    plan.tokenizer,
    record_file,
    config.runtime.num_conversion_workers,
    layout,
  )

  logger.info(banner)
  logger.info(
    "  Num examples = %d (%d actual, %d padding)",
    len(examples),
    num_actual_examples,
    len(examples) - num_actual_examples,
  )
  if layout.doc_stride:
    logger.info("  Num windows = %d", num_records)
  logger.info("  Batch size = %d", batch_size)

  dataset = input_pipeline.file_based_dataset(
    record_file,
    config.data.max_seq_length,
    is_training=False,
    drop_remainder=use_tpu,
    batch_size=batch_size,
    dynamic_padding=config.runtime.dynamic_padding,
    **_record_spec(layout, len(label_list)),
  )
  return dataset, num_actual_examples, (num_records if layout.doc_stride else None)


def _evaluate(runner, dataset, size: tuple, label_list, multi_label: bool):
  """eval_results.txt's values (Google's; a multi-label run adds eval_exact_match,
  eval_micro_f1, eval_macro_f1) and eval_metrics.json's. `size`: (examples, windows or None)."""
  result = runner.evaluate(dataset, *size)
  metrics = _metrics(runner.last_eval, label_list, multi_label)
  if multi_label:
    for name in ("exact_match", "micro_f1", "macro_f1"):
      result["eval_" + name] = np.float32(metrics[name])
  return result, metrics


def _metrics(last_eval, label_list, multi_label: bool) -> dict:
  """eval_metrics.json's content for the last evaluation."""
  labels, predictions, weights = last_eval
  if multi_label:
    return reports.multilabel_metrics(labels, predictions, weights, label_list)
  return reports.classification_metrics(labels, predictions, weights, label_list)


def _write_eval_reports(output_dir, last_eval, label_list, multi_label: bool = False) -> None:
  """eval_metrics.json (per-class P/R/F1, macro-F1; confusion matrix + PNG when
  single-label, micro-F1 and exact match when multi-label)."""
  metrics = _metrics(last_eval, label_list, multi_label)
  metrics_file = os.path.join(output_dir, reports.METRICS_FILENAME)
  reports.write_metrics(metrics_file, metrics)
  if multi_label:
    logger.info(
      "macro_f1 = %.4f, micro_f1 = %.4f, exact_match = %.4f; per-label metrics in %s",
      metrics["macro_f1"],
      metrics["micro_f1"],
      metrics["exact_match"],
      metrics_file,
    )
    return
  png_file = os.path.join(output_dir, reports.CONFUSION_PNG_FILENAME)
  reports.write_png(
    png_file, reports.render_confusion_matrix(metrics["confusion_matrix"], label_list)
  )
  logger.info(
    "macro_f1 = %.4f; per-class metrics in %s, confusion matrix in %s",
    metrics["macro_f1"],
    metrics_file,
    png_file,
  )
