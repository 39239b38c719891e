# coding=utf-8
"""THUCNews/cnews subset (label<TAB>text lines, Chinese category names).

Legacy shape: a copy of run_classifier.py that imported BERT's modules from a
local `bert` folder, a processor with its own shuffling text reader, and the
task name given by the module-level `processors` dict ("cnews"), not by the
class name. DataProcessor and InputExample are free names here (they were
defined earlier in the copied script).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import csv
import os
import random

from bert import modeling
from bert import optimization
from bert import tokenization
import tensorflow as tf

flags = tf.flags

FLAGS = flags.FLAGS


class TextProcessor(DataProcessor):
  """cnews.train.txt / cnews.val.txt / cnews.test.txt, no header row."""

  def read_txt(self, data_dir, flag):
    with open(data_dir, 'r', encoding='utf-8') as f:
      lines = f.readlines()
    # Fixed seed so that every run sees the same order.
    random.seed(0)
    random.shuffle(lines)
    # Cap the amount of data per split (the full corpus is large).
    if flag == "train":
      lines = lines[0:5000]
    elif flag == "dev":
      lines = lines[0:500]
    elif flag == "test":
      lines = lines[0:100]
    return lines

  def get_train_examples(self, data_dir):
    return self._create_examples(
        self.read_txt(os.path.join(data_dir, "cnews.train.txt"), "train"),
        "train")

  def get_dev_examples(self, data_dir):
    return self._create_examples(
        self.read_txt(os.path.join(data_dir, "cnews.val.txt"), "dev"), "dev")

  def get_test_examples(self, data_dir):
    return self._create_examples(
        self.read_txt(os.path.join(data_dir, "cnews.test.txt"), "test"),
        "test")

  def get_labels(self):
    return ["体育", "娱乐", "家居", "房产", "教育", "时尚", "时政", "游戏",
            "科技", "财经"]

  def _create_examples(self, lines, set_type):
    examples = []
    for i, line in enumerate(lines):
      # Left over from a file that had a header: the first line is dropped.
      if i == 0:
        continue
      guid = "%s-%d" % (set_type, i)
      parts = line.strip().split("\t")
      text_a = tokenization.convert_to_unicode(parts[1])
      if set_type == "test":
        label = "体育"
      else:
        label = tokenization.convert_to_unicode(parts[0])
      examples.append(
          InputExample(guid=guid, text_a=text_a, label=label))
    return examples


processors = {
    "cnews": TextProcessor,
}
