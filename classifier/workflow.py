"""The whole run_classifier job as one function: the plan, then the TensorFlow stages.

    from classifier import RunConfig, run_workflow
    results = run_workflow(config)  # a RunConfig (see classifier.run_config)
    results["eval_results"]["eval_accuracy"]

Everything that can be checked without TensorFlow is checked first, once
(`classifier.plan.plan_run`: values, bert_config.json, vocab.txt,
--init_checkpoint, the task and all requested data), so a mistake ends in a
fraction of a second with nothing written; the engine (`classifier.pipeline`)
runs what the plan worked out. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from typing import Any

from bert import errors
from bert.errors import WriteError
from classifier.plan import RunPlan, plan_run
from classifier.run_config import RunConfig

logger = logging.getLogger(__name__)


def _has_checkpoint(folder: str) -> bool:
  return any(
    name.startswith("model.ckpt-") and name.endswith(".index") for name in os.listdir(folder)
  )


# The packages whose logs tell a run's progress.
_PROGRESS_PACKAGES = ("classifier", "bert", "processors", "onnx_bert")


@contextlib.contextmanager
def _progress_logs() -> Iterator[None]:
  """Shows the packages' INFO logs on stderr while a run goes on, as run_classifier.py does,
  unless the process has set up logging itself (then they go where it says)."""
  from bert.console import console_logging  # No TensorFlow.

  with contextlib.ExitStack() as stack:
    configured = bool(logging.getLogger().handlers)  # Levels included: the caller's choice.
    for package in () if configured else _PROGRESS_PACKAGES:
      stack.enter_context(console_logging(logging.getLogger(package)))
    yield


def run_workflow(config: RunConfig, processor: Any = None) -> dict[str, Any]:
  """Runs the stages `config` asks for and writes Google's output files.

  `processor` replaces the one the config's task_name names (any object
  with Google's DataProcessor methods). Returns {"eval_results": dict} when
  do_eval ran and {"test_results_file": path} when do_predict ran. Its
  progress is logged to stderr unless the caller has configured logging.

  Raises:
    bert.errors.ProjectError subclasses (UsageError, DataError, ...) for
    mistakes a user can fix; their message is one line.
  """
  with _progress_logs():
    return _run_plan(plan_run(config, processor))


def _run_plan(plan: RunPlan) -> dict[str, Any]:
  """Starts TensorFlow, makes --output_dir and runs the engine on `plan`."""
  from bert import machine, tf_startup

  logger.info("%s", machine.summary())  # what the speed of this run depends on
  tf_startup.import_tensorflow()
  from classifier import pipeline

  output_dir = plan.config.output_dir
  new_output_dir = not os.path.isdir(output_dir)
  try:
    os.makedirs(output_dir, exist_ok=True)
  except OSError as e:
    raise WriteError(errors.cannot("create --output_dir", output_dir, e)) from e

  try:
    return pipeline.run(plan)
  except BaseException:
    # A run that fails before its first checkpoint leaves no new folder behind.
    if new_output_dir and not _has_checkpoint(output_dir):
      shutil.rmtree(output_dir, ignore_errors=True)
    raise
