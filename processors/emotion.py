"""The emotion task: our users' seven-class recipe, built in."""

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

  def get_train_examples(self, data_dir):
    return self._create_examples(
      self._read_tsv(os.path.join(data_dir, "fine_tuning_train_data.tsv")), "train"
    )

  def get_dev_examples(self, data_dir):
    return self._create_examples(
      self._read_tsv(os.path.join(data_dir, "fine_tuning_val_data.tsv")), "dev"
    )

  def get_test_examples(self, data_dir):
    return self._create_examples(
      self._read_tsv(os.path.join(data_dir, "fine_tuning_test_data.tsv")), "test"
    )

  def get_labels(self):
    return ["0", "1", "2", "3", "4", "5", "6"]

  def _create_examples(self, lines, set_type):
    """Makes examples from all rows but the header."""
    labels = self.get_labels()
    warn_dropped_text(lines[1:], 2)
    examples = []
    for i, line in enumerate(lines):
      if i == 0:  # Header.
        continue
      guid = "%s-%d" % (set_type, i)
      if set_type == "test":
        text_a = convert_to_unicode(line[1] if len(line) >= 2 else line[0])
        label = "0"
      else:
        text_a = convert_to_unicode(line[1])
        label = convert_to_unicode(line[0])
        if label not in labels:
          raise DataError(
            "expected a label in %s, found %r" % (", ".join(labels), label),
            getattr(line, "input_file", None),
            getattr(line, "line_number", None),
          )
      examples.append(InputExample(guid=guid, text_a=text_a, text_b=None, label=label))
    return examples
