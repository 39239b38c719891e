"""The table reader: a delimited text file (TSV, CSV, ...) read with pandas.

Every field is a str and nothing is NaN; tab-separated files are read with
quotes as text (as Google's `_read_tsv`), other delimiters with standard CSV
quoting. Columns are found by header name or 0-based index, and every error
names the file and, where there is one, the line. The `tabular` task
(`processors/tabular.py`) and `bert-prepare-data` (`classifier/data_prep.py`)
read their files with it.

This module defines no task. Importing it imports neither pandas nor
TensorFlow (`read_table` imports pandas; only a remote `gs://...` path needs
TensorFlow).
"""

import csv
import io
import os
import re

from bert.errors import DataError
from bert.text_files import read_bytes as _read_bytes
from processors.base import raise_field_size_limit, separator_name

# Names --delimiter (and --label_separator) accept for a character.
DELIMITER_NAMES = {
  "\\t": "\t",
  "tab": "\t",
  "comma": ",",
  "semicolon": ";",
  "pipe": "|",
  "space": " ",
}


def parse_delimiter(value, default="\t"):
  """Returns the one-character delimiter for a flag value.

  Accepts the character itself, or "\\t", "tab", "comma", "semicolon", "pipe",
  "space". None or "" gives `default`.

  Raises:
      DataError: for anything longer than one character.
  """
  if value is None or value == "":
    return default
  value = DELIMITER_NAMES.get(value.lower() if len(value) > 1 else value, value)
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


def decode_text(data, path, encoding="utf-8"):
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


class Table:
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
  text = decode_text(_read_bytes(path), path, encoding)
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
