# -*- coding: utf-8 -*-
"""Sohu-style Chinese comment sentiment, one `text<SEP>label` per line.

Legacy shape: `import run_classifier` and subclassing
`run_classifier.DataProcessor`, examples built as
`run_classifier.InputExample`, files opened with codecs.open, and
`from tokenization import convert_to_unicode`.
"""

import codecs
import os

import run_classifier
from tokenization import convert_to_unicode


class SohuSentimentProcessor(run_classifier.DataProcessor):
    """sohu_train.txt / sohu_dev.txt: text<SEP>label; sohu_test.txt: text."""

    SEP = "<SEP>"

    def _read_sep_file(self, path):
        rows = []
        with codecs.open(path, "r", "utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                rows.append(line.split(self.SEP))
        return rows

    def get_train_examples(self, data_dir):
        return self._create_examples(
            self._read_sep_file(os.path.join(data_dir, "sohu_train.txt")),
            "train")

    def get_dev_examples(self, data_dir):
        return self._create_examples(
            self._read_sep_file(os.path.join(data_dir, "sohu_dev.txt")), "dev")

    def get_test_examples(self, data_dir):
        return self._create_examples(
            self._read_sep_file(os.path.join(data_dir, "sohu_test.txt")),
            "test")

    def get_labels(self):
        return [u"负面", u"中性", u"正面"]

    def _create_examples(self, lines, set_type):
        examples = []
        for (i, parts) in enumerate(lines):
            guid = "%s-%d" % (set_type, i)
            text_a = convert_to_unicode(parts[0])
            if set_type == "test":
                label = u"中性"
            else:
                label = convert_to_unicode(parts[1])
            examples.append(run_classifier.InputExample(
                guid=guid, text_a=text_a, text_b=None, label=label))
        return examples
