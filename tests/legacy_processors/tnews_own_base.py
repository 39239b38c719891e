# -*- coding: utf-8 -*-
"""TNEWS-style short news titles, one JSON object per line (CLUE layout).

Legacy shape: the file carries its own copies of Google's InputExample and
DataProcessor (the base class extended with the _read_tsv(delimiter=...),
_read_txt and _read_json readers that the CLUE baselines added) and its own
six-based convert_to_unicode. Labels are the CLUE codes "100".."116" minus
"105" and "111"; the unlabeled test set gets "100".
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import csv
import json
import os

import six
import tensorflow as tf


def convert_to_unicode(text):
  """Returns text as unicode, decoding utf-8 bytes (py2 and py3)."""
  if six.PY3:
    if isinstance(text, str):
      return text
    elif isinstance(text, bytes):
      return text.decode("utf-8", errors="ignore")
    else:
      raise ValueError("cannot make text of a %s" % type(text).__name__)
  elif six.PY2:
    if isinstance(text, str):
      return text.decode("utf-8", errors="ignore")
    elif isinstance(text, unicode):  # noqa: F821 (python 2 only)
      return text
    else:
      raise ValueError("cannot make text of a %s" % type(text).__name__)
  else:
    raise ValueError("unknown Python version")


class InputExample(object):
  """One example: guid, text_a, optional text_b, label."""

  def __init__(self, guid, text_a, text_b=None, label=None):
    self.guid = guid
    self.text_a = text_a
    self.text_b = text_b
    self.label = label


class DataProcessor(object):
  """Base class for the data converters (with the CLUE readers)."""

  def get_train_examples(self, data_dir):
    raise NotImplementedError()

  def get_dev_examples(self, data_dir):
    raise NotImplementedError()

  def get_test_examples(self, data_dir):
    raise NotImplementedError()

  def get_labels(self):
    raise NotImplementedError()

  @classmethod
  def _read_tsv(cls, input_file, delimiter="\t", quotechar=None):
    with tf.gfile.Open(input_file, mode="r") as f:
      reader = csv.reader(f, delimiter=delimiter, quotechar=quotechar)
      lines = []
      for line in reader:
        lines.append(line)
      return lines

  @classmethod
  def _read_txt(cls, input_file):
    with tf.gfile.Open(input_file, mode="r") as f:
      lines = []
      for line in f.readlines():
        lines.append(line.strip().split("_!_"))
      return lines

  @classmethod
  def _read_json(cls, input_file):
    with tf.gfile.Open(input_file, mode="r") as f:
      lines = []
      for line in f.readlines():
        lines.append(json.loads(line.strip()))
      return lines


class TnewsProcessor(DataProcessor):
  """train.json / dev.json / test.json; test rows have an "id" and no label."""

  def get_train_examples(self, data_dir):
    return self._create_examples(
        self._read_json(os.path.join(data_dir, "train.json")), "train")

  def get_dev_examples(self, data_dir):
    return self._create_examples(
        self._read_json(os.path.join(data_dir, "dev.json")), "dev")

  def get_test_examples(self, data_dir):
    return self._create_examples(
        self._read_json(os.path.join(data_dir, "test.json")), "test")

  def get_labels(self):
    labels = []
    for i in range(17):
      if i == 5 or i == 11:
        continue
      labels.append(str(100 + i))
    return labels

  # Written as a classmethod whose first argument is still called `self`.
  @classmethod
  def _create_examples(self, lines, set_type):
    examples = []
    for i, line in enumerate(lines):
      guid = "%s-%d" % (set_type, i)
      text_a = convert_to_unicode(line['sentence'])
      if set_type == 'test':
        label = "100"
      else:
        label = convert_to_unicode(line['label'])
      examples.append(
          InputExample(guid=guid, text_a=text_a, label=label))
    return examples
