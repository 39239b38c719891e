"""What the bench's sections share about one run: the model, its files and the data.

`data.resolve_model` makes the context, `data.prepare_data` adds the vocab,
tokenizer and tf_records, and a few sections leave what later ones reuse
(the replayed training batches, the initial weights, the ONNX bench folder).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
  import numpy as np

  from bert.tokenization import FullTokenizer


@dataclasses.dataclass
class BenchContext:
  """The model and data of one bench run.

  Set by `data.resolve_model`:
    workdir: the folder every file of the run goes to.
    config: the bert_config.json dict of the model timed.
    name: the model's name in the report.
    checkpoint: the checkpoint prefix of real weights (--minilm), else None
      (seeded random weights).
    vocab_file: vocab.txt; --minilm's own, else None until `data.prepare_data`
      writes one.
    model_dir: a bert-as-service model folder: --minilm's import, else None
      until the serve section saves one with random weights
      (`stages.serving_model_dir`).
    fused_kernels: train with bert.fused_ops (--kernels fused) or the plain ops.
    precision: run_classifier's --precision of the runners the train, profile,
      accumulate, train_eval, eval and predict sections time, and the served
      model's (--precision).

  Set by `data.prepare_data`:
    vocab_source: where the vocab came from, for the report.
    words: the vocab entries the synthetic sentences use.
    tokenizer: the FullTokenizer of vocab_file (lower case).
    records: split -> its tf_record ("train", "eval"; "epoch" for
      --compare's dynamic epochs, `data.write_split`).
    length_stats: the real token counts of the train split, for the report.

  Set by the sections, for later ones:
    initial_weights: variable name -> array of the runner before training
      (with --compare; the HF worker starts from them).
    train_batches: padding mode -> the replayed training batches of the timed
      loop (`stages.replay_all`).
    onnx_folder, onnx_model: the classifier folder the onnx section exports
      and its BertClassifier (`onnx_infer.write_classifier_folder`).
  """

  workdir: str
  config: dict
  name: str
  checkpoint: str | None = None
  vocab_file: str | None = None
  model_dir: str | None = None
  fused_kernels: bool = True
  precision: str = "float32"
  vocab_source: str | None = None
  words: list[str] = dataclasses.field(default_factory=list)
  tokenizer: FullTokenizer | None = None
  records: dict[str, str] = dataclasses.field(default_factory=dict)
  length_stats: dict | None = None
  initial_weights: dict[str, np.ndarray] | None = None
  train_batches: dict[str, list[dict]] = dataclasses.field(default_factory=dict)
  onnx_folder: str | None = None
  onnx_model: Any = None
