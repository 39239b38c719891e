# coding=utf-8
"""Chinese news categories, label<TAB>text, labels discovered while reading.

Legacy shape (tutorial style, bert-tensorflow package): the class derives
from `bert.run_classifier.DataProcessor`, starts with an empty label set in
__init__, adds every label it meets in _create_examples, and get_labels
returns list(self.labels) -- so the label list is only filled once the train
(or dev) examples have been read, and its order is that of a Python set.
There is no get_test_examples: the notebook only trained and evaluated.
"""

import os

import bert
from bert import run_classifier
from bert import tokenization


class NewsProcessor(bert.run_classifier.DataProcessor):
  """cnews_train.tsv for training, cnews_test.tsv for evaluation."""

  def __init__(self):
    self.labels = set()

  def get_train_examples(self, data_dir):
    """See base class."""
    return self._create_examples(
        self._read_tsv(os.path.join(data_dir, "cnews_train.tsv")), "train")

  def get_dev_examples(self, data_dir):
    """See base class."""
    return self._create_examples(
        self._read_tsv(os.path.join(data_dir, "cnews_test.tsv")), "dev")

  def get_labels(self):
    """See base class."""
    return list(self.labels)

  def _create_examples(self, lines, set_type):
    examples = []
    for i, line in enumerate(lines):
      guid = "%s-%d" % (set_type, i)
      label = tokenization.convert_to_unicode(line[0])
      text_a = tokenization.convert_to_unicode(line[1])
      self.labels.add(label)
      examples.append(bert.run_classifier.InputExample(
          guid=guid, text_a=text_a, text_b=None, label=label))
    return examples
