"""Tests for bert/tokenization.py (Google BERT's tokenization behaviour)."""

import collections
import os
import random
import subprocess
import sys
import types
import unicodedata

import pytest

from bert import tokenization

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GOOGLE_TEST_VOCAB = [
  "[UNK]",
  "[CLS]",
  "[SEP]",
  "want",
  "##want",
  "##ed",
  "wa",
  "un",
  "runn",
  "##ing",
  ",",
]


def _write_vocab(tmp_path, tokens, name="vocab.txt"):
  path = tmp_path / name
  path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
  return str(path)


def _vocab_dict(tokens):
  return {t: i for i, t in enumerate(tokens)}


# --------------------------------------------------------------------------
# Golden cases (Google's tokenization_test.py, spec section 8.6).
# --------------------------------------------------------------------------


def test_full_tokenizer_golden(tmp_path):
  tokenizer = tokenization.FullTokenizer(_write_vocab(tmp_path, GOOGLE_TEST_VOCAB))
  tokens = tokenizer.tokenize("UNwant\u00e9d,running")
  assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
  assert tokenizer.convert_tokens_to_ids(tokens) == [7, 4, 5, 10, 8, 9]
  assert tokenizer.convert_ids_to_tokens([7, 4, 5, 10, 8, 9]) == tokens


def test_chinese():
  tokenizer = tokenization.BasicTokenizer()
  assert tokenizer.tokenize("ah\u535a\u63a8zz") == ["ah", "\u535a", "\u63a8", "zz"]


def test_basic_tokenizer_lower():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=True)
  assert tokenizer.tokenize(" \tHeLLo!how  \n Are yoU?  ") == [
    "hello",
    "!",
    "how",
    "are",
    "you",
    "?",
  ]
  assert tokenizer.tokenize("H\u00e9llo") == ["hello"]


def test_basic_tokenizer_no_lower():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=False)
  assert tokenizer.tokenize(" \tHeLLo!how  \n Are yoU?  ") == [
    "HeLLo",
    "!",
    "how",
    "Are",
    "yoU",
    "?",
  ]


def test_wordpiece_tokenizer_golden():
  vocab = _vocab_dict(
    ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing"]
  )
  tokenizer = tokenization.WordpieceTokenizer(vocab=vocab)
  assert tokenizer.tokenize("") == []
  assert tokenizer.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
  assert tokenizer.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]


def test_convert_tokens_to_ids_module_level():
  vocab = _vocab_dict(
    ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing"]
  )
  assert tokenization.convert_tokens_to_ids(vocab, ["un", "##want", "##ed", "runn", "##ing"]) == [
    7,
    4,
    5,
    8,
    9,
  ]
  inv = {v: k for k, v in vocab.items()}
  assert tokenization.convert_ids_to_tokens(inv, [7, 4]) == ["un", "##want"]


def test_is_whitespace():
  assert tokenization._is_whitespace(" ")
  assert tokenization._is_whitespace("\t")
  assert tokenization._is_whitespace("\r")
  assert tokenization._is_whitespace("\n")
  assert tokenization._is_whitespace("\u00a0")
  assert tokenization._is_whitespace("\u3000")
  assert not tokenization._is_whitespace("A")
  assert not tokenization._is_whitespace("-")
  assert not tokenization._is_whitespace("\u2028")  # Zl, not Zs.


def test_is_control():
  assert tokenization._is_control("\u0005")
  assert tokenization._is_control("\u200b")  # Cf.
  assert tokenization._is_control("\x7f")
  assert not tokenization._is_control("A")
  assert not tokenization._is_control(" ")
  assert not tokenization._is_control("\t")
  assert not tokenization._is_control("\n")
  assert not tokenization._is_control("\r")
  assert not tokenization._is_control("\U0001f4a9")
  assert not tokenization._is_control("\ue000")  # Co: not Cc/Cf.


def test_is_punctuation():
  assert tokenization._is_punctuation("-")
  assert tokenization._is_punctuation("$")
  assert tokenization._is_punctuation("`")
  assert tokenization._is_punctuation(".")
  assert not tokenization._is_punctuation("A")
  assert not tokenization._is_punctuation(" ")


# --------------------------------------------------------------------------
# Character classes seen through BasicTokenizer.
# --------------------------------------------------------------------------

CJK_RANGES = [
  (0x4E00, 0x9FFF),
  (0x3400, 0x4DBF),
  (0x20000, 0x2A6DF),
  (0x2A700, 0x2B73F),
  (0x2B740, 0x2B81F),
  (0x2B820, 0x2CEAF),
  (0xF900, 0xFAFF),
  (0x2F800, 0x2FA1F),
]


def _in_cjk(cp):
  return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


@pytest.mark.parametrize("lo,hi", CJK_RANGES)
def test_cjk_range_boundaries(lo, hi):
  tokenizer = tokenization.BasicTokenizer(do_lower_case=False)
  for cp in (lo, lo + 1, hi - 1, hi):
    c = chr(cp)
    assert tokenization._is_chinese_char(cp)
    assert tokenizer._is_chinese_char(cp)
    assert tokenizer.tokenize("a" + c + "b") == ["a", c, "b"]
  for cp in (lo - 1, hi + 1):
    if _in_cjk(cp):  # Adjacent ranges (0x2B740, 0x2B820) are contiguous.
      continue
    c = chr(cp)
    assert not tokenization._is_chinese_char(cp)
    # None of the neighbours is whitespace, control or punctuation.
    assert tokenizer.tokenize("a" + c + "b") == ["a" + c + "b"]


def test_cjk_extension_f_not_included():
  # U+2CEB0 (CJK Extension F) is past Google's last range.
  assert not tokenization._is_chinese_char(0x2CEB0)
  assert tokenization.BasicTokenizer(False).tokenize("a\U0002ceb0b") == ["a\U0002ceb0b"]


def test_hangul_kana_not_split():
  cased = tokenization.BasicTokenizer(do_lower_case=False)
  lower = tokenization.BasicTokenizer(do_lower_case=True)
  for word in (
    "\uc548\ub155\ud558\uc138\uc694",  # Hangul
    "\u3053\u3093\u306b\u3061\u306f",  # Hiragana
    "\u30ab\u30bf\u30ab\u30ca",
  ):  # Katakana
    assert cased.tokenize(word) == [word]
    assert cased.tokenize("x" + word + "y") == ["x" + word + "y"]
    # Lower-casing applies NFD: Hangul syllables become conjoining jamo (Lo),
    # still one token.
    assert lower.tokenize(word) == [unicodedata.normalize("NFD", word)]
  # The dakuten of "ga" is a combining mark (Mn), so lower-casing drops it.
  assert lower.tokenize("\u304c\u304e") == ["\u304b\u304d"]
  assert cased.tokenize("\u304c\u304e") == ["\u304c\u304e"]


def test_accents_stripped_only_when_lower_casing():
  lower = tokenization.BasicTokenizer(do_lower_case=True)
  cased = tokenization.BasicTokenizer(do_lower_case=False)
  assert lower.tokenize("H\u00e9llo") == ["hello"]
  assert cased.tokenize("H\u00e9llo") == ["H\u00e9llo"]
  # Decomposed input: the combining acute (Mn) stays when not lower-casing.
  assert lower.tokenize("He\u0301llo") == ["hello"]
  assert cased.tokenize("He\u0301llo") == ["He\u0301llo"]
  assert lower.tokenize("Cr\u00e8me Br\u00fbL\u00c9E") == ["creme", "brulee"]
  assert lower.tokenize("\u00c5ngstr\u00f6m na\u00efve") == ["angstrom", "naive"]
  # NFD of GREEK VARIA is "`", which is punctuation; the character itself (Sk)
  # is not.
  assert lower.tokenize("a\u1fefb") == ["a", "`", "b"]
  assert cased.tokenize("a\u1fefb") == ["a\u1fefb"]
  # Final sigma is decided per token.
  assert lower.tokenize("\u039f\u03a3 \u03a3\u039f") == ["\u03bf\u03c2", "\u03c3\u03bf"]


def test_control_characters():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=False)
  assert tokenizer.tokenize("a\u0005b") == ["ab"]
  assert tokenizer.tokenize("a\u200bb\u00adc") == ["abc"]  # Cf dropped.
  assert tokenizer.tokenize("a\x0bb\x0cc\x85d\x1fe") == ["abcde"]  # Cc.
  assert tokenizer.tokenize("a\U0001f4a9b") == ["a\U0001f4a9b"]
  assert tokenizer.tokenize("a\tb\nc\rd") == ["a", "b", "c", "d"]
  # Line/paragraph separators are kept by cleaning but split on.
  assert tokenizer.tokenize("a\u2028b\u2029c") == ["a", "b", "c"]


@pytest.mark.parametrize("symbol", list("$^`+<=>|~"))
def test_ascii_symbols_are_punctuation(symbol):
  assert tokenization._is_punctuation(symbol)
  assert tokenization.BasicTokenizer().tokenize("a" + symbol + "b") == ["a", symbol, "b"]


@pytest.mark.parametrize(
  "char",
  [
    "\u00bf",  # Po
    "\u00ab",  # Pi
    "\u00bb",  # Pf
    "\u2014",  # Pd
    "\u300c",  # Ps
    "\u300d",  # Pe
    "\u203f",  # Pc
    "\u3002",  # Po (ideographic full stop)
  ],
)
def test_unicode_punctuation_categories(char):
  assert unicodedata.category(char).startswith("P")
  assert tokenization._is_punctuation(char)
  for lower in (True, False):
    tokens = tokenization.BasicTokenizer(lower).tokenize("ab" + char + "cd")
    assert tokens == ["ab", char, "cd"]


@pytest.mark.parametrize("char", ["\u20ac", "\u00a9", "\u00b0", "\u2211"])
def test_unicode_symbols_are_not_punctuation(char):
  assert not tokenization._is_punctuation(char)
  word = "5" + char + "x"
  assert tokenization.BasicTokenizer(False).tokenize(word) == [word]


def test_punctuation_runs_split_per_character():
  assert tokenization.BasicTokenizer().tokenize("wait...what?!") == [
    "wait",
    ".",
    ".",
    ".",
    "what",
    "?",
    "!",
  ]


def test_nbsp_and_unicode_spaces_are_whitespace():
  tokenizer = tokenization.BasicTokenizer()
  assert tokenizer.tokenize("a\u00a0b\u3000c\u2009d") == ["a", "b", "c", "d"]


def test_replacement_char_and_nul_dropped():
  tokenizer = tokenization.BasicTokenizer()
  assert tokenizer.tokenize("a\ufffdb\x00c") == ["abc"]
  assert tokenizer.tokenize("\ufffd \x00") == []


def test_empty_and_blank_text():
  for lower in (True, False):
    tokenizer = tokenization.BasicTokenizer(lower)
    assert tokenizer.tokenize("") == []
    assert tokenizer.tokenize(" \t\n\u00a0") == []


def test_basic_tokenizer_accepts_bytes():
  assert tokenization.BasicTokenizer().tokenize("H\u00e9llo, World".encode("utf-8")) == [
    "hello",
    ",",
    "world",
  ]


def test_special_token_text_not_protected(tmp_path):
  assert tokenization.BasicTokenizer().tokenize("[CLS] hi [SEP]") == [
    "[",
    "cls",
    "]",
    "hi",
    "[",
    "sep",
    "]",
  ]
  assert tokenization.BasicTokenizer(False).tokenize("[SEP]") == ["[", "SEP", "]"]
  tokenizer = tokenization.FullTokenizer(
    _write_vocab(tmp_path, ["[UNK]", "[SEP]", "[", "]", "sep"])
  )
  assert tokenizer.tokenize("[SEP]") == ["[", "sep", "]"]
  assert tokenizer.convert_tokens_to_ids(tokenizer.tokenize("[SEP]")) == [2, 4, 3]


# --------------------------------------------------------------------------
# WordPiece.
# --------------------------------------------------------------------------


def test_wordpiece_long_word_is_single_unk():
  vocab = _vocab_dict(["[UNK]", "a", "##a"])
  tokenizer = tokenization.WordpieceTokenizer(vocab)
  assert tokenizer.max_input_chars_per_word == 200
  assert tokenizer.tokenize("a" * 201) == ["[UNK]"]
  assert tokenizer.tokenize("a" * 200) == ["a"] + ["##a"] * 199
  assert tokenizer.tokenize("a " + "a" * 500 + " a") == ["a", "[UNK]", "a"]


def test_wordpiece_custom_unk_and_limit():
  vocab = _vocab_dict(["<unk>", "ab", "##c"])
  tokenizer = tokenization.WordpieceTokenizer(vocab, unk_token="<unk>", max_input_chars_per_word=3)
  assert tokenizer.tokenize("abc abcc ab abx") == ["ab", "##c", "<unk>", "ab", "<unk>"]


def test_wordpiece_greedy_longest_match_first():
  vocab = _vocab_dict(["[UNK]", "a", "ab", "abc", "##d", "##cd", "##bcd"])
  tokenizer = tokenization.WordpieceTokenizer(vocab)
  # Greedy takes "abc" then needs "##d", not "a" + "##bcd".
  assert tokenizer.tokenize("abcd") == ["abc", "##d"]
  # "abx": after "ab" nothing matches "##x", so the whole word is [UNK]
  # (no backtracking to another split).
  assert tokenizer.tokenize("abcx") == ["[UNK]"]
  # A word in the vocab is taken whole.
  assert tokenizer.tokenize("ab") == ["ab"]
  # Non-initial pieces need the ## form.
  assert tokenizer.tokenize("aa") == ["[UNK]"]


def test_wordpiece_sees_later_vocab_changes():
  vocab = _vocab_dict(["[UNK]", "a"])
  tokenizer = tokenization.WordpieceTokenizer(vocab)
  assert tokenizer.tokenize("ab") == ["[UNK]"]
  vocab["##b"] = 2
  assert tokenizer.tokenize("ab") == ["a", "##b"]


def test_full_tokenizer_long_word(tmp_path):
  tokenizer = tokenization.FullTokenizer(_write_vocab(tmp_path, ["[UNK]", "a", "##a", "b"]))
  assert tokenizer.tokenize("b " + "A" * 201 + " b") == ["b", "[UNK]", "b"]


def test_full_tokenizer_attributes(tmp_path):
  tokenizer = tokenization.FullTokenizer(
    _write_vocab(tmp_path, GOOGLE_TEST_VOCAB), do_lower_case=False
  )
  assert isinstance(tokenizer.vocab, collections.OrderedDict)
  assert list(tokenizer.vocab) == GOOGLE_TEST_VOCAB
  assert tokenizer.inv_vocab == {i: t for i, t in enumerate(GOOGLE_TEST_VOCAB)}
  assert isinstance(tokenizer.basic_tokenizer, tokenization.BasicTokenizer)
  assert tokenizer.basic_tokenizer.do_lower_case is False
  assert isinstance(tokenizer.wordpiece_tokenizer, tokenization.WordpieceTokenizer)
  assert tokenizer.wordpiece_tokenizer.vocab is tokenizer.vocab
  assert tokenizer.wordpiece_tokenizer.unk_token == "[UNK]"
  # Cased: "UNwant" is not in the vocab -> whole word [UNK].
  assert tokenizer.tokenize("UNwanted, running") == ["[UNK]", ",", "runn", "##ing"]
  assert tokenization.FullTokenizer(
    _write_vocab(tmp_path, GOOGLE_TEST_VOCAB)
  ).basic_tokenizer.do_lower_case


# --------------------------------------------------------------------------
# Unicode helpers, vocab helpers.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [tokenization.convert_to_unicode, tokenization.printable_text])
def test_convert_to_unicode_and_printable_text(fn):
  s = "caf\u00e9"
  assert fn(s) is s
  assert fn(b"caf\xc3\xa9") == "caf\u00e9"
  assert fn(b"a\xffb") == "ab"  # Invalid UTF-8 is ignored.
  for bad in (1, None, 1.5, bytearray(b"x"), ["a"]):
    with pytest.raises(ValueError) as e:
      fn(bad)
    assert str(e.value) == "Unsupported string type: %s" % (type(bad),)


def test_convert_by_vocab_key_error():
  vocab = {"a": 0, "b": 1}
  assert tokenization.convert_by_vocab(vocab, ["b", "a", "b"]) == [1, 0, 1]
  assert tokenization.convert_by_vocab(vocab, []) == []
  with pytest.raises(KeyError):
    tokenization.convert_by_vocab(vocab, ["a", "zzz"])
  with pytest.raises(KeyError):
    tokenization.convert_tokens_to_ids(vocab, ["[UNK]"])
  with pytest.raises(KeyError):
    tokenization.convert_ids_to_tokens({0: "a"}, [5])


def test_full_tokenizer_convert_key_error(tmp_path):
  tokenizer = tokenization.FullTokenizer(_write_vocab(tmp_path, GOOGLE_TEST_VOCAB))
  with pytest.raises(KeyError):
    tokenizer.convert_tokens_to_ids(["nope"])
  with pytest.raises(KeyError):
    tokenizer.convert_ids_to_tokens([len(GOOGLE_TEST_VOCAB)])


def test_whitespace_tokenize():
  assert tokenization.whitespace_tokenize("") == []
  assert tokenization.whitespace_tokenize("  \t\n ") == []
  assert tokenization.whitespace_tokenize(" a  b\tc\n") == ["a", "b", "c"]


def test_load_vocab_basic(tmp_path):
  vocab = tokenization.load_vocab(_write_vocab(tmp_path, GOOGLE_TEST_VOCAB))
  assert isinstance(vocab, collections.OrderedDict)
  assert list(vocab.items()) == [(t, i) for i, t in enumerate(GOOGLE_TEST_VOCAB)]


def test_load_vocab_duplicates_take_later_index(tmp_path):
  vocab = tokenization.load_vocab(_write_vocab(tmp_path, ["a", "b", "a", "c"]))
  assert list(vocab.items()) == [("a", 2), ("b", 1), ("c", 3)]


def test_load_vocab_strips_and_reads_utf8(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_bytes("  [PAD] \r\n\u535a\nx\ry\n\n\u00a0z\u3000\t\nlast".encode("utf-8"))
  vocab = tokenization.load_vocab(str(path))
  # As with tf.gfile.GFile: lines end at "\n" only and every "\r" is dropped
  # ("x\ry" -> "xy"); the blank line is the token ""; the last line needs no
  # "\n"; strip() removes Unicode whitespace too.
  assert list(vocab.items()) == [
    ("[PAD]", 0),
    ("\u535a", 1),
    ("xy", 2),
    ("", 3),
    ("z", 4),
    ("last", 5),
  ]
  # A path object works too.
  assert tokenization.load_vocab(path) == vocab


def test_load_vocab_end_of_file(tmp_path):
  path = tmp_path / "vocab.txt"
  # A final line holding only "\r" reads as EOF under GFile: no extra token.
  path.write_bytes(b"a\nb\n\r")
  assert list(tokenization.load_vocab(str(path)).items()) == [("a", 0), ("b", 1)]
  path.write_bytes(b"a\n\r\n")  # ...but "\r\n" is a blank line: token "".
  assert list(tokenization.load_vocab(str(path)).items()) == [("a", 0), ("", 1)]
  path.write_bytes(b"")
  assert tokenization.load_vocab(str(path)) == collections.OrderedDict()


def test_load_vocab_missing_file(tmp_path):
  missing = str(tmp_path / "no_such_vocab.txt")
  with pytest.raises(FileNotFoundError) as e:
    tokenization.load_vocab(missing)
  assert missing in str(e.value)
  with pytest.raises(FileNotFoundError):
    tokenization.FullTokenizer(missing)


def test_load_vocab_remote_path_uses_gfile(monkeypatch, tmp_path):
  local = _write_vocab(tmp_path, ["a", "b"])
  opened = []

  class NotFoundError(Exception):
    pass

  def gfile(path, mode):
    opened.append((path, mode))
    if path.endswith("missing.txt"):
      raise NotFoundError(path)
    return open(local, mode, encoding="utf-8")

  fake_tf = types.SimpleNamespace(
    io=types.SimpleNamespace(gfile=types.SimpleNamespace(GFile=gfile)),
    errors=types.SimpleNamespace(NotFoundError=NotFoundError),
  )
  monkeypatch.setitem(sys.modules, "tensorflow", fake_tf)
  vocab = tokenization.load_vocab("gs://bucket/vocab.txt")
  assert list(vocab.items()) == [("a", 0), ("b", 1)]
  assert opened == [("gs://bucket/vocab.txt", "r")]
  with pytest.raises(FileNotFoundError) as e:
    tokenization.load_vocab("gs://bucket/missing.txt")
  assert "gs://bucket/missing.txt" in str(e.value)


# --------------------------------------------------------------------------
# validate_case_matches_checkpoint.
# --------------------------------------------------------------------------

LOWER_MODELS = [
  "uncased_L-24_H-1024_A-16",
  "uncased_L-12_H-768_A-12",
  "multilingual_L-12_H-768_A-12",
  "chinese_L-12_H-768_A-12",
]
CASED_MODELS = ["cased_L-12_H-768_A-12", "cased_L-24_H-1024_A-16", "multi_cased_L-12_H-768_A-12"]


def _expected_message(flag, ckpt, model, case_name, opposite):
  return (
    "You passed in `--do_lower_case=%s` with `--init_checkpoint=%s`. "
    "However, `%s` seems to be a %s model, so you should pass in "
    "`--do_lower_case=%s` so that the fine-tuning matches how the model "
    "was pre-training. If this error is wrong, please just comment out "
    "this check." % (flag, ckpt, model, case_name, opposite)
  )


@pytest.mark.parametrize("model", LOWER_MODELS)
def test_validate_lower_model_with_cased_flag_raises(model):
  ckpt = "/data/models/%s/bert_model.ckpt" % model
  with pytest.raises(ValueError) as e:
    tokenization.validate_case_matches_checkpoint(False, ckpt)
  assert str(e.value) == _expected_message("False", ckpt, model, "lowercased", "True")
  tokenization.validate_case_matches_checkpoint(True, ckpt)


@pytest.mark.parametrize("model", CASED_MODELS)
def test_validate_cased_model_with_lower_flag_raises(model):
  ckpt = "gs://bucket/%s/bert_model.ckpt" % model
  with pytest.raises(ValueError) as e:
    tokenization.validate_case_matches_checkpoint(True, ckpt)
  assert str(e.value) == _expected_message("True", ckpt, model, "cased", "False")
  tokenization.validate_case_matches_checkpoint(False, ckpt)


def test_validate_exact_message_example():
  with pytest.raises(ValueError) as e:
    tokenization.validate_case_matches_checkpoint(False, "uncased_L-12_H-768_A-12/bert_model.ckpt")
  assert str(e.value) == (
    "You passed in `--do_lower_case=False` with "
    "`--init_checkpoint=uncased_L-12_H-768_A-12/bert_model.ckpt`. However, "
    "`uncased_L-12_H-768_A-12` seems to be a lowercased model, so you should "
    "pass in `--do_lower_case=True` so that the fine-tuning matches how the "
    "model was pre-training. If this error is wrong, please just comment "
    "out this check."
  )


def test_validate_basename_prefix_is_enough():
  # The regex only needs the basename to start with bert_model.ckpt.
  with pytest.raises(ValueError):
    tokenization.validate_case_matches_checkpoint(
      True, "/m/cased_L-12_H-768_A-12/bert_model.ckpt.index"
    )


@pytest.mark.parametrize("flag", [True, False])
@pytest.mark.parametrize(
  "ckpt",
  [
    None,
    "",
    "/out/uncased_L-12_H-768_A-12/model.ckpt-343",  # fine-tuned: never
    "/out/cased_L-12_H-768_A-12/model.ckpt-343",
    "model.ckpt-343",
    "bert_model.ckpt",  # no directory: no match
    "/m/wwm_uncased_L-24_H-1024_A-16/bert_model.ckpt",  # unknown names
    "/m/wwm_cased_L-24_H-1024_A-16/bert_model.ckpt",
    "/m/my_renamed_model/bert_model.ckpt",
  ],
)
def test_validate_passes(flag, ckpt):
  assert tokenization.validate_case_matches_checkpoint(flag, ckpt) is None


# --------------------------------------------------------------------------
# No TensorFlow at import time.
# --------------------------------------------------------------------------


def test_import_does_not_import_tensorflow(tmp_path):
  vocab = _write_vocab(tmp_path, GOOGLE_TEST_VOCAB)
  code = (
    "import sys\n"
    "import bert.tokenization as t\n"
    "assert 'tensorflow' not in sys.modules\n"
    "tok = t.FullTokenizer(%r)\n"
    "assert tok.tokenize(u'UNwant\\u00E9d,running') == "
    "['un', '##want', '##ed', ',', 'runn', '##ing']\n"
    "assert 'tensorflow' not in sys.modules\n"
    "from bert import tokenization\n"
    "print('ok')\n" % vocab
  )
  env = dict(os.environ)
  env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
  result = subprocess.run(
    [sys.executable, "-c", code],
    cwd=str(tmp_path),
    env=env,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == "ok"


# --------------------------------------------------------------------------
# Same tokens as a literal, character-by-character reading of the spec.
# --------------------------------------------------------------------------


def _ref_is_whitespace(char):
  if char in (" ", "\t", "\n", "\r"):
    return True
  return unicodedata.category(char) == "Zs"


def _ref_is_control(char):
  if char in ("\t", "\n", "\r"):
    return False
  return unicodedata.category(char) in ("Cc", "Cf")


def _ref_is_punctuation(char):
  cp = ord(char)
  if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
    return True
  return unicodedata.category(char).startswith("P")


def _ref_basic_tokenize(text, do_lower_case):
  cleaned = []
  for char in text:
    cp = ord(char)
    if cp == 0 or cp == 0xFFFD or _ref_is_control(char):
      continue
    cleaned.append(" " if _ref_is_whitespace(char) else char)
  spaced = []
  for char in cleaned:
    if _in_cjk(ord(char)):
      spaced.extend([" ", char, " "])
    else:
      spaced.append(char)
  split_tokens = []
  for token in tokenization.whitespace_tokenize("".join(spaced)):
    if do_lower_case:
      token = token.lower()
      token = "".join(
        c for c in unicodedata.normalize("NFD", token) if unicodedata.category(c) != "Mn"
      )
    split_tokens.extend(_ref_split_on_punc(token))
  return tokenization.whitespace_tokenize(" ".join(split_tokens))


def _ref_split_on_punc(token):
  words = []
  start_new_word = True
  for char in token:
    if _ref_is_punctuation(char):
      words.append([char])
      start_new_word = True
    else:
      if start_new_word:
        words.append([])
      start_new_word = False
      words[-1].append(char)
  return ["".join(w) for w in words]


def _ref_wordpiece(text, vocab, unk="[UNK]", max_chars=200):
  out = []
  for token in tokenization.whitespace_tokenize(text):
    chars = list(token)
    if len(chars) > max_chars:
      out.append(unk)
      continue
    is_bad = False
    start = 0
    sub_tokens = []
    while start < len(chars):
      end = len(chars)
      cur = None
      while start < end:
        substr = "".join(chars[start:end])
        if start > 0:
          substr = "##" + substr
        if substr in vocab:
          cur = substr
          break
        end -= 1
      if cur is None:
        is_bad = True
        break
      sub_tokens.append(cur)
      start = end
    if is_bad:
      out.append(unk)
    else:
      out.extend(sub_tokens)
  return out


# Characters around which the fast path could plausibly go wrong.
TRICKY_CHARS = (
  list(
    " \t\n\r\x0b\x0c\x00\x05\x1c\x1f\x7f\x85\u00a0\u1680\u2000\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufffd\u200b\u200d\u00ad\ufeff"
  )
  + list("!$^`+<=>|~.,'\"-_()[]{}#@\\/:;?&*%")
  + list("\u00bf\u00ab\u00bb\u2014\u300c\u300d\u203f\u3002\u1fef\u1ffd\u037e\u0387\u20ac\u00a9")
  + list("\u03a3\u03c3\u03c2\u0391\u039f\u0130\u0131\u212a\u00df\u1e9e\uff21\u01c5")
  + list("\u0301\u0308\u0323\u0345\u0903\u20dd\u3099\u309a")
  + list("\u00e9\u00c9\u00f1\u00e5\u00c5\u1ea0\u01d5\u0177")
  + list(
    "\u4e00\u9fff\u3400\u535a\uf900\ufaff\U00020000\U0002a6df"
    "\U0002ceaf\U0002ceb0\U0002f800\uac00\ud7a3\u304c\u30ab\u0e01"
  )
  + list("\U0001f4a9\ue000\U000e0001\ud800\udfff\u0378")
  + list("aAzZ09 ")
)


def _random_text(rng):
  chars = []
  for _ in range(rng.randint(0, 40)):
    r = rng.random()
    if r < 0.55:
      chars.append(rng.choice(TRICKY_CHARS))
    elif r < 0.8:
      chars.append(chr(rng.randint(0x20, 0x24F)))
    else:
      chars.append(chr(rng.randint(0, 0x10FFFF)))
  return "".join(chars)


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_basic_tokenizer_matches_reference_on_random_text(do_lower_case):
  rng = random.Random(12345 + do_lower_case)
  tokenizer = tokenization.BasicTokenizer(do_lower_case)
  for _ in range(3000):
    text = _random_text(rng)
    assert tokenizer.tokenize(text) == _ref_basic_tokenize(text, do_lower_case), repr(text)


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_basic_tokenizer_matches_reference_on_every_code_point(do_lower_case):
  tokenizer = tokenization.BasicTokenizer(do_lower_case)
  step = 0x400
  for lo in range(0, 0x110000, step):
    text = "".join(chr(cp) for cp in range(lo, lo + step))
    assert tokenizer.tokenize(text) == _ref_basic_tokenize(text, do_lower_case), hex(lo)


def test_private_step_helpers_match_reference():
  tokenizer = tokenization.BasicTokenizer()
  rng = random.Random(7)
  for _ in range(1000):
    text = _random_text(rng)
    cleaned = "".join(
      " " if _ref_is_whitespace(c) else c
      for c in text
      if ord(c) not in (0, 0xFFFD) and not _ref_is_control(c)
    )
    assert tokenizer._clean_text(text) == cleaned
    assert tokenizer._tokenize_chinese_chars(text) == "".join(
      " " + c + " " if _in_cjk(ord(c)) else c for c in text
    )
    assert tokenizer._run_strip_accents(text) == "".join(
      c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
    )
    assert tokenizer._run_split_on_punc(text) == _ref_split_on_punc(text)


def test_wordpiece_matches_reference_on_random_words():
  rng = random.Random(99)
  alphabet = "abc\u00e9\u535a"
  pieces = set()
  for _ in range(40):
    piece = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
    pieces.add(piece if rng.random() < 0.5 else "##" + piece)
  vocab = _vocab_dict(["[UNK]"] + sorted(pieces))
  tokenizer = tokenization.WordpieceTokenizer(vocab, max_input_chars_per_word=12)
  for _ in range(3000):
    text = " ".join(
      "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
      for _ in range(rng.randint(0, 4))
    )
    assert tokenizer.tokenize(text) == _ref_wordpiece(text, vocab, max_chars=12), text


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_full_tokenizer_matches_reference_on_random_text(tmp_path, do_lower_case):
  rng = random.Random(2024 + do_lower_case)
  basic = set()
  for _ in range(300):
    basic.update(_ref_basic_tokenize(_random_text(rng), do_lower_case))
  # Whole tokens, first characters and "##" continuations of some of them.
  vocab_tokens = ["[UNK]"] + sorted(basic)[::3]
  vocab_tokens += sorted({t[0] for t in basic})[::2]
  vocab_tokens += sorted({"##" + t[1:] for t in basic if len(t) > 1})[::2]
  vocab_tokens += ["##" + c for c in sorted({c for t in basic for c in t})]
  # Lone surrogates cannot be written to a UTF-8 file.
  vocab_tokens = [
    t for t in dict.fromkeys(vocab_tokens) if not any(0xD800 <= ord(c) <= 0xDFFF for c in t)
  ]
  tokenizer = tokenization.FullTokenizer(
    _write_vocab(tmp_path, vocab_tokens), do_lower_case=do_lower_case
  )
  for _ in range(2000):
    text = _random_text(rng)
    expected = []
    for token in _ref_basic_tokenize(text, do_lower_case):
      expected.extend(_ref_wordpiece(token, tokenizer.vocab))
    assert tokenizer.tokenize(text) == expected, repr(text)
    ids = tokenizer.convert_tokens_to_ids(expected)
    assert tokenizer.tokenize_to_ids(text) == ids, repr(text)
    assert tokenizer.tokenize_to_ids(text) == ids, repr(text)  # Cached now.


def test_tokenize_to_ids_vocab_entry_longer_than_word_limit(tmp_path):
  tokenizer = tokenization.FullTokenizer(
    _write_vocab(tmp_path, ["[UNK]", "abcd", "ab", "##cd", "x"])
  )
  tokenizer.wordpiece_tokenizer.max_input_chars_per_word = 3
  for text in ("x abcd x", "abcd", "x"):
    assert tokenizer.tokenize_to_ids(text) == tokenizer.convert_tokens_to_ids(
      tokenizer.tokenize(text)
    )
  assert tokenizer.tokenize_to_ids("x abcd") == [4, 0]


def test_tokenize_to_ids_cache_is_bounded_and_not_pickled(tmp_path, monkeypatch):
  import pickle

  monkeypatch.setattr(tokenization, "_MAX_CACHED_WORDS", 2)
  tokenizer = tokenization.FullTokenizer(_write_vocab(tmp_path, ["[UNK]", "a", "##a", "##b"]))
  assert tokenizer.tokenize_to_ids("aa ab aaa abb a") == [1, 2, 1, 3, 1, 2, 2, 1, 3, 3, 1]
  assert len(tokenizer._split_words) == 2  # "aa", "ab", "aaa", "abb"; cleared
  copy = pickle.loads(pickle.dumps(tokenizer))
  assert copy._split_words == {}
  assert copy.tokenize_to_ids("abb") == [1, 3, 3]
