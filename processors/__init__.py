"""Tasks for run_classifier.py: one `DataProcessor` subclass per task.

To add a task, drop a `.py` file defining a `DataProcessor` subclass into this
folder (or into a folder given by `--processors_dir` or `BERT_PROCESSORS_PATH`);
no other edit is needed:

    # processors/sentiment.py  ->  --task_name=sentiment
    import os
    from processors import DataProcessor, InputExample

    class SentimentProcessor(DataProcessor):
        def get_train_examples(self, data_dir):
            lines = self._read_tsv(os.path.join(data_dir, "train.tsv"))
            return [InputExample(guid="train-%d" % i, text_a=line[1],
                                 label=line[0])
                    for (i, line) in enumerate(lines) if i > 0]
        ...
        def get_labels(self):
            return ["0", "1"]

Built-in tasks: cola, mnli, mrpc, xnli (Google's, in `glue.py`), emotion
(`emotion.py`) and tabular (`tabular.py`: any labelled TSV/CSV file, its
columns chosen by flags). See `available_tasks`, `get_processor` and
`plugin_problems` for the discovery rules. Importing this package imports no
task module and no TensorFlow.
"""

from processors._registry import (
  ENTRY_POINT_GROUP,
  PATH_ENV_VAR,
  TaskError,
  available_tasks,
  describe_error,
  get_processor,
  load_task_class,
  plugin_location,
  plugin_problems,
)
from processors.base import (
  DataError,
  DataProcessor,
  InputExample,
  InputFeatures,
  PaddingInputExample,
  TsvRow,
  labels_of,
)

__all__ = [
  "DataError",
  "DataProcessor",
  "ENTRY_POINT_GROUP",
  "InputExample",
  "InputFeatures",
  "PATH_ENV_VAR",
  "PaddingInputExample",
  "TaskError",
  "TsvRow",
  "available_tasks",
  "describe_error",
  "get_processor",
  "labels_of",
  "load_task_class",
  "plugin_location",
  "plugin_problems",
]
