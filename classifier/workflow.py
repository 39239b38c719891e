"""The whole run_classifier job as one function: checks, data, TensorFlow stages.

    from classifier import RunConfig, run_workflow
    results = run_workflow(RunConfig(data_dir="data", task_name="emotion", ...,
                                     do_train=True, do_eval=True))
    results["eval_results"]["eval_accuracy"]

Everything that can be checked without TensorFlow is checked first (values,
bert_config.json, vocab.txt, --init_checkpoint, the task and all requested
data), so a mistake ends in a fraction of a second with nothing written.
Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from typing import Any, Iterator

import processors as processor_registry
from bert.errors import InputError, UsageError, WriteError
from classifier import cluster, folder_settings
from classifier.run_config import RunConfig
from processors.base import DataError

logger = logging.getLogger(__name__)


def _has_checkpoint(folder: str) -> bool:
  return any(
    name.startswith("model.ckpt-") and name.endswith(".index") for name in os.listdir(folder)
  )


def make_processor(config: RunConfig) -> Any:
  """The processor of `config.task_name`, configured when it takes options.

  Options the processor refuses without naming a file (a bad --delimiter or
  --label_separator) are flag values, so they are usage errors.
  """
  processor = processor_registry.get_processor(config.task_name.lower(), config.processors_dir)
  if hasattr(processor, "configure"):
    try:
      processor.configure(config.processor_options())
    except DataError as e:
      if e.input_file is not None:
        raise
      raise UsageError(str(e)) from None
  return processor


# The packages whose logs tell a run's progress.
_PROGRESS_PACKAGES = ("classifier", "bert", "processors", "export")


@contextlib.contextmanager
def _progress_logs() -> Iterator[None]:
  """Shows the packages' INFO logs on stderr while a run goes on, as run_classifier.py does,
  unless the process has set up logging itself (then they go where it says)."""
  from export import common  # The export tools' console logging; no TensorFlow.

  with contextlib.ExitStack() as stack:
    configured = bool(logging.getLogger().handlers)  # Levels included: the caller's choice.
    for package in () if configured else _PROGRESS_PACKAGES:
      stack.enter_context(common.console_logging(logging.getLogger(package)))
    yield


def run_workflow(config: RunConfig, processor: Any = None) -> dict[str, Any]:
  """Runs the stages `config` asks for and writes Google's output files.

  `processor` replaces the one `config.task_name` names (any object with
  Google's DataProcessor methods). Returns {"eval_results": dict} when
  do_eval ran and {"test_results_file": path} when do_predict ran. Its
  progress is logged to stderr unless the caller has configured logging.

  Raises:
    bert.errors.ProjectError subclasses (UsageError, DataError, ...) for
    mistakes a user can fix; their message is one line.
  """
  with _progress_logs():
    return _run_workflow(config, processor)


def _run_workflow(config: RunConfig, processor: Any) -> dict[str, Any]:
  from bert import tokenization
  from classifier import checks, data_sets

  try:
    tokenization.validate_case_matches_checkpoint(config.do_lower_case, config.init_checkpoint)
  except ValueError as e:  # Google's check, with Google's message.
    raise UsageError(str(e)) from None

  if not config.do_train and not config.do_eval and not config.do_predict:
    raise UsageError("At least one of `do_train`, `do_eval` or `do_predict' must be True.")
  if os.path.exists(config.output_dir) and not os.path.isdir(config.output_dir):
    raise InputError("--output_dir %s exists and is not a directory" % config.output_dir)
  config = folder_settings.apply_recorded_settings(config)

  model_sizes = checks.read_bert_config(config.bert_config_file)
  if config.max_seq_length > model_sizes["max_position_embeddings"]:
    raise UsageError(
      "Cannot use sequence length %d because the BERT model "
      "was only trained up to sequence length %d"
      % (config.max_seq_length, model_sizes["max_position_embeddings"])
    )
  checks.check_flag_values(config)
  cluster.check_strategy_flags(config, cluster.read_cluster())
  checks.check_init_checkpoint(config.init_checkpoint)

  if processor is None:
    processor = make_processor(config)
  label_list = processor_registry.labels_of(processor, config.data_dir)

  try:
    tokenizer = tokenization.FullTokenizer(
      vocab_file=config.vocab_file, do_lower_case=config.do_lower_case
    )
  except OSError as e:  # No such vocab file, or unreadable.
    raise InputError(str(e)) from None
  checks.check_vocab(tokenizer.vocab, config.vocab_file, model_sizes, config.bert_config_file)

  data = data_sets.read_data_sets(config, processor, label_list)
  if data.multi_label and config.class_weights:
    raise UsageError("--class_weights applies to single-label tasks; this one is multi-label")
  checks.check_multi_label_flags(config, data.multi_label)
  checks.class_weights(config, data.label_list, data.train)  # Its mistakes end here, too.

  from bert import machine, tf_startup

  logger.info("%s", machine.summary())  # what the speed of this run depends on
  tf_startup.import_tensorflow()
  from bert import modeling
  from classifier import pipeline

  bert_config = modeling.BertConfig.from_dict(model_sizes)

  new_output_dir = not os.path.isdir(config.output_dir)
  try:
    os.makedirs(config.output_dir, exist_ok=True)
  except OSError as e:
    raise WriteError("cannot create --output_dir %s: %s" % (config.output_dir, e.strerror or e))

  try:
    return pipeline.run(config, data, tokenizer, bert_config)
  except BaseException:
    # A run that fails before its first checkpoint leaves no new folder behind.
    if new_output_dir and not _has_checkpoint(config.output_dir):
      shutil.rmtree(config.output_dir, ignore_errors=True)
    raise
