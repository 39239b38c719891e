"""bert-import-hf's tokenizer step: the vocab and what the tokenizer files say.

The vocab is vocab.txt, or else the WordPiece vocab of tokenizer.json (written
out as vocab.txt). tokenizer_config.json or tokenizer.json's normalizer say
whether the model lowercases; a sentence-transformers folder says how it pools.
No TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os

from bert import errors
from export.hf_source import (
  VOCAB_NAME,
  HFImportError,
  ImportLog,
  first_file,
  module_entries,
  read_json_object,
)


@dataclasses.dataclass
class Vocab:
  """The vocab to write.

  Attributes:
    tokens: the tokens, in id order.
    path: the source's vocab.txt, copied as it is; None when the tokens come
      from tokenizer.json and are written out.
  """

  tokens: list[str]
  path: str | None


def _vocab_from_tokenizer_json(path: str) -> list[str] | None:
  model = read_json_object(path).get("model")
  if not isinstance(model, dict):
    return None
  vocab = model.get("vocab")
  if model.get("type") != "WordPiece" or not isinstance(vocab, dict):
    return None
  tokens = sorted(vocab, key=vocab.get)
  if [vocab[t] for t in tokens] != list(range(len(tokens))):
    raise HFImportError("%s: the WordPiece vocab ids are not 0..%d" % (path, len(tokens) - 1))
  return tokens


def _read_vocab_lines(path: str) -> list[str]:
  try:
    with open(path, encoding="utf-8") as f:
      return [line.rstrip("\n").strip() for line in f]
  except OSError as e:
    raise HFImportError(errors.cannot("read", path, e)) from None
  except UnicodeDecodeError as e:
    raise HFImportError("%s is not UTF-8: %s" % (path, e.reason)) from None


def read_vocab(search_dirs: list[str], vocab_size: int, log: ImportLog) -> Vocab:
  """The first vocab.txt of `search_dirs`, else tokenizer.json's WordPiece vocab.

  Raises:
    HFImportError: no vocab, or more tokens than the embedding table has rows.
  """
  vocab_path = first_file(search_dirs, VOCAB_NAME)
  if vocab_path:
    vocab = Vocab(_read_vocab_lines(vocab_path), vocab_path)
  else:
    tok_path = first_file(search_dirs, "tokenizer.json")
    tokens = _vocab_from_tokenizer_json(tok_path) if tok_path else None
    if tokens is None:
      raise HFImportError(
        "no %s in %s (nor a WordPiece tokenizer.json to build it from)"
        % (VOCAB_NAME, " or ".join(search_dirs))
      )
    vocab = Vocab(tokens, None)
    log.warn("no vocab.txt: writing one from the WordPiece vocab of %s" % tok_path)
  if len(vocab.tokens) > vocab_size:
    raise HFImportError(
      "the vocab has %d tokens but config.json has vocab_size %d: token ids "
      "past the embedding table would crash the model" % (len(vocab.tokens), vocab_size)
    )
  if len(vocab.tokens) < vocab_size:
    log.info("The vocab has %d tokens, the embedding table %d rows.", len(vocab.tokens), vocab_size)
  return vocab


def _normalizer_lowercases(directories) -> bool | None:
  """tokenizer.json's BertNormalizer `lowercase`, when it has one."""
  path = first_file(directories, "tokenizer.json")
  if not path:
    return None
  normalizer = read_json_object(path).get("normalizer")
  if not isinstance(normalizer, dict):
    normalizer = {}
  if normalizer.get("type") == "BertNormalizer" and isinstance(normalizer.get("lowercase"), bool):
    return normalizer["lowercase"]
  return None


def _sentence_transformers(modules_path: str, directories) -> dict:
  """The sequence length, pooling and normalisation of a sentence-transformers folder."""
  root = os.path.dirname(modules_path)
  st = {"max_seq_length": None, "pooling": None, "normalize": False}
  bert_cfg = first_file(directories, "sentence_bert_config.json")
  if bert_cfg:
    st["max_seq_length"] = read_json_object(bert_cfg).get("max_seq_length")
  for module in module_entries(modules_path):
    kind = str(module.get("type", ""))
    if kind.endswith("Pooling"):
      pooling_cfg = os.path.join(root, str(module.get("path", "")), "config.json")
      if os.path.isfile(pooling_cfg):
        cfg = read_json_object(pooling_cfg)
        modes = [
          k[len("pooling_mode_") :]
          for k, v in cfg.items()
          if k.startswith("pooling_mode_") and v is True
        ]
        st["pooling"] = ",".join(modes) or None
    elif kind.endswith("Normalize"):
      st["normalize"] = True
  return st


def tokenizer_facts(directories) -> dict:
  """do_lower_case, model_max_length (tokenizer_config.json) and sentence-transformers facts."""
  facts = {"do_lower_case": None, "sentence_transformers": None, "model_max_length": None}
  path = first_file(directories, "tokenizer_config.json")
  if path:
    tokenizer_config = read_json_object(path)
    value = tokenizer_config.get("do_lower_case")
    if isinstance(value, bool):
      facts["do_lower_case"] = value
    facts["model_max_length"] = tokenizer_config.get("model_max_length")
  if facts["do_lower_case"] is None:
    facts["do_lower_case"] = _normalizer_lowercases(directories)
  modules_path = first_file(directories, "modules.json")
  if modules_path:
    facts["sentence_transformers"] = _sentence_transformers(modules_path, directories)
  return facts


def read_tokenizer_facts(directories, log: ImportLog) -> dict:
  """`tokenizer_facts`, with the flag to pass and a pooling that BERT's pooler lacks logged."""
  facts = tokenizer_facts(directories)
  if facts["do_lower_case"] is not None:
    log.info(
      "The tokenizer lowercases: %s (pass --do_lower_case=%s)",
      facts["do_lower_case"],
      str(facts["do_lower_case"]).lower(),
    )
  st = facts["sentence_transformers"]
  if st and st.get("pooling") and st["pooling"] != "cls_token":
    log.info(
      "This sentence-transformers model pools by %s%s; BERT's pooler "
      "(pooled_output) was not trained for it.",
      st["pooling"],
      " and normalizes" if st.get("normalize") else "",
    )
  return facts
