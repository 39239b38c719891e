# -*- coding: utf-8 -*-
"""LCQMC-style Chinese question matching, read with pandas.

Legacy shape: a separate file next to Google's run_classifier.py that imports
the base classes from it (`from run_classifier import DataProcessor,
InputExample`) and Google's `tokenization` module, and reads the tab-separated
files (with a header row) through pandas.
"""

import os

import pandas as pd

import tokenization
from run_classifier import DataProcessor, InputExample


class LcqmcProcessor(DataProcessor):
    """train.txt / dev.txt / test.txt: text_a<TAB>text_b<TAB>label + header."""

    def __init__(self):
        self.language = "zh"

    def _load(self, data_dir, file_name, set_type):
        file_path = os.path.join(data_dir, file_name)
        df = pd.read_csv(file_path, sep="\t", encoding="utf-8")
        examples = []
        for index, row in enumerate(df.values):
            guid = "%s-%d" % (set_type, index)
            # str(): pandas hands back numbers for the label column
            text_a = tokenization.convert_to_unicode(str(row[0]))
            text_b = tokenization.convert_to_unicode(str(row[1]))
            label = str(row[2])
            examples.append(InputExample(guid=guid, text_a=text_a,
                                         text_b=text_b, label=label))
        return examples

    def get_train_examples(self, data_dir):
        return self._load(data_dir, "train.txt", "train")

    def get_dev_examples(self, data_dir):
        return self._load(data_dir, "dev.txt", "dev")

    def get_test_examples(self, data_dir):
        return self._load(data_dir, "test.txt", "test")

    def get_labels(self):
        return ["0", "1"]
