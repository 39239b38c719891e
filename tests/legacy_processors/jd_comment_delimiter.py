# -*- coding: utf-8 -*-
"""JD product comments, star rating "1".."5" from title + body (CSV, header).

Legacy shape: written for a fork whose base-class reader is
`_read_tsv(cls, input_file, delimiter="\\t", quotechar=None)`; the processor
calls it with a comma delimiter and a double-quote quotechar, both
positionally and by keyword. Bad rows are printed and skipped.
"""

import os

import tokenization
from run_classifier import DataProcessor, InputExample


class JdCommentProcessor(DataProcessor):
  """jd_train.csv / jd_dev.csv / jd_test.csv: label,title,content."""

  def __init__(self):
    self.language = "zh"

  def get_train_examples(self, data_dir):
    return self._create_examples(
        self._read_tsv(os.path.join(data_dir, "jd_train.csv"), ",", "\""),
        "train")

  def get_dev_examples(self, data_dir):
    return self._create_examples(
        self._read_tsv(os.path.join(data_dir, "jd_dev.csv"), delimiter=",",
                       quotechar="\""), "dev")

  def get_test_examples(self, data_dir):
    return self._create_examples(
        self._read_tsv(os.path.join(data_dir, "jd_test.csv"), ",", "\""),
        "test")

  def get_labels(self):
    return ["1", "2", "3", "4", "5"]

  def _create_examples(self, lines, set_type):
    examples = []
    print("length of lines:", len(lines))
    for i, line in enumerate(lines):
      if i == 0:
        continue
      guid = "%s-%d" % (set_type, i)
      try:
        label = tokenization.convert_to_unicode(line[0])
        text_a = tokenization.convert_to_unicode(line[1])
        text_b = tokenization.convert_to_unicode(line[2])
        if set_type == "test":
          label = "1"
        examples.append(
            InputExample(guid=guid, text_a=text_a, label=label, text_b=text_b))
      except Exception:
        print('###error.i:', i, line)
    return examples
