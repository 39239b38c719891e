"""The tabular task: any labelled TSV/CSV file, configured by flags, not code.

    python run_classifier.py --task_name=tabular --data_dir=data \\
        --text_column=review --label_column=stars [--text_b_column=title] \\
        [--delimiter=,] [--has_header=false] \\
        [--multi_label --label_separator=,] \\
        [--train_file=train.tsv --dev_file=dev.tsv --test_file=test.tsv] ...

run_classifier.py passes those flags to `TabularProcessor.configure`. The files
are read with pandas, every field as a string. This module is also the reader
of `bert-prepare-data` (`classifier/data_prep.py`): `read_table`,
`label_sort_key` and `sorted_labels` are shared with it.

Importing this module imports pandas but not TensorFlow (only a remote
`gs://...` path needs TensorFlow).
"""

import csv
import io
import os
import re

from bert import model_folder
from processors.base import (
  DataError,
  DataProcessor,
  InputExample,
  _read_bytes,
  raise_field_size_limit,
  separator_name,
)

OPTION_KEYS = (
  "data_dir",
  "output_dir",
  "train_file",
  "dev_file",
  "test_file",
  "delimiter",
  "has_header",
  "text_column",
  "text_b_column",
  "label_column",
  "multi_label",
  "label_separator",
)

DEFAULT_TRAIN_FILE = "train.tsv"
DEFAULT_DEV_FILE = "dev.tsv"
DEFAULT_TEST_FILE = "test.tsv"
DEFAULT_TEXT_COLUMN = "text"
DEFAULT_LABEL_COLUMN = "label"
DEFAULT_LABEL_SEPARATOR = ","

_DELIMITER_NAMES = {
  "\\t": "\t",
  "tab": "\t",
  "comma": ",",
  "semicolon": ";",
  "pipe": "|",
  "space": " ",
}

_TRUE_WORDS = ("true", "1", "yes")
_FALSE_WORDS = ("false", "0", "no")

_FLAGS_HELP = (
  "give run_classifier.py --text_column and --label_column (column names "
  "from the header row, or 0-based indices with --has_header=false), and "
  "optionally --text_b_column, --delimiter (default tab; ',' for CSV), "
  "--has_header, --train_file, --dev_file, --test_file"
)


# --- shared helpers -------------------------------------------------------------


def parse_delimiter(value, default="\t"):
  """Returns the one-character delimiter for a flag value.

  Accepts the character itself, or "\\t", "tab", "comma", "semicolon", "pipe",
  "space". None or "" gives `default`.

  Raises:
      DataError: for anything longer than one character.
  """
  if value is None or value == "":
    return default
  value = _DELIMITER_NAMES.get(value.lower() if len(value) > 1 else value, value)
  if len(value) != 1:
    raise DataError(
      "--delimiter must be one character (or \\t, tab, "
      "comma, semicolon, pipe, space), got %r" % value
    )
  return value


def quoting_for(delimiter):
  """csv.QUOTE_NONE for tab-separated files (quotes are text, as in Google's
  `_read_tsv`), standard quoting (csv.QUOTE_MINIMAL) for every other delimiter."""
  return csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL


def label_sort_key(label):
  """A numeric-aware sort key: "2" < "10", "-1" < "0", "a2" < "a10".

  If the label is a number it sorts by value (before any non-numeric label);
  otherwise by its runs of digits and non-digits.
  """
  try:
    number = float(label)
  except ValueError:
    number = None
  if number is not None and number == number:  # Not NaN.
    return (0, number, (), label)
  parts = tuple(
    (0, int(part), part) if part.isdigit() else (1, 0, part)
    for part in re.split(r"(\d+)", label)
    if part
  )
  return (1, 0.0, parts, label)


def sorted_labels(labels):
  """The distinct labels in numeric-aware order (see `label_sort_key`)."""
  return sorted(set(labels), key=label_sort_key)


def _decode(data, path, encoding="utf-8"):
  """Decodes file bytes; a UTF-8 BOM is dropped, CRLF and CR become LF."""
  is_utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8")
  codec = "utf-8-sig" if is_utf8 else encoding
  try:
    text = data.decode(codec)
  except LookupError:
    raise DataError("unknown encoding %r" % encoding, path) from None
  except UnicodeDecodeError as e:
    line_number = data.count(b"\n", 0, e.start) + 1
    hint = "save the file as UTF-8" if is_utf8 else "check the encoding"
    raise DataError(
      "not valid %s (byte 0x%02x); %s" % ("UTF-8" if is_utf8 else encoding, data[e.start], hint),
      path,
      line_number,
    ) from None
  if text.startswith("\ufeff"):
    text = text[1:]
  return text.replace("\r\n", "\n").replace("\r", "\n")


class Table(object):
  """A delimited file read with pandas, every field a str.

  Attributes:
      path: str. The file.
      header: list of str, or None when the file has no header row.
      rows: pandas.DataFrame of the data rows (the header row excluded),
          columns numbered 0..n-1, index 0..len-1 (the data row index).
      n_columns: int.
      delimiter: str.
  """

  def __init__(self, path, header, rows, text, delimiter, has_header):
    self.path = path
    self.header = header
    self.rows = rows
    self.n_columns = rows.shape[1]
    self.delimiter = delimiter
    self._text = text
    self._has_header = has_header
    self._record_lines = None
    self._record_fields = None

  def __len__(self):
    return len(self.rows)

  def column(self, index):
    """The values of column `index` as a list of str."""
    return [str(v) for v in self.rows.iloc[:, index].tolist()]

  def blank_rows(self):
    """A list of bool: True for rows whose fields are all empty."""
    if not len(self.rows):
      return []
    return (self.rows == "").all(axis=1).tolist()

  def describe_columns(self):
    """ "'label', 'text'" with a header; "0..1" (the indices) without."""
    if self.header is not None:
      return ", ".join(repr(name) for name in self.header)
    return "0..%d" % (self.n_columns - 1)

  def has_column(self, spec):
    """True if `spec` (a name, or an index as int or digit string) exists."""
    try:
      self.column_index(spec, "column")
    except DataError:
      return False
    return True

  def column_index(self, spec, flag):
    """Resolves a column given by name or 0-based index to its index.

    With a header row, `spec` is looked up as a name first, and a string of
    digits that is no column name is an index. Without a header row it must
    be an index.

    Args:
        spec: str or int.
        flag: str. The flag that gave it, for the error message.

    Raises:
        DataError naming the file, the flag and the available columns.
    """
    if isinstance(spec, bool) or not isinstance(spec, (int, str)):
      raise DataError(
        "%s must be a column name or a 0-based index, got %r" % (flag, spec), self.path
      )
    if isinstance(spec, str) and self.header is not None and spec in self.header:
      return self.header.index(spec)
    if isinstance(spec, int) or spec.strip().isdigit():
      index = int(spec)
      if 0 <= index < self.n_columns:
        return index
      raise DataError(
        "column index %d (%s) is out of range: the file has %d column%s "
        "(%s)"
        % (
          index,
          flag,
          self.n_columns,
          "" if self.n_columns == 1 else "s",
          self._numbered_columns(),
        ),
        self.path,
      )
    if self.header is None:
      raise DataError(
        "%s=%s is a column name, but the file is read without a header "
        "row; give a 0-based column index (0..%d)" % (flag, spec, self.n_columns - 1),
        self.path,
      )
    raise DataError(
      "no column %r (%s); available columns: %s" % (spec, flag, self.describe_columns()), self.path
    )

  def _numbered_columns(self):
    if self.header is None:
      return "0..%d" % (self.n_columns - 1)
    return ", ".join("%d=%s" % (i, name) for i, name in enumerate(self.header))

  def line_number(self, row):
    """The 1-based line of data row `row` (0-based) in the file."""
    self._scan()
    record = self._record_of(row)
    if 0 <= record < len(self._record_lines):
      return self._record_lines[record]
    return None

  def field_count(self, row):
    """How many fields data row `row` has in the file, before the padding
    that `rows` adds to short rows (n_columns if unknown)."""
    self._scan()
    record = self._record_of(row)
    if 0 <= record < len(self._record_fields):
      return self._record_fields[record]
    return self.n_columns

  def short_rows(self, n_fields=None):
    """The data rows, blank ones excluded, with fewer than `n_fields`
    fields in the file (default: as many as line 1 has)."""
    n_fields = self.n_columns if n_fields is None else n_fields
    if not len(self.rows) or not 0 < n_fields <= self.n_columns:
      return []
    # Padding only ever adds empty fields, so only rows whose last needed
    # field is empty can be short; the file is scanned only if some are.
    candidates = (self.rows.iloc[:, n_fields - 1] == "").tolist()
    blank = self.blank_rows()
    return [
      row
      for row, maybe in enumerate(candidates)
      if maybe and not blank[row] and self.field_count(row) < n_fields
    ]

  def separator_name(self):
    """ "tab", "comma", ... or the quoted character, for messages."""
    return separator_name(self.delimiter)

  def _record_of(self, row):
    return row + (1 if self._has_header else 0)

  def _scan(self):
    if self._record_lines is None:
      self._record_lines, self._record_fields = _scan_records(
        self._text, self.delimiter, quoting_for(self.delimiter)
      )


def _scan_records(text, delimiter, quoting):
  """Reads the text with the csv module, as pandas splits it.

  Returns:
      (lines, fields): for each record, its 1-based first line and its
      number of fields (0 for a blank line). A record csv cannot parse ends
      the lists (its line is kept, its field count is not).
  """
  lines, fields = [], []
  reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
  old_limit = raise_field_size_limit()
  try:
    while True:
      lines.append(reader.line_num + 1)
      try:
        fields.append(len(next(reader)))
      except StopIteration:
        lines.pop()
        break
      except csv.Error:
        break
  finally:
    csv.field_size_limit(old_limit)
  return lines, fields


def read_table(path, delimiter="\t", has_header=True, encoding="utf-8"):
  """Reads a delimited file with pandas: every field a str, nothing is NaN.

  Tab-separated files are read with csv.QUOTE_NONE (a quote is text, as in
  Google's `_read_tsv`), others with standard CSV quoting. A UTF-8 BOM is
  dropped; CRLF and CR line ends are read as LF. Blank lines are kept as rows
  of empty strings, so that row numbers match the file (callers skip them).
  A row with fewer fields than the first line is padded with empty strings.

  Args:
      path: str or path-like. A local path, or a remote one (gs://...) read
          with TensorFlow's gfile.
      delimiter: str. One character.
      has_header: bool. Whether the first line holds the column names.
      encoding: str. The text encoding (UTF-8 with or without BOM by default).

  Returns:
      A `Table`.

  Raises:
      DataError: one line naming the file (and line) for a missing, empty or
          undecodable file, or a row with more fields than the first line.
  """
  import pandas as pd  # Here, so that listing tasks stays cheap.

  path = os.fspath(path)
  text = _decode(_read_bytes(path), path, encoding)
  quoting = quoting_for(delimiter)
  try:
    frame = pd.read_csv(
      io.StringIO(text),
      sep=delimiter,
      header=None,
      dtype=str,
      keep_default_na=False,
      na_filter=False,
      quoting=quoting,
      skip_blank_lines=False,
      engine="c",
    )
  except pd.errors.EmptyDataError:
    raise DataError("file is empty", path) from None
  except pd.errors.ParserError as e:
    raise _parser_error(e, text, path, delimiter, quoting) from None
  frame = frame.fillna("")
  if not frame.shape[0]:
    raise DataError("file is empty", path)
  if has_header:
    header = [str(v) for v in frame.iloc[0].tolist()]
    frame = frame.iloc[1:].reset_index(drop=True)
  else:
    header = None
  frame.columns = range(frame.shape[1])
  return Table(path, header, frame, text, delimiter, has_header)


def _parser_error(error, text, path, delimiter, quoting):
  message = " ".join(str(error).split())
  lines = _scan_records(text, delimiter, quoting)[0]

  def line_of(record):  # 0-based record -> 1-based line.
    return lines[record] if 0 <= record < len(lines) else None

  match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
  if match:
    expected, record, found = (int(g) for g in match.groups())
    hint = (
      "is there a tab inside a text?"
      if delimiter == "\t"
      else "quote texts that contain %r" % delimiter
    )
    return DataError(
      "expected %d %s-separated fields as in line 1, found %d (%s)"
      % (expected, separator_name(delimiter), found, hint),
      path,
      line_of(record - 1),
    )
  match = re.search(r"EOF inside string starting at row (\d+)", message)
  if match:
    return DataError("a quoted field is never closed", path, line_of(int(match.group(1))))
  return DataError(
    "cannot parse the file: %s" % message.replace("Error tokenizing data. C error: ", ""), path
  )


# --- the processor --------------------------------------------------------------


class TabularProcessor(DataProcessor):
  """A plain labelled file: columns and delimiter come from flags.

  Call `configure(options)` first (run_classifier.py does, from its flags):

  * data_dir, output_dir: str. output_dir is where a training run saves
    labels.json.
  * train_file, dev_file, test_file: file names in data_dir (default
    train.tsv, dev.tsv, test.tsv).
  * delimiter: default tab; "," for CSV (also "\\t", "tab", "comma").
    Tab-separated files are read with quotes as text (csv.QUOTE_NONE, as
    Google's `_read_tsv`), others with standard CSV quoting.
  * has_header: bool, default True ("true"/"false" strings are accepted).
  * text_column, label_column: a name from the header row, or a 0-based index
    (an int or a string of digits, e.g. "0"). With a header row they default
    to "text" and "label" (the layout `bert-prepare-data --layout tsv`
    writes); without one they must be given.
  * text_b_column: optional, for sentence pairs.
  * multi_label: bool, default False. When true, a label cell holds any
    number of labels (see "Multi-label rows" below).
  * label_separator: default ","; what separates the labels of one cell when
    multi_label is on. The names --delimiter accepts work too ("pipe", "\\t").

  Labels (`get_labels`): `<output_dir>/labels.json` if it exists (the label
  list a training run saved, so that eval/predict-only runs use the same
  label ids), otherwise the distinct labels of the train file in numeric-aware
  order ("2" before "10").

  Examples: guids `train-<i>`, `dev-<i>`, `test-<i>`, with i the 0-based
  data row index (the header row is not counted). Rows whose fields are all
  empty are skipped. Labels are stripped of surrounding whitespace; texts are
  passed as they are. In the test file, a row without a label (no label
  column, a row too short to reach it, an empty label, or one not in
  `get_labels()`) gets the first label as a dummy, as in Google's processors.

  Other bad rows raise `DataError` naming the file and line: a row with too
  few fields to reach a column the task reads ("expected at least 3
  tab-separated columns, found 2 (the text column 'review' is missing)"), an
  empty or all-whitespace text or text_b ("empty text in column 'review'"),
  and in train/dev an empty label.

  Multi-label rows (multi_label on): the cell is cut at each label_separator,
  and `InputExample.label` is the list of its labels: each stripped, empty
  parts and repeats dropped, in `get_labels()` order ("b, a" gives ["a", "b"]
  when a sorts first). An empty cell is allowed in every file and gives [],
  "none of these labels". A cell is never split when multi_label is off ("a,b"
  is then one label). `get_labels()` is the sorted set of the single labels,
  and the labels.json rules above hold label by label. In train/dev, a label
  that is not in `get_labels()` is an error naming the line; in the test file,
  such labels are dropped, and a missing label column gives [] on every row.
  """

  task_name = "tabular"

  def __init__(self):
    self._options = None
    self._labels = None
    self._tables = {}

  # --- configuration ---

  def configure(self, options):
    """Sets the files and columns; see the class docstring for the keys.

    Args:
        options: dict with keys from `OPTION_KEYS`; missing keys and None
            values take the defaults.

    Raises:
        DataError: for an unknown key, a bad delimiter or label separator,
            or a has_header / multi_label value that is not a boolean.
    """
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
      raise DataError(
        "tabular task: unknown option%s %s; known options: "
        "%s" % ("" if len(unknown) == 1 else "s", ", ".join(unknown), ", ".join(OPTION_KEYS))
      )
    has_header = _bool_option(options, "has_header", True)
    multi_label = _bool_option(options, "multi_label", False)
    delimiter = parse_delimiter(options.get("delimiter"))
    separator = _label_separator(options.get("label_separator"))
    if multi_label and separator == "\t" and delimiter == "\t":
      # Tab-separated files are read without quoting: no cell can hold a tab.
      raise DataError(
        "--label_separator cannot be a tab when the files are tab-separated; "
        "use e.g. --label_separator=,"
      )

    def column(key):
      value = options.get(key)
      if isinstance(value, str):
        value = value.strip() or None
      return value

    text_column = column("text_column")
    label_column = column("label_column")
    if has_header:
      text_column = DEFAULT_TEXT_COLUMN if text_column is None else text_column
      label_column = DEFAULT_LABEL_COLUMN if label_column is None else label_column
    self._options = {
      "data_dir": options.get("data_dir") or None,
      "output_dir": options.get("output_dir") or None,
      "train_file": options.get("train_file") or DEFAULT_TRAIN_FILE,
      "dev_file": options.get("dev_file") or DEFAULT_DEV_FILE,
      "test_file": options.get("test_file") or DEFAULT_TEST_FILE,
      "delimiter": delimiter,
      "has_header": has_header,
      "text_column": text_column,
      "text_b_column": column("text_b_column"),
      "label_column": label_column,
      "multi_label": multi_label,
      "label_separator": separator,
    }
    self._labels = None
    self._tables = {}
    return self

  @property
  def options(self):
    """The options in effect (defaults filled in), or None if unconfigured."""
    return None if self._options is None else dict(self._options)

  def _require_options(self):
    if self._options is None:
      raise DataError("the tabular task is not configured: " + _FLAGS_HELP)
    options = self._options
    missing = [
      flag
      for flag, key in (("--text_column", "text_column"), ("--label_column", "label_column"))
      if options[key] is None
    ]
    if missing:
      raise DataError(
        "the tabular task needs %s when the files have no header row "
        "(--has_header=false): give 0-based column indices, e.g. "
        "--label_column=0 --text_column=1" % " and ".join(missing)
      )
    return options

  # --- DataProcessor ---

  def get_train_examples(self, data_dir):
    return self._create_examples(data_dir, "train_file", "train")

  def get_dev_examples(self, data_dir):
    return self._create_examples(data_dir, "dev_file", "dev")

  def get_test_examples(self, data_dir):
    return self._create_examples(data_dir, "test_file", "test")

  def get_labels(self):
    """The saved labels.json of output_dir, else the train file's labels.

    Raises:
        DataError: if labels.json is malformed, or there is neither
            labels.json nor a train file, or the train file has labels
            that a saved labels.json lacks.
    """
    if self._labels is not None:
      return list(self._labels)
    options = self._require_options()
    labels_path = (
      os.path.join(options["output_dir"], model_folder.LABELS_FILENAME)
      if options["output_dir"]
      else None
    )
    train_path = (
      os.path.join(options["data_dir"], options["train_file"]) if options["data_dir"] else None
    )
    train_exists = train_path is not None and _exists(train_path)
    if labels_path is not None and _exists(labels_path):
      labels = _read_labels_json(labels_path)
      if train_exists:
        extra = [label for label in self._train_labels(train_path) if label not in set(labels)]
        if extra:
          raise DataError(
            "the train file has label%s %s that %s (saved by an "
            "earlier training run) lacks; train into a new "
            "--output_dir or delete that labels.json"
            % ("" if len(extra) == 1 else "s", ", ".join(repr(x) for x in extra[:10]), labels_path),
            train_path,
          )
    elif train_exists:
      labels = self._train_labels(train_path)
      if not labels:
        raise DataError(
          "no labels found in column %s" % (_describe_spec(options["label_column"])), train_path
        )
    else:
      raise DataError(
        "cannot tell the labels: neither %s (saved by a training run) "
        "nor the train file %s exists; give --data_dir with the train "
        "file, or the --output_dir of the training run"
        % (
          labels_path or "<output_dir>/labels.json",
          train_path or "<data_dir>/" + options["train_file"],
        )
      )
    self._labels = list(labels)
    return list(labels)

  # --- internals ---

  def _table(self, path):
    table = self._tables.get(path)
    if table is None:
      options = self._options
      table = read_table(path, options["delimiter"], options["has_header"])
      self._tables[path] = table
    return table

  def _train_labels(self, train_path):
    """The distinct labels of the train file, sorted by `label_sort_key`."""
    table = self._table(train_path)
    index = table.column_index(self._options["label_column"], "--label_column")
    cells = [cell for cell, blank in zip(table.column(index), table.blank_rows()) if not blank]
    if self._options["multi_label"]:
      separator = self._options["label_separator"]
      return sorted_labels(label for cell in cells for label in _split_labels(cell, separator))
    return sorted_labels(label for label in map(str.strip, cells) if label)

  def _label_reader(self, table, is_test):
    """The function (cell, row) -> InputExample.label for the rows of `table`.

    `row` is the data row index, used only to name the line in an error.
    """
    options = self._options
    column_name = _describe_spec(options["label_column"])

    def fail(reason, row):
      raise DataError(reason, table.path, table.line_number(row))

    if options["multi_label"]:
      label_list = self.get_labels()
      rank = {label: i for i, label in enumerate(label_list)}
      separator = options["label_separator"]

      def several(cell, row):
        labels = _split_labels(cell, separator)
        unknown = [label for label in labels if label not in rank]
        if unknown and not is_test:
          fail(
            "label %r in column %s is not one of get_labels() = %s"
            % (unknown[0], column_name, label_list),
            row,
          )
        return sorted((label for label in labels if label in rank), key=rank.get)

      return several

    if is_test:
      label_list = self.get_labels()
      known = set(label_list)

      def one_or_dummy(cell, row):
        label = cell.strip()
        return label if label in known else label_list[0]

      return one_or_dummy

    def one(cell, row):
      label = cell.strip()
      if not label:
        fail("empty label in column %s" % column_name, row)
      return label

    return one

  def _create_examples(self, data_dir, file_key, set_type):
    options = self._require_options()
    data_dir = data_dir if data_dir is not None else options["data_dir"]
    if data_dir is None:
      raise DataError("the tabular task needs --data_dir")
    path = os.path.join(data_dir, options[file_key])
    table = self._table(path)
    is_test = set_type == "test"
    text_columns = self._text_columns(table)
    label_index = None
    if not is_test or table.has_column(options["label_column"]):
      label_index = table.column_index(options["label_column"], "--label_column")
    # The columns every row must have; a test row may lack its label.
    required = list(text_columns)
    if not is_test:
      required.append(("label", options["label_column"], label_index))
    short = set(table.short_rows(max(c[2] for c in required) + 1))
    texts = [table.column(index) for _, _, index in text_columns]
    cells = table.column(label_index) if label_index is not None else [""] * len(table)
    read_label = self._label_reader(table, is_test)
    examples = []
    for i, is_blank in enumerate(table.blank_rows()):
      if is_blank:
        continue
      if i in short:
        raise _short_row_error(table, i, required)
      for (_, spec, _), values in zip(text_columns, texts):
        if not values[i].strip():
          raise DataError(
            "empty text in column %s" % _describe_spec(spec), path, table.line_number(i)
          )
      examples.append(
        InputExample(
          guid="%s-%d" % (set_type, i),
          text_a=texts[0][i],
          text_b=texts[1][i] if len(texts) > 1 else None,
          label=read_label(cells[i], i),
        )
      )
    return examples

  def _text_columns(self, table):
    """(role, spec, index) of text_a and, for pairs, text_b in `table`."""
    options = self._options
    columns = [
      ("text", options["text_column"], table.column_index(options["text_column"], "--text_column"))
    ]
    if options["text_b_column"] is not None:
      columns.append(
        (
          "text_b",
          options["text_b_column"],
          table.column_index(options["text_b_column"], "--text_b_column"),
        )
      )
    return columns


def _short_row_error(table, row, required):
  """The DataError for data row `row`, which lacks some `required` columns
  ((role, spec, index) triples): counts, and the columns that are missing."""
  found = table.field_count(row)
  needed = max(index for _, _, index in required) + 1
  missing = [
    "the %s column %s" % (role, _describe_spec(spec))
    for role, spec, index in sorted(required, key=lambda c: c[2])
    if index >= found
  ]
  named = missing[0] if len(missing) == 1 else "%s and %s" % (", ".join(missing[:-1]), missing[-1])
  return DataError(
    "expected at least %d %s-separated column%s, found %d (%s %s missing)"
    % (
      needed,
      table.separator_name(),
      "" if needed == 1 else "s",
      found,
      named,
      "is" if len(missing) == 1 else "are",
    ),
    table.path,
    table.line_number(row),
  )


def _bool_option(options, key, default):
  """A boolean option: None gives `default`; strings such as "false" or "1" are read as words."""
  value = options.get(key)
  if value is None:
    return default
  if not isinstance(value, str):
    return bool(value)
  word = value.strip().lower()
  if word in _TRUE_WORDS:
    return True
  if word in _FALSE_WORDS:
    return False
  raise DataError("--%s must be true or false, got %r" % (key, value))


def _label_separator(value):
  """The text between two labels of a cell: the value as given, or the
  character a --delimiter name stands for ("comma", "pipe", "\\t", ...)."""
  if value is None or value == "":
    return DEFAULT_LABEL_SEPARATOR
  return _DELIMITER_NAMES.get(value.lower(), value)


def _split_labels(cell, separator):
  """The labels of one multi-label cell, in the order they appear.

  Each part is stripped; empty parts and repeats are dropped, so "a, b,,a"
  gives ["a", "b"], and an empty or blank cell gives [].
  """
  parts = (part.strip() for part in cell.split(separator))
  return list(dict.fromkeys(part for part in parts if part))


def _describe_spec(spec):
  return repr(spec) if isinstance(spec, str) and not spec.isdigit() else str(spec)


def _exists(path):
  if "://" in path:
    import tensorflow as tf  # Only for remote paths.

    return tf.io.gfile.exists(path)
  return os.path.isfile(path)


def _read_labels_json(path):
  try:
    return model_folder.parse_labels(_decode(_read_bytes(path), path), path)
  except model_folder.LabelsError as e:
    raise DataError(str(e)) from None  # The message names the file.
