"""Tests for processors/tabular.py (the `tabular` task); no TensorFlow."""

import json
import os

import pytest

import processors
from processors import DataError, DataProcessor
from processors.tabular import (
  OPTION_KEYS,
  TabularProcessor,
  label_sort_key,
  read_table,
  sorted_labels,
)


def _write(directory, name, content):
  path = os.path.join(str(directory), name)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  data = content.encode("utf-8") if isinstance(content, str) else content
  with open(path, "wb") as f:
    f.write(data)
  return path


def _options(tmp_path, **overrides):
  """The option dict run_classifier.py passes: every key, flags as strings."""
  options = {key: None for key in OPTION_KEYS}
  options.update(data_dir=str(tmp_path / "data"), output_dir=str(tmp_path / "out"), has_header=True)
  options.update(overrides)
  return options


def _processor(tmp_path, **overrides):
  processor = TabularProcessor()
  processor.configure(_options(tmp_path, **overrides))
  return processor


def _summary(examples):
  return [(e.guid, e.text_a, e.text_b, e.label) for e in examples]


# --- registry -------------------------------------------------------------------


def test_registry_lists_tabular():
  tasks = processors.available_tasks()
  assert "tabular" in tasks
  assert tasks["tabular"].endswith(os.path.join("processors", "tabular.py"))
  processor = processors.get_processor("tabular")
  assert isinstance(processor, TabularProcessor)
  assert isinstance(processor, DataProcessor)
  assert TabularProcessor.task_name == "tabular"


def test_table_reader_is_no_task_and_tabular_keeps_its_names():
  """processors/table.py sits in the plugin folder but defines no task; the
  reader's names stay importable from processors.tabular."""
  from processors import table, tabular

  sources = processors.available_tasks().values()
  assert not any(source.endswith(os.path.join("processors", "table.py")) for source in sources)
  assert processors.plugin_problems() == []
  for name in ("read_table", "Table", "parse_delimiter", "quoting_for", "label_sort_key"):
    assert getattr(tabular, name) is getattr(table, name)
  assert tabular.sorted_labels is table.sorted_labels


# --- columns --------------------------------------------------------------------


def test_columns_by_name(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "id\treview\tstars\n7\tgood\t5\n8\tbad\t1\n")
  _write(data, "dev.tsv", "id\treview\tstars\n9\tok\t3\n")
  processor = _processor(tmp_path, text_column="review", label_column="stars")
  assert _summary(processor.get_train_examples(str(data))) == [
    ("train-0", "good", None, "5"),
    ("train-1", "bad", None, "1"),
  ]
  assert _summary(processor.get_dev_examples(str(data))) == [("dev-0", "ok", None, "3")]
  assert processor.get_labels() == ["1", "5"]


def test_columns_by_index_with_and_without_header(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "label\ttext\n1\tgood\n0\tbad\n")
  _write(data, "raw.tsv", "1\tgood\n0\tbad\n")
  with_header = _processor(tmp_path, text_column="1", label_column="0")
  no_header = _processor(
    tmp_path, text_column="1", label_column="0", has_header=False, train_file="raw.tsv"
  )
  expected = [("train-0", "good", None, "1"), ("train-1", "bad", None, "0")]
  assert _summary(with_header.get_train_examples(str(data))) == expected
  assert _summary(no_header.get_train_examples(str(data))) == expected
  assert no_header.get_labels() == ["0", "1"]


def test_default_columns_with_header_are_label_and_text(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "text\tlabel\ngood\tpos\n")
  processor = _processor(tmp_path)
  assert _summary(processor.get_train_examples(str(data))) == [("train-0", "good", None, "pos")]
  assert processor.options["text_column"] == "text"


def test_header_name_wins_over_index(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "1\t0\nlabel-a\ttext-a\n")
  processor = _processor(tmp_path, text_column="0", label_column="1")
  assert _summary(processor.get_train_examples(str(data))) == [
    ("train-0", "text-a", None, "label-a")
  ]


def test_text_b_column(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "label\ttext\ttext_b\nyes\tq1\tp1\nno\tq2\tp2\n")
  processor = _processor(tmp_path, text_b_column="text_b")
  assert _summary(processor.get_train_examples(str(data))) == [
    ("train-0", "q1", "p1", "yes"),
    ("train-1", "q2", "p2", "no"),
  ]


def test_csv_with_quotes_and_tsv_quotes_literal(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.csv", 'label,text\n1,"a, b ""c"""\n0,"two\nlines"\n')
  _write(data, "train.tsv", 'label\ttext\n1\t"quoted" text\n0\t"open\n')
  csv_processor = _processor(tmp_path, delimiter=",", train_file="train.csv")
  assert [(e.text_a, e.label) for e in csv_processor.get_train_examples(str(data))] == [
    ('a, b "c"', "1"),
    ("two\nlines", "0"),
  ]
  tsv_processor = _processor(tmp_path)
  assert [(e.text_a, e.label) for e in tsv_processor.get_train_examples(str(data))] == [
    ('"quoted" text', "1"),
    ('"open', "0"),
  ]


def test_bom_crlf_blank_lines_and_label_whitespace(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "\ufefflabel\ttext\r\n 2 \ta\r\n\r\n10\tb\r\n")
  processor = _processor(tmp_path)
  # The blank line keeps its row index: guids are data row indices.
  assert _summary(processor.get_train_examples(str(data))) == [
    ("train-0", "a", None, "2"),
    ("train-2", "b", None, "10"),
  ]
  assert processor.get_labels() == ["2", "10"]


# --- labels ---------------------------------------------------------------------


def test_label_sort_is_numeric_aware():
  assert sorted_labels(["10", "2", "1", "2", "-1", "0.5"]) == ["-1", "0.5", "1", "2", "10"]
  assert sorted_labels(["b", "a10", "a2", "3"]) == ["3", "a2", "a10", "b"]
  assert label_sort_key("2") < label_sort_key("10")


def test_labels_from_train_file(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "label\ttext\n10\ta\n2\tb\n2\tc\nneg\td\n1\te\n")
  assert _processor(tmp_path).get_labels() == ["1", "2", "10", "neg"]


def test_labels_json_wins_over_train_file(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "label\ttext\nb\tx\n")
  _write(tmp_path / "out", "labels.json", json.dumps(["c", "b", "a"]))
  assert _processor(tmp_path).get_labels() == ["c", "b", "a"]


def test_labels_json_without_train_file(tmp_path):
  _write(tmp_path / "out", "labels.json", '["neg", "pos"]\n')
  _write(tmp_path / "data", "test.tsv", "text\nnice\n")
  processor = _processor(tmp_path)
  assert processor.get_labels() == ["neg", "pos"]
  assert _summary(processor.get_test_examples(str(tmp_path / "data"))) == [
    ("test-0", "nice", None, "neg")
  ]


def test_labels_json_missing_train_labels_is_an_error(tmp_path):
  train = _write(tmp_path / "data", "train.tsv", "label\ttext\nx\t1\nz\t2\n")
  labels_path = _write(tmp_path / "out", "labels.json", '["x", "y"]')
  with pytest.raises(DataError) as info:
    _processor(tmp_path).get_labels()
  assert str(info.value) == (
    "%s: the train file has label 'z' that %s (saved by an earlier "
    "training run) lacks; train into a new --output_dir or delete that "
    "labels.json" % (train, labels_path)
  )


def test_bad_labels_json(tmp_path):
  path = _write(tmp_path / "out", "labels.json", '{"a": 1}')
  with pytest.raises(DataError) as info:
    _processor(tmp_path).get_labels()
  assert str(info.value) == ("%s: expected a non-empty list of label strings" % path)
  _write(tmp_path / "out", "labels.json", "[")
  with pytest.raises(DataError, match="not valid JSON"):
    _processor(tmp_path).get_labels()


def test_no_labels_anywhere(tmp_path):
  with pytest.raises(DataError) as info:
    _processor(tmp_path).get_labels()
  message = str(info.value)
  assert "cannot tell the labels" in message
  assert os.path.join(str(tmp_path / "out"), "labels.json") in message
  assert os.path.join(str(tmp_path / "data"), "train.tsv") in message
  assert "\n" not in message


# --- test set -------------------------------------------------------------------


def test_test_set_dummy_labels(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "label\ttext\n1\ta\n0\tb\n")
  _write(data, "test.tsv", "label\ttext\n1\tkeep\n\tempty\n?\tunknown\n")
  processor = _processor(tmp_path)
  assert _summary(processor.get_test_examples(str(data))) == [
    ("test-0", "keep", None, "1"),
    ("test-1", "empty", None, "0"),
    ("test-2", "unknown", None, "0"),
  ]


def test_test_set_without_label_column(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "label\ttext\nb\ta\na\tb\n")
  _write(data, "test.tsv", "id\ttext\n1\tx\n2\ty\n")
  _write(data, "raw_train.tsv", "b\ta\na\tb\n")
  _write(data, "raw_test.tsv", "x\n")
  assert _summary(_processor(tmp_path).get_test_examples(str(data))) == [
    ("test-0", "x", None, "a"),
    ("test-1", "y", None, "a"),
  ]
  headerless = _processor(
    tmp_path,
    has_header=False,
    label_column="1",
    text_column="0",
    train_file="raw_train.tsv",
    test_file="raw_test.tsv",
  )
  assert _summary(headerless.get_test_examples(str(data))) == [("test-0", "x", None, "a")]


# --- errors ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get_train_examples", "get_dev_examples", "get_test_examples"])
def test_unconfigured_explains_the_flags(tmp_path, method):
  with pytest.raises(DataError) as info:
    getattr(TabularProcessor(), method)(str(tmp_path))
  message = str(info.value)
  assert message.startswith("the tabular task is not configured")
  for flag in ("--text_column", "--label_column", "--delimiter", "--has_header", "--train_file"):
    assert flag in message
  with pytest.raises(DataError, match="not configured"):
    TabularProcessor().get_labels()


def test_no_header_needs_column_indices(tmp_path):
  processor = _processor(tmp_path, has_header=False, text_column="1")
  with pytest.raises(DataError) as info:
    processor.get_train_examples(str(tmp_path))
  assert "needs --label_column when the files have no header row" in str(info.value)


def test_missing_column_names_file_and_columns(tmp_path):
  path = _write(tmp_path / "data", "train.tsv", "label\ttext\n1\ta\n")
  processor = _processor(tmp_path, text_column="review")
  with pytest.raises(DataError) as info:
    processor.get_train_examples(str(tmp_path / "data"))
  assert str(info.value) == (
    "%s: no column 'review' (--text_column); available columns: 'label', 'text'" % path
  )
  processor = _processor(tmp_path, has_header=False, text_column="1", label_column="5")
  with pytest.raises(
    DataError,
    match=r"column index 5 \(--label_column\) is "
    r"out of range: the file has 2 columns",
  ):
    processor.get_train_examples(str(tmp_path / "data"))


def test_empty_train_label_names_line(tmp_path):
  path = _write(tmp_path / "data", "train.csv", 'label,text\n1,"multi\nline"\n,b\n')
  processor = _processor(tmp_path, delimiter="comma", train_file="train.csv")
  with pytest.raises(DataError) as info:
    processor.get_train_examples(str(tmp_path / "data"))
  assert str(info.value) == "%s:4: empty label in column 'label'" % path


def test_extra_field_names_line(tmp_path):
  path = _write(tmp_path / "data", "train.tsv", "label\ttext\n1\ta\n1\ta\tb\n")
  with pytest.raises(DataError) as info:
    _processor(tmp_path).get_train_examples(str(tmp_path / "data"))
  assert str(info.value) == (
    "%s:3: expected 2 tab-separated fields as in line 1, found 3 (is there "
    "a tab inside a text?)" % path
  )


def test_missing_empty_and_undecodable_files(tmp_path):
  data = tmp_path / "data"
  processor = _processor(tmp_path)
  with pytest.raises(DataError) as info:
    processor.get_dev_examples(str(data))
  assert str(info.value) == "%s: file not found" % os.path.join(str(data), "dev.tsv")
  empty = _write(data, "dev.tsv", b"")
  with pytest.raises(DataError) as info:
    processor.get_dev_examples(str(data))
  assert str(info.value) == "%s: file is empty" % empty
  bad = _write(data, "train.tsv", b"label\ttext\n1\tcaf\xe9\n")
  with pytest.raises(DataError) as info:
    processor.get_train_examples(str(data))
  assert str(info.value) == ("%s:2: not valid UTF-8 (byte 0xe9); save the file as UTF-8" % bad)


def test_configure_rejects_unknown_options_and_bad_values(tmp_path):
  with pytest.raises(DataError, match="unknown option colour"):
    TabularProcessor().configure({"colour": "red"})
  with pytest.raises(DataError, match="--delimiter must be one character"):
    TabularProcessor().configure({"delimiter": "ab"})
  with pytest.raises(DataError, match="--has_header must be true or false"):
    TabularProcessor().configure({"has_header": "maybe"})


def test_configure_defaults_and_strings(tmp_path):
  processor = TabularProcessor().configure(
    {"has_header": "false", "delimiter": "\\t", "text_column": "0", "label_column": " "}
  )
  assert processor.options == {
    "data_dir": None,
    "output_dir": None,
    "train_file": "train.tsv",
    "dev_file": "dev.tsv",
    "test_file": "test.tsv",
    "delimiter": "\t",
    "has_header": False,
    "text_column": "0",
    "text_b_column": None,
    "label_column": None,
    "multi_label": False,
    "label_separator": ",",
  }


def test_read_table_pads_short_rows(tmp_path):
  path = _write(tmp_path, "t.tsv", "a\tb\tc\n1\n2\t3\n")
  table = read_table(path)
  assert table.header == ["a", "b", "c"]
  assert table.rows.values.tolist() == [["1", "", ""], ["2", "3", ""]]
  assert [table.line_number(i) for i in range(2)] == [2, 3]


# --- short rows and empty texts -------------------------------------------------


def _error_of(call):
  with pytest.raises(DataError) as info:
    call()
  message = str(info.value)
  assert "\n" not in message
  return message


def test_short_train_row_names_line_and_missing_column(tmp_path):
  data = tmp_path / "data"
  path = _write(data, "train.tsv", "label\ttext\n1\ta\n\n0\n")
  message = _error_of(lambda: _processor(tmp_path).get_train_examples(str(data)))
  assert message == (
    "%s:4: expected at least 2 tab-separated columns, found "
    "1 (the text column 'text' is missing)" % path
  )


def test_short_row_lists_every_missing_column(tmp_path):
  data = tmp_path / "data"
  path = _write(data, "train.csv", "id,stars,review\n1,5,good\n2\n")
  processor = _processor(
    tmp_path, delimiter=",", train_file="train.csv", text_column="review", label_column="stars"
  )
  assert _error_of(lambda: processor.get_train_examples(str(data))) == (
    "%s:3: expected at least 3 comma-separated columns, found 1 (the label "
    "column 'stars' and the text column 'review' are missing)" % path
  )
  headerless = _write(data, "raw.tsv", "a\tb\t1\nc\n")
  processor = _processor(
    tmp_path,
    has_header=False,
    train_file="raw.tsv",
    text_column="0",
    text_b_column="1",
    label_column="2",
  )
  assert _error_of(lambda: processor.get_train_examples(str(data))) == (
    "%s:2: expected at least 3 tab-separated columns, found 1 (the text_b "
    "column 1 and the label column 2 are missing)" % headerless
  )


def test_short_row_after_a_multiline_field_names_its_own_line(tmp_path):
  data = tmp_path / "data"
  path = _write(data, "train.csv", 'label,text\n1,"two\nlines"\n0\n')
  processor = _processor(tmp_path, delimiter=",", train_file="train.csv")
  assert _error_of(lambda: processor.get_train_examples(str(data))) == (
    "%s:4: expected at least 2 comma-separated columns, found 1 (the text "
    "column 'text' is missing)" % path
  )


def test_rows_may_lack_columns_the_task_does_not_read(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "label\ttext\tnote\n1\ta\tx\n0\tb\n\t\t\n\t\n")
  assert _summary(_processor(tmp_path).get_train_examples(str(data))) == [
    ("train-0", "a", None, "1"),
    ("train-1", "b", None, "0"),
  ]


@pytest.mark.parametrize("row", ["1\t", "1\t   ", "1\t\t"])
def test_empty_text_is_an_error(tmp_path, row):
  data = tmp_path / "data"
  path = _write(data, "dev.tsv", "label\ttext\n1\tfine\n%s\n" % row)
  message = _error_of(lambda: _processor(tmp_path).get_dev_examples(str(data)))
  if row == "1\t\t":  # One field more than line 1: read_table's error.
    assert message.startswith("%s:3: expected 2 tab-separated fields" % path)
  else:
    assert message == "%s:3: empty text in column 'text'" % path


def test_empty_text_b_is_an_error(tmp_path):
  data = tmp_path / "data"
  path = _write(data, "train.tsv", "label\tq\tp\nyes\tq1\tp1\nno\tq2\t \n")
  processor = _processor(tmp_path, text_column="q", text_b_column="p")
  assert _error_of(lambda: processor.get_train_examples(str(data))) == (
    "%s:3: empty text in column 'p'" % path
  )


def test_empty_text_comes_before_empty_label(tmp_path):
  data = tmp_path / "data"
  path = _write(data, "train.tsv", "label\ttext\n1\ta\n\t \n")
  assert (
    _error_of(lambda: _processor(tmp_path).get_train_examples(str(data)))
    == "%s:3: empty text in column 'text'" % path
  )


def test_test_rows_may_lack_the_label_but_not_the_text(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "label\ttext\n1\ta\n0\tb\n")
  _write(data, "test.tsv", "text\tlabel\nno label\n")
  assert _summary(_processor(tmp_path).get_test_examples(str(data))) == [
    ("test-0", "no label", None, "0")
  ]
  path = _write(data, "test.tsv", "label\ttext\n1\tfine\n0\n")
  assert _error_of(lambda: _processor(tmp_path).get_test_examples(str(data))) == (
    "%s:3: expected at least 2 tab-separated columns, found "
    "1 (the text column 'text' is missing)" % path
  )
  path = _write(data, "test.tsv", "label\ttext\n1\tfine\n0\t\n")
  assert (
    _error_of(lambda: _processor(tmp_path).get_test_examples(str(data)))
    == "%s:3: empty text in column 'text'" % path
  )


def test_field_counts_follow_the_file(tmp_path):
  big = "x" * 200000  # Beyond csv's default field size limit.
  path = _write(tmp_path, "t.csv", 'a,b,c\n1,"%s",3\n\n"4\n5"\n,,\n' % big)
  table = read_table(path, delimiter=",")
  assert [table.field_count(i) for i in range(len(table))] == [3, 0, 1, 3]
  assert [table.line_number(i) for i in range(len(table))] == [2, 3, 4, 6]
  assert table.short_rows() == [2]
  assert table.short_rows(1) == []


# --- multi-label rows -----------------------------------------------------------


def _multi(tmp_path, **overrides):
  return _processor(tmp_path, multi_label=True, **overrides)


def test_configure_reads_the_multi_label_options(tmp_path):
  assert TabularProcessor().configure({"multi_label": "true"}).options["multi_label"] is True
  assert TabularProcessor().configure({"multi_label": "no"}).options["multi_label"] is False
  options = TabularProcessor().configure({"multi_label": True, "label_separator": "pipe"}).options
  assert (options["multi_label"], options["label_separator"]) == (True, "|")
  assert TabularProcessor().configure({"label_separator": " ; "}).options["label_separator"] == (
    " ; "
  )
  assert TabularProcessor().configure({"label_separator": ""}).options["label_separator"] == ","
  with pytest.raises(DataError, match="--multi_label must be true or false, got 'sometimes'"):
    TabularProcessor().configure({"multi_label": "sometimes"})
  with pytest.raises(DataError, match="--label_separator cannot be a tab"):
    TabularProcessor().configure({"multi_label": True, "label_separator": "tab"})
  # A CSV cell can hold a quoted tab; without --multi_label the separator is not used.
  TabularProcessor().configure({"multi_label": True, "label_separator": "\\t", "delimiter": ","})
  TabularProcessor().configure({"label_separator": "tab"})


def test_multi_label_cells_become_lists_in_label_order(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "label\ttext\nsport, news\ta\nnews,,news\tb\n\tc\n , \td\nart\te\n")
  processor = _multi(tmp_path)
  assert processor.get_labels() == ["art", "news", "sport"]
  assert _summary(processor.get_train_examples(str(data))) == [
    ("train-0", "a", None, ["news", "sport"]),
    ("train-1", "b", None, ["news"]),
    ("train-2", "c", None, []),
    ("train-3", "d", None, []),
    ("train-4", "e", None, ["art"]),
  ]


def test_without_multi_label_a_cell_is_one_label(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "label\ttext\na,b\tx\nb\ty\n")
  processor = _processor(tmp_path)
  assert processor.get_labels() == ["a,b", "b"]
  assert [e.label for e in processor.get_train_examples(str(data))] == ["a,b", "b"]


def test_multi_label_sort_is_numeric_aware_per_label(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "label\ttext\n10|2\tx\n1\ty\n2 | 1\tz\n")
  processor = _multi(tmp_path, label_separator="|")
  assert processor.get_labels() == ["1", "2", "10"]
  assert [e.label for e in processor.get_train_examples(str(data))] == [
    ["2", "10"],
    ["1"],
    ["1", "2"],
  ]


def test_multi_label_csv_with_quoted_cells(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.csv", 'stars,review\n"b,a",good\nc,bad\n"",meh\n')
  processor = _multi(
    tmp_path, delimiter=",", train_file="train.csv", text_column="review", label_column="stars"
  )
  assert _summary(processor.get_train_examples(str(data))) == [
    ("train-0", "good", None, ["a", "b"]),
    ("train-1", "bad", None, ["c"]),
    ("train-2", "meh", None, []),
  ]


def test_multi_label_labels_json_rules_hold_per_label(tmp_path):
  data = tmp_path / "data"
  train = _write(data, "train.tsv", "label\ttext\nx,y\t1\nz,x\t2\n")
  labels_path = _write(tmp_path / "out", "labels.json", '["y", "x", "z", "w"]')
  processor = _multi(tmp_path)
  assert processor.get_labels() == ["y", "x", "z", "w"]
  # Labels follow the saved order, not the sort order.
  assert [e.label for e in processor.get_train_examples(str(data))] == [["y", "x"], ["x", "z"]]
  _write(tmp_path / "out", "labels.json", '["x", "y"]')
  with pytest.raises(DataError) as info:
    _multi(tmp_path).get_labels()
  assert str(info.value) == (
    "%s: the train file has label 'z' that %s (saved by an earlier "
    "training run) lacks; train into a new --output_dir or delete that "
    "labels.json" % (train, labels_path)
  )


def test_multi_label_train_without_any_label_is_an_error(tmp_path):
  data = tmp_path / "data"
  train = _write(data, "train.tsv", "label\ttext\n\ta\n , \tb\n")
  assert _error_of(lambda: _multi(tmp_path).get_train_examples(str(data))) == (
    "%s: no labels found in column 'label'" % train
  )


def test_multi_label_unknown_dev_label_names_line(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "label\ttext\na,b\tx\n")
  dev = _write(data, "dev.tsv", "label\ttext\na\tx\n\ty\nb, c\tz\n")
  assert _error_of(lambda: _multi(tmp_path).get_dev_examples(str(data))) == (
    "%s:4: label 'c' in column 'label' is not one of get_labels() = ['a', 'b']" % dev
  )


def test_multi_label_rows_still_need_the_label_column(tmp_path):
  data = tmp_path / "data"
  path = _write(data, "train.tsv", "text\tlabel\na\tx\nb\n")
  assert _error_of(lambda: _multi(tmp_path).get_train_examples(str(data))) == (
    "%s:3: expected at least 2 tab-separated columns, found 1 (the label "
    "column 'label' is missing)" % path
  )


def test_multi_label_test_rows_keep_known_labels_only(tmp_path):
  data = tmp_path / "data"
  _write(data, "train.tsv", "label\ttext\na,b\tx\n")
  _write(data, "test.tsv", "label\ttext\nb,a\tboth\n\tnone\n?,b\tpartly\n??\tunknown\n")
  processor = _multi(tmp_path)
  assert _summary(processor.get_test_examples(str(data))) == [
    ("test-0", "both", None, ["a", "b"]),
    ("test-1", "none", None, []),
    ("test-2", "partly", None, ["b"]),
    ("test-3", "unknown", None, []),
  ]
  _write(data, "test.tsv", "text\nno label column\n")
  _write(data, "short.tsv", "text\tlabel\nshort row\n")
  assert [e.label for e in _multi(tmp_path).get_test_examples(str(data))] == [[]]
  short = _multi(tmp_path, test_file="short.tsv")
  assert [e.label for e in short.get_test_examples(str(data))] == [[]]


def test_multi_label_examples_pickle_and_pass_as_input_examples(tmp_path):
  import pickle

  from classifier.data_sets import _as_input_example

  data = tmp_path / "data"
  _write(data, "train.tsv", "label\ttext\na,b\tx\n\ty\n")
  examples = _multi(tmp_path).get_train_examples(str(data))
  copies = pickle.loads(pickle.dumps(examples))
  assert _summary(copies) == _summary(examples)
  assert [_as_input_example(e).label for e in copies] == [["a", "b"], []]


# --- run_classifier.py end to end -----------------------------------------------


def _run_classifier(tmp_path, *flags):
  """run_classifier.py --task_name=tabular --do_train in a child process."""
  import subprocess
  import sys

  sys.path.insert(0, os.path.dirname(__file__))
  from emotion_data import write_model_dir

  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  vocab, config = write_model_dir(str(tmp_path / "model"))
  args = [
    sys.executable,
    os.path.join(root, "run_classifier.py"),
    "--task_name=tabular",
    "--do_train=true",
    "--data_dir=%s" % (tmp_path / "data"),
    "--vocab_file=%s" % vocab,
    "--bert_config_file=%s" % config,
    "--max_seq_length=16",
    "--output_dir=%s" % (tmp_path / "out"),
  ] + list(flags)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run(args, capture_output=True, text=True, cwd=root, env=env, timeout=300)


@pytest.mark.parametrize(
  "content, flags, error",
  [
    (
      "label\ttext\npos\tgood\nneg\n",
      [],
      "train.tsv:3: expected at least 2 tab-separated columns, found 1 (the "
      "text column 'text' is missing)",
    ),
    (
      "stars,review\n5,good\n1, \n",
      ["--delimiter=,", "--text_column=review", "--label_column=stars"],
      "train.tsv:3: empty text in column 'review'",
    ),
  ],
)
def test_run_classifier_stops_on_bad_rows(tmp_path, content, flags, error):
  path = _write(tmp_path / "data", "train.tsv", content)
  proc = _run_classifier(tmp_path, *flags)
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr
  assert proc.stderr.splitlines() == [
    "run_classifier.py: error: %s%s" % (path[: -len("train.tsv")], error)
  ]
  assert not os.path.exists(str(tmp_path / "out"))
