"""Tokenization classes (Google BERT's tokenization.py, for Python 3).

The module keeps the public names and behaviour of Google's ``tokenization.py``
so that ``from bert import tokenization`` keeps working. For any input it gives
the same tokens as Google's code (run with the same Python ``unicodedata``
tables). The internals run the same per-character rules through
``str.translate`` tables that classify each code point once, instead of
Python loops over every character.

Importing this module does not import TensorFlow. Local vocab files are read
with ``open``; TensorFlow is imported lazily only to read paths such as
``gs://bucket/vocab.txt`` (anything containing ``"://"``).
"""

import collections
import dataclasses
import errno
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

_K = TypeVar("_K")
_V = TypeVar("_V")

# Google's released checkpoints live in a folder named after the model, e.g.
# `.../uncased_L-12_H-768_A-12/bert_model.ckpt`; group 1 is that folder name.
_RELEASED_CHECKPOINT = re.compile("^.*?([A-Za-z0-9_-]+)/bert_model.ckpt")

# Released model -> whether it was pre-trained on lower-cased text.
_RELEASED_MODEL_IS_LOWERCASED = {
  "uncased_L-24_H-1024_A-16": True,
  "uncased_L-12_H-768_A-12": True,
  "multilingual_L-12_H-768_A-12": True,
  "chinese_L-12_H-768_A-12": True,
  "cased_L-12_H-768_A-12": False,
  "cased_L-24_H-1024_A-16": False,
  "multi_cased_L-12_H-768_A-12": False,
}


def validate_case_matches_checkpoint(do_lower_case: bool, init_checkpoint: str | None) -> None:
  """Raises ValueError if `do_lower_case` contradicts a known checkpoint name.

  bert_config.json does not say whether a model is cased, so the folder name
  of `bert_model.ckpt` is looked up among Google's releases. Unknown names and
  other checkpoints (e.g. a fine-tuned `model.ckpt-N`) are not checked.
  """
  found = _RELEASED_CHECKPOINT.match(init_checkpoint) if init_checkpoint else None
  if found is None:
    return
  model_name = found.group(1)
  lowercased = _RELEASED_MODEL_IS_LOWERCASED.get(model_name)
  if lowercased is None or lowercased == bool(do_lower_case):
    return
  raise ValueError(
    "You passed in `--do_lower_case=%s` with `--init_checkpoint=%s`. "
    "However, `%s` seems to be a %s model, so you "
    "should pass in `--do_lower_case=%s` so that the fine-tuning matches "
    "how the model was pre-training. If this error is wrong, please "
    "just comment out this check."
    % (
      not lowercased,
      init_checkpoint,
      model_name,
      "lowercased" if lowercased else "cased",
      lowercased,
    )
  )


def convert_to_unicode(text: Any) -> str:
  """Returns `text` as str; bytes are decoded as UTF-8, ignoring bad bytes."""
  if isinstance(text, bytes):
    return str(text, encoding="utf-8", errors="ignore")
  if not isinstance(text, str):
    raise ValueError(f"Unsupported string type: {type(text)}")
  return text


def printable_text(text: Any) -> str:
  """Returns `text` as a str fit for printing or logging.

  On Python 3 that is the same str that `convert_to_unicode` gives.
  """
  return convert_to_unicode(text)


def _read_vocab(reader) -> "collections.OrderedDict[str, int]":
  vocab = collections.OrderedDict()
  index = 0
  while True:
    # GFile's readline ends lines at "\n" only and drops every "\r"; `reader`
    # is opened so that it also splits at "\n" only, and "\r" goes here.
    line = convert_to_unicode(reader.readline()).replace("\r", "")
    if not line:  # EOF; an empty line still reads as "\n".
      break
    vocab[line.strip()] = index
    index += 1
  return vocab


def load_vocab(vocab_file: "str | os.PathLike") -> "collections.OrderedDict[str, int]":
  """Reads a vocabulary file (one token per line) into token -> index.

  Each line is stripped and gets the next index, from 0. A repeated token keeps
  its first place in the OrderedDict but takes the later index. Paths that
  contain "://" (gs://...) are read with `tf.io.gfile.GFile`; TensorFlow is
  imported only then.

  Raises:
    FileNotFoundError: `vocab_file` does not exist.
  """
  path = os.fspath(vocab_file)
  if isinstance(path, bytes):
    path = path.decode("utf-8")
  if "://" in path:
    import tensorflow as tf

    try:
      with tf.io.gfile.GFile(path, "r") as reader:
        return _read_vocab(reader)
    except tf.errors.NotFoundError:
      raise FileNotFoundError(errno.ENOENT, "Vocab file not found", path) from None
  try:
    # newline="\n": lines end at "\n" only, as with GFile.
    with open(path, encoding="utf-8", newline="\n") as reader:
      return _read_vocab(reader)
  except FileNotFoundError:
    raise FileNotFoundError(errno.ENOENT, "Vocab file not found", path) from None


def convert_by_vocab(vocab: Mapping[_K, _V], items: Iterable[_K]) -> list[_V]:
  """Maps each item through `vocab`; an unknown item raises KeyError."""
  return [vocab[item] for item in items]


def convert_tokens_to_ids(vocab: Mapping[str, int], tokens: Iterable[str]) -> list[int]:
  """Maps tokens to ids (KeyError for a token not in `vocab`)."""
  return [vocab[token] for token in tokens]


def convert_ids_to_tokens(inv_vocab: Mapping[int, str], ids: Iterable[int]) -> list[str]:
  """Maps ids to tokens (KeyError for an id not in `inv_vocab`)."""
  return [inv_vocab[token_id] for token_id in ids]


def whitespace_tokenize(text: str) -> list[str]:
  """Strips `text` and splits it on whitespace ([] for blank text)."""
  text = text.strip()
  if not text:
    return []
  return text.split()


class FullTokenizer:
  """Basic tokenization followed by WordPiece: text -> vocab tokens."""

  def __init__(self, vocab_file: "str | os.PathLike", do_lower_case: bool = True) -> None:
    vocab = load_vocab(vocab_file)
    self.vocab = vocab
    # Indices are unique, so swapping keys and values loses nothing.
    self.inv_vocab = dict(zip(vocab.values(), vocab.keys()))
    # WordPiece looks tokens up in this same dict, not in a copy.
    self.basic_tokenizer = BasicTokenizer(do_lower_case)
    self.wordpiece_tokenizer = WordpieceTokenizer(vocab)
    self._longest_entry = max(map(len, vocab), default=0)
    self._split_words: dict = {}  # basic token not in vocab -> its ids

  def tokenize(self, text: Any) -> list[str]:
    """Returns the WordPiece tokens of every basic token of `text`."""
    # Basic tokens contain no whitespace, so one WordPiece call on the
    # space-joined tokens gives the same list as one call per token.
    return self.wordpiece_tokenizer.tokenize(" ".join(self.basic_tokenizer.tokenize(text)))

  def tokenize_to_ids(self, text: Any) -> list[int]:
    """`convert_tokens_to_ids(tokenize(text))`, faster.

    A basic token that is itself in the vocab is its own (only) WordPiece
    token, so most ids come from one C-level lookup; the rest are split by
    WordPiece once per distinct token and remembered (at most
    `_MAX_CACHED_WORDS` of them, so memory stays bounded).
    """
    words = self.basic_tokenizer.tokenize(text)
    ids = list(map(self.vocab.get, words))
    max_chars = self.wordpiece_tokenizer.max_input_chars_per_word
    if self._longest_entry > max_chars:
      # A vocab entry longer than that is [UNK] as a word: split those too.
      ids = [None if len(word) > max_chars else token_id for word, token_id in zip(words, ids)]
    if None not in ids:
      return ids
    out: list[int] = []
    start = 0
    while True:  # Copy the runs of found ids; split each word in between.
      try:
        miss = ids.index(None, start)
      except ValueError:
        out += ids[start:]
        return out
      out += ids[start:miss]
      out += self._word_ids(words[miss])
      start = miss + 1

  def _word_ids(self, word: str) -> tuple:
    cache = self._split_words
    ids = cache.get(word)
    if ids is None:
      ids = tuple(self.convert_tokens_to_ids(self.wordpiece_tokenizer.tokenize(word)))
      if len(cache) >= _MAX_CACHED_WORDS:
        cache.clear()  # Bounded memory; the frequent words come back soon.
      cache[word] = ids
    return ids

  def __getstate__(self) -> dict:
    # The cache is rebuilt on demand: don't ship it to worker processes.
    state = dict(self.__dict__)
    state["_split_words"] = {}
    return state

  def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
    """Ids of `tokens` in this tokenizer's vocab (KeyError if one is missing)."""
    return convert_tokens_to_ids(self.vocab, tokens)

  def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
    """Tokens of `ids` in this tokenizer's vocab (KeyError if one is missing)."""
    return convert_ids_to_tokens(self.inv_vocab, ids)


# Cap on the code points each table remembers, so that text made of very many
# distinct characters cannot grow the tables without bound (entries past the
# cap are recomputed on every use, with the same result).
_MAX_CACHED_CHARS = 1 << 16
# Cap on the distinct out-of-vocab basic tokens whose ids FullTokenizer keeps.
_MAX_CACHED_WORDS = 1 << 15


class _CharTable(dict):
  """A `str.translate` table that fills in each code point on first use."""

  __slots__ = ("_rule",)

  def __init__(self, rule: Callable[[str], str]):
    super().__init__()
    self._rule = rule

  def __missing__(self, cp: int) -> "str | int":
    char = chr(cp)
    value = self._rule(char)
    if value == char:
      value = cp  # Unchanged: store the ordinal rather than a new str.
    if len(self) < _MAX_CACHED_CHARS:
      self[cp] = value
    return value


def _clean_and_space_cjk_rule(char: str) -> str:
  """One character through `_clean_text`, then `_tokenize_chinese_chars`."""
  cp = ord(char)
  if cp == 0 or cp == 0xFFFD or _is_control(char):
    return ""
  if _is_whitespace(char):
    return " "
  if _is_chinese_char(cp):
    return " " + char + " "
  return char


def _split_punc_rule(char: str) -> str:
  """Spaces out a punctuation character so that it becomes its own token."""
  if _is_punctuation(char):
    return " " + char + " "
  return char


def _strip_accent_and_split_punc_rule(char: str) -> str:
  """Drops Mn characters and spaces out punctuation (disjoint classes)."""
  if unicodedata.category(char) == "Mn":
    return ""
  return _split_punc_rule(char)


_CLEAN_AND_SPACE_CJK = _CharTable(_clean_and_space_cjk_rule)
_SPLIT_PUNC = _CharTable(_split_punc_rule)
_STRIP_ACCENT_AND_SPLIT_PUNC = _CharTable(_strip_accent_and_split_punc_rule)


@dataclasses.dataclass(eq=False)
class BasicTokenizer:
  """Cleans text, splits on whitespace and punctuation; may lower-case.

  Attributes:
    do_lower_case: lower-case the text and strip its accents.
  """

  do_lower_case: bool = True

  def tokenize(self, text: Any) -> list[str]:
    """Splits `text` into basic tokens."""
    # Google's order: _clean_text, _tokenize_chinese_chars, split on
    # whitespace; per token lower() + _run_strip_accents (only when
    # lower-casing) and _run_split_on_punc; split on whitespace again.
    # All steps but lower() and NFD map one character at a time. The
    # separators left between tokens after cleaning (" ", U+2028, U+2029) are
    # neither cased nor case-ignorable (the final-sigma context of lower())
    # and have combining class 0 (NFD reordering), so applying lower() and NFD
    # to the whole text yields exactly the per-token result. Hence: one
    # translate, optional lower() + NFD, one translate, split.
    text = convert_to_unicode(text)
    text = text.translate(_CLEAN_AND_SPACE_CJK)
    if self.do_lower_case:
      text = text.lower()
      if not text.isascii():  # NFD is the identity on ASCII, which has no Mn.
        decomposed = unicodedata.normalize("NFD", text)
        return decomposed.translate(_STRIP_ACCENT_AND_SPLIT_PUNC).split()
    return text.translate(_SPLIT_PUNC).split()

  # The step-by-step helpers of Google's class, kept for callers that use them.

  def _run_strip_accents(self, text: str) -> str:
    """NFD-normalises `text` and drops nonspacing marks (category Mn)."""
    kept = [c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"]
    return "".join(kept)

  def _run_split_on_punc(self, text: str) -> list[str]:
    """Splits `text` so that each punctuation character is its own piece."""
    pieces = []
    start_new_word = True
    for char in text:
      if _is_punctuation(char):
        pieces.append(char)
        start_new_word = True
      elif start_new_word:
        pieces.append(char)
        start_new_word = False
      else:
        pieces[-1] += char
    return pieces

  def _tokenize_chinese_chars(self, text: str) -> str:
    """Puts a space on both sides of every CJK ideograph."""
    return "".join(" " + c + " " if _is_chinese_char(ord(c)) else c for c in text)

  def _is_chinese_char(self, cp: int) -> bool:
    """Whether code point `cp` is a CJK ideograph (see `_is_chinese_char`)."""
    return _is_chinese_char(cp)

  def _clean_text(self, text: str) -> str:
    """Drops NUL, U+FFFD and control characters; whitespace becomes " "."""
    out = []
    for char in text:
      cp = ord(char)
      if cp == 0 or cp == 0xFFFD or _is_control(char):
        continue
      out.append(" " if _is_whitespace(char) else char)
    return "".join(out)


@dataclasses.dataclass(eq=False)
class WordpieceTokenizer:
  """Greedy longest-match-first WordPiece tokenization.

  Attributes:
    vocab: the token -> id mapping (only membership is used here).
    unk_token: what an unsplittable or over-long word becomes.
    max_input_chars_per_word: words longer than this are `unk_token`.
  """

  vocab: Mapping[str, Any] = dataclasses.field(repr=False)
  unk_token: str = "[UNK]"
  max_input_chars_per_word: int = 200

  def tokenize(self, text: Any) -> list[str]:
    """Splits whitespace-separated words into WordPiece tokens.

    `text` is meant to be `BasicTokenizer` output. A word is cut from left to
    right, each time taking the longest vocab entry that fits, with "##" in
    front of every piece but the first: with Google's test vocab, "unwanted"
    gives ["un", "##want", "##ed"]. A word longer than
    `max_input_chars_per_word`, or one with a position where no entry fits,
    becomes a single `unk_token`.
    """
    text = convert_to_unicode(text)
    vocab = self.vocab
    unk_token = self.unk_token
    max_chars = self.max_input_chars_per_word

    output_tokens = []
    for word in text.split():
      n = len(word)
      if n > max_chars:
        output_tokens.append(unk_token)
        continue
      if word in vocab:  # The greedy search's first (longest) candidate.
        output_tokens.append(word)
        continue

      pieces = []
      start = 0
      while start < n:
        end = n
        while start < end:
          piece = word[start:end] if start == 0 else "##" + word[start:end]
          if piece in vocab:
            break
          end -= 1
        else:  # Nothing matches at `start`: the whole word is unknown.
          pieces = None
          break
        pieces.append(piece)
        start = end

      if pieces is None:
        output_tokens.append(unk_token)
      else:
        output_tokens.extend(pieces)
    return output_tokens


def _is_chinese_char(cp: int) -> bool:
  """Whether code point `cp` is in a CJK (compatibility) ideograph block.

  Hangul, Hiragana and Katakana are not included: those scripts separate words
  with spaces and are tokenized like any other letters.
  """
  return (
    (0x4E00 <= cp <= 0x9FFF)
    or (0x3400 <= cp <= 0x4DBF)
    or (0x20000 <= cp <= 0x2A6DF)
    or (0x2A700 <= cp <= 0x2B73F)
    or (0x2B740 <= cp <= 0x2B81F)
    or (0x2B820 <= cp <= 0x2CEAF)
    or (0xF900 <= cp <= 0xFAFF)
    or (0x2F800 <= cp <= 0x2FA1F)
  )


def _is_whitespace(char: str) -> bool:
  """Space, tab, newline, carriage return, or any Zs character (e.g. U+00A0)."""
  if char == " " or char == "\t" or char == "\n" or char == "\r":
    return True
  return unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
  """Category Cc or Cf, except tab, newline and carriage return (whitespace)."""
  if char == "\t" or char == "\n" or char == "\r":
    return False
  return unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char: str) -> bool:
  """Any P* character, or any ASCII symbol (so also $ ^ ` + < = > | ~)."""
  cp = ord(char)
  if (33 <= cp <= 47) or (58 <= cp <= 64) or (91 <= cp <= 96) or (123 <= cp <= 126):
    return True
  return unicodedata.category(char).startswith("P")
