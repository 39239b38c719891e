"""The example sets a run needs, read and checked before TensorFlow starts.

Reading the data is where most runs fail (a missing file, a short row, an
unknown label, too few examples), so run_classifier.py does it first: such a
mistake costs a fraction of a second, and nothing has been written yet.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses

from bert.errors import InputError
from classifier import checks
from classifier.features import check_labels
from processors import InputExample, PaddingInputExample, labels_of
from processors.base import files_read


@dataclasses.dataclass
class DataSets:
  """The requested sets (None where not requested) and the label list."""

  label_list: list
  train: list | None = None
  dev: list | None = None
  test: list | None = None
  multi_label: bool = False


def _as_input_example(example):
  """Our InputExample for any object with Google's four fields (a plugin may
  bring its own copy of the class; conversion workers cannot unpickle it)."""
  if isinstance(example, (InputExample, PaddingInputExample)):
    return example
  return InputExample(
    example.guid, example.text_a, getattr(example, "text_b", None), getattr(example, "label", None)
  )


def _load(getter, data_dir) -> list:
  return [_as_input_example(e) for e in getter(data_dir)]


def read_data_sets(flags, processor, label_list) -> DataSets:
  """Reads the sets that --do_train/--do_eval/--do_predict ask for.

  Checks that training gives at least one step (naming the files read) and
  that every label is in the label list. An empty `label_list` is asked for
  again after reading, for processors that collect their labels from the data.

  Raises:
    DataError, InputError: one line naming the file or the problem.
  """
  sets = DataSets(label_list=list(label_list))
  if flags.do_train:
    with files_read() as paths:
      sets.train = _load(processor.get_train_examples, flags.data_dir)
    checks.check_training_steps(
      len(sets.train), flags, ", ".join(dict.fromkeys(paths)) or flags.data_dir
    )
  if flags.do_eval or checks.evaluates_during_training(flags):
    sets.dev = _load(processor.get_dev_examples, flags.data_dir)
  if flags.do_predict:
    sets.test = _load(processor.get_test_examples, flags.data_dir)
  if not sets.label_list:
    sets.label_list = list(labels_of(processor, flags.data_dir))
  if not sets.label_list:
    raise InputError("get_labels() of task %s returned no labels" % flags.task_name)
  sets.multi_label = is_multi_label(flags, [sets.train, sets.dev])
  for what, examples in [("train", sets.train), ("dev", sets.dev), ("test", sets.test)]:
    if examples is not None:
      check_labels(examples, sets.label_list, "%s set" % what, sets.multi_label)
  return sets


def is_multi_label(flags, example_sets) -> bool:
  """--multi_label (also taken from a trained --output_dir), or list labels in the data."""
  if flags.multi_label:
    return True
  return any(
    isinstance(getattr(example, "label", None), (list, tuple, set, frozenset))
    for examples in example_sets
    for example in examples or []
  )
