# -*- coding: utf-8 -*-
"""Shared data classes for the CLUE-style processors in this folder.

Not a task: a helper module that a processor file imports as a sibling
(`from classifier_utils import ...`), the way the CLUE baselines split their
run_classifier.py. It defines no *Processor task class of its own.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import csv
import json

import six
import tensorflow as tf


def convert_to_unicode(text):
  """Text as unicode; utf-8 bytes are decoded, bad bytes dropped."""
  if six.PY3:
    if isinstance(text, str):
      return text
    if isinstance(text, bytes):
      return text.decode("utf-8", errors="ignore")
    raise ValueError("cannot make text of a %s" % type(text).__name__)
  if isinstance(text, str):
    return text.decode("utf-8", errors="ignore")
  return text


class InputExample(object):
  """guid, text_a, text_b (pair tasks) and label of one example."""

  def __init__(self, guid, text_a, text_b=None, label=None):
    self.guid = guid
    self.text_a = text_a
    self.text_b = text_b
    self.label = label


class PaddingInputExample(object):
  """Placeholder used to fill the last TPU batch."""


class DataProcessor(object):
  """Base class of the data converters, with the extra CLUE readers."""

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
      return [line for line in csv.reader(f, delimiter=delimiter,
                                          quotechar=quotechar)]

  @classmethod
  def _read_json(cls, input_file):
    with tf.gfile.Open(input_file, mode="r") as f:
      return [json.loads(line.strip()) for line in f.readlines()
              if line.strip()]
