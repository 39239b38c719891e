# -*- coding: utf-8 -*-
"""IMDB-style movie reviews, as in the "BERT on TF Hub" notebook era.

Legacy shape: code written against the `bert-tensorflow` pip package
(`import bert`, `from bert import run_classifier`), with examples built by
`DataFrame.apply` calling `run_classifier.InputExample(guid=None, ...)`, and
integer labels (0 = negative, 1 = positive) straight from the CSV column.
"""

import os

import pandas as pd
import tensorflow as tf

import bert
from bert import run_classifier
from bert import tokenization

DATA_COLUMN = "sentence"
LABEL_COLUMN = "polarity"
# label_list is the list of labels, i.e. 0, 1 (ints, as read from the csv)
label_list = [0, 1]


class ImdbProcessor(run_classifier.DataProcessor):
  """train.csv / dev.csv: sentence,polarity; test.csv: sentence only."""

  def _frame(self, data_dir, name):
    return pd.read_csv(os.path.join(data_dir, name))

  def get_train_examples(self, data_dir):
    train = self._frame(data_dir, "train.csv")
    return train.apply(lambda x: bert.run_classifier.InputExample(
        guid=None, text_a=x[DATA_COLUMN], text_b=None,
        label=x[LABEL_COLUMN]), axis=1)

  def get_dev_examples(self, data_dir):
    dev = self._frame(data_dir, "dev.csv")
    return dev.apply(lambda x: run_classifier.InputExample(
        guid=None, text_a=x[DATA_COLUMN], text_b=None,
        label=x[LABEL_COLUMN]), axis=1)

  def get_test_examples(self, data_dir):
    test = self._frame(data_dir, "test.csv")
    return [run_classifier.InputExample(guid=None, text_a=sentence,
                                        text_b=None, label=0)
            for sentence in test[DATA_COLUMN]]

  def get_labels(self):
    return label_list
