#!/usr/bin/env python
# -- coding: utf-8 --
"""Toutiao news titles in the `_!_` layout (id_!_code_!_name_!_title_!_keywords).

Legacy shape: a processor module next to run_classifier.py that imports the
base classes from it, keeps its label list in __init__, and calls a
`_read_txt` reader it expects the base class to have (the CLUE fork's
reader, which splits each stripped line on "_!_").
"""

import os
import sys

import tokenization
from run_classifier import DataProcessor, InputExample


class MyTaskProcessor(DataProcessor):
    """toutiao_category_{train,dev,test}.txt; the label is the category name."""

    def __init__(self):
        self.labels = [
            "news_story",
            "news_culture",
            "news_entertainment",
            "news_sports",
            "news_finance",
            "news_house",
            "news_car",
            "news_edu",
            "news_tech",
            "news_military",
            "news_travel",
            "news_world",
            "stock",
            "news_agriculture",
            "news_game",
        ]

    def get_train_examples(self, data_dir):
        return self._create_examples(
            self._read_txt(os.path.join(data_dir, "toutiao_category_train.txt")),
            "train")

    def get_dev_examples(self, data_dir):
        return self._create_examples(
            self._read_txt(os.path.join(data_dir, "toutiao_category_dev.txt")),
            "dev")

    def get_test_examples(self, data_dir):
        return self._create_examples(
            self._read_txt(os.path.join(data_dir, "toutiao_category_test.txt")),
            "test")

    def get_labels(self):
        return self.labels

    def _create_examples(self, lines, set_type):
        examples = []
        for i, line in enumerate(lines):
            guid = "%s-%d" % (set_type, i)
            text_a = tokenization.convert_to_unicode(line[3])
            label = tokenization.convert_to_unicode(line[2])
            examples.append(InputExample(guid=guid, text_a=text_a, text_b=None,
                                         label=label))
        return examples
