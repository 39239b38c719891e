"""The emotion task: our users' seven-class recipe, built in."""

from __future__ import annotations

import os

from processors.base import (
  DataError,
  DataProcessor,
  InputExample,
  convert_to_unicode,
  warn_dropped_text,
)


class EmotionProcessor(DataProcessor):
  """Seven emotion classes, labels "0" to "6", one text per example.

  Files in `data_dir`, each with a header row that is skipped:

  * `fine_tuning_train_data.tsv` and `fine_tuning_val_data.tsv`: column 0 is
    the label, column 1 the text. guids are `train-<i>` and `dev-<i>`, with i
    the row index (the first example is `train-1`).
  * `fine_tuning_test_data.tsv`: as in the recipe, a row of one column holds
    the text. A row laid out like the train file (two or more columns: label,
    text) takes its text from column 1 instead. Either way the label is the
    dummy "0" and the guid `test-<i>`.

  A train/dev label outside "0".."6" raises `DataError` naming the file and
  line, rather than a `KeyError` later in feature conversion.
  """

  def get_train_examples(self, data_dir: str) -> list[InputExample]:
    """Examples of `fine_tuning_train_data.tsv`."""
    rows = self._read_tsv(os.path.join(data_dir, "fine_tuning_train_data.tsv"))
    return self._create_examples(rows, "train")

  def get_dev_examples(self, data_dir: str) -> list[InputExample]:
    """Examples of `fine_tuning_val_data.tsv`, guids `dev-<i>`."""
    rows = self._read_tsv(os.path.join(data_dir, "fine_tuning_val_data.tsv"))
    return self._create_examples(rows, "dev")

  def get_test_examples(self, data_dir: str) -> list[InputExample]:
    """Examples of `fine_tuning_test_data.tsv`, all labelled "0"."""
    rows = self._read_tsv(os.path.join(data_dir, "fine_tuning_test_data.tsv"))
    return self._create_examples(rows, "test")

  def get_labels(self) -> list[str]:
    """The seven classes "0" to "6"."""
    return ["0", "1", "2", "3", "4", "5", "6"]

  def _create_examples(self, lines: list[list[str]], set_type: str) -> list[InputExample]:
    """One example per row below the header; the guid is `<set_type>-<line index>`."""
    known = self.get_labels()
    rows = lines[1:]
    warn_dropped_text(rows, 2)
    examples = []
    for number, row in enumerate(rows, start=1):
      if set_type == "test":
        # The recipe's test file holds only the text; a train-style row has it in column 1.
        text = convert_to_unicode(row[1] if len(row) > 1 else row[0])
        label = "0"
      else:
        text = convert_to_unicode(row[1])
        label = convert_to_unicode(row[0])
        if label not in known:
          raise DataError(
            "expected a label in %s, found %r" % (", ".join(known), label),
            getattr(row, "input_file", None),
            getattr(row, "line_number", None),
          )
      examples.append(
        InputExample(guid="%s-%d" % (set_type, number), text_a=text, text_b=None, label=label)
      )
    return examples
