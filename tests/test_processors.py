"""Tests for processors/base.py, glue.py and emotion.py (no TensorFlow)."""

import csv
import os
import pickle

import pytest

from processors import (
  DataError,
  DataProcessor,
  InputExample,
  InputFeatures,
  PaddingInputExample,
  TsvRow,
)
from processors.emotion import EmotionProcessor
from processors.glue import ColaProcessor, MnliProcessor, MrpcProcessor, XnliProcessor


def _write(directory, name, content):
  """Writes str (as UTF-8, no newline translation) or bytes; returns the path."""
  path = os.path.join(str(directory), name)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  data = content.encode("utf-8") if isinstance(content, str) else content
  with open(path, "wb") as f:
    f.write(data)
  return path


def _tsv(*rows):
  return "".join("\t".join(row) + "\n" for row in rows)


def _summary(examples):
  return [(e.guid, e.text_a, e.text_b, e.label) for e in examples]


# --- data classes and the base class -----------------------------------------


def test_input_example_fields_and_defaults():
  example = InputExample(guid="train-1", text_a="a")
  assert (example.guid, example.text_a, example.text_b, example.label) == (
    "train-1",
    "a",
    None,
    None,
  )
  example = InputExample("g", "a", "b", "1")
  assert (example.text_b, example.label) == ("b", "1")


def test_input_features_and_padding_example():
  features = InputFeatures([1, 2], [1, 1], [0, 0], 1)
  assert features.is_real_example is True
  assert (features.input_ids, features.input_mask, features.segment_ids, features.label_id) == (
    [1, 2],
    [1, 1],
    [0, 0],
    1,
  )
  assert InputFeatures([0], [0], [0], 0, is_real_example=False).is_real_example is False
  assert vars(PaddingInputExample()) == {}


@pytest.mark.parametrize("method", ["get_train_examples", "get_dev_examples", "get_test_examples"])
def test_base_class_methods_are_abstract(method, tmp_path):
  with pytest.raises(NotImplementedError):
    getattr(DataProcessor(), method)(str(tmp_path))


def test_base_class_get_labels_is_abstract():
  with pytest.raises(NotImplementedError):
    DataProcessor().get_labels()


# --- _read_tsv ------------------------------------------------------------------


def test_read_tsv_is_classmethod_with_quote_none(tmp_path):
  path = _write(tmp_path, "q.tsv", 'a\t"b\tc"\td\n')
  assert DataProcessor._read_tsv(path) == [["a", '"b', 'c"', "d"]]
  assert MrpcProcessor._read_tsv(path) == [["a", '"b', 'c"', "d"]]


def test_read_tsv_with_quotechar(tmp_path):
  path = _write(tmp_path, "q.tsv", 'a\t"b\tc"\td\n"x\ny"\tz\nlast\t1\n')
  rows = DataProcessor._read_tsv(path, quotechar='"')
  assert rows == [["a", "b\tc", "d"], ["x\ny", "z"], ["last", "1"]]
  # A record spanning lines 2-3 is located at its first line; the next is 4.
  assert [row.line_number for row in rows] == [1, 2, 4]


def test_read_tsv_accepts_path_objects_and_blank_lines(tmp_path):
  path = _write(tmp_path, "b.tsv", "a\tb\n\nc\td\n")
  from pathlib import Path

  assert DataProcessor._read_tsv(Path(path)) == [["a", "b"], [], ["c", "d"]]


def test_read_tsv_drops_utf8_bom(tmp_path):
  path = _write(tmp_path, "bom.tsv", "\ufeff2\thello\n3\tworld\n")
  rows = DataProcessor._read_tsv(path)
  assert rows == [["2", "hello"], ["3", "world"]]
  assert rows[0][0] == "2"  # Not '\ufeff2' (google-research/bert#344).


def test_read_tsv_reads_crlf_and_cr_as_lf(tmp_path):
  crlf = _write(tmp_path, "crlf.tsv", "a\tb\r\nc\td\r\n")
  assert DataProcessor._read_tsv(crlf) == [["a", "b"], ["c", "d"]]
  cr = _write(tmp_path, "cr.tsv", "a\tb\rc\td\r")
  assert DataProcessor._read_tsv(cr) == [["a", "b"], ["c", "d"]]


def test_read_tsv_keeps_non_ascii_text(tmp_path):
  path = _write(tmp_path, "u.tsv", "zh\t你好\té\n")
  assert DataProcessor._read_tsv(path) == [["zh", "你好", "é"]]


def test_read_tsv_undecodable_bytes_name_file_and_line(tmp_path):
  path = _write(tmp_path, "latin1.tsv", b"label\ttext\n1\tok\n0\tcaf\xe9\n")
  with pytest.raises(DataError) as info:
    DataProcessor._read_tsv(path)
  assert str(info.value) == ("%s:3: not valid UTF-8 (byte 0xe9); save the file as UTF-8" % path)
  assert (info.value.input_file, info.value.line_number) == (path, 3)


def test_read_tsv_empty_file(tmp_path):
  path = _write(tmp_path, "empty.tsv", b"")
  with pytest.raises(DataError) as info:
    DataProcessor._read_tsv(path)
  assert str(info.value) == "%s: file is empty" % path
  bom_only = _write(tmp_path, "bom_only.tsv", "\ufeff")
  with pytest.raises(DataError, match="file is empty"):
    DataProcessor._read_tsv(bom_only)


def test_read_tsv_missing_file_names_path(tmp_path):
  path = os.path.join(str(tmp_path), "nope", "train.tsv")
  with pytest.raises(DataError) as info:
    DataProcessor._read_tsv(path)
  assert str(info.value) == "%s: file not found" % path


def test_read_tsv_directory_is_a_data_error(tmp_path):
  with pytest.raises(DataError, match="cannot read file"):
    DataProcessor._read_tsv(str(tmp_path))


def test_read_tsv_allows_huge_fields_and_restores_limit(tmp_path):
  big = "x" * 300000
  path = _write(tmp_path, "big.tsv", "1\t%s\n" % big)
  before = csv.field_size_limit()
  assert DataProcessor._read_tsv(path) == [["1", big]]
  assert csv.field_size_limit() == before


# --- rows -----------------------------------------------------------------------


def test_rows_behave_like_lists_of_str(tmp_path):
  path = _write(tmp_path, "r.tsv", "a\tb\tc\n")
  row = DataProcessor._read_tsv(path)[0]
  assert isinstance(row, list) and isinstance(row, TsvRow)
  assert row == ["a", "b", "c"] and ["a", "b", "c"] == row
  assert repr(row) == repr(["a", "b", "c"]) and str(row) == str(["a", "b", "c"])
  assert row[0] == "a" and row[-1] == "c" and row[1:] == ["b", "c"]
  assert row[5:] == [] and len(row) == 3 and list(row) == ["a", "b", "c"]
  assert "\t".join(row) == "a\tb\tc"
  assert (row.input_file, row.line_number) == (path, 1)
  copy = pickle.loads(pickle.dumps(row))
  assert copy == row and (copy.input_file, copy.line_number) == (path, 1)


def test_too_few_columns_names_file_and_line(tmp_path):
  path = _write(
    tmp_path, "few.tsv", _tsv(["h1", "h2", "h3", "h4"], ["1", "2", "3", "4"], ["1", "2"])
  )
  rows = DataProcessor._read_tsv(path)
  with pytest.raises(DataError) as info:
    rows[2][3]
  assert str(info.value) == ("%s:3: expected at least 4 tab-separated columns, found 2" % path)
  assert isinstance(info.value, ValueError)
  assert not isinstance(info.value, IndexError)


def test_too_few_columns_negative_index_and_blank_line(tmp_path):
  path = _write(tmp_path, "blank.tsv", "a\tb\n\n")
  rows = DataProcessor._read_tsv(path)
  with pytest.raises(DataError) as info:
    rows[1][-1]
  assert str(info.value) == ("%s:2: expected at least 1 tab-separated column, found 0" % path)
  with pytest.raises(DataError, match=r":1: expected at least 3 tab-separated"):
    rows[0][-3]


def test_pasted_user_processor_gets_clear_message(tmp_path):
  """A processor written for Google's script (plain `line[3]`) gets DataError."""

  class PastedProcessor(DataProcessor):
    def get_train_examples(self, data_dir):
      lines = self._read_tsv(os.path.join(data_dir, "train.tsv"))
      return [
        InputExample("train-%d" % i, line[3], None, line[0]) for (i, line) in enumerate(lines)
      ]

  _write(tmp_path, "train.tsv", _tsv(["1", "x", "y", "text"], ["0", "only"]))
  with pytest.raises(DataError) as info:
    PastedProcessor().get_train_examples(str(tmp_path))
  assert str(info.value) == (
    "%s:2: expected at least 4 tab-separated columns, found 2"
    % os.path.join(str(tmp_path), "train.tsv")
  )


def test_data_error_is_one_line_and_picklable():
  error = DataError("expected\nsomething", "f.tsv", 7)
  assert str(error) == "f.tsv:7: expected something"
  assert isinstance(error, ValueError)
  copy = pickle.loads(pickle.dumps(error))
  assert str(copy) == str(error) and copy.line_number == 7
  assert str(DataError("plain")) == "plain"
  assert str(DataError("no line", "f.tsv")) == "f.tsv: no line"


# --- CoLA -----------------------------------------------------------------------


def test_cola(tmp_path):
  rows = [
    ["gj04", "1", "", "The sailors rode the breeze clear of the rocks."],
    ["gj04", "0", "*", "The more we study verbs, the crazier."],
  ]
  _write(tmp_path, "train.tsv", _tsv(*rows))  # No header.
  _write(tmp_path, "dev.tsv", _tsv(*rows[:1]))
  _write(tmp_path, "test.tsv", _tsv(["index", "sentence"], ["0", "Bill left."], ["1", "Who left?"]))
  processor = ColaProcessor()
  assert processor.get_labels() == ["0", "1"]
  assert _summary(processor.get_train_examples(str(tmp_path))) == [
    ("train-0", rows[0][3], None, "1"),
    ("train-1", rows[1][3], None, "0"),
  ]
  assert _summary(processor.get_dev_examples(str(tmp_path))) == [("dev-0", rows[0][3], None, "1")]
  assert _summary(processor.get_test_examples(str(tmp_path))) == [
    ("test-1", "Bill left.", None, "0"),
    ("test-2", "Who left?", None, "0"),
  ]


# --- MNLI -----------------------------------------------------------------------


def _mnli_row(index, s1, s2, label=None):
  row = [index, "p", "g", "genre", "b1", "b2", "p1", "p2", s1, s2]
  return row + ([label, label] if label is not None else [])


def test_mnli(tmp_path):
  header = _mnli_row("index", "sentence1", "sentence2", "gold_label")
  _write(tmp_path, "train.tsv", _tsv(header, _mnli_row("7", "A", "B", "neutral")))
  _write(
    tmp_path,
    "dev_matched.tsv",
    _tsv(header, _mnli_row("0", "C", "D", "entailment"), _mnli_row("1", "E", "F", "contradiction")),
  )
  _write(
    tmp_path,
    "test_matched.tsv",
    _tsv(_mnli_row("index", "sentence1", "sentence2"), _mnli_row("5", "G", "H")),
  )
  processor = MnliProcessor()
  assert processor.get_labels() == ["contradiction", "entailment", "neutral"]
  assert _summary(processor.get_train_examples(str(tmp_path))) == [("train-7", "A", "B", "neutral")]
  assert _summary(processor.get_dev_examples(str(tmp_path))) == [
    ("dev_matched-0", "C", "D", "entailment"),
    ("dev_matched-1", "E", "F", "contradiction"),
  ]
  assert _summary(processor.get_test_examples(str(tmp_path))) == [
    ("test-5", "G", "H", "contradiction")
  ]


def test_mnli_label_is_last_column(tmp_path):
  row = _mnli_row("3", "A", "B") + ["neutral", "entailment", "x", "entailment"]
  _write(tmp_path, "train.tsv", _tsv(_mnli_row("index", "s1", "s2", "g"), row))
  assert MnliProcessor().get_train_examples(str(tmp_path))[0].label == "entailment"


# --- MRPC -----------------------------------------------------------------------


def test_mrpc(tmp_path):
  header = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
  _write(
    tmp_path, "train.tsv", _tsv(header, ["1", "11", "12", "A", "B"], ["0", "13", "14", "C", "D"])
  )
  _write(tmp_path, "dev.tsv", _tsv(header, ["1", "21", "22", "E", "F"]))
  _write(
    tmp_path,
    "test.tsv",
    _tsv(["index", "#1 ID", "#2 ID", "#1 String", "#2 String"], ["0", "31", "32", "G", "H"]),
  )
  processor = MrpcProcessor()
  assert processor.get_labels() == ["0", "1"]
  assert _summary(processor.get_train_examples(str(tmp_path))) == [
    ("train-1", "A", "B", "1"),
    ("train-2", "C", "D", "0"),
  ]
  assert _summary(processor.get_dev_examples(str(tmp_path))) == [("dev-1", "E", "F", "1")]
  assert _summary(processor.get_test_examples(str(tmp_path))) == [("test-1", "G", "H", "0")]


def test_mrpc_short_row_message(tmp_path):
  header = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
  path = _write(
    tmp_path, "train.tsv", _tsv(header, ["1", "11", "12", "A", "B"], ["1", "11", "12", "A"])
  )
  with pytest.raises(DataError) as info:
    MrpcProcessor().get_train_examples(str(tmp_path))
  assert str(info.value) == ("%s:3: expected at least 5 tab-separated columns, found 4" % path)


# --- XNLI -----------------------------------------------------------------------


def test_xnli_train(tmp_path):
  _write(
    tmp_path,
    "multinli/multinli.train.zh.tsv",
    _tsv(["premise", "hypo", "label"], ["前提", "假设", "contradictory"], ["p", "h", "neutral"]),
  )
  processor = XnliProcessor()
  assert processor.language == "zh"
  assert processor.get_labels() == ["contradiction", "entailment", "neutral"]
  assert _summary(processor.get_train_examples(str(tmp_path))) == [
    ("train-1", "前提", "假设", "contradiction"),
    ("train-2", "p", "h", "neutral"),
  ]


def test_xnli_dev_filters_language_and_counts_all_rows(tmp_path):
  def row(language, label, s1, s2):
    return [language, label, "x", "x", "x", "x", s1, s2]

  _write(
    tmp_path,
    "xnli.dev.tsv",
    _tsv(
      row("language", "gold_label", "sentence1", "sentence2"),
      row("en", "neutral", "a", "b"),
      row("zh", "entailment", "c", "d"),
      row("de", "neutral", "e", "f"),
      row("zh", "contradiction", "g", "h"),
    ),
  )
  assert _summary(XnliProcessor().get_dev_examples(str(tmp_path))) == [
    ("dev-2", "c", "d", "entailment"),
    ("dev-4", "g", "h", "contradiction"),
  ]


def test_xnli_other_language(tmp_path):
  _write(
    tmp_path,
    "multinli/multinli.train.de.tsv",
    _tsv(["premise", "hypo", "label"], ["p", "h", "neutral"]),
  )
  processor = XnliProcessor()
  processor.language = "de"
  assert len(processor.get_train_examples(str(tmp_path))) == 1


def test_xnli_has_no_test_set(tmp_path):
  assert "get_test_examples" not in vars(XnliProcessor)
  with pytest.raises(NotImplementedError):
    XnliProcessor().get_test_examples(str(tmp_path))


# --- emotion --------------------------------------------------------------------


def test_emotion_train_and_dev(tmp_path):
  _write(
    tmp_path,
    "fine_tuning_train_data.tsv",
    _tsv(["label", "text"], ["3", "so happy"], ["6", "oh no"]),
  )
  _write(tmp_path, "fine_tuning_val_data.tsv", _tsv(["label", "text"], ["0", "meh"]))
  processor = EmotionProcessor()
  assert processor.get_labels() == ["0", "1", "2", "3", "4", "5", "6"]
  assert _summary(processor.get_train_examples(str(tmp_path))) == [
    ("train-1", "so happy", None, "3"),
    ("train-2", "oh no", None, "6"),
  ]
  assert _summary(processor.get_dev_examples(str(tmp_path))) == [("dev-1", "meh", None, "0")]


def test_emotion_test_one_column_recipe_layout(tmp_path):
  _write(tmp_path, "fine_tuning_test_data.tsv", _tsv(["text"], ["first text"], ["second text"]))
  assert _summary(EmotionProcessor().get_test_examples(str(tmp_path))) == [
    ("test-1", "first text", None, "0"),
    ("test-2", "second text", None, "0"),
  ]


def test_emotion_test_train_layout(tmp_path):
  _write(
    tmp_path,
    "fine_tuning_test_data.tsv",
    _tsv(["label", "text"], ["4", "first text"], ["5", "second text"]),
  )
  assert _summary(EmotionProcessor().get_test_examples(str(tmp_path))) == [
    ("test-1", "first text", None, "0"),
    ("test-2", "second text", None, "0"),
  ]


def test_emotion_bom_and_crlf(tmp_path):
  _write(tmp_path, "fine_tuning_train_data.tsv", "\ufefflabel\ttext\r\n2\tfine\r\n")
  assert _summary(EmotionProcessor().get_train_examples(str(tmp_path))) == [
    ("train-1", "fine", None, "2")
  ]


def test_emotion_unknown_label_names_file_and_line(tmp_path):
  path = _write(
    tmp_path, "fine_tuning_train_data.tsv", _tsv(["label", "text"], ["1", "ok"], ["7", "bad"])
  )
  with pytest.raises(DataError) as info:
    EmotionProcessor().get_train_examples(str(tmp_path))
  assert str(info.value) == ("%s:3: expected a label in 0, 1, 2, 3, 4, 5, 6, found '7'" % path)


def test_emotion_missing_text_column(tmp_path):
  path = _write(tmp_path, "fine_tuning_val_data.tsv", _tsv(["label", "text"], ["1"]))
  with pytest.raises(DataError) as info:
    EmotionProcessor().get_dev_examples(str(tmp_path))
  assert str(info.value) == ("%s:2: expected at least 2 tab-separated columns, found 1" % path)


def test_emotion_missing_file(tmp_path):
  with pytest.raises(DataError) as info:
    EmotionProcessor().get_test_examples(str(tmp_path))
  assert str(info.value) == "%s: file not found" % os.path.join(
    str(tmp_path), "fine_tuning_test_data.tsv"
  )
