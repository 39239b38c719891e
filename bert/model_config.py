"""What a BERT model is made of, read without TensorFlow: bert_config.json, vocab.txt, the head.

`read_bert_config` is the one reader of bert_config.json (its sizes checked);
`CONFIG_KEYS` are Google's keys, which HuggingFace's config.json shares.
`read_vocab_tokens` reads vocab.txt line by line as Google's tokenizer numbers
it. run_classifier.py's classifier head is the pair `HEAD_NAMES` in the
checkpoint, trained with the dropout `head_dropout` says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from bert import errors
from bert.errors import DataError, InputError
from bert.text_files import read_text

# The keys of Google's bert_config.json; HuggingFace's config.json uses the same names.
CONFIG_KEYS = (
  "attention_probs_dropout_prob",
  "hidden_act",
  "hidden_dropout_prob",
  "hidden_size",
  "initializer_range",
  "intermediate_size",
  "max_position_embeddings",
  "num_attention_heads",
  "num_hidden_layers",
  "type_vocab_size",
  "vocab_size",
)

# The sizes that BertModel reads from bert_config.json with no default (type_vocab_size: 16).
SIZE_KEYS = (
  "vocab_size",
  "hidden_size",
  "num_hidden_layers",
  "num_attention_heads",
  "intermediate_size",
  "max_position_embeddings",
  "type_vocab_size",
)
_SIZE_DEFAULTS = {"type_vocab_size": 16}

# The classifier head that run_classifier.py adds on top of the encoder.
HEAD_NAMES = ("output_weights", "output_bias")
HEAD_DROPOUT = 0.1  # Google's, hard-coded in its head.


def _is_rate(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1


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
  for key in SIZE_KEYS:
    value = config.get(key, _SIZE_DEFAULTS.get(key))
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
      raise DataError("expected a positive integer for %r, found %r" % (key, value), path)
  dropout = config.get("classifier_dropout")
  if dropout is not None and not _is_rate(dropout):
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


def head_dropout(bert_config) -> float:
  """The dropout rate of the head: bert_config.json's `classifier_dropout`.

  `bert_config` is the config as a dict or a `bert.modeling.BertConfig`. The
  key is Hugging Face's: a number is the rate, null means the config's
  `hidden_dropout_prob` (as in HF); without the key it is Google's 0.1.
  """
  settings = bert_config if isinstance(bert_config, dict) else vars(bert_config)
  if "classifier_dropout" not in settings:
    return HEAD_DROPOUT
  rate = settings["classifier_dropout"]
  return float(settings.get("hidden_dropout_prob", 0.1) if rate is None else rate)


def read_vocab_tokens(vocab_file: str) -> list[str]:
  """vocab.txt's tokens, one per line, as `bert.tokenization.load_vocab` reads them.

  Lines end at "\\n" only; "\\r" is dropped and the surrounding whitespace
  stripped. Written back one per line, HF's BertTokenizer gives each token
  the id Google's tokenizer gives it.

  Raises:
    InputError: the file cannot be read or is not UTF-8.
  """
  try:
    with open(vocab_file, encoding="utf-8", newline="\n") as f:
      return [line.replace("\r", "").strip() for line in f]
  except OSError as e:
    raise InputError(errors.cannot("read", vocab_file, e)) from None
  except UnicodeDecodeError as e:
    raise InputError("%s is not UTF-8: %s" % (vocab_file, e.reason)) from None


def check_vocab(
  vocab: dict,
  vocab_file: str,
  config: dict,
  config_file: str,
  error: type[InputError] = InputError,
) -> None:
  """The vocabulary (token -> id, as loaded from `vocab_file`) must fit the
  model's word embeddings.

  Raises:
    `error`: vocab.txt has ids at or above the config's `vocab_size` (they
      would fail in training, after a checkpoint was written).
  """
  size = max(vocab.values()) + 1 if vocab else 0
  if size > config["vocab_size"]:
    raise error(
      "%s has %d tokens but %s says vocab_size %d: the ids from %d up have "
      "no embedding; use the vocab.txt and bert_config.json of one model"
      % (vocab_file, size, config_file, config["vocab_size"], config["vocab_size"])
    )


def head_size(
  checkpoint: str,
  shapes: dict,
  hidden_size: int,
  error: type[InputError],
  labels: Sequence[str] | None = None,
) -> int | None:
  """How many labels the checkpoint's classifier head scores; None when it has no head.

  `shapes` maps the checkpoint's variable names to their shapes. Half a head,
  shapes that do not fit `hidden_size`, or a row count other than the number
  of `labels` (when given) raise `error`.
  """
  present = [name for name in HEAD_NAMES if name in shapes]
  if not present:
    return None
  if len(present) == 1:
    (absent,) = [name for name in HEAD_NAMES if name not in shapes]
    raise error(
      "checkpoint %s has %s but not %s: a classifier head needs both"
      % (checkpoint, present[0], absent)
    )
  weights = list(shapes["output_weights"])
  bias = list(shapes["output_bias"])
  if len(bias) != 1 or weights != [bias[0], hidden_size]:
    raise error(
      "checkpoint %s has a classifier head of shapes output_weights %s, output_bias %s; "
      "expected [num_labels, %d] and [num_labels]" % (checkpoint, weights, bias, hidden_size)
    )
  rows = bias[0]
  if labels is not None and len(labels) != rows:
    raise error(
      "checkpoint %s has a head for %d labels but the label list has %d: %s"
      % (checkpoint, rows, len(labels), ", ".join(labels))
    )
  return rows
