"""The sequence-classification head of a HuggingFace BERT folder, for bert-import-hf.

`BertForSequenceClassification` keeps run_classifier.py's output layer as
`classifier.weight` [labels, hidden] and `classifier.bias` [labels]; its
config.json names the labels (`id2label`) and says whether they are scored
together or each on its own (`problem_type`). bert-import-hf writes them as
`output_weights` / `output_bias` with `labels.json` and a `run_config.json`,
so the imported folder predicts, serves and exports as the run it came from.
A folder written by bert-export-hf also carries the run's sequence length,
windows and threshold (`hf_common.RUN_SETTINGS_KEY`). No TensorFlow.
"""

from __future__ import annotations

import dataclasses

from bert import model_folder
from export import hf_common

HEAD_NAMES = ("output_weights", "output_bias")
MULTI_LABEL_PROBLEM = "multi_label_classification"
# Google's head drops out 0.1 of the pooled output; bert_config.json says so only when it differs.
GOOGLE_HEAD_DROPOUT = 0.1


@dataclasses.dataclass
class ClassifierHead:
  """What the imported folder records about its classifier.

  Attributes:
    labels: the label names in the order of the head's rows.
    run_config: run_config.json's content.
    config_extra: keys added to bert_config.json (the head's dropout when not 0.1).
    warnings: what the user should know (labels made up, settings guessed).
  """

  labels: list[str]
  run_config: dict
  config_extra: dict
  warnings: list[str]


def read_head(
  written: dict,
  hf_config: dict,
  hidden_size: int,
  do_lower_case: bool | None,
  tokenizer_max_length,
  max_position_embeddings: int,
  source: str,
) -> ClassifierHead | None:
  """The head among the `written` Google-named arrays, or None when there is none.

  Args:
    written: Google name -> array about to be written.
    hf_config: the source's config.json.
    hidden_size: the encoder's hidden size.
    do_lower_case: the tokenizer's setting, when the source says.
    tokenizer_max_length: tokenizer_config.json's model_max_length, if any.
    max_position_embeddings: the longest sequence the model takes.
    source: the folder imported from (recorded in run_config.json).

  Raises:
    ValueError: only half of the head, or shapes that do not fit (one line).
  """
  present = [name for name in HEAD_NAMES if name in written]
  if not present:
    return None
  if len(present) == 1:
    raise ValueError("the weights have %s but not the rest of the classifier" % present[0])
  weights, bias = written["output_weights"], written["output_bias"]
  if weights.ndim != 2 or weights.shape[1] != hidden_size or bias.shape != weights.shape[:1]:
    raise ValueError(
      "classifier.weight %s and classifier.bias %s do not fit hidden_size %d"
      % (list(weights.shape), list(bias.shape), hidden_size)
    )
  warnings = []
  labels = _labels(hf_config.get("id2label"), weights.shape[0], warnings)
  settings = hf_config.get(hf_common.RUN_SETTINGS_KEY)
  settings = dict(settings) if isinstance(settings, dict) else {}
  multi_label = hf_config.get("problem_type") == MULTI_LABEL_PROBLEM
  run_config = {
    "imported_from": source,
    "label_list": labels,
    "multi_label": multi_label,
    "multi_label_threshold": float(settings.get("multi_label_threshold", 0.5)),
  }
  if do_lower_case is not None:
    run_config["do_lower_case"] = do_lower_case
  length = settings.get("max_seq_length", tokenizer_max_length)
  if isinstance(length, int) and 3 < length <= max_position_embeddings:
    run_config["max_seq_length"] = length
  for key in ("doc_stride", "window_pooling"):
    if key in settings:
      run_config[key] = settings[key]
  # HF's head drops out classifier_dropout, or hidden_dropout_prob when that is null.
  dropout = hf_config.get("classifier_dropout")
  if dropout is None:
    dropout = hf_config.get("hidden_dropout_prob", GOOGLE_HEAD_DROPOUT)
  extra = {} if dropout == GOOGLE_HEAD_DROPOUT else {"classifier_dropout": dropout}
  return ClassifierHead(labels, run_config, extra, warnings)


def _labels(id2label, count: int, warnings: list) -> list[str]:
  """The names config.json's id2label gives rows 0..count-1, else "0".."count-1"."""
  if isinstance(id2label, dict):
    try:
      by_row = {int(key): value for key, value in id2label.items()}
    except ValueError:
      by_row = {}
    names = [by_row.get(row) for row in range(count)]
    if len(by_row) == count and all(isinstance(name, str) for name in names):
      try:
        return model_folder.check_labels(names, "config.json id2label")
      except model_folder.LabelsError as e:
        warnings.append("%s: the labels are named 0..%d" % (e, count - 1))
        return [str(row) for row in range(count)]
  warnings.append(
    "config.json has no id2label for the %d rows of classifier.weight: the labels are "
    "named 0..%d" % (count, count - 1)
  )
  return [str(row) for row in range(count)]
