"""The four tasks built into Google's run_classifier.py: CoLA, MNLI, MRPC and XNLI.

Files, columns, header rules, guids and dummy test labels are Google's, so data
laid out for Google's script works unchanged. Row indices `i` count from 0 at
the first line of the file (the header, where there is one).
"""

import os

from processors.base import DataProcessor, InputExample, convert_to_unicode, warn_dropped_text


class XnliProcessor(DataProcessor):
  """XNLI: the MultiNLI train set machine-translated, and the XNLI dev set.

  The language is fixed to Chinese; set `self.language` to use another one.
  There is no test set, so `get_test_examples` (--do_predict) raises
  NotImplementedError, as in Google's code.
  """

  def __init__(self):
    self.language = "zh"

  def get_train_examples(self, data_dir):
    """Reads `multinli/multinli.train.<language>.tsv`: premise, hypo, label."""
    lines = self._read_tsv(
      os.path.join(data_dir, "multinli", "multinli.train.%s.tsv" % self.language)
    )
    examples = []
    for i, line in enumerate(lines):
      if i == 0:  # Header.
        continue
      guid = "train-%d" % (i)
      text_a = convert_to_unicode(line[0])
      text_b = convert_to_unicode(line[1])
      label = convert_to_unicode(line[2])
      if label == convert_to_unicode("contradictory"):
        label = convert_to_unicode("contradiction")
      examples.append(InputExample(guid=guid, text_a=text_a, text_b=text_b, label=label))
    return examples

  def get_dev_examples(self, data_dir):
    """Reads the rows of `xnli.dev.tsv` whose language column is ours.

    The guid `dev-<i>` counts every row, including other languages' rows.
    """
    lines = self._read_tsv(os.path.join(data_dir, "xnli.dev.tsv"))
    examples = []
    for i, line in enumerate(lines):
      if i == 0:  # Header.
        continue
      guid = "dev-%d" % (i)
      language = convert_to_unicode(line[0])
      if language != convert_to_unicode(self.language):
        continue
      text_a = convert_to_unicode(line[6])
      text_b = convert_to_unicode(line[7])
      label = convert_to_unicode(line[1])
      examples.append(InputExample(guid=guid, text_a=text_a, text_b=text_b, label=label))
    return examples

  def get_labels(self):
    return ["contradiction", "entailment", "neutral"]


class MnliProcessor(DataProcessor):
  """MultiNLI (GLUE), matched dev and test sets.

  Columns: 0 is the pairID/index (used in the guid), 8 sentence1, 9 sentence2,
  and the last column gold_label. Test examples get the label "contradiction".
  """

  def get_train_examples(self, data_dir):
    return self._create_examples(self._read_tsv(os.path.join(data_dir, "train.tsv")), "train")

  def get_dev_examples(self, data_dir):
    return self._create_examples(
      self._read_tsv(os.path.join(data_dir, "dev_matched.tsv")), "dev_matched"
    )

  def get_test_examples(self, data_dir):
    return self._create_examples(self._read_tsv(os.path.join(data_dir, "test_matched.tsv")), "test")

  def get_labels(self):
    return ["contradiction", "entailment", "neutral"]

  def _create_examples(self, lines, set_type):
    """Makes examples from all rows but the header; guid `<set_type>-<id>`."""
    examples = []
    for i, line in enumerate(lines):
      if i == 0:  # Header.
        continue
      guid = "%s-%s" % (set_type, convert_to_unicode(line[0]))
      text_a = convert_to_unicode(line[8])
      text_b = convert_to_unicode(line[9])
      if set_type == "test":
        label = "contradiction"
      else:
        label = convert_to_unicode(line[-1])
      examples.append(InputExample(guid=guid, text_a=text_a, text_b=text_b, label=label))
    return examples


class MrpcProcessor(DataProcessor):
  """MRPC (GLUE): paraphrase pairs.

  Columns: 0 Quality (the label), 3 #1 String, 4 #2 String. Every file has a
  header. Test examples get the label "0".
  """

  def get_train_examples(self, data_dir):
    return self._create_examples(self._read_tsv(os.path.join(data_dir, "train.tsv")), "train")

  def get_dev_examples(self, data_dir):
    return self._create_examples(self._read_tsv(os.path.join(data_dir, "dev.tsv")), "dev")

  def get_test_examples(self, data_dir):
    return self._create_examples(self._read_tsv(os.path.join(data_dir, "test.tsv")), "test")

  def get_labels(self):
    return ["0", "1"]

  def _create_examples(self, lines, set_type):
    """Makes examples from all rows but the header; guid `<set_type>-<i>`."""
    warn_dropped_text(lines[1:], 5)
    examples = []
    for i, line in enumerate(lines):
      if i == 0:  # Header.
        continue
      guid = "%s-%s" % (set_type, i)
      text_a = convert_to_unicode(line[3])
      text_b = convert_to_unicode(line[4])
      if set_type == "test":
        label = "0"
      else:
        label = convert_to_unicode(line[0])
      examples.append(InputExample(guid=guid, text_a=text_a, text_b=text_b, label=label))
    return examples


class ColaProcessor(DataProcessor):
  """CoLA (GLUE): single sentences, acceptable ("1") or not ("0").

  Only the test file has a header. train/dev columns: 1 the label, 3 the
  sentence. test columns: 0 the index, 1 the sentence; the label is "0".
  """

  def get_train_examples(self, data_dir):
    return self._create_examples(self._read_tsv(os.path.join(data_dir, "train.tsv")), "train")

  def get_dev_examples(self, data_dir):
    return self._create_examples(self._read_tsv(os.path.join(data_dir, "dev.tsv")), "dev")

  def get_test_examples(self, data_dir):
    return self._create_examples(self._read_tsv(os.path.join(data_dir, "test.tsv")), "test")

  def get_labels(self):
    return ["0", "1"]

  def _create_examples(self, lines, set_type):
    """Makes examples; guid `<set_type>-<i>`, so test starts at `test-1`."""
    if set_type == "test":
      warn_dropped_text(lines[1:], 2)
    else:
      warn_dropped_text(lines, 4)
    examples = []
    for i, line in enumerate(lines):
      if set_type == "test" and i == 0:  # Only the test file has a header.
        continue
      guid = "%s-%s" % (set_type, i)
      if set_type == "test":
        text_a = convert_to_unicode(line[1])
        label = "0"
      else:
        text_a = convert_to_unicode(line[3])
        label = convert_to_unicode(line[1])
      examples.append(InputExample(guid=guid, text_a=text_a, text_b=None, label=label))
    return examples
