# coding=utf-8
"""English feeling sentences in the `text;label` layout, labels read from data.

Legacy shape: get_labels takes data_dir and collects the label set from the
training file (list(set(...))); files are found with tf.gfile.ListDirectory by
their suffix and read with tf.gfile.GFile; tf.logging.info reports counts.
"""

import os

import tensorflow as tf

from run_classifier import DataProcessor, InputExample


class FeelingsProcessor(DataProcessor):
  """*_train.txt, *_val.txt, *_test.txt with one `sentence;label` per line."""

  def _find(self, data_dir, suffix):
    for name in tf.gfile.ListDirectory(data_dir):
      if name.endswith(suffix):
        return os.path.join(data_dir, name)
    raise ValueError("no *%s file in %s" % (suffix, data_dir))

  def _read_semicolon(self, path):
    rows = []
    with tf.gfile.GFile(path, "r") as f:
      for line in f:
        line = line.strip()
        if line:
          text, label = line.rsplit(";", 1)
          rows.append((text, label))
    tf.logging.info("%d rows in %s", len(rows), path)
    return rows

  def _create_examples(self, rows, set_type, dummy_label=None):
    examples = []
    for (i, (text, label)) in enumerate(rows):
      guid = "%s-%d" % (set_type, i)
      if dummy_label is not None:
        label = dummy_label
      examples.append(InputExample(guid=guid, text_a=text, label=label))
    return examples

  def get_train_examples(self, data_dir):
    return self._create_examples(
        self._read_semicolon(self._find(data_dir, "_train.txt")), "train")

  def get_dev_examples(self, data_dir):
    return self._create_examples(
        self._read_semicolon(self._find(data_dir, "_val.txt")), "dev")

  def get_test_examples(self, data_dir):
    return self._create_examples(
        self._read_semicolon(self._find(data_dir, "_test.txt")), "test",
        dummy_label=self.get_labels(data_dir)[0])

  def get_labels(self, data_dir):
    rows = self._read_semicolon(self._find(data_dir, "_train.txt"))
    return list(set([label for (_, label) in rows]))
