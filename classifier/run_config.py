"""The settings of one run_classifier workflow run, as a typed dataclass.

`run_classifier.py` builds a `RunConfig` from its flags; a notebook or another
program builds one directly and passes it to `classifier.run_workflow`. The
field names, types and defaults are those of run_classifier.py's flags (a test
keeps them equal). TensorFlow-free.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class RunConfig:
  """What to train, evaluate or predict, on which data and model.

  The first five fields are the flags Google's script requires; the rest
  default as its flags do. Fields after `num_tpu_cores` are this project's
  additions (see `run_classifier.py --helpfull`).
  """

  data_dir: str
  bert_config_file: str
  task_name: str
  vocab_file: str
  output_dir: str
  init_checkpoint: str | None = None
  do_lower_case: bool = True
  max_seq_length: int = 128
  do_train: bool = False
  do_eval: bool = False
  do_predict: bool = False
  train_batch_size: int = 32
  eval_batch_size: int = 8
  predict_batch_size: int = 8
  learning_rate: float = 5e-5
  num_train_epochs: float = 3.0
  warmup_proportion: float = 0.1
  save_checkpoints_steps: int = 1000
  iterations_per_loop: int = 1000
  use_tpu: bool = False
  tpu_name: str | None = None
  tpu_zone: str | None = None
  gcp_project: str | None = None
  master: str | None = None
  num_tpu_cores: int = 8
  processors_dir: str | None = None
  allow_partial_checkpoint: bool = False
  shuffle_buffer_size: int = 100
  dynamic_padding: bool = False
  num_conversion_workers: int = 0
  seed: int | None = None
  gradient_accumulation_steps: int = 1
  eval_every_steps: int = 0
  eval_every_epoch: bool = False
  keep_best_checkpoint: str | None = None
  early_stopping_patience: int = 0
  precision: str = "float32"
  fused_kernels: bool = True
  multi_label: bool = False
  multi_label_threshold: float = 0.5
  label_separator: str = ","
  doc_stride: int = 0
  window_pooling: str = "mean"
  predict_backend: str = "tensorflow"
  class_weights: str | None = None
  distribution_strategy: str = "auto"
  num_gpus: int | None = None
  train_file: str = "train.tsv"
  dev_file: str = "dev.tsv"
  test_file: str = "test.tsv"
  text_column: str | None = None
  text_b_column: str | None = None
  label_column: str | None = None
  delimiter: str = "\t"
  has_header: bool = True

  @classmethod
  def from_flags(cls, flag_values: Any) -> RunConfig:
    """A RunConfig holding the parsed value of each flag of the same name.

    It also remembers which flags were on the command line (`given`).
    """
    names = [field.name for field in dataclasses.fields(cls)]
    config = cls(**{name: getattr(flag_values, name) for name in names})
    try:
      config._given = frozenset(name for name in names if flag_values[name].present)
    except (TypeError, KeyError, AttributeError):  # Not absl's FlagValues: compare with defaults.
      pass
    return config

  def given(self, name: str) -> bool:
    """Whether the caller set field `name`.

    From a command line (`from_flags`): the flag was on it, even at its
    default value. Built in Python: the value differs from the default.
    """
    explicit = self.__dict__.get("_given")
    if explicit is not None:
      return name in explicit
    field = next(f for f in dataclasses.fields(self) if f.name == name)
    default = None if field.default is dataclasses.MISSING else field.default
    return getattr(self, name) != default

  def replace(self, **changes: Any) -> RunConfig:
    """A copy with `changes`, remembering what was given (as `given` sees it)."""
    copy = dataclasses.replace(self, **changes)
    if "_given" in self.__dict__:
      copy._given = self._given | frozenset(changes)
    return copy

  def processor_options(self) -> dict:
    """The options a configurable processor (`configure(options)`, e.g. tabular) takes."""
    delimiter = "\t" if self.delimiter in ("\\t", "tab", "TAB") else self.delimiter
    return {
      "data_dir": self.data_dir,
      "output_dir": self.output_dir,
      "train_file": self.train_file,
      "dev_file": self.dev_file,
      "test_file": self.test_file,
      "delimiter": delimiter,
      "has_header": self.has_header,
      "text_column": self.text_column,
      "text_b_column": self.text_b_column,
      "label_column": self.label_column,
      "multi_label": self.multi_label,
      "label_separator": self.label_separator,
    }
