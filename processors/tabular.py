"""The tabular task: any labelled TSV/CSV file, configured by flags, not code.

    python run_classifier.py --task_name=tabular --data_dir=data \\
        --text_column=review --label_column=stars [--text_b_column=title] \\
        [--delimiter=,] [--has_header=false] \\
        [--multi_label --label_separator=,] \\
        [--train_file=train.tsv --dev_file=dev.tsv --test_file=test.tsv] ...

run_classifier.py passes those flags to `TabularProcessor.configure`. The files
are read by `processors/table.py` (pandas, every field a string), which
`bert-prepare-data` (`classifier/data_prep.py`) shares; its `read_table`,
`Table`, `parse_delimiter`, `quoting_for`, `label_sort_key` and `sorted_labels`
can be imported from here too.

Importing this module imports neither pandas nor TensorFlow: pandas comes
with the first file read, TensorFlow only for a remote `gs://...` path.
"""

import os

from bert import model_folder
from bert.errors import DataError
from bert.text_files import read_bytes as _read_bytes
from processors.base import DataProcessor, InputExample
from processors.table import (
  DELIMITER_NAMES,
  Table,
  decode_text,
  label_sort_key,
  parse_delimiter,
  quoting_for,
  read_table,
  sorted_labels,
)

__all__ = [
  "DEFAULT_DEV_FILE",
  "DEFAULT_LABEL_COLUMN",
  "DEFAULT_LABEL_SEPARATOR",
  "DEFAULT_TEST_FILE",
  "DEFAULT_TEXT_COLUMN",
  "DEFAULT_TRAIN_FILE",
  "OPTION_KEYS",
  "Table",
  "TabularProcessor",
  "label_sort_key",
  "parse_delimiter",
  "quoting_for",
  "read_table",
  "sorted_labels",
]

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

_TRUE_WORDS = ("true", "1", "yes")
_FALSE_WORDS = ("false", "0", "no")

_FLAGS_HELP = (
  "give run_classifier.py --text_column and --label_column (column names "
  "from the header row, or 0-based indices with --has_header=false), and "
  "optionally --text_b_column, --delimiter (default tab; ',' for CSV), "
  "--has_header, --train_file, --dev_file, --test_file"
)


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
  return DELIMITER_NAMES.get(value.lower(), value)


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
    return model_folder.parse_labels(decode_text(_read_bytes(path), path), path)
  except model_folder.LabelsError as e:
    raise DataError(str(e)) from None  # The message names the file.
