"""The do_train / do_eval / do_predict sequence of Google's main()."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from bert import checkpoint, model_folder
from bert.errors import InputError
from classifier import features as feature_lib
from classifier import checks, input_pipeline, outputs, reports
from classifier import model as classifier_model
from classifier.trainer import ClassifierRunner, make_strategy
from classifier.training_eval import TrainingEvaluator
from classifier.cluster import read_cluster
from classifier.data_sets import DataSets
from classifier.run_config import RunConfig
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


def _record_run(
  flags: RunConfig, label_list, multi_label: bool, bert_config, class_weights=None
) -> None:
  """Writes what export/serving need to know about this run (and the head's dropout).

  vocab.txt and bert_config.json are copied beside the checkpoints, so the
  output folder itself is a bert-as-service model folder
  (`bert-serving-start -model_dir output`), with no renaming. The class
  weights are those of the run that trained (an eval or predict run keeps them).
  """
  if not flags.do_train:
    class_weights = (model_folder.read_run_config(flags.output_dir) or {}).get("class_weights")
  _copy_beside_checkpoints(flags.vocab_file, flags.output_dir, model_folder.VOCAB_FILENAME)
  _copy_beside_checkpoints(
    flags.bert_config_file, flags.output_dir, model_folder.BERT_CONFIG_FILENAME
  )
  model_folder.write_labels(flags.output_dir, label_list)
  model_folder.write_json(
    os.path.join(flags.output_dir, model_folder.RUN_CONFIG_FILENAME),
    {
      "task_name": flags.task_name.lower(),
      "label_list": model_folder.labels_as_strings(label_list),
      "vocab_file": os.path.abspath(flags.vocab_file),
      "bert_config_file": os.path.abspath(flags.bert_config_file),
      "init_checkpoint": flags.init_checkpoint,
      "do_lower_case": flags.do_lower_case,
      "max_seq_length": flags.max_seq_length,
      "multi_label": multi_label,
      "multi_label_threshold": flags.multi_label_threshold,
      "doc_stride": flags.doc_stride,
      "window_pooling": flags.window_pooling,
      "classifier_dropout": classifier_model.head_dropout(bert_config),
      "class_weights": class_weights,
    },
  )


def _trained_labels(flags: RunConfig) -> tuple[list | None, str | None]:
  """The label list that the checkpoint to be used was trained with.

  It is the `labels.json` of --output_dir when that folder holds a checkpoint
  (training resumes from it, eval/predict use it), else, for eval/predict
  alone, the one beside a fine-tuned --init_checkpoint (a new training run
  may start from another task's model). Returns (labels, file) or (None, None).
  """
  candidates = []
  if checkpoint.latest_checkpoint(flags.output_dir):
    candidates.append(flags.output_dir)
  elif flags.init_checkpoint and not flags.do_train:
    candidates.append(os.path.dirname(os.path.abspath(flags.init_checkpoint)))
  for folder in candidates:
    labels = model_folder.read_labels(folder)
    if labels is not None:
      return labels, os.path.join(folder, model_folder.LABELS_FILENAME)
  return None, None


def reconcile_labels(flags: RunConfig, label_list) -> list:
  """The processor's labels in the order the checkpoint was trained with.

  The same labels in another order (e.g. from `list(set(...))`) give the
  trained order, with a warning; other labels are an error naming both
  lists, since the checkpoint's output layer would not match them.
  """
  trained, path = _trained_labels(flags)
  label_list = list(label_list)
  as_text = model_folder.labels_as_strings(label_list)
  if trained is None or trained == as_text:
    return label_list
  if len(set(as_text)) == len(label_list) and sorted(trained) == sorted(as_text):
    by_text = dict(zip(as_text, label_list))
    logger.warning(
      "get_labels() gives %s, the checkpoint was trained with %s (%s): "
      "same labels, other order; using the trained order",
      label_list,
      trained,
      path,
    )
    return [by_text[str(label)] for label in trained]
  raise InputError(
    "the task's labels %s differ from the labels %s that the checkpoint was "
    "trained with (%s); use the processor that trained it, or a new "
    "--output_dir to train a new model" % (label_list, trained, path)
  )


def run(flags: RunConfig, data: DataSets, tokenizer, bert_config) -> dict:
  """Runs the requested stages and writes Google's output files.

  Returns {"eval_results": dict} after do_eval, {"test_results_file": path}
  after do_predict.

  `data` holds the example sets, read and checked before TensorFlow started
  (`data_sets.read_data_sets`); their labels are put in the order the
  checkpoint in use was trained with before anything is written.
  """
  cluster = read_cluster()
  # First: a multi-worker strategy must be made before TensorFlow runs anything.
  strategy = make_strategy(
    flags.use_tpu,
    flags.tpu_name,
    flags.tpu_zone,
    flags.gcp_project,
    flags.master,
    flags.distribution_strategy,
    flags.num_gpus,
    cluster.num_workers,
  )
  label_list = reconcile_labels(flags, data.label_list)
  if cluster.is_chief:
    return _run_stages(flags, data, tokenizer, bert_config, label_list, strategy)
  private = tempfile.mkdtemp(prefix="bert-worker-%d-" % cluster.task_index)
  logger.info(
    "Worker %s %d of %d: the chief writes %s; this one writes to %s (removed at the end) "
    "and leaves eval and predict to the chief",
    cluster.task_type,
    cluster.task_index,
    cluster.num_workers,
    flags.output_dir,
    private,
  )
  try:
    mine = dataclasses.replace(flags, output_dir=private, do_eval=False, do_predict=False)
    return _run_stages(
      mine, data, tokenizer, bert_config, label_list, strategy, restore_dir=flags.output_dir
    )
  finally:
    shutil.rmtree(private, ignore_errors=True)


def _run_stages(
  flags: RunConfig, data, tokenizer, bert_config, label_list, strategy, restore_dir=None
) -> dict:
  """`run` for one worker: writes into flags.output_dir, resumes from `restore_dir`."""
  results = {}
  train_examples, eval_examples, predict_examples = (data.train, data.dev, data.test)

  outputs.remove_orphans(flags.output_dir)
  class_weights = checks.class_weights(flags, label_list, train_examples)
  if class_weights is not None:
    class_weights = dict(zip(model_folder.labels_as_strings(label_list), class_weights))
    logger.info(
      "Class weights (--class_weights=%s), by label: %s",
      flags.class_weights,
      ", ".join("%s: %.4g" % item for item in class_weights.items()),
    )
  _record_run(flags, label_list, data.multi_label, bert_config, class_weights)
  layout = feature_lib.RecordLayout(data.multi_label, flags.doc_stride)
  if flags.seed is not None:
    tf.random.set_seed(flags.seed)

  runner = ClassifierRunner(
    bert_config,
    len(label_list),
    flags.output_dir,
    strategy,
    use_one_hot_embeddings=flags.use_tpu,
    precision=flags.precision,
    multi_label=data.multi_label,
    class_weights=list(class_weights.values()) if class_weights else None,
    threshold=flags.multi_label_threshold,
    window_pooling=flags.window_pooling,
    restore_dir=restore_dir,
    fused_kernels=flags.fused_kernels,
  )
  if flags.precision != "float32":
    logger.info(
      "Precision %s: float32 weights, optimizer and checkpoints%s",
      flags.precision,
      "; dynamic loss scaling" if runner.loss_scale is not None else "",
    )

  eval_data = []  # _inference_dataset's (dataset, examples, windows), made once when first needed.

  def eval_dataset(banner):
    if not eval_data:
      eval_data.append(
        _inference_dataset(
          flags,
          eval_examples,
          label_list,
          tokenizer,
          "eval.tf_record",
          flags.eval_batch_size,
          banner,
          layout,
        )
      )
    return eval_data[0][0], eval_data[0][2]

  if flags.do_train:
    _train(
      flags, runner, train_examples, label_list, tokenizer, eval_dataset, eval_examples, layout
    )

  if flags.do_eval:
    dataset, windows = eval_dataset("***** Running evaluation *****")
    runner.restore_for_inference(flags.init_checkpoint, flags.allow_partial_checkpoint)
    result, metrics = _evaluate(
      runner, dataset, (len(eval_examples), windows), label_list, data.multi_label
    )
    if data.multi_label:
      labels, _, weights = runner.last_eval
      real = weights > 0
      warning = reports.empty_predictions_warning(
        "dev", runner.last_probabilities[real], flags.multi_label_threshold, labels[real]
      )
      if warning:
        logger.warning("%s", warning)

    output_eval_file = os.path.join(flags.output_dir, "eval_results.txt")
    outputs.write_eval_results(output_eval_file, result)
    runner.write_eval_summaries(result)
    results["eval_results"] = result
    _write_eval_reports(flags.output_dir, runner.last_eval, label_list, data.multi_label)

  if flags.do_predict:
    dataset, num_actual_predict_examples, windows = _inference_dataset(
      flags,
      predict_examples,
      label_list,
      tokenizer,
      "predict.tf_record",
      flags.predict_batch_size,
      "***** Running prediction*****",
      layout,
    )
    restored = runner.restore_for_inference(flags.init_checkpoint, flags.allow_partial_checkpoint)
    if flags.predict_backend == "tensorflow":
      probabilities = list(runner.predict(dataset, len(predict_examples), windows))
    else:
      from classifier import onnx_predict

      probabilities = onnx_predict.predict(
        flags, restored, dataset, len(predict_examples), label_list, data.multi_label, windows
      )
    output_predict_file = os.path.join(flags.output_dir, "test_results.tsv")
    outputs.write_test_results(output_predict_file, probabilities, num_actual_predict_examples)
    results["test_results_file"] = output_predict_file
    predictions_file = os.path.join(flags.output_dir, reports.PREDICTIONS_FILENAME)
    reports.write_predictions(
      predictions_file,
      predict_examples[:num_actual_predict_examples],
      probabilities,
      label_list,
      flags.multi_label_threshold if data.multi_label else None,
    )
    logger.info("Predicted labels with their probability: %s", predictions_file)
  return results


def _train(
  flags, runner, train_examples, label_list, tokenizer, eval_dataset, eval_examples, layout
) -> None:
  """Google's training stage, plus evaluation during training when asked for.

  Steps count the records: with --doc_stride, every window is a training example.
  """
  train_file = os.path.join(flags.output_dir, "train.tf_record")
  num_records = feature_lib.file_based_convert_examples_to_features(
    train_examples,
    label_list,
    flags.max_seq_length,
    tokenizer,
    train_file,
    flags.num_conversion_workers,
    layout,
  )
  num_train_steps = checks.training_steps(flags, num_records)
  num_warmup_steps = int(num_train_steps * flags.warmup_proportion)
  logger.info("***** Running training *****")
  logger.info("  Num examples = %d", len(train_examples))
  if num_records != len(train_examples):
    logger.info("  Num windows = %d", num_records)
  logger.info("  Batch size = %d", flags.train_batch_size)
  if flags.gradient_accumulation_steps > 1:
    logger.info(
      "  Gradient accumulation steps = %d (%d examples per optimizer step)",
      flags.gradient_accumulation_steps,
      flags.train_batch_size * flags.gradient_accumulation_steps,
    )
  logger.info("  Num steps = %d", num_train_steps)
  runner.create_optimizer(flags.learning_rate, num_train_steps, num_warmup_steps)
  initialized = runner.restore(flags.init_checkpoint, flags.allow_partial_checkpoint)
  logger.info("**** Trainable Variables ****")
  checkpoint.log_variables(runner.model.variables_by_name.values(), initialized, log=logger.info)
  dataset = input_pipeline.file_based_dataset(
    train_file,
    flags.max_seq_length,
    is_training=True,
    drop_remainder=True,
    batch_size=flags.train_batch_size,
    shuffle_buffer_size=flags.shuffle_buffer_size,
    seed=flags.seed,
    dynamic_padding=flags.dynamic_padding,
    **_record_spec(layout, len(label_list)),
  )
  eval_every = flags.eval_every_steps
  if flags.eval_every_epoch:  # Optimizer steps in one pass over the train set.
    eval_every = max(1, checks.training_steps(flags, num_records, epochs=1.0))
  on_eval = None
  if eval_every:
    data, windows = eval_dataset("***** Evaluation during training *****")

    def evaluate_now() -> dict:
      size = (len(eval_examples), windows)
      result, metrics = _evaluate(runner, data, size, label_list, layout.multi_label)
      result["macro_f1"] = np.float32(metrics["macro_f1"])  # For eval_history.tsv.
      runner.write_eval_summaries(result)
      return result

    on_eval = TrainingEvaluator(
      flags.output_dir,
      evaluate_now,
      runner.save_weights,
      metric=flags.keep_best_checkpoint,
      patience=flags.early_stopping_patience,
      num_train_steps=num_train_steps,
    )
  runner.train(
    dataset,
    num_train_steps,
    flags.save_checkpoints_steps,
    flags.iterations_per_loop,
    flags.train_batch_size,
    accumulation_steps=flags.gradient_accumulation_steps,
    eval_every_steps=eval_every,
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


def _inference_dataset(
  flags, examples, label_list, tokenizer, record_name, batch_size, banner, layout
):
  """Google's eval/predict preamble: TPU padding, tf_record, logs.

  Pads `examples` in place on TPU; returns (dataset, number of real examples,
  number of --doc_stride windows or None without them).
  """
  num_actual_examples = len(examples)
  if flags.use_tpu:
    # Every TPU batch has the same size: fill the last one with padding
    # examples, which the metrics and test_results.tsv leave out.
    while len(examples) % batch_size != 0:
      examples.append(PaddingInputExample())

  record_file = os.path.join(flags.output_dir, record_name)
  num_records = feature_lib.file_based_convert_examples_to_features(
    examples,
    label_list,
    flags.max_seq_length,
    tokenizer,
    record_file,
    flags.num_conversion_workers,
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
    flags.max_seq_length,
    is_training=False,
    drop_remainder=flags.use_tpu,
    batch_size=batch_size,
    dynamic_padding=flags.dynamic_padding,
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
