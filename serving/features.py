"""Texts -> BERT inputs (token ids, input mask, token type ids).

Follows bert-as-service 1.10.0 (its `convert_lst_to_features`):

* a request is either a list of strings or, when *every* element is a list, a
  list of token lists ("tokenized input");
* a string `"text a ||| text b"` is a sentence pair; in a token list the
  element `"|||"` splits the pair;
* strings go through the WordPiece tokenizer; tokens of tokenized input are
  kept as they are, except those missing from the vocabulary, which become
  `[UNK]`;
* layout `[CLS] a [SEP]` (type ids 0) or `[CLS] a [SEP] b [SEP]` (b and its
  [SEP] have type id 1); a single text is cut to `max_seq_len - 2` tokens,
  a pair longest-first to `max_seq_len - 3`;
* with `max_seq_len=None` the batch is padded to its longest row (plus the
  special tokens), at most `max_position_embeddings`.

With run_classifier.py's --doc_stride (a model folder trained with windows,
served with CLASSIFICATION) a long text becomes several rows, cut as
`bert.windows` cuts them in training.

Pure Python: no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

from bert import windows

CLS, SEP, UNK = "[CLS]", "[SEP]", "[UNK]"
PAIR_PATTERN = re.compile(r"^(.*) \|\|\| (.*)$")
PAIR_TOKEN = "|||"


@dataclasses.dataclass
class Row:
  """One text, laid out but not padded.

  Attributes:
    tokens: the model's tokens, e.g. ["[CLS]", "hello", "[SEP]"].
    input_ids: ids of `tokens`.
    input_mask: 1 for a token the model attends to; 0 for [CLS]/[SEP] with
      `mask_cls_sep`.
    input_type_ids: 0 for the first text, 1 for the second of a pair.
    length: (content, special): word pieces of the text(s) before truncation,
      and the number of [CLS]/[SEP] the layout adds (0, 2 or 3); what the
      dynamic sequence length is computed from.
  """

  tokens: list
  input_ids: list
  input_mask: list
  input_type_ids: list
  length: tuple


@dataclasses.dataclass
class Batch:
  """Rows padded to one sequence length T; each list is [B][T] ints."""

  tokens: list
  input_ids: list
  input_mask: list
  input_type_ids: list
  lengths: list


def check_texts(texts) -> bool:
  """Validates a decoded request body; returns whether it is tokenized.

  Raises:
    TypeError/ValueError: `texts` is not a non-empty list of strings or a
      non-empty list of lists of strings.
  """
  if not isinstance(texts, list) or not texts:
    raise ValueError(
      "a request must be a non-empty JSON list of strings or "
      "of token lists, got %s" % type(texts).__name__
    )
  if all(isinstance(t, list) for t in texts):
    for i, tokens in enumerate(texts):
      if not all(isinstance(t, str) for t in tokens):
        raise TypeError("tokenized input: element %d is not a list of strings" % i)
    return True
  for i, text in enumerate(texts):
    if not isinstance(text, str):
      raise TypeError(
        "element %d is a %s, not a string (mixing strings and "
        "token lists is not allowed)" % (i, type(text).__name__)
      )
  return False


def check_vocab(vocab: Mapping[str, int]) -> None:
  """Raises ValueError when the special tokens are not in the vocabulary."""
  missing = [t for t in (CLS, SEP, UNK) if t not in vocab]
  if missing:
    raise ValueError("vocab.txt lacks %s" % ", ".join(missing))


def split_pair(text: str):
  """`"a ||| b"` -> ("a", "b"); anything else -> (text, None)."""
  m = PAIR_PATTERN.match(text)
  if m:
    return m.group(1), m.group(2)
  return text, None


def split_token_pair(tokens: Sequence[str]):
  """["a", "|||", "b"] -> (["a"], ["b"]); anything else -> (tokens, None)."""
  if PAIR_TOKEN in tokens:
    i = tokens.index(PAIR_TOKEN)
    return list(tokens[:i]), list(tokens[i + 1 :])
  return list(tokens), None


def layout(
  tokens_a: list,
  tokens_b: list | None,
  limit: int,
  mask_cls_sep: bool = False,
  special_tokens: bool = True,
):
  """Truncates and adds [CLS]/[SEP].

  Args:
    tokens_a: word pieces of the first text (modified in place).
    tokens_b: word pieces of the second text, or None/[] for a single text.
    limit: the most tokens the row may have, special tokens included.
    mask_cls_sep: give [CLS]/[SEP] input mask 0.
    special_tokens: False lays a single text out bare (no [CLS]/[SEP]).

  Returns:
    (tokens, input_mask, input_type_ids), three lists of equal length.
  """
  special = 0 if mask_cls_sep else 1
  if tokens_b:
    windows.truncate_seq_pair(tokens_a, tokens_b, limit - 3)
    tokens = [CLS] + tokens_a + [SEP] + tokens_b + [SEP]
    mask = [special] + [1] * len(tokens_a) + [special] + [1] * len(tokens_b) + [special]
    types = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
    return tokens, mask, types
  if not special_tokens:
    tokens = tokens_a[:limit]
    return tokens, [1] * len(tokens), [0] * len(tokens)
  tokens = [CLS] + tokens_a[: limit - 2] + [SEP]
  mask = [special] + [1] * (len(tokens) - 2) + [special]
  return tokens, mask, [0] * len(tokens)


def sequence_length(
  lengths: Sequence[tuple], max_seq_len: int | None, max_position_embeddings: int
) -> int:
  """T for rows with these `Row.length`s: max_seq_len, or dynamic if None."""
  if max_seq_len is not None:
    return max_seq_len
  content = max(c for c, _ in lengths)
  special = max(s for _, s in lengths)
  return min(content + special, max_position_embeddings)


def text_to_row(
  text, tokenizer, limit: int, mask_cls_sep: bool = False, no_special_token: bool = False
) -> Row:
  """Lays out one string or token list (see the module docstring).

  Args:
    text: str, or list of str for tokenized input.
    tokenizer: has `tokenize(str) -> list`, `convert_tokens_to_ids(list)` and
      `vocab` (token -> id), like `bert.tokenization.FullTokenizer`.
    limit: the most tokens the row may have, special tokens included.
    mask_cls_sep: give [CLS]/[SEP] input mask 0.
    no_special_token: lay a *tokenized* single text out without [CLS]/[SEP].
  """
  a, b = word_pieces(text, tokenizer)
  bare = isinstance(text, list) and no_special_token and not b
  length = (len(a) + len(b or ()), 0 if bare else (3 if b else 2))
  tokens, mask, types = layout(a, b, limit, mask_cls_sep, special_tokens=not bare)
  return Row(tokens, tokenizer.convert_tokens_to_ids(tokens), mask, types, length)


def word_pieces(text, tokenizer) -> tuple[list, list | None]:
  """(a, b): the word pieces of a text, or of each text of a pair (b is None for one text).

  A string goes through the tokenizer; a token list keeps its tokens, those
  missing from the vocabulary becoming [UNK].
  """
  if isinstance(text, list):
    a, b = split_token_pair(text)
    vocab = tokenizer.vocab
    a = [t if t in vocab else UNK for t in a]
    b = [t if t in vocab else UNK for t in b] if b else None
    return a, b
  a, b = split_pair(text)
  return tokenizer.tokenize(a), (tokenizer.tokenize(b) if b else None)


def text_to_windows(text, tokenizer, max_seq_len: int, stride: int) -> list[Row]:
  """The rows of one text cut as run_classifier.py's --doc_stride cuts it.

  A text that fits gives one row, laid out as `text_to_row` does; a longer
  one gives a row per window (`bert.windows.split`), each repeating the
  second text of a pair. Every row's `length` is the whole text's.
  """
  a, b = word_pieces(text, tokenizer)
  length = (len(a) + len(b or ()), 3 if b else 2)
  rows = []
  for piece_a, piece_b in windows.split(a, b, max_seq_len, stride):
    tokens, mask, types = layout(list(piece_a), list(piece_b) if piece_b else None, max_seq_len)
    rows.append(Row(tokens, tokenizer.convert_tokens_to_ids(tokens), mask, types, length))
  return rows


def convert_texts(
  texts: Sequence,
  tokenizer,
  max_seq_len: int | None,
  max_position_embeddings: int,
  mask_cls_sep: bool = False,
  no_special_token: bool = False,
) -> Batch:
  """Lays out and zero-pads a batch of texts (see `text_to_row`).

  Returns:
    `Batch` whose lists are [B][T], T = `sequence_length(...)`.
  """
  limit = max_position_embeddings if max_seq_len is None else max_seq_len
  rows = [text_to_row(t, tokenizer, limit, mask_cls_sep, no_special_token) for t in texts]
  seq_len = sequence_length([r.length for r in rows], max_seq_len, max_position_embeddings)
  return _padded(rows, seq_len)


def convert_windows(
  texts: Sequence, tokenizer, max_seq_len: int, stride: int
) -> tuple[Batch, list[int]]:
  """The windows of a batch of texts (see `text_to_windows`), padded to `max_seq_len`.

  Returns:
    (Batch with a row per window, the index in `texts` of each row's text).
  """
  rows, groups = [], []
  for i, text in enumerate(texts):
    pieces = text_to_windows(text, tokenizer, max_seq_len, stride)
    rows.extend(pieces)
    groups.extend([i] * len(pieces))
  return _padded(rows, max_seq_len), groups


def _padded(rows: Sequence[Row], seq_len: int) -> Batch:
  """The rows zero-padded to `seq_len`, as a Batch."""
  pad = lambda values: values + [0] * (seq_len - len(values))
  return Batch(
    tokens=[r.tokens for r in rows],
    input_ids=[pad(r.input_ids) for r in rows],
    input_mask=[pad(r.input_mask) for r in rows],
    input_type_ids=[pad(r.input_type_ids) for r in rows],
    lengths=[r.length for r in rows],
  )
