"""A run's plan: every check of its settings, model files and data, once, before TensorFlow.

`plan_run(config)` turns a `RunConfig` into a `RunPlan`: the settings to run
with (a trained --output_dir's applied), bert_config.json's sizes, the
tokenizer, the example sets with their label list in the order the checkpoint
in use was trained with, the class weights, the cluster TF_CONFIG describes. A
mistake ends in a fraction of a second with nothing written; the engine
(`classifier.pipeline`) takes the plan and checks nothing again. Neither
importing this module nor running `plan_run` imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import processors as processor_registry
from bert import model_folder, tokenization
from bert.errors import InputError, UsageError
from bert.model_config import check_vocab, read_bert_config
from classifier import checks, data_sets, folder_settings
from classifier.cluster import Cluster, check_strategy_flags, read_cluster
from classifier.data_sets import DataSets
from classifier.features import RecordLayout
from classifier.run_config import RunConfig
from processors.base import DataError


@dataclasses.dataclass(frozen=True)
class Schedule:
  """Training's step counts for a number of training records."""

  num_train_steps: int
  num_warmup_steps: int
  eval_every: int  # Optimizer steps between evaluations while training; 0: none.


@dataclasses.dataclass(frozen=True)
class RunPlan:
  """What `plan_run` checked and worked out, for the engine.

  `config` is the one to run with (a trained --output_dir's settings
  applied); `bert_config` bert_config.json's checked sizes; `data` the example
  sets, their label list in the head's order (that of the checkpoint in use)
  and whether the run is multi-label; `class_weights` this run's
  --class_weights by label (None without); `kept_class_weights` those the
  trained --output_dir records, which an eval or predict run records again;
  `cluster` this process's place in TF_CONFIG's cluster.
  """

  config: RunConfig
  bert_config: dict
  tokenizer: Any
  data: DataSets
  cluster: Cluster
  class_weights: dict[str, float] | None = None
  kept_class_weights: Any = None

  @property
  def layout(self) -> RecordLayout:
    """The records' layout: multi-hot labels or one, --doc_stride windows or one per text."""
    return RecordLayout(self.data.multi_label, self.config.data.doc_stride)

  @property
  def loss_weights(self) -> list[float] | None:
    """The class weights in the head's label order, for the training loss (None: unweighted)."""
    return list(self.class_weights.values()) if self.class_weights else None

  @property
  def recorded_class_weights(self) -> Any:
    """The class weights run_config.json records: this run's when it trains, else the
    folder's."""
    return self.class_weights if self.config.training.do_train else self.kept_class_weights

  def schedule(self, num_records: int) -> Schedule:
    """The step counts for `num_records` training records (the examples, or their
    --doc_stride windows, counted as the records are written)."""
    training = self.config.training
    num_train_steps = training.steps(num_records)
    eval_every = training.eval_every_steps
    if training.eval_every_epoch:  # Optimizer steps in one pass over the train set.
      eval_every = max(1, training.steps(num_records, epochs=1.0))
    return Schedule(num_train_steps, int(num_train_steps * training.warmup_proportion), eval_every)


def make_processor(config: RunConfig) -> Any:
  """The processor of the config's task_name, configured when it takes options.

  Options the processor refuses without naming a file (a bad --delimiter or
  --label_separator) are flag values, so they are usage errors.
  """
  data = config.data
  processor = processor_registry.get_processor(data.task_name.lower(), data.processors_dir)
  if hasattr(processor, "configure"):
    try:
      processor.configure(config.processor_options())
    except DataError as e:
      if e.input_file is not None:
        raise
      raise UsageError(str(e)) from None
  return processor


def _tokenizer(config: RunConfig) -> tokenization.FullTokenizer:
  try:
    return tokenization.FullTokenizer(
      vocab_file=config.model.vocab_file, do_lower_case=config.model.do_lower_case
    )
  except OSError as e:  # No such vocab file, or unreadable.
    raise InputError(str(e)) from None


def _by_label(weights: list[float] | None, given_order: list, head_order: list) -> dict | None:
  """`weights` (one per label of `given_order`) by label text, in `head_order`."""
  if weights is None:
    return None
  by_text = dict(zip(model_folder.labels_as_strings(given_order), weights))
  return {label: by_text[label] for label in model_folder.labels_as_strings(head_order)}


def plan_run(config: RunConfig, processor: Any = None) -> RunPlan:
  """Checks everything about a run that can be checked without TensorFlow, each
  thing once, and returns what the checks worked out.

  In this order: the stages asked for and --output_dir; the settings of a
  trained --output_dir; bert_config.json and --max_seq_length; the flag
  values; TF_CONFIG and --distribution_strategy; --init_checkpoint; the task
  and its labels; vocab.txt; the requested data; the flags that fit one kind
  of labels; --class_weights; the label order of the checkpoint in use; a
  checkpoint for an ONNX Runtime --predict_backend. `processor` replaces the
  one the config's task_name names.

  Raises:
    bert.errors.ProjectError subclasses (UsageError, DataError, ...) with a
    one-line message.
  """
  checks.check_request(config)
  recorded = folder_settings.recorded_settings(config.output_dir)
  config = folder_settings.apply_recorded_settings(config, recorded)
  model = config.model
  bert_config = read_bert_config(model.bert_config_file)
  checks.check_sequence_length(config.data.max_seq_length, bert_config)
  checks.check_flag_values(config)
  cluster = read_cluster()
  check_strategy_flags(config, cluster)
  checks.check_init_checkpoint(model.init_checkpoint)

  if processor is None:
    processor = make_processor(config)
  label_list = processor_registry.labels_of(processor, config.data.data_dir)
  tokenizer = _tokenizer(config)
  check_vocab(tokenizer.vocab, model.vocab_file, bert_config, model.bert_config_file)

  data = data_sets.read_data_sets(config, processor, label_list)
  checks.check_multi_label_flags(config, data.multi_label)
  weights = checks.class_weights(config.training, data.label_list, data.train)
  given_order = data.label_list
  data.label_list = folder_settings.reconcile_labels(config, given_order)
  checks.check_predict_checkpoint(config)
  kept = None
  if not config.training.do_train:
    kept = folder_settings.kept_class_weights(config.output_dir, recorded)
  return RunPlan(
    config=config,
    bert_config=bert_config,
    tokenizer=tokenizer,
    data=data,
    cluster=cluster,
    class_weights=_by_label(weights, given_order, data.label_list),
    kept_class_weights=kept,
  )
