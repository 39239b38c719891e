# coding=utf-8
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
    "[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn",
    "##ing", ","
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
  tokenizer = tokenization.FullTokenizer(
      _write_vocab(tmp_path, GOOGLE_TEST_VOCAB))
  tokens = tokenizer.tokenize(u"UNwant\u00E9d,running")
  assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
  assert tokenizer.convert_tokens_to_ids(tokens) == [7, 4, 5, 10, 8, 9]
  assert tokenizer.convert_ids_to_tokens([7, 4, 5, 10, 8, 9]) == tokens


def test_chinese():
  tokenizer = tokenization.BasicTokenizer()
  assert tokenizer.tokenize(u"ah\u535A\u63A8zz") == [
      u"ah", u"\u535A", u"\u63A8", u"zz"
  ]


def test_basic_tokenizer_lower():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=True)
  assert tokenizer.tokenize(u" \tHeLLo!how  \n Are yoU?  ") == [
      "hello", "!", "how", "are", "you", "?"
  ]
  assert tokenizer.tokenize(u"H\u00E9llo") == ["hello"]


def test_basic_tokenizer_no_lower():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=False)
  assert tokenizer.tokenize(u" \tHeLLo!how  \n Are yoU?  ") == [
      "HeLLo", "!", "how", "Are", "yoU", "?"
  ]


def test_wordpiece_tokenizer_golden():
  vocab = _vocab_dict([
      "[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn",
      "##ing"
  ])
  tokenizer = tokenization.WordpieceTokenizer(vocab=vocab)
  assert tokenizer.tokenize("") == []
  assert tokenizer.tokenize("unwanted running") == [
      "un", "##want", "##ed", "runn", "##ing"
  ]
  assert tokenizer.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]


def test_convert_tokens_to_ids_module_level():
  vocab = _vocab_dict([
      "[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn",
      "##ing"
  ])
  assert tokenization.convert_tokens_to_ids(
      vocab, ["un", "##want", "##ed", "runn", "##ing"]) == [7, 4, 5, 8, 9]
  inv = {v: k for k, v in vocab.items()}
  assert tokenization.convert_ids_to_tokens(inv, [7, 4]) == ["un", "##want"]


def test_is_whitespace():
  assert tokenization._is_whitespace(u" ")
  assert tokenization._is_whitespace(u"\t")
  assert tokenization._is_whitespace(u"\r")
  assert tokenization._is_whitespace(u"\n")
  assert tokenization._is_whitespace(u"\u00A0")
  assert tokenization._is_whitespace(u"\u3000")
  assert not tokenization._is_whitespace(u"A")
  assert not tokenization._is_whitespace(u"-")
  assert not tokenization._is_whitespace(u"\u2028")  # Zl, not Zs.


def test_is_control():
  assert tokenization._is_control(u"\u0005")
  assert tokenization._is_control(u"\u200b")  # Cf.
  assert tokenization._is_control(u"\x7f")
  assert not tokenization._is_control(u"A")
  assert not tokenization._is_control(u" ")
  assert not tokenization._is_control(u"\t")
  assert not tokenization._is_control(u"\n")
  assert not tokenization._is_control(u"\r")
  assert not tokenization._is_control(u"\U0001F4A9")
  assert not tokenization._is_control(u"\ue000")  # Co: not Cc/Cf.


def test_is_punctuation():
  assert tokenization._is_punctuation(u"-")
  assert tokenization._is_punctuation(u"$")
  assert tokenization._is_punctuation(u"`")
  assert tokenization._is_punctuation(u".")
  assert not tokenization._is_punctuation(u"A")
  assert not tokenization._is_punctuation(u" ")


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
    assert tokenizer.tokenize(u"a" + c + u"b") == [u"a", c, u"b"]
  for cp in (lo - 1, hi + 1):
    if _in_cjk(cp):  # Adjacent ranges (0x2B740, 0x2B820) are contiguous.
      continue
    c = chr(cp)
    assert not tokenization._is_chinese_char(cp)
    # None of the neighbours is whitespace, control or punctuation.
    assert tokenizer.tokenize(u"a" + c + u"b") == [u"a" + c + u"b"]


def test_cjk_extension_f_not_included():
  # U+2CEB0 (CJK Extension F) is past Google's last range.
  assert not tokenization._is_chinese_char(0x2CEB0)
  assert tokenization.BasicTokenizer(False).tokenize(u"a\U0002CEB0b") == [
      u"a\U0002CEB0b"
  ]


def test_hangul_kana_not_split():
  cased = tokenization.BasicTokenizer(do_lower_case=False)
  lower = tokenization.BasicTokenizer(do_lower_case=True)
  for word in (u"\uc548\ub155\ud558\uc138\uc694",  # Hangul
               u"\u3053\u3093\u306b\u3061\u306f",  # Hiragana
               u"\u30ab\u30bf\u30ab\u30ca"):  # Katakana
    assert cased.tokenize(word) == [word]
    assert cased.tokenize(u"x" + word + u"y") == [u"x" + word + u"y"]
    # Lower-casing applies NFD: Hangul syllables become conjoining jamo (Lo),
    # still one token.
    assert lower.tokenize(word) == [unicodedata.normalize("NFD", word)]
  # The dakuten of "ga" is a combining mark (Mn), so lower-casing drops it.
  assert lower.tokenize(u"\u304c\u304e") == [u"\u304b\u304d"]
  assert cased.tokenize(u"\u304c\u304e") == [u"\u304c\u304e"]


def test_accents_stripped_only_when_lower_casing():
  lower = tokenization.BasicTokenizer(do_lower_case=True)
  cased = tokenization.BasicTokenizer(do_lower_case=False)
  assert lower.tokenize(u"H\u00E9llo") == [u"hello"]
  assert cased.tokenize(u"H\u00E9llo") == [u"H\u00E9llo"]
  # Decomposed input: the combining acute (Mn) stays when not lower-casing.
  assert lower.tokenize(u"He\u0301llo") == [u"hello"]
  assert cased.tokenize(u"He\u0301llo") == [u"He\u0301llo"]
  assert lower.tokenize(u"Cr\u00E8me Br\u00FBL\u00C9E") == [u"creme", u"brulee"]
  assert lower.tokenize(u"\u00C5ngstr\u00F6m na\u00EFve") == [
      u"angstrom", u"naive"
  ]
  # NFD of GREEK VARIA is "`", which is punctuation; the character itself (Sk)
  # is not.
  assert lower.tokenize(u"a\u1FEFb") == [u"a", u"`", u"b"]
  assert cased.tokenize(u"a\u1FEFb") == [u"a\u1FEFb"]
  # Final sigma is decided per token.
  assert lower.tokenize(u"\u039F\u03A3 \u03A3\u039F") == [
      u"\u03BF\u03C2", u"\u03C3\u03BF"
  ]


def test_control_characters():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=False)
  assert tokenizer.tokenize(u"a\u0005b") == [u"ab"]
  assert tokenizer.tokenize(u"a\u200bb\u00adc") == [u"abc"]  # Cf dropped.
  assert tokenizer.tokenize(u"a\x0bb\x0cc\x85d\x1fe") == [u"abcde"]  # Cc.
  assert tokenizer.tokenize(u"a\U0001F4A9b") == [u"a\U0001F4A9b"]
  assert tokenizer.tokenize(u"a\tb\nc\rd") == [u"a", u"b", u"c", u"d"]
  # Line/paragraph separators are kept by cleaning but split on.
  assert tokenizer.tokenize(u"a\u2028b\u2029c") == [u"a", u"b", u"c"]


@pytest.mark.parametrize("symbol", list(u"$^`+<=>|~"))
def test_ascii_symbols_are_punctuation(symbol):
  assert tokenization._is_punctuation(symbol)
  assert tokenization.BasicTokenizer().tokenize(u"a" + symbol + u"b") == [
      u"a", symbol, u"b"
  ]


@pytest.mark.parametrize(
    "char",
    [
        u"\u00BF",  # Po
        u"\u00AB",  # Pi
        u"\u00BB",  # Pf
        u"\u2014",  # Pd
        u"\u300C",  # Ps
        u"\u300D",  # Pe
        u"\u203F",  # Pc
        u"\u3002",  # Po (ideographic full stop)
    ])
def test_unicode_punctuation_categories(char):
  assert unicodedata.category(char).startswith("P")
  assert tokenization._is_punctuation(char)
  for lower in (True, False):
    tokens = tokenization.BasicTokenizer(lower).tokenize(u"ab" + char + u"cd")
    assert tokens == [u"ab", char, u"cd"]


@pytest.mark.parametrize("char", [u"\u20AC", u"\u00A9", u"\u00B0", u"\u2211"])
def test_unicode_symbols_are_not_punctuation(char):
  assert not tokenization._is_punctuation(char)
  word = u"5" + char + u"x"
  assert tokenization.BasicTokenizer(False).tokenize(word) == [word]


def test_punctuation_runs_split_per_character():
  assert tokenization.BasicTokenizer().tokenize(u"wait...what?!") == [
      u"wait", u".", u".", u".", u"what", u"?", u"!"
  ]


def test_nbsp_and_unicode_spaces_are_whitespace():
  tokenizer = tokenization.BasicTokenizer()
  assert tokenizer.tokenize(u"a\u00A0b\u3000c\u2009d") == [
      u"a", u"b", u"c", u"d"
  ]


def test_replacement_char_and_nul_dropped():
  tokenizer = tokenization.BasicTokenizer()
  assert tokenizer.tokenize(u"a\uFFFDb\x00c") == [u"abc"]
  assert tokenizer.tokenize(u"\uFFFD \x00") == []


def test_empty_and_blank_text():
  for lower in (True, False):
    tokenizer = tokenization.BasicTokenizer(lower)
    assert tokenizer.tokenize(u"") == []
    assert tokenizer.tokenize(u" \t\n\u00A0") == []


def test_basic_tokenizer_accepts_bytes():
  assert tokenization.BasicTokenizer().tokenize(
      u"H\u00E9llo, World".encode("utf-8")) == [u"hello", u",", u"world"]


def test_special_token_text_not_protected(tmp_path):
  assert tokenization.BasicTokenizer().tokenize(u"[CLS] hi [SEP]") == [
      u"[", u"cls", u"]", u"hi", u"[", u"sep", u"]"
  ]
  assert tokenization.BasicTokenizer(False).tokenize(u"[SEP]") == [
      u"[", u"SEP", u"]"
  ]
  tokenizer = tokenization.FullTokenizer(
      _write_vocab(tmp_path, ["[UNK]", "[SEP]", "[", "]", "sep"]))
  assert tokenizer.tokenize(u"[SEP]") == [u"[", u"sep", u"]"]
  assert tokenizer.convert_tokens_to_ids(tokenizer.tokenize(u"[SEP]")) == [
      2, 4, 3
  ]


# --------------------------------------------------------------------------
# WordPiece.
# --------------------------------------------------------------------------


def test_wordpiece_long_word_is_single_unk():
  vocab = _vocab_dict(["[UNK]", "a", "##a"])
  tokenizer = tokenization.WordpieceTokenizer(vocab)
  assert tokenizer.max_input_chars_per_word == 200
  assert tokenizer.tokenize(u"a" * 201) == [u"[UNK]"]
  assert tokenizer.tokenize(u"a" * 200) == [u"a"] + [u"##a"] * 199
  assert tokenizer.tokenize(u"a " + u"a" * 500 + u" a") == [
      u"a", u"[UNK]", u"a"
  ]


def test_wordpiece_custom_unk_and_limit():
  vocab = _vocab_dict(["<unk>", "ab", "##c"])
  tokenizer = tokenization.WordpieceTokenizer(
      vocab, unk_token="<unk>", max_input_chars_per_word=3)
  assert tokenizer.tokenize(u"abc abcc ab abx") == [
      u"ab", u"##c", u"<unk>", u"ab", u"<unk>"
  ]


def test_wordpiece_greedy_longest_match_first():
  vocab = _vocab_dict(["[UNK]", "a", "ab", "abc", "##d", "##cd", "##bcd"])
  tokenizer = tokenization.WordpieceTokenizer(vocab)
  # Greedy takes "abc" then needs "##d", not "a" + "##bcd".
  assert tokenizer.tokenize(u"abcd") == [u"abc", u"##d"]
  # "abx": after "ab" nothing matches "##x", so the whole word is [UNK]
  # (no backtracking to another split).
  assert tokenizer.tokenize(u"abcx") == [u"[UNK]"]
  # A word in the vocab is taken whole.
  assert tokenizer.tokenize(u"ab") == [u"ab"]
  # Non-initial pieces need the ## form.
  assert tokenizer.tokenize(u"aa") == [u"[UNK]"]


def test_wordpiece_sees_later_vocab_changes():
  vocab = _vocab_dict(["[UNK]", "a"])
  tokenizer = tokenization.WordpieceTokenizer(vocab)
  assert tokenizer.tokenize(u"ab") == [u"[UNK]"]
  vocab["##b"] = 2
  assert tokenizer.tokenize(u"ab") == [u"a", u"##b"]


def test_full_tokenizer_long_word(tmp_path):
  tokenizer = tokenization.FullTokenizer(
      _write_vocab(tmp_path, ["[UNK]", "a", "##a", "b"]))
  assert tokenizer.tokenize(u"b " + u"A" * 201 + u" b") == [
      u"b", u"[UNK]", u"b"
  ]


def test_full_tokenizer_attributes(tmp_path):
  tokenizer = tokenization.FullTokenizer(
      _write_vocab(tmp_path, GOOGLE_TEST_VOCAB), do_lower_case=False)
  assert isinstance(tokenizer.vocab, collections.OrderedDict)
  assert list(tokenizer.vocab) == GOOGLE_TEST_VOCAB
  assert tokenizer.inv_vocab == {i: t for i, t in enumerate(GOOGLE_TEST_VOCAB)}
  assert isinstance(tokenizer.basic_tokenizer, tokenization.BasicTokenizer)
  assert tokenizer.basic_tokenizer.do_lower_case is False
  assert isinstance(tokenizer.wordpiece_tokenizer,
                    tokenization.WordpieceTokenizer)
  assert tokenizer.wordpiece_tokenizer.vocab is tokenizer.vocab
  assert tokenizer.wordpiece_tokenizer.unk_token == "[UNK]"
  # Cased: "UNwant" is not in the vocab -> whole word [UNK].
  assert tokenizer.tokenize(u"UNwanted, running") == [
      "[UNK]", ",", "runn", "##ing"
  ]
  assert tokenization.FullTokenizer(
      _write_vocab(tmp_path, GOOGLE_TEST_VOCAB)).basic_tokenizer.do_lower_case


# --------------------------------------------------------------------------
# Unicode helpers, vocab helpers.
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn", [tokenization.convert_to_unicode, tokenization.printable_text])
def test_convert_to_unicode_and_printable_text(fn):
  s = u"caf\u00E9"
  assert fn(s) is s
  assert fn(b"caf\xc3\xa9") == u"caf\u00E9"
  assert fn(b"a\xffb") == u"ab"  # Invalid UTF-8 is ignored.
  for bad in (1, None, 1.5, bytearray(b"x"), [u"a"]):
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
  tokenizer = tokenization.FullTokenizer(
      _write_vocab(tmp_path, GOOGLE_TEST_VOCAB))
  with pytest.raises(KeyError):
    tokenizer.convert_tokens_to_ids(["nope"])
  with pytest.raises(KeyError):
    tokenizer.convert_ids_to_tokens([len(GOOGLE_TEST_VOCAB)])


def test_whitespace_tokenize():
  assert tokenization.whitespace_tokenize(u"") == []
  assert tokenization.whitespace_tokenize(u"  \t\n ") == []
  assert tokenization.whitespace_tokenize(u" a  b\tc\n") == [u"a", u"b", u"c"]


def test_load_vocab_basic(tmp_path):
  vocab = tokenization.load_vocab(_write_vocab(tmp_path, GOOGLE_TEST_VOCAB))
  assert isinstance(vocab, collections.OrderedDict)
  assert list(vocab.items()) == [
      (t, i) for i, t in enumerate(GOOGLE_TEST_VOCAB)
  ]


def test_load_vocab_duplicates_take_later_index(tmp_path):
  vocab = tokenization.load_vocab(
      _write_vocab(tmp_path, ["a", "b", "a", "c"]))
  assert list(vocab.items()) == [("a", 2), ("b", 1), ("c", 3)]


def test_load_vocab_strips_and_reads_utf8(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_bytes(
      u"  [PAD] \r\n\u535A\nx\ry\n\n\u00A0z\u3000\t\nlast".encode("utf-8"))
  vocab = tokenization.load_vocab(str(path))
  # As with tf.gfile.GFile: lines end at "\n" only and every "\r" is dropped
  # ("x\ry" -> "xy"); the blank line is the token ""; the last line needs no
  # "\n"; strip() removes Unicode whitespace too.
  assert list(vocab.items()) == [(u"[PAD]", 0), (u"\u535A", 1), (u"xy", 2),
                                 (u"", 3), (u"z", 4), (u"last", 5)]
  # A path object works too.
  assert tokenization.load_vocab(path) == vocab


def test_load_vocab_end_of_file(tmp_path):
  path = tmp_path / "vocab.txt"
  # A final line holding only "\r" reads as EOF under GFile: no extra token.
  path.write_bytes(b"a\nb\n\r")
  assert list(tokenization.load_vocab(str(path)).items()) == [("a", 0),
                                                              ("b", 1)]
  path.write_bytes(b"a\n\r\n")  # ...but "\r\n" is a blank line: token "".
  assert list(tokenization.load_vocab(str(path)).items()) == [("a", 0),
                                                              ("", 1)]
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
      errors=types.SimpleNamespace(NotFoundError=NotFoundError))
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
    "uncased_L-24_H-1024_A-16", "uncased_L-12_H-768_A-12",
    "multilingual_L-12_H-768_A-12", "chinese_L-12_H-768_A-12"
]
CASED_MODELS = [
    "cased_L-12_H-768_A-12", "cased_L-24_H-1024_A-16",
    "multi_cased_L-12_H-768_A-12"
]


def _expected_message(flag, ckpt, model, case_name, opposite):
  return ("You passed in `--do_lower_case=%s` with `--init_checkpoint=%s`. "
          "However, `%s` seems to be a %s model, so you should pass in "
          "`--do_lower_case=%s` so that the fine-tuning matches how the model "
          "was pre-training. If this error is wrong, please just comment out "
          "this check." % (flag, ckpt, model, case_name, opposite))


@pytest.mark.parametrize("model", LOWER_MODELS)
def test_validate_lower_model_with_cased_flag_raises(model):
  ckpt = "/data/models/%s/bert_model.ckpt" % model
  with pytest.raises(ValueError) as e:
    tokenization.validate_case_matches_checkpoint(False, ckpt)
  assert str(e.value) == _expected_message("False", ckpt, model, "lowercased",
                                           "True")
  tokenization.validate_case_matches_checkpoint(True, ckpt)


@pytest.mark.parametrize("model", CASED_MODELS)
def test_validate_cased_model_with_lower_flag_raises(model):
  ckpt = "gs://bucket/%s/bert_model.ckpt" % model
  with pytest.raises(ValueError) as e:
    tokenization.validate_case_matches_checkpoint(True, ckpt)
  assert str(e.value) == _expected_message("True", ckpt, model, "cased",
                                           "False")
  tokenization.validate_case_matches_checkpoint(False, ckpt)


def test_validate_exact_message_example():
  with pytest.raises(ValueError) as e:
    tokenization.validate_case_matches_checkpoint(
        False, "uncased_L-12_H-768_A-12/bert_model.ckpt")
  assert str(e.value) == (
      "You passed in `--do_lower_case=False` with "
      "`--init_checkpoint=uncased_L-12_H-768_A-12/bert_model.ckpt`. However, "
      "`uncased_L-12_H-768_A-12` seems to be a lowercased model, so you should "
      "pass in `--do_lower_case=True` so that the fine-tuning matches how the "
      "model was pre-training. If this error is wrong, please just comment "
      "out this check.")


def test_validate_basename_prefix_is_enough():
  # The regex only needs the basename to start with bert_model.ckpt.
  with pytest.raises(ValueError):
    tokenization.validate_case_matches_checkpoint(
        True, "/m/cased_L-12_H-768_A-12/bert_model.ckpt.index")


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
    ])
def test_validate_passes(flag, ckpt):
  assert tokenization.validate_case_matches_checkpoint(flag, ckpt) is None


# --------------------------------------------------------------------------
# No TensorFlow at import time.
# --------------------------------------------------------------------------


def test_import_does_not_import_tensorflow(tmp_path):
  vocab = _write_vocab(tmp_path, GOOGLE_TEST_VOCAB)
  code = ("import sys\n"
          "import bert.tokenization as t\n"
          "assert 'tensorflow' not in sys.modules\n"
          "tok = t.FullTokenizer(%r)\n"
          "assert tok.tokenize(u'UNwant\\u00E9d,running') == "
          "['un', '##want', '##ed', ',', 'runn', '##ing']\n"
          "assert 'tensorflow' not in sys.modules\n"
          "from bert import tokenization\n"
          "print('ok')\n" % vocab)
  env = dict(os.environ)
  env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
  result = subprocess.run([sys.executable, "-c", code],
                          cwd=str(tmp_path),
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=120)
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
          c for c in unicodedata.normalize("NFD", token)
          if unicodedata.category(c) != "Mn")
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
    list(u" \t\n\r\x0b\x0c\x00\x05\x1c\x1f\x7f\x85\u00a0\u1680\u2000\u200a"
         u"\u2028\u2029\u202f\u205f\u3000\ufffd\u200b\u200d\u00ad\ufeff") +
    list(u"!$^`+<=>|~.,'\"-_()[]{}#@\\/:;?&*%") +
    list(u"\u00bf\u00ab\u00bb\u2014\u300c\u300d\u203f\u3002\u1fef\u1ffd"
         u"\u037e\u0387\u20ac\u00a9") +
    list(u"\u03a3\u03c3\u03c2\u0391\u039f\u0130\u0131\u212a\u00df\u1e9e"
         u"\uff21\u01c5") +
    list(u"\u0301\u0308\u0323\u0345\u0903\u20dd\u3099\u309a") +
    list(u"\u00e9\u00c9\u00f1\u00e5\u00c5\u1ea0\u01d5\u0177") +
    list(u"\u4e00\u9fff\u3400\u535a\uf900\ufaff\U00020000\U0002a6df"
         u"\U0002ceaf\U0002ceb0\U0002f800\uac00\ud7a3\u304c\u30ab\u0e01") +
    list(u"\U0001F4A9\ue000\U000E0001\ud800\udfff\u0378") +
    list(u"aAzZ09 "))


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
    assert tokenizer.tokenize(text) == _ref_basic_tokenize(
        text, do_lower_case), repr(text)


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_basic_tokenizer_matches_reference_on_every_code_point(do_lower_case):
  tokenizer = tokenization.BasicTokenizer(do_lower_case)
  step = 0x400
  for lo in range(0, 0x110000, step):
    text = "".join(chr(cp) for cp in range(lo, lo + step))
    assert tokenizer.tokenize(text) == _ref_basic_tokenize(
        text, do_lower_case), hex(lo)


def test_private_step_helpers_match_reference():
  tokenizer = tokenization.BasicTokenizer()
  rng = random.Random(7)
  for _ in range(1000):
    text = _random_text(rng)
    cleaned = "".join(" " if _ref_is_whitespace(c) else c
                      for c in text
                      if ord(c) not in (0, 0xFFFD) and not _ref_is_control(c))
    assert tokenizer._clean_text(text) == cleaned
    assert tokenizer._tokenize_chinese_chars(text) == "".join(
        " " + c + " " if _in_cjk(ord(c)) else c for c in text)
    assert tokenizer._run_strip_accents(text) == "".join(
        c for c in unicodedata.normalize("NFD", text)
        if unicodedata.category(c) != "Mn")
    assert tokenizer._run_split_on_punc(text) == _ref_split_on_punc(text)


def test_wordpiece_matches_reference_on_random_words():
  rng = random.Random(99)
  alphabet = u"abc\u00e9\u535a"
  pieces = set()
  for _ in range(40):
    piece = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
    pieces.add(piece if rng.random() < 0.5 else "##" + piece)
  vocab = _vocab_dict(["[UNK]"] + sorted(pieces))
  tokenizer = tokenization.WordpieceTokenizer(
      vocab, max_input_chars_per_word=12)
  for _ in range(3000):
    text = " ".join(
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
        for _ in range(rng.randint(0, 4)))
    assert tokenizer.tokenize(text) == _ref_wordpiece(
        text, vocab, max_chars=12), text


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_full_tokenizer_matches_reference_on_random_text(tmp_path,
                                                        do_lower_case):
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
      t for t in dict.fromkeys(vocab_tokens)
      if not any(0xD800 <= ord(c) <= 0xDFFF for c in t)
  ]
  tokenizer = tokenization.FullTokenizer(
      _write_vocab(tmp_path, vocab_tokens),
      do_lower_case=do_lower_case)
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
      _write_vocab(tmp_path, ["[UNK]", "abcd", "ab", "##cd", "x"]))
  tokenizer.wordpiece_tokenizer.max_input_chars_per_word = 3
  for text in (u"x abcd x", u"abcd", u"x"):
    assert tokenizer.tokenize_to_ids(text) == tokenizer.convert_tokens_to_ids(
        tokenizer.tokenize(text))
  assert tokenizer.tokenize_to_ids(u"x abcd") == [4, 0]


def test_tokenize_to_ids_cache_is_bounded_and_not_pickled(tmp_path,
                                                           monkeypatch):
  import pickle  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(tokenization, "_MAX_CACHED_WORDS", 2)
  tokenizer = tokenization.FullTokenizer(
      _write_vocab(tmp_path, ["[UNK]", "a", "##a", "##b"]))
  assert tokenizer.tokenize_to_ids(u"aa ab aaa abb a") == [
      1, 2, 1, 3, 1, 2, 2, 1, 3, 3, 1]
  assert len(tokenizer._split_words) == 2  # "aa", "ab", "aaa", "abb"; cleared
  copy = pickle.loads(pickle.dumps(tokenizer))
  assert copy._split_words == {}
  assert copy.tokenize_to_ids(u"abb") == [1, 3, 3]
