# coding=utf-8
"""weibo_senti_100k-style Chinese posts (label,review CSV), file names by flag.

Legacy shape: Google's import block and flags alias, two extra flags defined
in the plugin (--train_data_file, --dev_data_file) and read inside the
processor together with FLAGS.data_dir, tf.gfile.Exists / tf.gfile.GFile for
the files and tf.logging.info for progress.
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

from run_classifier import DataProcessor, InputExample

flags = tf.flags

FLAGS = flags.FLAGS

flags.DEFINE_string(
    "train_data_file", None,
    "CSV file with the training posts, relative to --data_dir.")

flags.DEFINE_string(
    "dev_data_file", None,
    "CSV file with the evaluation posts, relative to --data_dir.")


class WeiboSentiProcessor(DataProcessor):
  """label,review with a header row; 1 = positive, 0 = negative."""

  def _read_weibo(self, file_name, set_type):
    path = os.path.join(FLAGS.data_dir, file_name)
    if not tf.gfile.Exists(path):
      raise ValueError("No such data file: %s" % path)
    examples = []
    with tf.gfile.GFile(path, "r") as f:
      reader = csv.reader(f)
      for (i, row) in enumerate(reader):
        if i == 0:  # header
          continue
        guid = "%s-%d" % (set_type, i)
        if set_type == "test":
          text_a = tokenization.convert_to_unicode(row[0])
          label = "0"
        else:
          label = tokenization.convert_to_unicode(row[0])
          text_a = tokenization.convert_to_unicode(row[1])
        examples.append(InputExample(guid=guid, text_a=text_a, label=label))
    tf.logging.info("Read %d %s examples from %s", len(examples), set_type,
                    path)
    return examples

  def get_train_examples(self, data_dir):
    return self._read_weibo(FLAGS.train_data_file, "train")

  def get_dev_examples(self, data_dir):
    return self._read_weibo(FLAGS.dev_data_file, "dev")

  def get_test_examples(self, data_dir):
    return self._read_weibo("weibo_test.csv", "test")

  def get_labels(self):
    return ["0", "1"]
