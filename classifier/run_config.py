"""The settings of one run_classifier workflow run, in typed sections.

    RunConfig(
      model=ModelFiles(bert_config_file=..., vocab_file=..., init_checkpoint=...),
      data=DataSettings(data_dir=..., task_name=..., max_seq_length=128),
      output_dir=...,
      training=TrainingSettings(do_train=True, ...),
      evaluation=EvaluationSettings(do_eval=True),
      prediction=PredictionSettings(...),
      runtime=RuntimeSettings(...),
    )

Every field of a section is one flag of run_classifier.py, with the flag's
name, type and default (a test keeps them equal); `output_dir` stands alone.
`run_classifier.py` builds its config with `RunConfig.from_flags`; code written
for the flat RunConfig of earlier versions builds one from the flags' names with
`RunConfig.from_flat`. `classifier.plan.plan_run` checks a config and
`classifier.run_workflow` runs it. TensorFlow-free.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class ModelFiles:
  """The pre-trained (or fine-tuned) model to start from."""

  bert_config_file: str
  vocab_file: str
  init_checkpoint: str | None = None
  do_lower_case: bool = True
  allow_partial_checkpoint: bool = False


@dataclasses.dataclass
class DataSettings:
  """The task and its files, and how a text becomes the model's input.

  The file and column settings are the tabular task's; `max_seq_length`,
  `doc_stride` and `multi_label` shape every task's records.
  """

  data_dir: str
  task_name: str
  processors_dir: str | None = None
  max_seq_length: int = 128
  doc_stride: int = 0
  multi_label: bool = False
  label_separator: str = ","
  train_file: str = "train.tsv"
  dev_file: str = "dev.tsv"
  test_file: str = "test.tsv"
  text_column: str | None = None
  text_b_column: str | None = None
  label_column: str | None = None
  delimiter: str = "\t"
  has_header: bool = True


@dataclasses.dataclass
class TrainingSettings:
  """Whether to fine-tune (`do_train`), and how: schedule, loss, evaluation while training."""

  do_train: bool = False
  train_batch_size: int = 32
  learning_rate: float = 5e-5
  num_train_epochs: float = 3.0
  warmup_proportion: float = 0.1
  save_checkpoints_steps: int = 1000
  iterations_per_loop: int = 1000
  gradient_accumulation_steps: int = 1
  shuffle_buffer_size: int = 100
  seed: int | None = None
  class_weights: str | None = None
  eval_every_steps: int = 0
  eval_every_epoch: bool = False
  keep_best_checkpoint: str | None = None
  early_stopping_patience: int = 0

  @property
  def evaluates(self) -> bool:
    """Whether the dev set is evaluated while training (so it must be read then)."""
    return bool(self.do_train and (self.eval_every_steps or self.eval_every_epoch))

  def steps(self, num_records: int, epochs: float | None = None) -> int:
    """Google's count of optimizer steps over `num_records` training records
    (`epochs` defaults to num_train_epochs). With gradient_accumulation_steps
    K, an optimizer step takes K batches."""
    examples_per_step = self.train_batch_size * self.gradient_accumulation_steps
    if epochs is None:
      epochs = self.num_train_epochs
    return int(num_records / examples_per_step * epochs)


@dataclasses.dataclass
class EvaluationSettings:
  """Whether to evaluate the dev set after training (`do_eval`)."""

  do_eval: bool = False
  eval_batch_size: int = 8


@dataclasses.dataclass
class PredictionSettings:
  """Whether to predict the test set (`do_predict`), what runs it, and how the
  model's logits become predictions (in evaluation too)."""

  do_predict: bool = False
  predict_batch_size: int = 8
  predict_backend: str = "tensorflow"
  multi_label_threshold: float = 0.5
  window_pooling: str = "mean"


@dataclasses.dataclass
class RuntimeSettings:
  """Where and how the work runs: devices, distribution, precision, kernels, batching."""

  use_tpu: bool = False
  tpu_name: str | None = None
  tpu_zone: str | None = None
  gcp_project: str | None = None
  master: str | None = None
  num_tpu_cores: int = 8
  distribution_strategy: str = "auto"
  num_gpus: int | None = None
  precision: str = "float32"
  fused_kernels: bool = True
  dynamic_padding: bool = False
  num_conversion_workers: int = 0


SECTIONS = {
  "model": ModelFiles,
  "data": DataSettings,
  "training": TrainingSettings,
  "evaluation": EvaluationSettings,
  "prediction": PredictionSettings,
  "runtime": RuntimeSettings,
}

# Flag name -> the section holding it (None: a field of RunConfig itself).
FLAG_SECTIONS: dict[str, str | None] = {
  **{
    field.name: section for section, kind in SECTIONS.items() for field in dataclasses.fields(kind)
  },
  "output_dir": None,
}


def flag_default(name: str) -> Any:
  """The default of flag `name` (None for the required ones)."""
  section = FLAG_SECTIONS[name]
  if section is None:
    return None
  field = next(f for f in dataclasses.fields(SECTIONS[section]) if f.name == name)
  return None if field.default is dataclasses.MISSING else field.default


@dataclasses.dataclass
class RunConfig:
  """What to train, evaluate or predict, on which data and model.

  `command_line` holds the flags that were on the command line (set by
  `from_flags`); None for a config built in Python.
  """

  model: ModelFiles
  data: DataSettings
  output_dir: str
  training: TrainingSettings = dataclasses.field(default_factory=TrainingSettings)
  evaluation: EvaluationSettings = dataclasses.field(default_factory=EvaluationSettings)
  prediction: PredictionSettings = dataclasses.field(default_factory=PredictionSettings)
  runtime: RuntimeSettings = dataclasses.field(default_factory=RuntimeSettings)
  command_line: frozenset[str] | None = None

  @classmethod
  def from_flat(
    cls,
    data_dir: str,
    bert_config_file: str,
    task_name: str,
    vocab_file: str,
    output_dir: str,
    **settings: Any,
  ) -> RunConfig:
    """A RunConfig from run_classifier.py's flag names, as the flat RunConfig
    of earlier versions took them (the five required ones may be positional,
    in this order; the others are keywords)."""
    unknown = sorted(set(settings) - set(FLAG_SECTIONS))
    if unknown:
      raise TypeError("RunConfig.from_flat() got an unexpected keyword argument %r" % unknown[0])
    settings.update(
      data_dir=data_dir,
      bert_config_file=bert_config_file,
      task_name=task_name,
      vocab_file=vocab_file,
    )
    by_section: dict[str, dict] = {section: {} for section in SECTIONS}
    for name, value in settings.items():
      by_section[FLAG_SECTIONS[name]][name] = value
    return cls(
      output_dir=output_dir,
      **{section: SECTIONS[section](**values) for section, values in by_section.items()},
    )

  @classmethod
  def from_flags(cls, flag_values: Any) -> RunConfig:
    """A RunConfig holding the parsed value of each flag of the same name.

    It also remembers which flags were on the command line (`given`).
    """
    config = cls.from_flat(**{name: getattr(flag_values, name) for name in FLAG_SECTIONS})
    try:
      config.command_line = frozenset(name for name in FLAG_SECTIONS if flag_values[name].present)
    except (TypeError, KeyError, AttributeError):  # Not absl's FlagValues: compare with defaults.
      pass
    return config

  def value(self, name: str) -> Any:
    """The value of flag `name`, from the section that holds it."""
    section = FLAG_SECTIONS[name]
    return getattr(self if section is None else getattr(self, section), name)

  def given(self, name: str) -> bool:
    """Whether the caller set flag `name`.

    From a command line (`from_flags`): the flag was on it, even at its
    default value. Built in Python: the value differs from the default.
    """
    if self.command_line is not None:
      return name in self.command_line
    return self.value(name) != flag_default(name)

  def replace(self, **changes: Any) -> RunConfig:
    """A copy with `changes` (by flag name), each section copied, remembering
    what was given (as `given` sees it)."""
    unknown = sorted(set(changes) - set(FLAG_SECTIONS))
    if unknown:
      raise TypeError("RunConfig.replace() got an unexpected keyword argument %r" % unknown[0])
    sections = {
      section: dataclasses.replace(
        getattr(self, section),
        **{name: value for name, value in changes.items() if FLAG_SECTIONS[name] == section},
      )
      for section in SECTIONS
    }
    command_line = self.command_line
    if command_line is not None:
      command_line = command_line | frozenset(changes)
    return dataclasses.replace(
      self,
      output_dir=changes.get("output_dir", self.output_dir),
      command_line=command_line,
      **sections,
    )

  def processor_options(self) -> dict:
    """The options a configurable processor (`configure(options)`, e.g. tabular) takes."""
    data = self.data
    delimiter = "\t" if data.delimiter in ("\\t", "tab", "TAB") else data.delimiter
    return {
      "data_dir": data.data_dir,
      "output_dir": self.output_dir,
      "train_file": data.train_file,
      "dev_file": data.dev_file,
      "test_file": data.test_file,
      "delimiter": delimiter,
      "has_header": data.has_header,
      "text_column": data.text_column,
      "text_b_column": data.text_b_column,
      "label_column": data.label_column,
      "multi_label": data.multi_label,
      "label_separator": data.label_separator,
    }
