# -*- coding: utf-8 -*-
"""AFQMC-style question pairs (ant financial), JSON lines, labels "0"/"1".

Legacy shape: the processor lives in its own file and takes the base class,
InputExample and convert_to_unicode from a sibling helper module,
classifier_utils.py, as the CLUE baselines did.
"""

import os

from classifier_utils import DataProcessor, InputExample, convert_to_unicode


class AfqmcProcessor(DataProcessor):
  """Sentence-pair task: are sentence1 and sentence2 the same question?"""

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
    return ["0", "1"]

  def _create_examples(self, lines, set_type):
    examples = []
    for i, line in enumerate(lines):
      guid = "%s-%d" % (set_type, i)
      text_a = convert_to_unicode(line['sentence1'])
      text_b = convert_to_unicode(line['sentence2'])
      label = convert_to_unicode(line['label']) if set_type != 'test' else '0'
      examples.append(
          InputExample(guid=guid, text_a=text_a, label=label, text_b=text_b))
    return examples
