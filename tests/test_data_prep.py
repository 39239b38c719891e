"""Tests for classifier/data_prep.py (bert-prepare-data); no TensorFlow."""

import collections
import os

import pytest

from classifier import data_prep
from processors import DataError
from processors.emotion import EmotionProcessor

EMOTION_FILES = (
  "fine_tuning_train_data.tsv",
  "fine_tuning_val_data.tsv",
  "fine_tuning_test_data.tsv",
)
TSV_FILES = ("train.tsv", "dev.tsv", "test.tsv")


def _write(path, content, encoding="utf-8"):
  data = content.encode(encoding) if isinstance(content, str) else content
  with open(path, "wb") as f:
    f.write(data)
  return str(path)


def _read(path):
  with open(path, "rb") as f:
    return f.read()


def _rows(path):
  """The data rows of an output TSV as lists of fields (header dropped)."""
  lines = _read(path).decode("utf-8").split("\n")
  assert lines[-1] == ""  # Ends with a newline.
  return [line.split("\t") for line in lines[1:-1]]


def _dataset(counts, prefix="text"):
  """(label, text) pairs with `counts[label]` distinct texts per label."""
  return [(label, "%s %s %d" % (prefix, label, i)) for label, n in counts.items() for i in range(n)]


def _csv(pairs, header=("label", "text")):
  lines = [",".join(header)] if header else []
  lines += ["%s,%s" % (label, text) for label, text in pairs]
  return "\n".join(lines) + "\n"


def _tsv(pairs, header=("label", "text")):
  lines = ["\t".join(header)] if header else []
  lines += ["%s\t%s" % (label, text) for label, text in pairs]
  return "\n".join(lines) + "\n"


COUNTS = {"0": 50, "1": 37, "2": 20, "3": 13, "4": 101, "5": 8, "6": 31}


@pytest.fixture
def emotion_csv(tmp_path):
  return _write(tmp_path / "emotions.csv", _csv(_dataset(COUNTS)))


def _run(argv, capsys):
  status = data_prep.main([str(a) for a in argv])
  captured = capsys.readouterr()
  return status, captured.out, captured.err


# --- cleaning -------------------------------------------------------------------


def test_normalize_whitespace():
  assert data_prep.normalize_whitespace("  a\tb\n\nc\r\nd  ") == "a b c d"
  assert data_prep.normalize_whitespace("你\u3000好\u200b！\x00") == "你 好！"
  assert data_prep.normalize_whitespace(" \t\n ") == ""


def test_strip_special_removes_emoji_urls_and_mentions():
  clean = lambda s: data_prep.normalize_whitespace(data_prep.strip_special(s))
  assert clean("今天好开心😀😀！") == "今天好开心！"
  assert clean("回复@张三:真的吗？http://t.cn/RzAbc12我不信") == "回复 真的吗？ 我不信"
  assert clean("see www.example.com/x?y=1 now") == "see now"
  assert clean("mail a@b.com ok") == "mail a@b.com ok"
  assert clean("❤️ love ★★ it 👍🏻") == "love it"
  # Letters of any script, digits, CJK and common punctuation stay.
  text = "Café «naïve», 100% 〈好〉「是」…—《书》、。～ 3.5℃ [哈哈] #话题#"
  assert clean(text) == text


def _records(*pairs):
  return [data_prep.Record(label, text, None, i) for i, (label, text) in enumerate(pairs)]


def test_clean_records_counts_every_reason():
  records = _records(
    ("1", "  hello   world "),  # whitespace normalised
    ("1", "hello world"),  # duplicate of the first after cleaning
    ("", "no label"),  # empty label
    ("2", "   "),  # empty text
    ("2", "hello world"),  # conflicting label (first is 1)
    (" 3 ", "a\tb\nc"),  # whitespace in label and text
    ("4", "😀😀"),  # empty after --strip_special
    ("5", "good 😀 http://x.co/a"),  # special removed, kept
  )
  kept, report = data_prep.clean_records(records, strip_special_chars=True)
  assert [(r.label, r.text) for r in kept] == [("1", "hello world"), ("3", "a b c"), ("5", "good")]
  assert (
    report.rows_read,
    report.empty_text,
    report.empty_label,
    report.duplicates,
    report.conflicting,
    report.conflicting_texts,
    report.rows_kept,
  ) == (8, 2, 1, 1, 1, 1, 3)
  assert report.whitespace_normalized == 3
  assert report.special_removed == 2


def test_clean_records_without_strip_special_keeps_symbols():
  kept, report = data_prep.clean_records(_records(("1", "good 😀")))
  assert [r.text for r in kept] == ["good 😀"]
  assert report.special_removed == 0


@pytest.mark.parametrize(
  "policy, expected, conflicting",
  [
    ("first", [("a", "x"), ("b", "y")], 1),
    ("drop", [("b", "y")], 2),
    ("keep", [("a", "x"), ("b", "y"), ("c", "x")], 0),
  ],
)
def test_conflicting_labels_policies(policy, expected, conflicting):
  records = _records(("a", "x"), ("b", "y"), ("c", "x"), ("a", "x"))
  kept, report = data_prep.clean_records(records, conflicts=policy)
  assert [(r.label, r.text) for r in kept] == expected
  assert report.duplicates == 1
  assert report.conflicting_texts == 1
  assert report.conflicting == conflicting


def test_cli_summary_reports_counts(tmp_path, capsys):
  content = _csv(
    [
      ("1", "hello"),
      ("1", "hello"),
      ("", "x"),
      ("2", " "),
      ("2", "hello"),
      ("3", "a  b"),
      ("4", "😀"),
    ]
    + _dataset({"5": 10})
  )
  path = _write(tmp_path / "d.csv", content + "\n\n")
  status, out, err = _run(
    ["--input", path, "--output_dir", tmp_path / "out", "--strip_special"], capsys
  )
  assert status == 0, err
  assert "d.csv: read 17 rows (2 blank lines skipped)" in out
  assert "dropped 2 rows: empty text" in out
  assert "dropped 1 rows: empty label" in out
  assert "dropped 1 rows: duplicate (text, label)" in out
  assert "dropped 1 rows: conflicting label" in out
  assert "whitespace normalised in 2 rows" in out  # "a  b" and " "
  assert "special characters removed in 1 rows" in out
  assert "kept 12 rows, 3 labels" in out
  assert "1 text appears with different labels" in err
  for name in EMOTION_FILES:
    assert "wrote %s" % os.path.join(str(tmp_path / "out"), name) in out


# --- splitting ------------------------------------------------------------------


def test_stratified_split_proportions_within_one_example():
  labels = [label for label, n in COUNTS.items() for _ in range(n)]
  splits, warnings = data_prep.stratified_split(labels, 0.2, 0.2, seed=7)
  assert warnings == []
  assert sorted(splits["train"] + splits["val"] + splits["test"]) == list(range(len(labels)))
  for label, n in COUNTS.items():
    got = {split: sum(labels[i] == label for i in splits[split]) for split in splits}
    assert abs(got["test"] - n * 0.2) <= 1
    assert abs(got["val"] - (n - got["test"]) * 0.2) <= 1
    assert abs(got["train"] - n * 0.8 * 0.8) <= 1


def test_stratified_split_is_shuffled_not_grouped_by_label():
  labels = ["a"] * 50 + ["b"] * 50
  splits, _ = data_prep.stratified_split(labels, 0.2, 0.2, seed=1)
  train_labels = [labels[i] for i in splits["train"]]
  assert train_labels != sorted(train_labels)


def test_stratified_split_small_classes_warn():
  labels = ["big"] * 20 + ["one"] + ["two"] * 2
  splits, warnings = data_prep.stratified_split(labels, 0.2, 0.2, seed=0)
  by_split = {s: collections.Counter(labels[i] for i in idx) for s, idx in splits.items()}
  assert by_split["train"]["one"] == 1  # A class keeps a row in train.
  assert by_split["train"]["two"] >= 1
  assert len(warnings) == 2
  assert "label 'one' has only 1 row, too few to stratify" in warnings[0]
  assert "none in val and test" in warnings[0]
  assert "label 'two' has only 2 rows" in warnings[1]


def test_stratified_split_zero_ratios():
  splits, warnings = data_prep.stratified_split(["a", "b"] * 5, 0.0, 0.0)
  assert (len(splits["train"]), splits["val"], splits["test"]) == (10, [], [])
  assert warnings == []


def test_stratified_split_rejects_bad_ratio():
  with pytest.raises(ValueError, match="test_ratio must be in"):
    data_prep.stratified_split(["a"], 1.0, 0.2)


def test_cli_small_classes_are_warned_about(tmp_path, capsys):
  path = _write(tmp_path / "d.tsv", _tsv(_dataset({"0": 30, "1": 1})))
  status, out, err = _run(["--input", path, "--output_dir", tmp_path / "o"], capsys)
  assert status == 0
  assert "bert-prepare-data: warning: label '1' has only 1 row" in err


# --- determinism ----------------------------------------------------------------


def _outputs(folder, names=EMOTION_FILES):
  return [_read(os.path.join(str(folder), name)) for name in names]


def test_same_seed_gives_identical_bytes(emotion_csv, tmp_path, capsys):
  for out in ("a", "b"):
    status, _, err = _run(["--input", emotion_csv, "--output_dir", tmp_path / out], capsys)
    assert status == 0, err
  assert _outputs(tmp_path / "a") == _outputs(tmp_path / "b")


def test_different_seed_gives_different_split(emotion_csv, tmp_path, capsys):
  _run(["--input", emotion_csv, "--output_dir", tmp_path / "a"], capsys)
  _run(["--input", emotion_csv, "--output_dir", tmp_path / "b", "--seed", 1], capsys)
  a, b = _outputs(tmp_path / "a"), _outputs(tmp_path / "b")
  assert a[2] != b[2]
  # Same per-label counts though: the split is stratified either way.
  for x, y in zip(a, b):
    count = lambda data: collections.Counter(
      line.split(b"\t")[0] for line in data.split(b"\n")[1:-1]
    )
    assert count(x) == count(y)


def test_rewriting_leaves_no_temp_files(emotion_csv, tmp_path, capsys):
  out = tmp_path / "out"
  for _ in range(2):
    assert _run(["--input", emotion_csv, "--output_dir", out], capsys)[0] == 0
  assert sorted(os.listdir(str(out))) == sorted(EMOTION_FILES)


# --- layouts --------------------------------------------------------------------


def test_emotion_layout_reads_back_with_emotion_processor(emotion_csv, tmp_path, capsys):
  out = tmp_path / "data"
  status, _, err = _run(["--input", emotion_csv, "--output_dir", out], capsys)
  assert status == 0, err
  for name in EMOTION_FILES:
    assert _read(os.path.join(str(out), name)).startswith(b"label\ttext\n")
  processor = EmotionProcessor()
  train = processor.get_train_examples(str(out))
  dev = processor.get_dev_examples(str(out))
  test = processor.get_test_examples(str(out))
  assert len(train) + len(dev) + len(test) == sum(COUNTS.values())
  texts = {e.text_a for e in train} | {e.text_a for e in dev} | {e.text_a for e in test}
  assert texts == {text for _, text in _dataset(COUNTS)}
  expected_test = sum(int(n * 0.2 + 0.5) for n in COUNTS.values())
  assert len(test) == expected_test


def test_tsv_layout_with_text_b(tmp_path, capsys):
  lines = ["q\tp\ty"] + ["q%d\tp%d\t%s" % (i, i, "yes" if i % 3 else "no") for i in range(40)]
  path = _write(tmp_path / "pairs.tsv", "\n".join(lines) + "\n")
  out = tmp_path / "glue"
  status, _, err = _run(
    [
      "--input",
      path,
      "--output_dir",
      out,
      "--layout",
      "tsv",
      "--text_column",
      "q",
      "--text_b_column",
      "p",
      "--label_column",
      "y",
    ],
    capsys,
  )
  assert status == 0, err
  assert sorted(os.listdir(str(out))) == sorted(TSV_FILES)
  all_rows = []
  for name in TSV_FILES:
    path = os.path.join(str(out), name)
    assert _read(path).startswith(b"label\ttext\ttext_b\n")
    all_rows += _rows(path)
  assert len(all_rows) == 40
  for label, text, text_b in all_rows:
    assert text_b == text.replace("q", "p")
    assert label == ("yes" if int(text[1:]) % 3 else "no")


def test_tsv_layout_without_text_b_has_two_columns(emotion_csv, tmp_path, capsys):
  out = tmp_path / "glue"
  status, printed, _ = _run(
    ["--input", emotion_csv, "--output_dir", out, "--layout", "tsv"], capsys
  )
  assert status == 0
  assert [line.split() for line in printed.splitlines() if "label" in line.split()[:1]] == [
    ["label", "train", "dev", "test", "total"]  # named as the file it writes: dev.tsv
  ]
  for name in TSV_FILES:
    path = os.path.join(str(out), name)
    assert _read(path).startswith(b"label\ttext\n")
    assert all(len(row) == 2 for row in _rows(path))


def test_text_b_needs_tsv_layout(emotion_csv, tmp_path, capsys):
  status, _, err = _run(
    ["--input", emotion_csv, "--output_dir", tmp_path, "--text_b_column", "text"], capsys
  )
  assert status == 2  # Flags that do not go together: a usage error.
  assert err == (
    "bert-prepare-data: error: --text_b_column needs --layout tsv "
    "(the emotion task reads one text per example)\n"
  )


def test_emotion_layout_warns_about_other_labels(tmp_path, capsys):
  path = _write(tmp_path / "d.csv", _csv(_dataset({"happy": 10, "sad": 10})))
  status, _, err = _run(["--input", path, "--output_dir", tmp_path / "o"], capsys)
  assert status == 0
  assert "labels 'happy', 'sad' are not among the emotion task's labels" in err


# --- input formats --------------------------------------------------------------


def _all_pairs(folder, names=EMOTION_FILES):
  return sorted(tuple(row) for name in names for row in _rows(os.path.join(str(folder), name)))


@pytest.mark.parametrize(
  "extension, make, extra",
  [
    (".csv", _csv, []),
    (".tsv", _tsv, []),
    (".txt", _tsv, []),
    (".data", _csv, ["--delimiter", ","]),
    (".data", _tsv, ["--delimiter", "tab"]),
  ],
)
def test_input_formats_by_column_name(tmp_path, capsys, extension, make, extra):
  pairs = _dataset({"0": 10, "1": 10})
  path = _write(
    tmp_path / ("d" + extension), make([(t, label) for label, t in pairs], header=("content", "y"))
  )
  status, _, err = _run(
    [
      "--input",
      path,
      "--output_dir",
      tmp_path / "o",
      "--text_column",
      "content",
      "--label_column",
      "y",
    ]
    + extra,
    capsys,
  )
  assert status == 0, err
  assert _all_pairs(tmp_path / "o") == sorted(pairs)


@pytest.mark.parametrize("extension, make", [(".csv", _csv), (".tsv", _tsv)])
def test_input_by_index_with_and_without_header(tmp_path, capsys, extension, make):
  pairs = _dataset({"0": 10, "1": 10})
  swapped = [(t, label) for label, t in pairs]
  with_header = _write(tmp_path / ("h" + extension), make(swapped))
  no_header = _write(tmp_path / ("n" + extension), make(swapped, header=None))
  for path, extra in ((with_header, []), (no_header, ["--no_header"])):
    out = tmp_path / ("out_" + os.path.basename(path))
    status, _, err = _run(
      ["--input", path, "--output_dir", out, "--text_column", "0", "--label_column", "1"] + extra,
      capsys,
    )
    assert status == 0, err
    assert _all_pairs(out) == sorted(pairs)


def test_no_header_defaults_to_label_then_text(tmp_path, capsys):
  pairs = _dataset({"0": 5, "1": 5})
  path = _write(tmp_path / "d.tsv", _tsv(pairs, header=None))
  assert _run(["--input", path, "--output_dir", tmp_path / "o", "--no_header"], capsys)[0] == 0
  assert _all_pairs(tmp_path / "o") == sorted(pairs)


def test_csv_quoting_bom_and_multiline_text(tmp_path, capsys):
  content = 'label,text\n1,"a, quoted ""text""\nover lines"\n' + "".join(
    "0,t%d\n" % i for i in range(5)
  )
  path = _write(tmp_path / "d.csv", content, encoding="utf-8-sig")
  assert (
    _run(
      ["--input", path, "--output_dir", tmp_path / "o", "--test_ratio", "0", "--val_ratio", "0"],
      capsys,
    )[0]
    == 0
  )
  rows = _rows(os.path.join(str(tmp_path / "o"), EMOTION_FILES[0]))
  assert ["1", 'a, quoted "text" over lines'] in rows
  assert len(rows) == 6
  # Empty val/test files still have their header.
  assert _read(os.path.join(str(tmp_path / "o"), EMOTION_FILES[2])) == (b"label\ttext\n")


def test_tsv_quotes_are_text(tmp_path, capsys):
  path = _write(tmp_path / "d.tsv", 'label\ttext\n1\t"half quoted\n0\tok\n')
  assert (
    _run(
      ["--input", path, "--output_dir", tmp_path / "o", "--test_ratio", "0", "--val_ratio", "0"],
      capsys,
    )[0]
    == 0
  )
  rows = _rows(os.path.join(str(tmp_path / "o"), EMOTION_FILES[0]))
  assert sorted(rows) == [["0", "ok"], ["1", '"half quoted']]


def test_other_encoding(tmp_path, capsys):
  path = _write(tmp_path / "d.csv", _csv([("1", "你好"), ("0", "再见")]), encoding="gb18030")
  status, _, err = _run(["--input", path, "--output_dir", tmp_path / "o"], capsys)
  assert status == 1
  assert err.startswith("bert-prepare-data: error: %s:2: not valid UTF-8" % path)
  assert (
    _run(
      [
        "--input",
        path,
        "--output_dir",
        tmp_path / "o",
        "--encoding",
        "gb18030",
        "--test_ratio",
        "0",
        "--val_ratio",
        "0",
      ],
      capsys,
    )[0]
    == 0
  )
  assert _all_pairs(tmp_path / "o") == [("0", "再见"), ("1", "你好")]


# --- errors ---------------------------------------------------------------------


def _error(argv, capsys):
  status, out, err = _run(argv, capsys)
  assert status == 1
  assert out == ""
  assert err.count("\n") == 1 and "Traceback" not in err
  return err.rstrip("\n")


def test_error_missing_column_lists_available(emotion_csv, tmp_path, capsys):
  err = _error(
    ["--input", emotion_csv, "--output_dir", tmp_path, "--text_column", "review"], capsys
  )
  assert err == (
    "bert-prepare-data: error: %s: no column 'review' "
    "(--text_column); available columns: 'label', 'text'" % emotion_csv
  )


def test_error_index_out_of_range(emotion_csv, tmp_path, capsys):
  err = _error(["--input", emotion_csv, "--output_dir", tmp_path, "--label_column", "2"], capsys)
  assert err == (
    "bert-prepare-data: error: %s: column index 2 "
    "(--label_column) is out of range: the file has 2 columns "
    "(0=label, 1=text)" % emotion_csv
  )


def test_error_name_without_header(emotion_csv, tmp_path, capsys):
  err = _error(
    ["--input", emotion_csv, "--output_dir", tmp_path, "--no_header", "--text_column", "text"],
    capsys,
  )
  assert "--text_column=text is a column name, but the file is read without a header row" in err


def test_error_missing_and_empty_file(tmp_path, capsys):
  missing = str(tmp_path / "missing.csv")
  assert _error(["--input", missing, "--output_dir", tmp_path], capsys) == (
    "bert-prepare-data: error: %s: file not found" % missing
  )
  empty = _write(tmp_path / "empty.tsv", b"")
  assert _error(["--input", empty, "--output_dir", tmp_path], capsys) == (
    "bert-prepare-data: error: %s: file is empty" % empty
  )


def test_error_row_with_extra_fields_names_line(tmp_path, capsys):
  path = _write(tmp_path / "d.tsv", "label\ttext\n1\ta\n\n0\tb\tc\n")
  err = _error(["--input", path, "--output_dir", tmp_path / "o"], capsys)
  assert err.startswith(
    "bert-prepare-data: error: %s:4: expected 2 tab-separated fields as in line 1, found 3" % path
  )


def test_error_row_with_missing_fields_names_line(tmp_path, capsys):
  path = _write(tmp_path / "d.csv", "label,text\n1,a\n\n0\n1,b\n")
  err = _error(["--input", path, "--output_dir", tmp_path / "o"], capsys)
  assert err == (
    "bert-prepare-data: error: %s:4: expected 2 comma-separated fields as in line 1, found 1" % path
  )
  assert not os.path.exists(str(tmp_path / "o"))


def test_error_row_lacking_an_unused_column_and_tsv_hint(tmp_path, capsys):
  path = _write(tmp_path / "d.tsv", "label\ttext\tid\n1\tone\t1\n0\tbroken\ntext\t2\n")
  err = _error(["--input", path, "--output_dir", tmp_path / "o"], capsys)
  assert err == (
    "bert-prepare-data: error: %s:3: expected 3 tab-separated "
    "fields as in line 1, found 2 (is a text broken across "
    "lines?)" % path
  )


def test_load_records_raises_for_short_rows(tmp_path):
  from processors.tabular import read_table

  path = _write(tmp_path / "d.tsv", "1\ta\n0\n")
  table = read_table(path, has_header=False)
  with pytest.raises(DataError) as info:
    data_prep.load_records(table, "1", "0")
  assert (info.value.input_file, info.value.line_number) == (path, 2)
  assert info.value.reason.startswith("expected 2 tab-separated fields")


def test_empty_values_are_still_dropped_not_errors(tmp_path, capsys):
  content = _csv(_dataset({"a": 10, "b": 10}) + [("a", ""), ("", "x"), ("b", "  ")])
  path = _write(tmp_path / "d.csv", content + ",\n\n")
  status, out, err = _run(
    ["--input", path, "--output_dir", tmp_path / "o", "--layout", "tsv"], capsys
  )
  assert status == 0, err
  assert "read 23 rows (2 blank lines skipped)" in out
  assert "dropped 2 rows: empty text" in out
  assert "dropped 1 rows: empty label" in out


def test_empty_text_b_is_dropped_as_empty_text(tmp_path, capsys):
  lines = (
    ["q,p,y"]
    + ["q%d,p%d,%s" % (i, i, "yes" if i % 2 else "no") for i in range(20)]
    + ["q20,,yes", "q21, ,no"]
  )
  path = _write(tmp_path / "pairs.csv", "\n".join(lines) + "\n")
  status, out, err = _run(
    [
      "--input",
      path,
      "--output_dir",
      tmp_path / "o",
      "--layout",
      "tsv",
      "--text_column",
      "q",
      "--text_b_column",
      "p",
      "--label_column",
      "y",
    ],
    capsys,
  )
  assert status == 0, err
  assert "dropped 2 rows: empty text" in out
  assert "kept 20 rows" in out


def test_error_unknown_extension_and_nothing_left(tmp_path, capsys):
  path = _write(tmp_path / "d.dat", "label,text\n1,a\n")
  err = _error(["--input", path, "--output_dir", tmp_path / "o"], capsys)
  assert "cannot tell the delimiter from the extension '.dat'" in err
  path = _write(tmp_path / "d.csv", "label,text\n1,\n,x\n")
  err = _error(["--input", path, "--output_dir", tmp_path / "o"], capsys)
  assert err == (
    "bert-prepare-data: error: %s: no rows left after cleaning "
    "(2 read, 1 empty text, 1 empty label)" % path
  )


def test_bad_ratio_is_a_usage_error(emotion_csv, tmp_path, capsys):
  with pytest.raises(SystemExit) as info:
    data_prep.main(["--input", emotion_csv, "--output_dir", str(tmp_path), "--test_ratio", "1.5"])
  assert info.value.code == 2
  assert "must be in [0, 1)" in capsys.readouterr().err


@pytest.mark.parametrize(
  "flags, message",
  [
    (
      ["--delimiter", "ab"],
      "--delimiter must be one character (or \\t, tab, comma, semicolon, pipe, space), got 'ab'",
    ),
    (["--encoding", "klingon"], "--encoding 'klingon' is not an encoding Python knows"),
  ],
)
def test_bad_flag_values_are_one_line_exit_2(emotion_csv, tmp_path, flags, message, capsys):
  status, out, err = _run(["--input", emotion_csv, "--output_dir", tmp_path / "o"] + flags, capsys)
  assert (status, out) == (2, "")
  assert err == "bert-prepare-data: error: %s\n" % message
  assert not (tmp_path / "o").exists()


def test_error_missing_input_and_unwritable_output(emotion_csv, tmp_path, capsys):
  missing = tmp_path / "missing.csv"
  err = _error(["--input", missing, "--output_dir", tmp_path / "o"], capsys)
  assert err == "bert-prepare-data: error: %s: file not found" % missing
  blocker = _write(tmp_path / "blocker", "a file where the output folder should be")
  err = _error(["--input", emotion_csv, "--output_dir", blocker], capsys)
  assert err.startswith("bert-prepare-data: error: cannot create the output folder %s: " % blocker)


def test_prepare_api_raises_data_error(tmp_path):
  with pytest.raises(DataError) as info:
    data_prep.prepare(str(tmp_path / "none.csv"), str(tmp_path))
  assert info.value.reason == "file not found"


def test_tsv_layout_reads_back_with_tabular_processor(tmp_path, capsys):
  from processors.tabular import OPTION_KEYS, TabularProcessor

  lines = ["sentence1,sentence2,gold"] + [
    "s%d,t%d,%s" % (i, i, ("entail", "neutral", "contra")[i % 3]) for i in range(60)
  ]
  path = _write(tmp_path / "pairs.csv", "\n".join(lines) + "\n")
  data = tmp_path / "data"
  assert (
    _run(
      [
        "--input",
        path,
        "--output_dir",
        data,
        "--layout",
        "tsv",
        "--text_column",
        "sentence1",
        "--text_b_column",
        "sentence2",
        "--label_column",
        "gold",
      ],
      capsys,
    )[0]
    == 0
  )
  options = dict.fromkeys(OPTION_KEYS)
  options.update(
    data_dir=str(data), output_dir=str(tmp_path / "model"), has_header=True, text_b_column="text_b"
  )
  processor = TabularProcessor()
  processor.configure(options)
  assert processor.get_labels() == ["contra", "entail", "neutral"]
  examples = (
    processor.get_train_examples(str(data))
    + processor.get_dev_examples(str(data))
    + processor.get_test_examples(str(data))
  )
  assert sorted((e.text_a, e.text_b, e.label) for e in examples) == sorted(
    ("s%d" % i, "t%d" % i, ("entail", "neutral", "contra")[i % 3]) for i in range(60)
  )
