# coding=utf-8
"""Yelp review stars (yelp_review_full_csv layout: "stars","review", no header).

Legacy shape: everything comes from a star import of the pip package's
run_classifier (`from bert.run_classifier import *`): os, csv, tokenization,
DataProcessor and InputExample are used without being imported here. The
comma reader is added as a plain method (no @classmethod) whose first
parameter is still named `cls`.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

from bert.run_classifier import *
import tensorflow as tf


class YelpProcessor(DataProcessor):
  """Five classes, the star rating "1".."5"."""

  def _read_csv(cls, input_file, quotechar='"'):
    """The stock reader splits on tabs; these files are comma separated."""
    with tf.gfile.Open(input_file, mode="r") as f:
      reader = csv.reader(f, delimiter=",", quotechar=quotechar)
      lines = []
      for line in reader:
        lines.append(line)
      return lines

  def get_train_examples(self, data_dir):
    return self._create_examples(
        self._read_csv(os.path.join(data_dir, "train.csv"), ), "train")

  def get_dev_examples(self, data_dir):
    return self._create_examples(
        self._read_csv(os.path.join(data_dir, "dev.csv")), "dev")

  def get_test_examples(self, data_dir):
    return self._create_examples(
        self._read_csv(os.path.join(data_dir, "test.csv")), "test")

  def get_labels(self):
    return ["1", "2", "3", "4", "5"]

  def _create_examples(self, lines, set_type):
    examples = []
    for i, line in enumerate(lines):
      guid = "%s-%d" % (set_type, i)
      text_a = tokenization.convert_to_unicode(line[1])
      if set_type == "test":
        label = "1"
      else:
        label = tokenization.convert_to_unicode(line[0])
      examples.append(
          InputExample(guid=guid, text_a=text_a, label=label))
    return examples
