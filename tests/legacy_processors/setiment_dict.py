# coding=utf-8
"""Phone-review sentiment (-1 negative, 0 neutral, 1 positive), label<TAB>text.

Legacy shape: a second script next to run_classifier.py (a model exporter)
that takes flags, FLAGS, InputExample and DataProcessor from run_classifier,
adds a flag of its own, names its class MyProcessor and registers it in a
`processors` dict under the (misspelt) task name "setiment". The example
builder is `create_examples` (no underscore) with an extra keyword argument.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import os

import tensorflow as tf

import tokenization
from run_classifier import flags, FLAGS, InputExample, DataProcessor

flags.DEFINE_string(
    "model_dir", None,
    "Directory of the fine-tuned checkpoint to export (export script only).")


class MyProcessor(DataProcessor):

    def get_test_examples(self, data_dir):
        return self.create_examples(
            self._read_tsv(os.path.join(data_dir, "test.tsv")),
        "test")

    def get_train_examples(self, data_dir):
        """See base class."""
        return self.create_examples(
            self._read_tsv(os.path.join(data_dir, "train.tsv")),
        "train")

    def get_dev_examples(self, data_dir):
        """See base class."""
        return self.create_examples(
            self._read_tsv(os.path.join(data_dir, "dev.tsv")),
        "dev")

    def get_pred_examples(self, data_dir):
        return self.create_examples(
            self._read_tsv(os.path.join(data_dir, "pred.tsv")),
        "pred")

    def get_labels(self):
        """See base class."""
        return ["-1", "0", "1"]

    def create_examples(self, lines, set_type, file_base=True):
        """Rows are label<TAB>text; with file_base the header row is skipped."""
        examples = []
        for i, line in enumerate(lines):
            if file_base:
                if i == 0:
                    continue
            guid = "%s-%d" % (set_type, i)
            text = tokenization.convert_to_unicode(line[1])
            if set_type == "test" or set_type == "pred":
                label = "0"
            else:
                label = tokenization.convert_to_unicode(line[0])
            examples.append(
                InputExample(guid=guid, text_a=text, label=label))
        return examples


processors = {
    "setiment": MyProcessor,
}
