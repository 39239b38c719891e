# coding=utf-8
"""SST-2 style binary sentiment, kept in the top part of a copied run_classifier.py.

Legacy shape: the file starts with the import block and the flags alias of
Google's script, and the processor uses tokenization.convert_to_unicode, a
_create_examples(lines, set_type) helper and a dummy label for the test set.
DataProcessor and InputExample are not imported: in the copied script they
were defined further up, so here they are free names. A trimmed main() with
the `processors` dict (naming Google's tasks, which this file does not define)
is left at the bottom.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import csv
import os
import modeling
import optimization
import tokenization
import tensorflow as tf

flags = tf.flags

FLAGS = flags.FLAGS


class Sst2Processor(DataProcessor):
  """Movie-review sentences, label 1 = positive, 0 = negative.

  train.tsv / dev.tsv:  sentence<TAB>label   (with a header row)
  test.tsv:             index<TAB>sentence   (with a header row, no labels)
  """

  def get_train_examples(self, data_dir):
    """See base class."""
    return self._create_examples(
        self._read_tsv(os.path.join(data_dir, "train.tsv")),
        "train")

  def get_dev_examples(self, data_dir):
    """See base class."""
    return self._create_examples(
        self._read_tsv(os.path.join(data_dir, "dev.tsv")),
        "dev")

  def get_test_examples(self, data_dir):
    """See base class."""
    return self._create_examples(
        self._read_tsv(os.path.join(data_dir, "test.tsv")),
        "test")

  def get_labels(self):
    """See base class."""
    return ["0", "1"]

  def _create_examples(self, lines, set_type):
    """One InputExample per data row; the header row is skipped."""
    examples = []
    for i, line in enumerate(lines):
      if i == 0:
        continue
      guid = "%s-%d" % (set_type, i)
      if set_type == "test":
        text_a = tokenization.convert_to_unicode(line[1])
        label = "0"
      else:
        text_a = tokenization.convert_to_unicode(line[0])
        label = tokenization.convert_to_unicode(line[1])
      examples.append(
          InputExample(guid=guid, text_a=text_a, label=label))
    return examples


def main(_):
  tf.logging.set_verbosity(tf.logging.DEBUG)

  # Left in from the copied script: Google's four tasks (defined further down
  # in that copy, not in this file) plus the new one.
  processors = {
      "cola": ColaProcessor,
      "mnli": MnliProcessor,
      "mrpc": MrpcProcessor,
      "xnli": XnliProcessor,
      "sst2": Sst2Processor,
  }

  task_name = FLAGS.task_name.lower()
  if task_name not in processors:
    raise ValueError("Task not found: %s" % (task_name))
  processor = processors[task_name]()
  tf.logging.info("labels: %s", processor.get_labels())


if __name__ == "__main__":
  flags.mark_flag_as_required("data_dir")
  flags.mark_flag_as_required("task_name")
  tf.app.run()
