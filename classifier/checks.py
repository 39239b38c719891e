"""Checks of run_classifier.py's flags and model files, before TensorFlow.

Mistakes in flag values, `bert_config.json` or `vocab.txt` used to surface as
a ZeroDivisionError, an AssertionError or an InvalidArgumentError deep in
training (after a checkpoint had been written). These checks run first and
raise `DataError`, `InputError` or `UsageError` (`bert.errors`) with one line that
names the flag or file.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
import math

from bert import model_folder
from bert.errors import InputError, UsageError
from processors.base import DataError, read_text

# Keys that BertModel reads from bert_config.json with no default.
_REQUIRED_INT_KEYS = (
  "vocab_size",
  "hidden_size",
  "num_hidden_layers",
  "num_attention_heads",
  "intermediate_size",
  "max_position_embeddings",
  "type_vocab_size",
)

MIN_SEQ_LENGTH = 3  # [CLS] a [SEP]


def read_bert_config(path: str) -> dict:
  """The JSON object of a bert_config.json, its model sizes checked.

  Raises:
    DataError: the file is missing, not JSON, not an object, or lacks a
      positive integer for one of the sizes, or its hidden size is not a
      multiple of its number of attention heads.
  """
  text = read_text(path)
  try:
    config = json.loads(text)
  except ValueError as e:
    raise DataError("not valid JSON: %s" % e.msg, path, getattr(e, "lineno", None)) from None
  if not isinstance(config, dict):
    raise DataError("expected a JSON object of model sizes", path)
  for key in _REQUIRED_INT_KEYS:
    value = config.get(key, 16 if key == "type_vocab_size" else None)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
      raise DataError("expected a positive integer for %r, found %r" % (key, value), path)
  dropout = config.get("classifier_dropout")
  if dropout is not None and (
    not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout < 1
  ):
    raise DataError(
      "expected a rate in [0, 1) or null for 'classifier_dropout', found %r" % (dropout,), path
    )
  if config["hidden_size"] % config["num_attention_heads"]:
    raise DataError(
      "hidden_size %d is not a multiple of num_attention_heads %d"
      % (config["hidden_size"], config["num_attention_heads"]),
      path,
    )
  return config


def check_vocab(vocab: dict, vocab_file: str, config: dict, config_file: str) -> None:
  """The vocabulary (token -> id, as loaded from `vocab_file`) must fit the
  model's word embeddings.

  Raises:
    InputError: vocab.txt has ids at or above the config's `vocab_size`
      (they would fail in training, after a checkpoint was written).
  """
  size = max(vocab.values()) + 1 if vocab else 0
  if size > config["vocab_size"]:
    raise InputError(
      "%s has %d tokens but %s says vocab_size %d: the ids from %d up have "
      "no embedding; use the vocab.txt and bert_config.json of one model"
      % (vocab_file, size, config_file, config["vocab_size"], config["vocab_size"])
    )


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


def check_flag_values(flags) -> None:
  """Positive batch sizes and epochs, a max_seq_length that holds a text.

  Raises:
    UsageError: naming the flag and the value.
  """
  if flags.max_seq_length < MIN_SEQ_LENGTH:
    raise UsageError(
      "--max_seq_length=%d: need at least %d ([CLS], one token, [SEP])"
      % (flags.max_seq_length, MIN_SEQ_LENGTH)
    )
  stages = [
    ("do_train", "train_batch_size"),
    ("do_eval", "eval_batch_size"),
    ("do_predict", "predict_batch_size"),
  ]
  for stage, flag in stages:
    if getattr(flags, stage) and getattr(flags, flag) < 1:
      raise UsageError("--%s=%d: must be at least 1" % (flag, getattr(flags, flag)))
  if flags.do_train and not flags.num_train_epochs > 0:
    raise UsageError("--num_train_epochs=%s: must be more than 0" % flags.num_train_epochs)
  for flag, least in [
    ("gradient_accumulation_steps", 1),
    ("eval_every_steps", 0),
    ("early_stopping_patience", 0),
  ]:
    if getattr(flags, flag) < least:
      raise UsageError("--%s=%d: must be at least %d" % (flag, getattr(flags, flag), least))
  evaluating = evaluates_during_training(flags)
  training_only = [
    flags.eval_every_steps,
    flags.eval_every_epoch,
    flags.keep_best_checkpoint,
    flags.early_stopping_patience,
  ]
  if any(training_only) and not flags.do_train:
    raise UsageError(
      "--eval_every_steps, --eval_every_epoch, --keep_best_checkpoint and "
      "--early_stopping_patience need --do_train"
    )
  for flag in ("keep_best_checkpoint", "early_stopping_patience"):
    if getattr(flags, flag) and not evaluating:
      raise UsageError("--%s needs --eval_every_steps or --eval_every_epoch" % flag)
  if flags.doc_stride < 0 or flags.doc_stride > flags.max_seq_length - 2:
    raise UsageError(
      "--doc_stride=%d: must be between 0 (off) and --max_seq_length - 2 = %d"
      % (flags.doc_stride, flags.max_seq_length - 2)
    )
  if not 0.0 < flags.multi_label_threshold < 1.0:
    raise UsageError(
      "--multi_label_threshold=%s: must be between 0 and 1" % flags.multi_label_threshold
    )
  if flags.class_weights and flags.multi_label:
    raise UsageError("--class_weights applies to single-label tasks, not --multi_label")
  if flags.class_weights and not flags.do_train:
    raise UsageError("--class_weights needs --do_train: it weighs the training loss only")
  if not flags.doc_stride and flags.given("window_pooling"):
    raise UsageError("--window_pooling needs --doc_stride: it combines the windows of a long text")
  if not flags.label_separator:
    raise UsageError("--label_separator is empty: give the text between two labels, e.g. ','")
  if flags.do_predict and flags.predict_backend != "tensorflow":
    from export import onnx_runtime  # Only then: it needs NumPy, not TensorFlow.

    onnx_runtime.check_installed("--predict_backend=%s" % flags.predict_backend)


def check_multi_label_flags(flags, multi_label: bool) -> None:
  """--multi_label_threshold and --label_separator need a multi-label run.

  `multi_label` is whether the run is one (--multi_label, the trained folder
  or list labels in the data), known once the data is read.

  Raises:
    UsageError: naming the flag that would be ignored.
  """
  if multi_label:
    return
  for flag in ("multi_label_threshold", "label_separator"):
    if flags.given(flag):
      raise UsageError(
        "--%s applies to multi-label runs: add --multi_label, or leave it out" % flag
      )


def class_weights(flags, label_list, train_examples) -> list[float] | None:
  """The weight of each label for --class_weights, or None without it.

  "balanced" gives label c the weight n / (num_labels * count_c) over the
  training examples (1.0 for a label they lack); otherwise the flag lists one
  positive number per label, in `label_list` order.
  """
  spec = flags.class_weights
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


def evaluates_during_training(flags) -> bool:
  """Whether the dev set is evaluated while training (so it must be read then)."""
  return bool(flags.do_train and (flags.eval_every_steps or flags.eval_every_epoch))


def check_training_steps(num_examples: int, flags, source: str) -> None:
  """Google's step count must give at least one step.

  Raises:
    DataError: naming `source` (the training file(s) or the data folder),
      the example count and the batch size.
  """
  if training_steps(flags, num_examples) > 0:
    return
  examples_per_step = flags.train_batch_size * flags.gradient_accumulation_steps
  needed = math.ceil(examples_per_step / flags.num_train_epochs)
  accumulation = ""
  if flags.gradient_accumulation_steps > 1:
    accumulation = " (x %d accumulation steps)" % flags.gradient_accumulation_steps
  raise DataError(
    "%d training example%s with --train_batch_size=%d%s and "
    "--num_train_epochs=%s give 0 training steps; need at least %d examples "
    "(or a smaller --train_batch_size)"
    % (
      num_examples,
      "" if num_examples == 1 else "s",
      flags.train_batch_size,
      accumulation,
      flags.num_train_epochs,
      needed,
    ),
    source,
  )


def training_steps(flags, num_examples: int, epochs: float | None = None) -> int:
  """Google's count of optimizer steps (`epochs` defaults to --num_train_epochs).

  With --gradient_accumulation_steps K, an optimizer step takes K batches.
  """
  examples_per_step = flags.train_batch_size * flags.gradient_accumulation_steps
  if epochs is None:
    epochs = flags.num_train_epochs
  return int(num_examples / examples_per_step * epochs)
