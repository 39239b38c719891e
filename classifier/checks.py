"""Checks of a run's settings and model files, before TensorFlow (`classifier.plan` runs them).

Mistakes in flag values, `bert_config.json` or `vocab.txt` used to surface as
a ZeroDivisionError, an AssertionError or an InvalidArgumentError deep in
training (after a checkpoint had been written). These checks run first and
raise `DataError`, `InputError` or `UsageError` (`bert.errors`) with one line that
names the flag or file.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import math
import os

from bert import model_folder
from bert import precision as precisions
from bert.errors import InputError, UsageError
from classifier.run_config import RunConfig, TrainingSettings
from processors.base import DataError

MIN_SEQ_LENGTH = 3  # [CLS] a [SEP]


def check_init_checkpoint(path: str | None) -> None:
  """A local --init_checkpoint must name a checkpoint (remote ones are
  checked when they are read).

  Raises:
    InputError: with the message `bert.checkpoint` would give later.
  """
  if path and "://" not in path:
    problem = model_folder.local_checkpoint_problem(path)
    if problem:
      raise InputError(problem)


def check_request(config: RunConfig) -> None:
  """A run that asks for something, into a folder, with a cased/uncased setting
  that fits a known --init_checkpoint.

  Raises:
    UsageError: Google's messages for the case and the stages.
    InputError: --output_dir is a file.
  """
  from bert import tokenization  # TensorFlow-free.

  try:
    tokenization.validate_case_matches_checkpoint(
      config.model.do_lower_case, config.model.init_checkpoint
    )
  except ValueError as e:  # Google's check, with Google's message.
    raise UsageError(str(e)) from None
  stages = (config.training.do_train, config.evaluation.do_eval, config.prediction.do_predict)
  if not any(stages):
    raise UsageError("At least one of `do_train`, `do_eval` or `do_predict' must be True.")
  if os.path.exists(config.output_dir) and not os.path.isdir(config.output_dir):
    raise InputError("--output_dir %s exists and is not a directory" % config.output_dir)


def check_sequence_length(max_seq_length: int, model_sizes: dict) -> None:
  """--max_seq_length must fit the model's position embeddings (Google's message)."""
  if max_seq_length > model_sizes["max_position_embeddings"]:
    raise UsageError(
      "Cannot use sequence length %d because the BERT model "
      "was only trained up to sequence length %d"
      % (max_seq_length, model_sizes["max_position_embeddings"])
    )


def check_flag_values(config: RunConfig) -> None:
  """Positive batch sizes and epochs, a max_seq_length that holds a text,
  flags that go together, an installed --predict_backend.

  Raises:
    UsageError: naming the flag and the value.
  """
  data, training, prediction = config.data, config.training, config.prediction
  if data.max_seq_length < MIN_SEQ_LENGTH:
    raise UsageError(
      "--max_seq_length=%d: need at least %d ([CLS], one token, [SEP])"
      % (data.max_seq_length, MIN_SEQ_LENGTH)
    )
  stages = [
    (training.do_train, "train_batch_size", training.train_batch_size),
    (config.evaluation.do_eval, "eval_batch_size", config.evaluation.eval_batch_size),
    (prediction.do_predict, "predict_batch_size", prediction.predict_batch_size),
  ]
  for requested, flag, batch_size in stages:
    if requested and batch_size < 1:
      raise UsageError("--%s=%d: must be at least 1" % (flag, batch_size))
  if training.do_train and not training.num_train_epochs > 0:
    raise UsageError("--num_train_epochs=%s: must be more than 0" % training.num_train_epochs)
  for flag, value, least in [
    ("gradient_accumulation_steps", training.gradient_accumulation_steps, 1),
    ("eval_every_steps", training.eval_every_steps, 0),
    ("early_stopping_patience", training.early_stopping_patience, 0),
  ]:
    if value < least:
      raise UsageError("--%s=%d: must be at least %d" % (flag, value, least))
  _check_training_only(training)
  if data.doc_stride < 0 or data.doc_stride > data.max_seq_length - 2:
    raise UsageError(
      "--doc_stride=%d: must be between 0 (off) and --max_seq_length - 2 = %d"
      % (data.doc_stride, data.max_seq_length - 2)
    )
  if not 0.0 < prediction.multi_label_threshold < 1.0:
    raise UsageError(
      "--multi_label_threshold=%s: must be between 0 and 1" % prediction.multi_label_threshold
    )
  if training.class_weights and data.multi_label:
    raise UsageError("--class_weights applies to single-label tasks, not --multi_label")
  if training.class_weights and not training.do_train:
    raise UsageError("--class_weights needs --do_train: it weighs the training loss only")
  if not data.doc_stride and config.given("window_pooling"):
    raise UsageError("--window_pooling needs --doc_stride: it combines the windows of a long text")
  if not data.label_separator:
    raise UsageError("--label_separator is empty: give the text between two labels, e.g. ','")
  if prediction.do_predict and prediction.predict_backend != "tensorflow":
    _check_onnx_backend(prediction.predict_backend)
  _check_precision(config)


def _check_precision(config: RunConfig) -> None:
  """--precision must be one we compute in, and must apply to a stage of the run: an
  ONNX Runtime --predict_backend predicts in its own precision (fp32 or int8)."""
  precision = config.runtime.precision
  if precision not in precisions.CHOICES:
    raise UsageError(
      "--precision=%s: choose one of %s" % (precision, ", ".join(precisions.CHOICES))
    )
  tensorflow_stage = (
    config.training.do_train
    or config.evaluation.do_eval
    or config.prediction.predict_backend == "tensorflow"
  )
  if precision != "float32" and not tensorflow_stage:
    raise UsageError(
      "--precision=%s does not apply to --predict_backend=%s, which predicts in its own "
      "precision: leave --precision out" % (precision, config.prediction.predict_backend)
    )


def _check_training_only(training: TrainingSettings) -> None:
  """Evaluation during training, the best checkpoint and early stopping need training
  and, the last two, evaluation during it."""
  training_only = [
    training.eval_every_steps,
    training.eval_every_epoch,
    training.keep_best_checkpoint,
    training.early_stopping_patience,
  ]
  if any(training_only) and not training.do_train:
    raise UsageError(
      "--eval_every_steps, --eval_every_epoch, --keep_best_checkpoint and "
      "--early_stopping_patience need --do_train"
    )
  for flag in ("keep_best_checkpoint", "early_stopping_patience"):
    if getattr(training, flag) and not training.evaluates:
      raise UsageError("--%s needs --eval_every_steps or --eval_every_epoch" % flag)


def _check_onnx_backend(backend: str) -> None:
  """An ONNX Runtime --predict_backend must be one we have, and installed."""
  from onnx_bert import runtime as onnx_runtime  # Only then: NumPy, not TensorFlow.

  if backend not in onnx_runtime.BACKENDS:
    raise UsageError(
      "--predict_backend=%s: choose one of %s" % (backend, ", ".join(onnx_runtime.BACKENDS))
    )
  onnx_runtime.check_installed("--predict_backend=%s" % backend)


def check_predict_checkpoint(config: RunConfig) -> None:
  """An ONNX Runtime --predict_backend predicts with a checkpoint: one that
  training writes, one in --output_dir, or --init_checkpoint.

  Raises:
    UsageError: there will be none.
  """
  prediction = config.prediction
  if not prediction.do_predict or prediction.predict_backend == "tensorflow":
    return
  if config.training.do_train or config.model.init_checkpoint:
    return
  if model_folder.newest_local_checkpoint(config.output_dir):
    return
  raise UsageError(
    "--predict_backend=%s needs a checkpoint: --output_dir has none and no "
    "--init_checkpoint was given" % prediction.predict_backend
  )


def check_multi_label_flags(config: RunConfig, multi_label: bool) -> None:
  """Flags for one kind of run only: --class_weights for single-label runs,
  --multi_label_threshold and --label_separator for multi-label ones.

  `multi_label` is whether the run is one (--multi_label, the trained folder
  or list labels in the data), known once the data is read.

  Raises:
    UsageError: naming the flag that does not fit (or would be ignored).
  """
  if multi_label:
    if config.training.class_weights:
      raise UsageError("--class_weights applies to single-label tasks; this one is multi-label")
    return
  for flag in ("multi_label_threshold", "label_separator"):
    if config.given(flag):
      raise UsageError(
        "--%s applies to multi-label runs: add --multi_label, or leave it out" % flag
      )


def class_weights(training: TrainingSettings, label_list, train_examples) -> list[float] | None:
  """The weight of each label for --class_weights, or None without it.

  "balanced" gives label c the weight n / (num_labels * count_c) over the
  training examples (1.0 for a label they lack); otherwise the flag lists one
  positive number per label, in `label_list` order.
  """
  spec = training.class_weights
  if not spec:
    return None
  if spec.strip().lower() == "balanced":
    if not train_examples:
      raise UsageError("--class_weights=balanced needs --do_train (it counts the train set)")
    counts = {label: 0 for label in label_list}
    for example in train_examples:
      if example.label in counts:
        counts[example.label] += 1
    n, k = len(train_examples), len(label_list)
    return [n / (k * counts[label]) if counts[label] else 1.0 for label in label_list]
  try:
    weights = [float(part) for part in spec.split(",")]
  except ValueError:
    raise UsageError(
      "--class_weights=%s: expected 'balanced' or comma-separated numbers" % spec
    ) from None
  if len(weights) != len(label_list) or not all(0 < w < math.inf for w in weights):
    raise UsageError(
      "--class_weights=%s: expected %d positive weights, one per label of %s, each finite"
      % (spec, len(label_list), list(label_list))
    )
  return weights


def check_training_steps(num_examples: int, training: TrainingSettings, source: str) -> None:
  """Google's step count must give at least one step.

  Raises:
    DataError: naming `source` (the training file(s) or the data folder),
      the example count and the batch size.
  """
  if training.steps(num_examples) > 0:
    return
  examples_per_step = training.train_batch_size * training.gradient_accumulation_steps
  needed = math.ceil(examples_per_step / training.num_train_epochs)
  accumulation = ""
  if training.gradient_accumulation_steps > 1:
    accumulation = " (x %d accumulation steps)" % training.gradient_accumulation_steps
  raise DataError(
    "%d training example%s with --train_batch_size=%d%s and "
    "--num_train_epochs=%s give 0 training steps; need at least %d examples "
    "(or a smaller --train_batch_size)"
    % (
      num_examples,
      "" if num_examples == 1 else "s",
      training.train_batch_size,
      accumulation,
      training.num_train_epochs,
      needed,
    ),
    source,
  )
