"""The four tasks built into Google's run_classifier.py: CoLA, MNLI, MRPC and XNLI.

Each class reads the files and columns Google's did, skips the same header rows,
numbers its guids the same way and gives test rows the same placeholder label, so a
data folder prepared for Google's script needs no change. The number in a guid
counts the lines of the file from 0, the header (where there is one) included.
"""

from __future__ import annotations

import os

from processors.base import DataProcessor, InputExample, convert_to_unicode, warn_dropped_text

# A label's position in these lists is its class id, so the order is Google's.
_NLI_LABELS = ("contradiction", "entailment", "neutral")
_BINARY_LABELS = ("0", "1")


class XnliProcessor(DataProcessor):
  """XNLI: premise/hypothesis pairs in one language, three classes.

  Training reads the machine-translated MultiNLI file of `self.language`, which is
  "zh" unless changed after construction; evaluation reads that language's rows of
  the XNLI dev file. As in Google's code there is no test set, so --do_predict
  stops with NotImplementedError.
  """

  def __init__(self) -> None:
    self.language = "zh"

  def get_train_examples(self, data_dir: str) -> list[InputExample]:
    """Columns 0-2 of `multinli/multinli.train.<language>.tsv`: premise, hypothesis, label."""
    path = os.path.join(data_dir, "multinli", "multinli.train.%s.tsv" % self.language)
    rows = self._read_tsv(path)
    examples = []
    for number, row in enumerate(rows[1:], start=1):
      premise = convert_to_unicode(row[0])
      hypothesis = convert_to_unicode(row[1])
      label = convert_to_unicode(row[2])
      if label == "contradictory":  # The translations' name for the class.
        label = "contradiction"
      examples.append(
        InputExample(guid="train-%d" % number, text_a=premise, text_b=hypothesis, label=label)
      )
    return examples

  def get_dev_examples(self, data_dir: str) -> list[InputExample]:
    """The rows of `xnli.dev.tsv` in our language: column 1 the label, 6 and 7 the pair.

    Rows of other languages are skipped but still counted, so the guids `dev-<i>`
    of one language have gaps.
    """
    rows = self._read_tsv(os.path.join(data_dir, "xnli.dev.tsv"))
    examples = []
    for number, row in enumerate(rows[1:], start=1):
      if convert_to_unicode(row[0]) != convert_to_unicode(self.language):
        continue
      premise = convert_to_unicode(row[6])
      hypothesis = convert_to_unicode(row[7])
      label = convert_to_unicode(row[1])
      examples.append(
        InputExample(guid="dev-%d" % number, text_a=premise, text_b=hypothesis, label=label)
      )
    return examples

  def get_labels(self) -> list[str]:
    """The three NLI classes, in Google's order."""
    return list(_NLI_LABELS)


class MnliProcessor(DataProcessor):
  """MultiNLI from GLUE, evaluated on the matched dev and test files.

  Every file has a header row. Column 0 (pairID or index) goes into the guid,
  columns 8 and 9 hold sentence1 and sentence2, and the last column holds
  gold_label. Test rows get "contradiction" as a placeholder label.
  """

  def get_train_examples(self, data_dir: str) -> list[InputExample]:
    """Examples of `train.tsv`."""
    rows = self._read_tsv(os.path.join(data_dir, "train.tsv"))
    return self._create_examples(rows, "train")

  def get_dev_examples(self, data_dir: str) -> list[InputExample]:
    """Examples of `dev_matched.tsv`, guids `dev_matched-<id>`."""
    rows = self._read_tsv(os.path.join(data_dir, "dev_matched.tsv"))
    return self._create_examples(rows, "dev_matched")

  def get_test_examples(self, data_dir: str) -> list[InputExample]:
    """Examples of `test_matched.tsv`, guids `test-<id>`."""
    rows = self._read_tsv(os.path.join(data_dir, "test_matched.tsv"))
    return self._create_examples(rows, "test")

  def get_labels(self) -> list[str]:
    """The three NLI classes, in Google's order."""
    return list(_NLI_LABELS)

  def _create_examples(self, lines: list[list[str]], set_type: str) -> list[InputExample]:
    """One pair per row below the header; the guid is `<set_type>-<column 0>`."""
    examples = []
    for row in lines[1:]:
      pair_id = convert_to_unicode(row[0])
      premise = convert_to_unicode(row[8])
      hypothesis = convert_to_unicode(row[9])
      label = "contradiction" if set_type == "test" else convert_to_unicode(row[-1])
      examples.append(
        InputExample(
          guid="%s-%s" % (set_type, pair_id), text_a=premise, text_b=hypothesis, label=label
        )
      )
    return examples


class MrpcProcessor(DataProcessor):
  """MRPC from GLUE: is the second sentence a paraphrase of the first ("1") or not ("0")?

  Every file has a header row. Column 0 (Quality) is the label, columns 3 and 4
  (#1 String, #2 String) the two sentences. Test rows get the placeholder "0".
  """

  def get_train_examples(self, data_dir: str) -> list[InputExample]:
    """Examples of `train.tsv`."""
    rows = self._read_tsv(os.path.join(data_dir, "train.tsv"))
    return self._create_examples(rows, "train")

  def get_dev_examples(self, data_dir: str) -> list[InputExample]:
    """Examples of `dev.tsv`."""
    rows = self._read_tsv(os.path.join(data_dir, "dev.tsv"))
    return self._create_examples(rows, "dev")

  def get_test_examples(self, data_dir: str) -> list[InputExample]:
    """Examples of `test.tsv`."""
    rows = self._read_tsv(os.path.join(data_dir, "test.tsv"))
    return self._create_examples(rows, "test")

  def get_labels(self) -> list[str]:
    """The labels "0" and "1"."""
    return list(_BINARY_LABELS)

  def _create_examples(self, lines: list[list[str]], set_type: str) -> list[InputExample]:
    """One pair per row below the header; the guid is `<set_type>-<line index>`, from 1."""
    rows = lines[1:]
    warn_dropped_text(rows, 5)
    examples = []
    for number, row in enumerate(rows, start=1):
      first = convert_to_unicode(row[3])
      second = convert_to_unicode(row[4])
      label = "0" if set_type == "test" else convert_to_unicode(row[0])
      examples.append(
        InputExample(guid="%s-%d" % (set_type, number), text_a=first, text_b=second, label=label)
      )
    return examples


class ColaProcessor(DataProcessor):
  """CoLA from GLUE: is a single sentence grammatical ("1") or not ("0")?

  Train and dev files have no header; column 1 is the label and column 3 the
  sentence. The test file has a header; column 0 is an index and column 1 the
  sentence, and every test row gets the placeholder label "0".
  """

  def get_train_examples(self, data_dir: str) -> list[InputExample]:
    """Examples of `train.tsv`, from `train-0`."""
    rows = self._read_tsv(os.path.join(data_dir, "train.tsv"))
    return self._create_examples(rows, "train")

  def get_dev_examples(self, data_dir: str) -> list[InputExample]:
    """Examples of `dev.tsv`, from `dev-0`."""
    rows = self._read_tsv(os.path.join(data_dir, "dev.tsv"))
    return self._create_examples(rows, "dev")

  def get_test_examples(self, data_dir: str) -> list[InputExample]:
    """Examples of `test.tsv`, from `test-1` (line 0 is its header)."""
    rows = self._read_tsv(os.path.join(data_dir, "test.tsv"))
    return self._create_examples(rows, "test")

  def get_labels(self) -> list[str]:
    """The labels "0" and "1"."""
    return list(_BINARY_LABELS)

  def _create_examples(self, lines: list[list[str]], set_type: str) -> list[InputExample]:
    """One sentence per row; the guid is `<set_type>-<line index>`."""
    is_test = set_type == "test"
    start = 1 if is_test else 0  # Skip the header, which only the test file has.
    rows = lines[start:]
    warn_dropped_text(rows, 2 if is_test else 4)
    examples = []
    for number, row in enumerate(rows, start=start):
      if is_test:
        sentence, label = convert_to_unicode(row[1]), "0"
      else:
        sentence, label = convert_to_unicode(row[3]), convert_to_unicode(row[1])
      examples.append(
        InputExample(guid="%s-%d" % (set_type, number), text_a=sentence, text_b=None, label=label)
      )
    return examples
