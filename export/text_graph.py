"""BERT's tokenizer as TensorFlow ops, so that an exported model can take raw text.

`TextEncoder` turns a batch of strings into the int32 `input_ids`, `input_mask` and
`segment_ids` that `run_classifier.py` feeds the model, with the ids that
`bert.tokenization.FullTokenizer` and `convert_single_example` give:

1. bytes that are not UTF-8 are dropped (FullTokenizer decodes with errors="ignore");
2. NUL, U+FFFD and control characters are deleted, whitespace becomes a space;
3. every CJK ideograph gets a space on each side;
4. uncased models only: lower-casing, NFD, and nonspacing marks (Mn) are deleted;
5. every punctuation character gets a space on each side;
6. the text is split on spaces; a word longer than 200 characters becomes [UNK], the
   others go through greedy longest-match-first WordPiece with "##" continuations;
7. `_truncate_seq_pair`, [CLS] and [SEP], segment ids 0 for the first text and 1 for the
   second. As in Google's code, a second text without tokens makes a single-text example.

The ops follow the Unicode tables of the Python that builds the graph, as FullTokenizer
does: the character classes of steps 2, 4 and 5 are listed code point by code point from
`unicodedata` and `bert.tokenization`'s own rules (TensorFlow's regex engine knows a
newer Unicode than Python 3.11), and the few letters whose lower case TensorFlow's ICU
does not know yet are mapped afterwards. What remains different is NFD of the letters
that Unicode 16 added (Python 3.11 treats them as unassigned) and the final-sigma choice
next to letters that Unicode 14 added (TensorFlow's ICU does not know them);
`bench/tokenizer_parity.py` measures both.

Only ops that TensorFlow Serving's model server has are used: core TensorFlow string and
lookup ops, and tensorflow_text's `NormalizeUTF8` and `WordpieceTokenizeWithOffsets`.
Rows are padded with zeros to the longest row of the batch.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from bert import tokenization

# WordpieceTokenizer.max_input_chars_per_word: a longer word is one [UNK].
MAX_WORD_CHARS = 200
UNK_TOKEN = "[UNK]"
CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"
SPECIAL_TOKENS = (UNK_TOKEN, CLS_TOKEN, SEP_TOKEN)

# `tokenization._is_chinese_char`'s blocks, as an RE2 group.
_CJK = (
  r"([\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
  r"\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}])"
)
_SPACED = r" \1 "

# A character is at most 4 UTF-8 bytes, so WordPiece never sees a longer word than this.
_MAX_WORD_BYTES = 4 * MAX_WORD_CHARS


def _is_deleted(char: str) -> bool:
  """What `BasicTokenizer._clean_text` drops."""
  return char in ("\x00", "\ufffd") or tokenization._is_control(char)


def _is_separator(char: str) -> bool:
  """What is left after cleaning that `str.split` splits on (U+2028 and U+2029 too)."""
  return not _is_deleted(char) and (tokenization._is_whitespace(char) or char.isspace())


def _is_nonspacing_mark(char: str) -> bool:
  """What `BasicTokenizer._run_strip_accents` drops after NFD."""
  return unicodedata.category(char) == "Mn"


def _regex_class(code_points: Iterable[int]) -> str:
  """An RE2 character class matching exactly `code_points` (sorted, not empty)."""
  parts = []
  run_start = previous = None
  for cp in list(code_points) + [None]:
    if previous is not None and cp == previous + 1:
      previous = cp
      continue
    if run_start is not None:
      parts.append(
        r"\x{%X}" % run_start if run_start == previous else r"\x{%X}-\x{%X}" % (run_start, previous)
      )
    run_start = previous = cp
  return "[%s]" % "".join(parts)


@functools.cache
def character_classes() -> dict[str, str]:
  """RE2 classes for the character rules of `bert.tokenization`, in this Python's Unicode.

  Returns {"deleted", "separator", "punctuation", "mark"} -> class. Unassigned, private
  use and surrogate code points belong to none of them, and are skipped for speed.
  """
  rules: dict[str, Callable[[str], bool]] = {
    "deleted": _is_deleted,
    "separator": _is_separator,
    "punctuation": tokenization._is_punctuation,
    "mark": _is_nonspacing_mark,
  }
  members: dict[str, list[int]] = {name: [] for name in rules}
  for cp in range(sys.maxunicode + 1):
    char = chr(cp)
    if unicodedata.category(char) in ("Cn", "Co", "Cs"):
      continue
    for name, rule in rules.items():
      if rule(char):
        members[name].append(cp)
  return {name: _regex_class(found) for name, found in members.items()}


@functools.cache
def lower_case_fixes() -> dict[int, int]:
  """Code point -> lower case, for the letters where `tf.strings.lower` and `str.lower` differ.

  Only letters whose Python lower case is one code point are listed (all of them, in
  TensorFlow 2.20: letters that Unicode 14 added, which TensorFlow's ICU maps to
  themselves).
  """
  candidates = np.array(
    [
      cp
      for cp in range(sys.maxunicode + 1)
      if unicodedata.category(chr(cp)) not in ("Cn", "Co", "Cs") and not _is_deleted(chr(cp))
    ],
    np.int32,
  )
  singles = tf.RaggedTensor.from_row_lengths(candidates, np.ones(len(candidates), np.int64))
  lowered = tf.strings.unicode_decode(
    tf.strings.lower(tf.strings.unicode_encode(singles, "UTF-8"), encoding="utf-8"), "UTF-8"
  )
  lengths = lowered.row_lengths().numpy()
  firsts = lowered.flat_values.numpy()[np.cumsum(lengths) - lengths]
  fixes = {}
  for cp, length, first in zip(candidates.tolist(), lengths.tolist(), firsts.tolist()):
    python = chr(cp).lower()
    if len(python) == 1 and (length != 1 or first != ord(python)):
      fixes[cp] = ord(python)
  return fixes


def truncated_lengths(
  length_a: tf.Tensor, length_b: tf.Tensor, max_seq_length: int
) -> tuple[tf.Tensor, tf.Tensor]:
  """How many tokens of each text `convert_single_example` keeps, per row.

  A row whose `length_b` is 0 is a single text and keeps up to `max_seq_length - 2`
  tokens. A pair shares `max_seq_length - 3` tokens: `_truncate_seq_pair` drops the last
  token of the longer text (of the second on a tie) until they fit, which leaves the
  shorter one whole if the longer can shrink to the rest, and otherwise halves the
  budget, the odd token going to the first text.

  Args:
    length_a: int Tensor [batch_size], tokens in the first text.
    length_b: int Tensor [batch_size], tokens in the second text (0: none).
    max_seq_length: the sequence length, [CLS] and [SEP]s included.

  Returns:
    (kept_a, kept_b), int Tensors shaped and typed like the inputs.
  """
  pair_budget = tf.cast(max_seq_length - 3, length_a.dtype)
  kept_b = tf.minimum(length_b, tf.maximum(pair_budget - length_a, pair_budget // 2))
  kept_a_in_pair = tf.minimum(length_a, pair_budget - kept_b)
  kept_a_alone = tf.minimum(length_a, tf.cast(max_seq_length - 2, length_a.dtype))
  return tf.where(length_b > 0, kept_a_in_pair, kept_a_alone), kept_b


def _row_prefixes(ragged: tf.RaggedTensor, lengths: tf.Tensor) -> tf.RaggedTensor:
  """The first `lengths[i]` items of each row i of `ragged` [batch_size, (items)]."""
  positions = tf.ragged.range(ragged.row_lengths(), dtype=lengths.dtype)
  return tf.ragged.boolean_mask(ragged, positions < tf.expand_dims(lengths, 1))


def _repeat_per_row(value: int, counts: tf.Tensor) -> tf.RaggedTensor:
  """A ragged int32 [batch_size, (counts[i])] filled with `value`."""
  return tf.RaggedTensor.from_row_lengths(
    tf.fill([tf.reduce_sum(counts)], tf.constant(value, tf.int32)), counts
  )


class TextEncoder(tf.Module):
  """Strings -> BERT's input tensors, inside the graph (see the module docstring).

  Attributes:
    do_lower_case: lower-case and strip accents (uncased models).
    max_seq_length: the longest sequence built, [CLS] and [SEP]s included.
    vocab_table: token -> id (int64), the vocabulary WordPiece looks tokens up in.
  """

  def __init__(self, vocab: Mapping[str, int], do_lower_case: bool, max_seq_length: int):
    """Builds the lookup tables.

    Args:
      vocab: token -> id, as `FullTokenizer.vocab` (`bert.tokenization.load_vocab`).
      do_lower_case: as `FullTokenizer`'s.
      max_seq_length: as run_classifier.py's; at least 3.

    Raises:
      ValueError: the vocabulary lacks [UNK], [CLS] or [SEP], or max_seq_length < 3.
    """
    super().__init__(name=None)
    missing = [token for token in SPECIAL_TOKENS if token not in vocab]
    if missing:
      raise ValueError("the vocabulary has no %s token" % " or ".join(missing))
    if max_seq_length < 3:
      raise ValueError("max_seq_length must be at least 3, not %d" % max_seq_length)
    self.do_lower_case = bool(do_lower_case)
    self.max_seq_length = int(max_seq_length)
    self._classes = character_classes()
    self._cls_id = vocab[CLS_TOKEN]
    self._sep_id = vocab[SEP_TOKEN]
    tokens = list(vocab)
    self.vocab_table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
        tf.constant(tokens, tf.string),
        tf.constant([vocab[token] for token in tokens], tf.int64),
      ),
      default_value=-1,
    )
    self._wordpiece = tf_text.WordpieceTokenizer(
      self.vocab_table,
      suffix_indicator="##",
      max_bytes_per_word=_MAX_WORD_BYTES,
      token_out_type=tf.int64,
      unknown_token=UNK_TOKEN,
    )
    self._lower_fixes = None
    fixes = lower_case_fixes() if self.do_lower_case else {}
    if fixes:
      self._lower_fixes = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
          tf.constant(list(fixes), tf.int64), tf.constant(list(fixes.values()), tf.int64)
        ),
        default_value=-1,
      )

  def _lower(self, text: tf.Tensor) -> tf.Tensor:
    """`str.lower` of each string: ICU's lower case, then the letters it does not know."""
    text = tf.strings.lower(text, encoding="utf-8")
    if self._lower_fixes is None:
      return text
    code_points = tf.strings.unicode_decode(text, "UTF-8")
    flat = tf.cast(code_points.flat_values, tf.int64)
    fixed = self._lower_fixes.lookup(flat)
    flat = tf.cast(tf.where(fixed >= 0, fixed, flat), tf.int32)
    return tf.strings.unicode_encode(code_points.with_flat_values(flat), "UTF-8")

  def basic_tokens(self, text: tf.Tensor) -> tf.RaggedTensor:
    """`BasicTokenizer.tokenize` of each string: [batch_size] -> [batch_size, (words)]."""
    classes = self._classes
    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="ignore")
    text = tf.strings.regex_replace(text, classes["deleted"], "")
    text = tf.strings.regex_replace(text, classes["separator"], " ")
    text = tf.strings.regex_replace(text, _CJK, _SPACED)
    if self.do_lower_case:
      # Google lower-cases and strips accents token by token; on the whole text the
      # result is the same (see `bert.tokenization.BasicTokenizer.tokenize`).
      text = tf_text.normalize_utf8(self._lower(text), "NFD")
      text = tf.strings.regex_replace(text, classes["mark"], "")
    text = tf.strings.regex_replace(text, "(%s)" % classes["punctuation"], _SPACED)
    return tf.strings.split(text)

  def token_ids(self, text: tf.Tensor) -> tf.RaggedTensor:
    """`FullTokenizer`'s ids of each string: [batch_size] -> int32 [batch_size, (tokens)]."""
    words = self.basic_tokens(text)
    too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > MAX_WORD_CHARS
    words = words.with_flat_values(tf.where(too_long, UNK_TOKEN, words.flat_values))
    pieces = self._wordpiece.tokenize(words)  # [batch_size, (words), (pieces)]
    return tf.cast(pieces.merge_dims(1, 2), tf.int32)

  def encode(self, text_a: tf.Tensor, text_b: tf.Tensor | None = None) -> dict:
    """One example per row, as `convert_single_example` lays it out.

    Args:
      text_a: string Tensor [batch_size].
      text_b: (optional) string Tensor [batch_size], the second text of each pair; an
        empty string (or one without tokens) makes that row a single text.

    Returns:
      {"input_ids", "input_mask", "segment_ids"}: int32 Tensors [batch_size, seq_length],
      seq_length being the longest row's length (at most max_seq_length).
    """
    ids_a = self.token_ids(text_a)
    length_a = ids_a.row_lengths()
    ids_b = self._token_ids_or_empty(text_b, ids_a)
    kept_a, kept_b = truncated_lengths(length_a, ids_b.row_lengths(), self.max_seq_length)
    return self._lay_out(_row_prefixes(ids_a, kept_a), _row_prefixes(ids_b, kept_b))

  def encode_windows(self, text_a: tf.Tensor, text_b: tf.Tensor | None, stride: int) -> dict:
    """Each example cut into run_classifier.py's --doc_stride windows (`bert.windows.split`).

    A second text is cut to half the sequence and repeated in every window; the
    first is split over the room left, a window starting every `stride` tokens
    (at most the room) until one reaches its end. An example that fits is one
    window.

    Returns:
      `encode`'s tensors with a row per window, and "example_index": int32 [windows],
      the row of `text_a` each window belongs to (ascending).
    """
    ids_a = self._token_ids_or_empty(text_a, None)
    ids_b = self._token_ids_or_empty(text_b, ids_a)
    length_a = ids_a.row_lengths()
    length_b = ids_b.row_lengths()
    half = max(1, (self.max_seq_length - 3) // 2)
    kept_b = tf.minimum(length_b, tf.cast(half, length_b.dtype))
    room = tf.where(
      length_b > 0,
      tf.cast(self.max_seq_length - 3, length_b.dtype) - kept_b,
      tf.cast(self.max_seq_length - 2, length_b.dtype),
    )
    step = tf.minimum(room, tf.cast(stride, room.dtype))
    beyond = tf.maximum(length_a - room, 0)
    count = 1 + (beyond + step - 1) // step  # windows per example
    example_index = tf.repeat(tf.range(tf.shape(count, out_type=count.dtype)[0]), count)
    start = tf.ragged.range(count).flat_values * tf.gather(step, example_index)
    stop = tf.minimum(start + tf.gather(room, example_index), tf.gather(length_a, example_index))
    positions = tf.ragged.range(start, stop)  # [windows, (tokens)] within the example's text
    offsets = tf.gather(ids_a.row_starts(), example_index)
    pieces_a = tf.gather(ids_a.flat_values, positions + tf.expand_dims(offsets, 1))
    pieces_b = _row_prefixes(tf.gather(ids_b, example_index), tf.gather(kept_b, example_index))
    features = self._lay_out(pieces_a, pieces_b)
    features["example_index"] = tf.cast(example_index, tf.int32)
    return features

  def _token_ids_or_empty(self, text: tf.Tensor | None, like: tf.RaggedTensor | None):
    """`token_ids(text)`, or rows without tokens shaped like `like` when text is None."""
    if text is not None:
      return self.token_ids(text)
    return tf.RaggedTensor.from_row_lengths(
      tf.zeros([0], tf.int32), tf.zeros_like(like.row_lengths())
    )

  def _lay_out(self, kept_a: tf.RaggedTensor, kept_b: tf.RaggedTensor) -> dict:
    """[CLS] a [SEP] (segment 0), then b [SEP] (segment 1) where b has tokens, zero-padded.

    Built position by position on dense tensors: ragged concatenation along the
    rows transposes int64 row partitions, which oneDNN reports as an error line
    on every call although it falls back correctly.
    """
    length_a = tf.expand_dims(kept_a.row_lengths(), 1)  # [B, 1]
    length_b = tf.expand_dims(kept_b.row_lengths(), 1)
    has_b = length_b > 0
    lengths = 2 + length_a + tf.where(has_b, length_b + 1, tf.zeros_like(length_b))
    width = tf.reduce_max(tf.concat([lengths[:, 0], tf.zeros([1], lengths.dtype)], 0))
    rows = tf.shape(lengths, out_type=lengths.dtype)[0]
    position = tf.broadcast_to(tf.range(width, dtype=lengths.dtype), tf.stack([rows, width]))
    in_a = (position >= 1) & (position <= length_a)
    first_sep = position == length_a + 1
    b_start = length_a + 2
    in_b = (position >= b_start) & (position < b_start + length_b)
    last_sep = has_b & (position == b_start + length_b)
    ids = tf.where(position == 0, self._cls_id, 0)
    ids = tf.where(in_a, _pick(kept_a, position - 1), ids)
    ids = tf.where(first_sep | last_sep, self._sep_id, ids)
    ids = tf.where(in_b, _pick(kept_b, position - b_start), ids)
    return {
      "input_ids": ids,
      "input_mask": tf.cast(position < lengths, tf.int32),
      "segment_ids": tf.cast(in_b | last_sep, tf.int32),
    }


def _pick(ragged: tf.RaggedTensor, index: tf.Tensor) -> tf.Tensor:
  """ragged[i][index[i, j]] as int32 [B, T]; 0 where index[i, j] is outside row i."""
  dense = tf.pad(ragged.to_tensor(), [[0, 0], [0, 1]])  # a column even for empty rows
  inside = tf.clip_by_value(index, 0, tf.cast(tf.shape(dense)[1] - 1, index.dtype))
  return tf.gather(dense, inside, batch_dims=1)
