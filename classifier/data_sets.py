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
from classifier.features import first_unknown_label, label_error
from classifier.run_config import RunConfig
from processors import InputExample, PaddingInputExample, labels_of
from processors.base import DataError, files_read, read_text


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


def _load(getter, data_dir) -> tuple[list, list[str]]:
  """The examples `getter` gives, and the files it read for them."""
  with files_read() as paths:
    examples = [_as_input_example(e) for e in getter(data_dir)]
  return examples, list(dict.fromkeys(paths))


def read_data_sets(config: RunConfig, processor, label_list) -> DataSets:
  """Reads the sets that --do_train/--do_eval/--do_predict ask for.

  Checks that training gives at least one step (naming the files read) and
  that every label is in the label list. An empty `label_list` is asked for
  again after reading, for processors that collect their labels from the data.

  Raises:
    DataError, InputError: one line naming the file or the problem.
  """
  data_dir, training = config.data.data_dir, config.training
  sets = DataSets(label_list=list(label_list))
  paths = {}
  if training.do_train:
    sets.train, paths["train"] = _load(processor.get_train_examples, data_dir)
    checks.check_training_steps(len(sets.train), training, ", ".join(paths["train"]) or data_dir)
  if config.evaluation.do_eval or training.evaluates:
    sets.dev, paths["dev"] = _load(processor.get_dev_examples, data_dir)
  if config.prediction.do_predict:
    sets.test, paths["test"] = _load(processor.get_test_examples, data_dir)
  if not sets.label_list:
    sets.label_list = list(labels_of(processor, data_dir))
  if not sets.label_list:
    raise InputError("get_labels() of task %s returned no labels" % config.data.task_name)
  sets.multi_label = is_multi_label(config.data.multi_label, [sets.train, sets.dev])
  for what, examples in [("train", sets.train), ("dev", sets.dev), ("test", sets.test)]:
    if examples is not None:
      check_labels(examples, sets.label_list, sets.multi_label, what, paths[what])
  return sets


def check_labels(examples, label_list, multi_label: bool, what: str, paths: list[str]) -> None:
  """Every label must be in `label_list`.

  Raises:
    DataError: for the first example with another label, naming the file and
      line it came from (found in `paths`, the files read for the set), else
      the set and its files.
  """
  found = first_unknown_label(examples, label_list, multi_label)
  if found is None:
    return
  example, label = found
  reason = label_error(example, label_list).reason
  where = _source_line(paths, example, label)
  if where is not None:
    raise DataError(reason, *where)
  raise DataError("%s set (%s): %s" % (what, ", ".join(paths) or "no file read", reason))


def _source_line(paths: list[str], example, label) -> tuple[str, int] | None:
  """(file, 1-based line) of the row that gave `example` its `label`, or None when unclear.

  A processor does not say which row made an example; the row is the one
  with a field equal to the label that also holds the example's text, or
  else the only row with such a field.
  """
  label = str(label).strip()
  rows = []
  for path in paths:
    try:
      lines = read_text(path).splitlines()
    except InputError:
      continue
    for number, line in enumerate(lines, start=1):
      fields = [field.strip().strip('"') for field in line.replace(",", "\t").split("\t")]
      if label in fields:
        rows.append((path, number, line))
  text = str(getattr(example, "text_a", "") or "").strip()
  with_text = [(path, number) for path, number, line in rows if text and text in line]
  if with_text:
    return with_text[0]
  return rows[0][:2] if len(rows) == 1 else None


def is_multi_label(requested: bool, example_sets) -> bool:
  """`requested` (--multi_label, also taken from a trained --output_dir), or list labels in
  the data."""
  if requested:
    return True
  return any(
    isinstance(getattr(example, "label", None), (list, tuple, set, frozenset))
    for examples in example_sets
    for example in examples or []
  )
