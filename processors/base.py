"""Data processors: the base class and the data classes of Google's run_classifier.py.

A task is a `DataProcessor` subclass that turns the files in `--data_dir` into
`InputExample`s. `run_classifier.py` converts the examples into `InputFeatures`
and pads eval/predict sets with `PaddingInputExample`s on TPU.

This module imports neither TensorFlow nor the tokenizer, so listing and
building processors is cheap. TensorFlow is imported only when `_read_tsv` is
given a remote path such as `gs://bucket/train.tsv`.
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import io
import json
import logging
import os
import sys
from collections.abc import Iterable
from typing import Any

from bert.errors import DataError as DataError
from bert.text_files import files_read as files_read
from bert.text_files import read_text

_logger = logging.getLogger(__name__)


class TsvRow(list):
  """One row of a TSV file: a `list[str]` that knows where it came from.

  It compares, iterates, slices and prints exactly like a list of str. The one
  difference is out-of-range indexing: `row[3]` on a row with two columns
  raises `DataError` ("<file>:<line>: expected at least 4 tab-separated
  columns, found 2") instead of a bare `IndexError`. `DataError` is a
  `ValueError`, not an `IndexError`.

  Attributes:
      input_file: str. The file the row was read from.
      line_number: int. The 1-based line number of the row in the file
          (the header is line 1).
  """

  __slots__ = ("input_file", "line_number", "separator")

  def __init__(
    self,
    fields: Iterable[str] = (),
    input_file: str = "<unknown>",
    line_number: int = 0,
    separator: str = "tab",
  ) -> None:
    super().__init__(fields)
    self.input_file = input_file
    self.line_number = line_number
    self.separator = separator

  def __getitem__(self, index):
    try:
      return super().__getitem__(index)
    except IndexError:
      needed = index + 1 if index >= 0 else -index
      raise self.error(
        "expected at least %d %s-separated column%s, found %d"
        % (needed, self.separator, "" if needed == 1 else "s", len(self))
      ) from None

  def error(self, reason: str) -> DataError:
    """Returns a `DataError` located at this row, for processors to raise."""
    return DataError(reason, self.input_file, self.line_number)

  def __reduce__(self):
    return (type(self), (list(self), self.input_file, self.line_number, self.separator))


def convert_to_unicode(text: str | bytes) -> str:
  """`text` as str: bytes are taken as UTF-8 (undecodable bytes skipped), str passes through.

  The same contract as `bert.tokenization.convert_to_unicode`, repeated here so that
  processors load without TensorFlow. `_read_tsv` rows are str already.
  """
  if isinstance(text, bytes):
    return str(text, encoding="utf-8", errors="ignore")
  if isinstance(text, str):
    return text
  raise ValueError("Unsupported string type: %s" % type(text))


def raise_field_size_limit() -> int:
  """Raises csv's field size limit as high as the platform allows.

  Returns:
      The previous limit, to restore afterwards.
  """
  limit = sys.maxsize
  while True:
    try:
      return csv.field_size_limit(limit)
    except OverflowError:  # C long is 32 bits on Windows.
      limit //= 2


@dataclasses.dataclass(eq=False)
class InputExample:
  """What a processor hands over for one example: its text(s) and label, untokenized.

  Attributes:
      guid: str. Names the example in logs and errors; unique within its set,
          e.g. "dev-12".
      text_a: str. The only text of a single-sentence task, the first of a pair.
      text_b: (Optional) str. The second text of a pair task. Leave it None (an
          empty string works too) when there is one text.
      label: (Optional) str. One of `get_labels()`. Test sets have no gold
          label, so their processors fill in any valid one.
  """

  guid: str
  text_a: str
  text_b: str | None = None
  label: str | None = None


class PaddingInputExample:
  """Filler that rounds an eval or predict set up to a multiple of the batch size.

  Only run_classifier.py's TPU path appends these, because every TPU batch has
  one fixed size. Each turns into all-zero features marked
  `is_real_example=False`: metrics give it weight 0 and its prediction is not
  written. It is a class of its own so that no real example, and no `None`
  from a bug, can pass for padding.
  """


@dataclasses.dataclass(eq=False, repr=False)
class InputFeatures:
  """One example as the model takes it in: three id lists, each max_seq_length long, and a label.

  Attributes:
      input_ids: list of int. WordPiece ids of [CLS] text_a [SEP] (text_b [SEP]),
          then zeros.
      input_mask: list of int. 1 over the tokens, 0 over the zero padding.
      segment_ids: list of int. 0 up to the first [SEP], 1 over text_b and its
          [SEP], 0 again in the padding.
      label_id: int. Position of the label in `get_labels()`.
      is_real_example: bool. False only for a `PaddingInputExample`'s features.
  """

  input_ids: list[int]
  input_mask: list[int]
  segment_ids: list[int]
  label_id: int
  is_real_example: bool = True


class DataProcessor:
  """Base class of the tasks: reads a data set into `InputExample`s.

  To add a task, put a `.py` file with a subclass into the `processors/` folder
  (or a folder given by `--processors_dir` or `BERT_PROCESSORS_PATH`):

      import os
      from processors import DataProcessor, InputExample

      class EmotionProcessor(DataProcessor):   # task name "emotion"
          def get_train_examples(self, data_dir): ...
          def get_dev_examples(self, data_dir): ...
          def get_test_examples(self, data_dir): ...
          def get_labels(self): return ["0", "1"]

  The task name is the class attribute `task_name = "..."` (a string literal in
  the class body) if there is one, otherwise the class name without a trailing
  `Processor`, lower-cased. See `processors.available_tasks`.

  Every label of a train/dev example must be in `get_labels()`, and test
  examples need a dummy label from that list (run_classifier.py converts test
  labels too).
  """

  def get_train_examples(self, data_dir: str) -> list[InputExample]:
    """Returns the list of `InputExample`s of the train set."""
    raise NotImplementedError("%s does not implement get_train_examples" % type(self).__name__)

  def get_dev_examples(self, data_dir: str) -> list[InputExample]:
    """Returns the list of `InputExample`s of the dev (eval) set."""
    raise NotImplementedError("%s does not implement get_dev_examples" % type(self).__name__)

  def get_test_examples(self, data_dir: str) -> list[InputExample]:
    """Returns the list of `InputExample`s to predict."""
    raise NotImplementedError("%s does not implement get_test_examples" % type(self).__name__)

  def get_labels(self) -> list[str]:
    """Returns the list of label strings; its order fixes the label ids."""
    raise NotImplementedError("%s does not implement get_labels" % type(self).__name__)

  @classmethod
  def _read_tsv(
    cls, input_file: str | os.PathLike, quotechar: str | None = None, delimiter: str = "\t"
  ) -> list[TsvRow]:
    """Reads a tab-separated file into a list of rows.

    As in Google's code, this is `csv.reader(f, delimiter="\\t",
    quotechar=quotechar)`: with `quotechar=None` quote characters are ordinary
    text (QUOTE_NONE), so `a<TAB>"b<TAB>c"<TAB>d` gives `['a', '"b', 'c"', 'd']`.
    A blank line gives an empty row. `delimiter` is the extra argument that
    popular forks added (`self._read_tsv(path, delimiter=",")`). The CLUE
    fork put it first, `_read_tsv(input_file, delimiter, quotechar)`, and
    its users pass both by position: a positional second argument that is
    not a quote character (`"` or `'`) is read as the delimiter, and the
    third as the quotechar. Differences from Google's code, all for bad
    data:

    * The file is read as UTF-8 on every platform. A leading UTF-8 BOM is
      dropped (Google's users got `KeyError: '\\ufeff2'`), and CRLF or CR
      line endings are read as LF, so no stray `\\r` ends the last field.
    * Fields longer than csv's default 131072-character limit are allowed.
    * Bad input raises `DataError` with a one-line message naming the file:
      a missing file ("file not found"), an empty file ("file is empty"),
      bytes that are not UTF-8, or a row csv rejects (these two with the
      line number).
    * The rows are `TsvRow`s, lists of str whose out-of-range indexing
      (`line[3]` on a two-column row) raises `DataError`
      "<file>:<line>: expected at least 4 tab-separated columns, found 2".

    Remote paths (`gs://...`) are read with TensorFlow's gfile.

    Args:
        input_file: str or path. The file to read.
        quotechar: (Optional) str. A one-character quote for csv, or None.
        delimiter: (Optional) str. The one-character field separator.

    Returns:
        A list of `TsvRow`, one per line (per record when quotechar is used).

    Raises:
        DataError: if the file is missing, empty, not UTF-8 or malformed.
    """
    if quotechar not in (None, '"', "'"):  # CLUE's (delimiter, quotechar).
      quotechar, delimiter = (delimiter if delimiter != "\t" else None, quotechar)
    return _read_delimited(input_file, delimiter, quotechar)

  @classmethod
  def _read_csv(
    cls, input_file: str | os.PathLike, quotechar: str | None = '"', delimiter: str = ","
  ) -> list[TsvRow]:
    """Reads a comma-separated file into a list of `TsvRow`s.

    The reader some forks added beside `_read_tsv`. Standard CSV quoting
    (`"a, b"` is one field) unless `quotechar=None`; otherwise the same
    rules and errors as `_read_tsv`. The header, if any, is the first row.
    """
    return _read_delimited(input_file, delimiter, quotechar)

  @classmethod
  def _read_txt(cls, input_file: str | os.PathLike, separator: str = "_!_") -> list[TsvRow]:
    """Reads a text file into rows: each line stripped, then split on
    `separator`, as the CLUE fork's base class did for its `_!_`-separated
    news files (a line without it is a one-field row). The rows are
    `TsvRow`s, so a missing field is a `DataError` with the line number.
    """
    input_file = os.fspath(input_file)
    text = read_text(input_file)
    if not text:
      raise DataError("file is empty", input_file)
    return [
      TsvRow(line.strip().split(separator), input_file, number, repr(separator))
      for number, line in enumerate(text.split("\n")[:-1], 1)
    ]

  @classmethod
  def _read_json(cls, input_file: str | os.PathLike) -> list[Any]:
    """Reads a JSON-lines file (one object per line, as CLUE's data) into
    a list of the decoded objects. Blank lines are skipped; a line that is
    not JSON raises `DataError` naming the file and line."""
    records = []
    for number, line in enumerate(read_text(input_file).split("\n"), 1):
      if not line.strip():
        continue
      try:
        records.append(json.loads(line))
      except ValueError as e:
        raise DataError(
          "not a JSON object per line: %s" % e, os.fspath(input_file), number
        ) from None
    if not records:
      raise DataError("file is empty", os.fspath(input_file))
    return records


_SEPARATOR_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe", " ": "space"}


def separator_name(delimiter: str) -> str:
  """ "tab", "comma", ... for messages ("expected 3 tab-separated ..."), or
  the quoted character."""
  return _SEPARATOR_NAMES.get(delimiter, repr(delimiter))


def _read_delimited(
  input_file: str | os.PathLike, delimiter: str, quotechar: str | None
) -> list[TsvRow]:
  """csv.reader over a UTF-8 file -> list of TsvRow (see `_read_tsv`)."""
  input_file = os.fspath(input_file)
  text = read_text(input_file)
  separator = separator_name(delimiter)
  old_limit = raise_field_size_limit()
  lines = []
  try:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quotechar)
    while True:
      line_number = reader.line_num + 1
      try:
        fields = next(reader)
      except StopIteration:
        break
      except csv.Error as e:
        raise DataError("cannot parse row: %s" % e, input_file, line_number) from None
      lines.append(TsvRow(fields, input_file, line_number, separator))
  finally:
    csv.field_size_limit(old_limit)
  if not lines:
    raise DataError("file is empty", input_file)
  return lines


def warn_dropped_text(rows: Iterable[list[str]], columns: int) -> int:
  """Warns once if rows have more tab-separated fields than `columns`.

  Google's processors read fixed columns, so the text after an extra tab in a
  row is dropped; we keep that behaviour but say how often it happens and
  where it first does. Returns the number of such rows.
  """
  longer = [row for row in rows if len(row) > columns]
  if longer:
    first = longer[0]
    _logger.warning(
      "%s: %d row(s) have more than %d tab-separated fields; the text "
      "after the extra tab(s) is dropped, as Google's code did (first "
      "at line %s)",
      getattr(first, "input_file", "?"),
      len(longer),
      columns,
      getattr(first, "line_number", "?"),
    )
  return len(longer)


def labels_of(processor: DataProcessor, data_dir: str | None = None) -> list[str]:
  """Calls `processor.get_labels()`, or `get_labels(data_dir)` for the
  processors that read their labels from the data and take the folder."""
  method = processor.get_labels
  try:
    parameters = inspect.signature(method).parameters.values()
  except (TypeError, ValueError):
    return method()
  required = [
    p
    for p in parameters
    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
  ]
  return method(data_dir) if required else method()
