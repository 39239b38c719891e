"""bert-prepare-data: clean a labelled CSV/TSV file and split it for fine-tuning.

The recipe our users ran by hand, as one deterministic command:

    bert-prepare-data --input emotions.csv --output_dir data \\
        [--text_column text --label_column label] [--strip_special]

1. Read the file with pandas, every field as a string (`--delimiter` from the
   extension: .csv -> ",", .tsv/.txt -> tab; UTF-8 with or without BOM, or
   `--encoding`). Columns by header name or 0-based index.
2. Clean: whitespace is always normalised (tabs, newlines and runs of spaces
   become one space, ends stripped, control characters and zero-width spaces
   removed) so the TSV output stays valid; `--strip_special` also removes URLs,
   @mentions and every character that is not a letter, digit, CJK character or
   common punctuation (emoji, symbols). Rows with an empty text (text_b too,
   for pairs) or label are dropped, then duplicate (text, label) rows, then
   rows repeating a text with a different label than its first occurrence
   (`--conflicts`). Blank lines are skipped, but a row with fewer fields than
   line 1 is an error naming its line, not an empty value to drop.
3. Split stratified by label with a seeded shuffle: `--test_ratio` of each
   label's rows to test, then `--val_ratio` of the rest to val, the remainder
   to train. Each split is shuffled, so files are never sorted by label.
4. Write, each file atomically (temp file + rename), header `label<TAB>text`:
   `--layout emotion` (default): fine_tuning_{train,val,test}_data.tsv for
   `--task_name=emotion`; `--layout tsv`: train.tsv, dev.tsv, test.tsv for
   `--task_name=tabular` (with a `text_b` column when `--text_b_column` is
   given).

The same input, options and seed give byte-identical files. Bad input stops with
one line `bert-prepare-data: error: <file>: ...` and exit status 1; a wrong
command line (a bad flag value, flags that do not go together) with one line
and exit status 2.
"""

import argparse
import codecs
import dataclasses
import logging
import math
import os
import re
import sys
import unicodedata

import numpy as np

from bert import errors
from bert.errors import UsageError, WriteError
from bert.model_folder import atomic_write
from processors.base import DataError
from processors.tabular import label_sort_key, parse_delimiter, read_table, sorted_labels

PROG = "bert-prepare-data"

logger = logging.getLogger(__name__)

LAYOUTS = {
  "emotion": (
    "fine_tuning_train_data.tsv",
    "fine_tuning_val_data.tsv",
    "fine_tuning_test_data.tsv",
  ),
  "tsv": ("train.tsv", "dev.tsv", "test.tsv"),
}
SPLITS = ("train", "val", "test")
EMOTION_LABELS = ("0", "1", "2", "3", "4", "5", "6")
CONFLICT_POLICIES = ("first", "drop", "keep")

_EXTENSION_DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}


# --- cleaning -------------------------------------------------------------------

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u2060\ufeff"), None)
_URL = re.compile(
  r"(?:(?:https?|ftp)://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE
)
# "@name" (and a ":" after it) but not the "@" of an e-mail address ("a@b.com").
_MENTION = re.compile(r"(?<![A-Za-z0-9._%+\-])@[\w\-]+[:：]?")
_EXTRA_KEPT = frozenset("°℃￥¥€£×÷±～")


# Control characters (category Cc) that str.split() does not treat as space.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


def normalize_whitespace(text):
  """Collapses whitespace runs (tabs and newlines too) to one space, strips
  the ends, and removes control characters and zero-width spaces."""
  text = _CONTROL.sub("", text.translate(_ZERO_WIDTH))
  return " ".join(text.split())


def _keep_char(char):
  if char.isspace() or " " <= char <= "~" or char in _EXTRA_KEPT:
    return True
  code = ord(char)
  if 0xFF01 <= code <= 0xFF5E or 0x3000 <= code <= 0x303F:  # Fullwidth, CJK punct.
    return True
  if 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF or code == 0x20E3:
    return False  # Emoji variation selectors and the keycap mark.
  return unicodedata.category(char)[0] in "LNPM"


class _SpecialTable(dict):
  """A str.translate table, filled on demand: removed characters -> None."""

  def __missing__(self, code):
    value = code if _keep_char(chr(code)) else None
    self[code] = value
    return value


_SPECIAL_TABLE = _SpecialTable()


def strip_special(text):
  """Removes URLs, @mentions, and characters other than letters, digits, CJK
  characters, punctuation, combining marks, ASCII and a few common symbols
  (so emoji and pictographs go). URLs and mentions become a space, removed
  characters nothing; whitespace is left for normalize_whitespace."""
  text = _URL.sub(" ", text)
  text = _MENTION.sub(" ", text)
  return text.translate(_SPECIAL_TABLE)


@dataclasses.dataclass
class CleanReport:
  """What cleaning did. Counts of rows, except `conflicting_texts`."""

  rows_read: int = 0
  blank_lines: int = 0
  empty_text: int = 0
  empty_label: int = 0
  duplicates: int = 0
  conflicting: int = 0
  conflicting_texts: int = 0
  whitespace_normalized: int = 0
  special_removed: int = 0
  rows_kept: int = 0

  def dropped(self):
    """(reason, count) for every drop reason, in the order applied."""
    return [
      ("empty text", self.empty_text),
      ("empty label", self.empty_label),
      ("duplicate (text, label)", self.duplicates),
      ("conflicting label", self.conflicting),
    ]


@dataclasses.dataclass(frozen=True)
class Record:
  """One row; `row` is its 0-based data row index in the input file."""

  label: str
  text: str
  text_b: str | None
  row: int | None


def load_records(table, text_column, label_column, text_b_column=None):
  """Returns the rows of a `Table` as raw `Record`s, blank lines skipped.

  Columns are names from the header row or 0-based indices (int or a string
  of digits). Raises DataError for a column that does not exist, and for a
  row with fewer fields than line 1 (naming its line): a lost delimiter or
  a line break inside a text, which cleaning must not paper over.
  """
  check_row_lengths(table)
  text_index = table.column_index(text_column, "--text_column")
  label_index = table.column_index(label_column, "--label_column")
  texts = table.column(text_index)
  labels = table.column(label_index)
  texts_b = None
  if text_b_column is not None:
    texts_b = table.column(table.column_index(text_b_column, "--text_b_column"))
  records = []
  for i, blank in enumerate(table.blank_rows()):
    if blank:
      continue
    records.append(Record(labels[i], texts[i], texts_b[i] if texts_b is not None else None, i))
  return records


def check_row_lengths(table) -> None:
  """Raises DataError naming the first data row (by file and line) that has
  fewer fields than line 1; blank lines are allowed."""
  short = table.short_rows()
  if not short:
    return
  row = short[0]
  hint = " (is a text broken across lines?)" if table.delimiter == "\t" else ""
  raise DataError(
    "expected %d %s-separated fields as in line 1, found %d%s"
    % (table.n_columns, table.separator_name(), table.field_count(row), hint),
    table.path,
    table.line_number(row),
  )


def clean_records(records, strip_special_chars=False, conflicts="first"):
  """Normalises and filters rows; returns (kept records, CleanReport).

  Steps, each counted: normalise whitespace of label, text and text_b (always);
  with `strip_special_chars` remove URLs, @mentions, emoji and other symbols
  from the texts; drop rows with an empty text (or an empty text_b, for
  pairs), then with an empty label; drop
  exact duplicates of an earlier (text, text_b, label); then, for a text seen
  earlier with another label: `conflicts="first"` drops the row (the first
  label wins), "drop" drops every row of such texts, "keep" keeps them all.
  """
  if conflicts not in CONFLICT_POLICIES:
    raise ValueError("conflicts must be one of %s" % (CONFLICT_POLICIES,))
  report = CleanReport(rows_read=len(records))
  cleaned = []
  for record in records:
    texts = [record.text] if record.text_b is None else [record.text, record.text_b]
    normalized = [normalize_whitespace(t) for t in texts]
    if normalized != texts:
      report.whitespace_normalized += 1
    if strip_special_chars:
      stripped = [normalize_whitespace(strip_special(t)) for t in normalized]
      if stripped != normalized:
        report.special_removed += 1
      normalized = stripped
    label = normalize_whitespace(record.label)
    if not all(normalized):
      report.empty_text += 1
      continue
    if not label:
      report.empty_label += 1
      continue
    cleaned.append(
      dataclasses.replace(
        record,
        label=label,
        text=normalized[0],
        text_b=normalized[1] if record.text_b is not None else None,
      )
    )

  seen = set()
  first_label = {}
  conflicted = set()
  unique = []
  for record in cleaned:
    key = (record.text, record.text_b)
    if key + (record.label,) in seen:
      report.duplicates += 1
      continue
    seen.add(key + (record.label,))
    if key in first_label and first_label[key] != record.label:
      conflicted.add(key)
      if conflicts == "first":
        report.conflicting += 1
        continue
    first_label.setdefault(key, record.label)
    unique.append(record)
  report.conflicting_texts = len(conflicted)
  if conflicts == "drop" and conflicted:
    kept = [r for r in unique if (r.text, r.text_b) not in conflicted]
    report.conflicting = len(unique) - len(kept)
    unique = kept
  report.rows_kept = len(unique)
  return unique, report


# --- splitting ------------------------------------------------------------------


def _round_half_up(x):
  return int(math.floor(x + 0.5 + 1e-9))


def stratified_split(labels, test_ratio=0.2, val_ratio=0.2, seed=42):
  """Splits row indices into train/val/test, stratified by label.

  For each label (in numeric-aware order) its rows are shuffled with one
  `numpy.random.RandomState(seed)` (whose stream NumPy keeps fixed across
  versions, so a seed gives the same split everywhere); round(n * test_ratio) go to test, then
  round(rest * val_ratio) of the rest to val, the remainder to train (rounding
  half up). A label keeps at least one row in train. Each split is then
  shuffled with the same generator, so no file is sorted by label.

  Args:
      labels: sequence of str, one per row.
      test_ratio, val_ratio: float in [0, 1).
      seed: int.

  Returns:
      (splits, warnings): splits is a dict "train"/"val"/"test" -> list of row
      indices; warnings lists one line per label too small to appear in every
      split with a non-zero ratio.
  """
  for name, ratio in (("test_ratio", test_ratio), ("val_ratio", val_ratio)):
    if not 0.0 <= ratio < 1.0:
      raise ValueError("%s must be in [0, 1), got %r" % (name, ratio))
  rng = np.random.RandomState(seed)
  by_label = {}
  for index, label in enumerate(labels):
    by_label.setdefault(label, []).append(index)
  parts = {split: [] for split in SPLITS}
  warnings = []
  for label in sorted(by_label, key=label_sort_key):
    indices = np.asarray(by_label[label], dtype=np.int64)
    shuffled = rng.permutation(indices)
    n = len(shuffled)
    n_test = min(_round_half_up(n * test_ratio), n - 1)
    rest = n - n_test
    n_val = min(_round_half_up(rest * val_ratio), rest - 1)
    counts = {"test": n_test, "val": n_val, "train": rest - n_val}
    parts["test"].append(shuffled[:n_test])
    parts["val"].append(shuffled[n_test : n_test + n_val])
    parts["train"].append(shuffled[n_test + n_val :])
    missing = [
      split
      for split, ratio in (("val", val_ratio), ("test", test_ratio))
      if ratio > 0 and counts[split] == 0
    ]
    if missing:
      warnings.append(
        "label %r has only %d row%s, too few to stratify: %d train, %d "
        "val, %d test (none in %s)"
        % (
          label,
          n,
          "" if n == 1 else "s",
          counts["train"],
          counts["val"],
          counts["test"],
          " and ".join(missing),
        )
      )
  splits = {}
  for split in SPLITS:
    joined = np.concatenate(parts[split]) if parts[split] else np.zeros(0, dtype=np.int64)
    splits[split] = [int(i) for i in rng.permutation(joined)]
  return splits, warnings


# --- writing --------------------------------------------------------------------


def _tsv_lines(records, with_text_b):
  header = "label\ttext\ttext_b\n" if with_text_b else "label\ttext\n"
  lines = [header]
  for record in records:
    fields = [record.label, record.text]
    if with_text_b:
      fields.append(record.text_b or "")
    lines.append("\t".join(fields) + "\n")
  return "".join(lines)


def write_splits(output_dir, split_records, layout="emotion", with_text_b=False):
  """Writes the three split files; returns {split: path}.

  Raises bert.errors.WriteError naming the folder or file that cannot be written.
  """
  if layout not in LAYOUTS:
    raise UsageError("layout must be one of %s" % sorted(LAYOUTS))
  try:
    os.makedirs(output_dir, exist_ok=True)
  except OSError as e:
    raise WriteError(errors.cannot("create the output folder", output_dir, e)) from None
  paths = {}
  for split, name in zip(SPLITS, LAYOUTS[layout]):
    path = os.path.join(output_dir, name)
    with atomic_write(path) as f:  # A failure is a WriteError naming `path`.
      f.write(_tsv_lines(split_records[split], with_text_b))
    paths[split] = path
  return paths


# --- the whole job --------------------------------------------------------------


@dataclasses.dataclass
class PrepareResult:
  """What `prepare` did: the cleaning report, the split, the files written."""

  report: CleanReport
  labels: list
  counts: dict  # split -> {label: count}
  paths: dict  # split -> path
  warnings: list


def default_delimiter(path):
  """ "," for .csv, tab for .tsv/.txt; raises DataError for other extensions."""
  extension = os.path.splitext(os.fspath(path))[1].lower()
  if extension in _EXTENSION_DELIMITERS:
    return _EXTENSION_DELIMITERS[extension]
  raise DataError(
    "cannot tell the delimiter from the extension %r; give "
    "--delimiter (e.g. --delimiter=, or --delimiter=tab)" % (extension or "(none)"),
    os.fspath(path),
  )


def prepare(
  input_file,
  output_dir,
  *,
  text_column=None,
  label_column=None,
  text_b_column=None,
  delimiter=None,
  has_header=True,
  encoding="utf-8",
  strip_special_chars=False,
  conflicts="first",
  test_ratio=0.2,
  val_ratio=0.2,
  seed=42,
  layout="emotion",
):
  """Reads, cleans, splits and writes; returns a `PrepareResult`.

  Columns default to "text" and "label" with a header row, and to 1 and 0
  (the recipe's `label<TAB>text`) without one.

  Raises:
      DataError: for bad input, naming the file.
      bert.errors.UsageError: for bad arguments (ratios, layout, a text_b
          column with the emotion layout); a ValueError too.
      bert.errors.WriteError: an output file cannot be written.
  """
  input_file = os.fspath(input_file)
  if layout not in LAYOUTS:
    raise UsageError("layout must be one of %s" % sorted(LAYOUTS))
  if text_b_column is not None and layout == "emotion":
    raise UsageError(
      "--text_b_column needs --layout tsv (the emotion task reads one text per example)"
    )
  for name, ratio in (("--test_ratio", test_ratio), ("--val_ratio", val_ratio)):
    if not 0.0 <= ratio < 1.0:
      raise UsageError("%s must be in [0, 1), got %r" % (name, ratio))
  if text_column is None:
    text_column = "text" if has_header else "1"
  if label_column is None:
    label_column = "label" if has_header else "0"
  delimiter = default_delimiter(input_file) if delimiter is None else parse_delimiter(delimiter)

  table = read_table(input_file, delimiter, has_header, encoding)
  records = load_records(table, text_column, label_column, text_b_column)
  blank_lines = len(table) - len(records)
  records, report = clean_records(records, strip_special_chars, conflicts)
  report.blank_lines = blank_lines
  if not records:
    raise DataError(
      "no rows left after cleaning (%d read, %s)"
      % (report.rows_read, ", ".join("%d %s" % (n, reason) for reason, n in report.dropped() if n)),
      input_file,
    )

  warnings = []
  if report.conflicting_texts:
    action = {
      "first": "kept the first label, dropped %d later row%s",
      "drop": "dropped all %d row%s of those texts",
      "keep": "kept all of them%s%s",
    }[conflicts]
    args = (report.conflicting, "" if report.conflicting == 1 else "s")
    if conflicts == "keep":
      args = ("", "")
    warnings.append(
      "%d text%s appear%s with different labels; %s"
      % (
        report.conflicting_texts,
        "" if report.conflicting_texts == 1 else "s",
        "s" if report.conflicting_texts == 1 else "",
        action % args,
      )
    )

  labels = [r.label for r in records]
  splits, split_warnings = stratified_split(labels, test_ratio, val_ratio, seed)
  warnings.extend(split_warnings)
  label_list = sorted_labels(labels)
  if layout == "emotion":
    unknown = [label for label in label_list if label not in EMOTION_LABELS]
    if unknown:
      warnings.append(
        "label%s %s %s not among the emotion task's labels 0..6; use "
        "--layout tsv and --task_name=tabular for other labels"
        % (
          "" if len(unknown) == 1 else "s",
          ", ".join(repr(x) for x in unknown[:10]),
          "is" if len(unknown) == 1 else "are",
        )
      )
  split_records = {split: [records[i] for i in indices] for split, indices in splits.items()}
  counts = {split: {label: 0 for label in label_list} for split in SPLITS}
  for split in SPLITS:
    for record in split_records[split]:
      counts[split][record.label] += 1
  paths = write_splits(output_dir, split_records, layout, with_text_b=text_b_column is not None)
  for line in warnings:
    logger.warning("%s", line)
  return PrepareResult(report, label_list, counts, paths, warnings)


def format_summary(input_file, result):
  """The summary printed by the command: rows read, drops, per-split counts."""
  report = result.report
  out = [
    "%s: read %d rows" % (input_file, report.rows_read)
    + (" (%d blank lines skipped)" % report.blank_lines if report.blank_lines else "")
  ]
  out.append("  whitespace normalised in %d rows" % report.whitespace_normalized)
  out.append("  special characters removed in %d rows" % report.special_removed)
  for reason, count in report.dropped():
    out.append("  dropped %d rows: %s" % (count, reason))
  out.append("  kept %d rows, %d labels" % (report.rows_kept, len(result.labels)))
  width = max([5] + [len(label) for label in result.labels])
  # The middle split is named as its file is: val (fine_tuning_val_data.tsv) or dev (dev.tsv).
  held_out = "dev" if os.path.basename(result.paths["val"]).startswith("dev") else "val"
  out.append("  %-*s %7s %7s %7s %7s" % (width, "label", "train", held_out, "test", "total"))
  totals = {split: 0 for split in SPLITS}
  for label in result.labels:
    row = [result.counts[split][label] for split in SPLITS]
    for split, n in zip(SPLITS, row):
      totals[split] += n
    out.append("  %-*s %7d %7d %7d %7d" % (width, label, *row, sum(row)))
  out.append(
    "  %-*s %7d %7d %7d %7d" % (width, "total", *(totals[s] for s in SPLITS), sum(totals.values()))
  )
  for split in SPLITS:
    out.append("wrote %s (%d rows)" % (result.paths[split], totals[split]))
  return "\n".join(out)


# --- command line ---------------------------------------------------------------


def _ratio(value):
  try:
    ratio = float(value)
  except ValueError:
    raise argparse.ArgumentTypeError("expected a number, got %r" % value) from None
  if not 0.0 <= ratio < 1.0:
    raise argparse.ArgumentTypeError("must be in [0, 1), got %s" % value)
  return ratio


def build_parser():
  """The `bert-prepare-data` flags; a bad command line is one line and exit status 2."""
  parser = errors.ArgumentParser(
    prog=PROG,
    description="Clean a labelled CSV/TSV file and split it (stratified, "
    "seeded) into train/val/test TSV files for run_classifier.py.",
  )
  parser.add_argument(
    "--input", required=True, metavar="FILE", help="the labelled .csv/.tsv/.txt file"
  )
  parser.add_argument(
    "--output_dir", required=True, help="folder for the split files (created if needed)"
  )
  parser.add_argument(
    "--layout",
    choices=sorted(LAYOUTS),
    default="emotion",
    help="emotion: fine_tuning_{train,val,test}_data.tsv "
    "(--task_name=emotion); tsv: train.tsv, dev.tsv, "
    "test.tsv (--task_name=tabular). Default: emotion",
  )
  parser.add_argument(
    "--text_column",
    default=None,
    help="text column: header name or 0-based index (default: 'text', or 1 with --no_header)",
  )
  parser.add_argument(
    "--label_column",
    default=None,
    help="label column: header name or 0-based index (default: 'label', or 0 with --no_header)",
  )
  parser.add_argument(
    "--text_b_column", default=None, help="second text of sentence pairs (--layout tsv only)"
  )
  parser.add_argument(
    "--delimiter",
    default=None,
    help="field delimiter (default from the extension: "
    ".csv ',', .tsv/.txt tab); also tab, comma, \\t",
  )
  parser.add_argument(
    "--no_header", action="store_true", help="the first line is data, not column names"
  )
  parser.add_argument(
    "--encoding",
    default="utf-8",
    help="input encoding (default utf-8, BOM tolerated; e.g. gb18030)",
  )
  parser.add_argument(
    "--strip_special",
    action="store_true",
    help="remove URLs, @mentions, emoji and other symbols "
    "that are not letters/digits/CJK/punctuation",
  )
  parser.add_argument(
    "--conflicts",
    choices=CONFLICT_POLICIES,
    default="first",
    help="a text with different labels: keep its first "
    "label (first, default), drop all its rows (drop), "
    "or keep every row (keep)",
  )
  parser.add_argument(
    "--test_ratio", type=_ratio, default=0.2, help="share of each label for test (default 0.2)"
  )
  parser.add_argument(
    "--val_ratio", type=_ratio, default=0.2, help="share of the rest for val/dev (default 0.2)"
  )
  parser.add_argument("--seed", type=int, default=42, help="shuffle seed (default 42)")
  return parser


def _check_flags(args: argparse.Namespace) -> None:
  """Refuses an unknown --encoding and a --delimiter of more than one character (exit 2)."""
  try:
    codecs.lookup(args.encoding)
  except LookupError:
    raise UsageError("--encoding %r is not an encoding Python knows" % args.encoding) from None
  if args.delimiter is not None:
    try:
      parse_delimiter(args.delimiter)
    except DataError as e:
      raise UsageError(e.reason) from None


def _prepare(args: argparse.Namespace) -> PrepareResult:
  """`prepare` with the command line's options (a DataError is an InputError: one line)."""
  return prepare(
    args.input,
    args.output_dir,
    text_column=args.text_column,
    label_column=args.label_column,
    text_b_column=args.text_b_column,
    delimiter=args.delimiter,
    has_header=not args.no_header,
    encoding=args.encoding,
    strip_special_chars=args.strip_special,
    conflicts=args.conflicts,
    test_ratio=args.test_ratio,
    val_ratio=args.val_ratio,
    seed=args.seed,
    layout=args.layout,
  )


def main(argv=None) -> int:
  """The `bert-prepare-data` console script; returns the exit status.

  Warnings are printed as `bert-prepare-data: warning: ...` while it runs.
  """
  args = build_parser().parse_args(argv)
  # `classifier`, or this module's own logger when it runs as __main__.
  package = logging.getLogger(logger.name.split(".")[0])
  handler = logging.StreamHandler(sys.stderr)
  handler.setFormatter(logging.Formatter(PROG + ": warning: %(message)s"))
  package.addHandler(handler)
  propagate, package.propagate = package.propagate, False
  try:
    _check_flags(args)
    result = _prepare(args)
  except errors.ProjectError as e:
    return errors.report(PROG, e)
  finally:
    package.removeHandler(handler)
    package.propagate = propagate
  print(format_summary(args.input, result))
  return 0


if __name__ == "__main__":
  sys.exit(main())
