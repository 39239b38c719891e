"""Evaluation during training: a history file, the best checkpoint, early stopping.

With --eval_every_steps N the dev set is evaluated at every N-th optimizer
step (right after that step's checkpoint is saved). Each evaluation is logged,
written as TensorBoard scalars under `eval/` and appended to
`eval_history.tsv`. With --keep_best_checkpoint=METRIC the best state so far is
kept in `<output_dir>/best/` (a model folder of its own: the checkpoint, its
`eval_results.txt`, vocab.txt, bert_config.json, labels.json, run_config.json,
so export and serving take it as it is). With --early_stopping_patience K
training stops after K evaluations in a row without a better METRIC.

The last step is always evaluated, so the history ends with it. With early
stopping the run's model is its best evaluation, as with Hugging Face's
`load_best_model_at_end`: best/ is kept (by --keep_best_checkpoint's metric,
else eval_accuracy) and, when training ends, that checkpoint becomes the
newest of --output_dir, so the final eval_results.txt, the predictions, the
exports and the server all use it; the later checkpoints stay as they are.

A run killed and started again goes on where it was: the best value so far
and the count of evaluations since it are read back from the history file.
best/ is replaced (atomically) before the history row is written, so a kill
between the two only repeats that evaluation.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import shutil
from collections.abc import Callable

from bert import errors, model_folder
from bert.errors import WriteError

logger = logging.getLogger(__name__)

HISTORY_FILENAME = "eval_history.tsv"
BEST_DIRNAME = "best"
HISTORY_COLUMNS = ("global_step", "eval_accuracy", "eval_loss", "macro_f1", "loss")
# In the history but not in eval_results.txt, which keeps Google's keys.
HISTORY_ONLY = ("macro_f1",)
# Metric -> True when larger is better.
BEST_METRICS = {"eval_accuracy": True, "macro_f1": True, "eval_loss": False}
_FOLDER_FILES = (
  model_folder.VOCAB_FILENAME,
  model_folder.BERT_CONFIG_FILENAME,
  model_folder.LABELS_FILENAME,
  model_folder.RUN_CONFIG_FILENAME,
)


@dataclasses.dataclass
class Best:
  """The best evaluation so far: its step and the value of the tracked metric."""

  step: int
  value: float


def read_history(output_dir: str) -> list[dict]:
  """The rows of eval_history.tsv as dicts of numbers (empty when there is none)."""
  path = os.path.join(output_dir, HISTORY_FILENAME)
  if not os.path.isfile(path):
    return []
  with open(path, encoding="utf-8") as f:
    lines = f.read().splitlines()
  if not lines:
    return []
  header = lines[0].split("\t")
  rows = []
  for line in lines[1:]:
    values = line.split("\t")
    if len(values) == len(header):
      row = {name: float(value) for name, value in zip(header, values)}
      row["global_step"] = int(row["global_step"])
      rows.append(row)
  return rows


def _write_history(output_dir: str, rows: list[dict]) -> None:
  lines = ["\t".join(HISTORY_COLUMNS)]
  for row in rows:
    lines.append("\t".join(str(row[name]) for name in HISTORY_COLUMNS))
  with model_folder.atomic_write(os.path.join(output_dir, HISTORY_FILENAME)) as f:
    f.write("\n".join(lines) + "\n")


class TrainingEvaluator:
  """Decides, after each evaluation during training, what to keep and whether to stop.

  `evaluate()` returns the values of eval_results.txt for the current weights
  (eval_accuracy, eval_loss, loss, global_step, ...) plus macro_f1 for the
  history; `save_weights(prefix)` writes the current weights as a checkpoint.
  """

  def __init__(
    self,
    output_dir: str,
    evaluate: Callable[[], dict],
    save_weights: Callable[[str], None],
    metric: str | None = None,
    patience: int = 0,
    num_train_steps: int | None = None,
  ) -> None:
    if metric is not None and metric not in BEST_METRICS:
      raise ValueError("unknown metric %r" % metric)
    self.output_dir = output_dir
    self._evaluate = evaluate
    self._save_weights = save_weights
    # Early stopping ends on the best checkpoint, so it keeps best/ too.
    self.load_best = patience > 0
    self.keep_best = metric is not None or self.load_best
    # Early stopping alone watches eval_accuracy.
    self.metric = metric or ("eval_accuracy" if patience else None)
    self.patience = patience
    self.num_train_steps = num_train_steps
    self.history = read_history(output_dir)
    self.best = self._best_in_history()

  def _better(self, value: float, than: float) -> bool:
    return value > than if BEST_METRICS[self.metric] else value < than

  def _best_in_history(self) -> Best | None:
    """The first row with the best value of the metric (None without a metric or rows)."""
    best = None
    for row in self.history if self.metric else []:
      if best is None or self._better(row[self.metric], best.value):
        best = Best(row["global_step"], row[self.metric])
    return best

  def _evaluations_since_best(self) -> int:
    if self.best is None:
      return 0
    return sum(1 for row in self.history if row["global_step"] > self.best.step)

  def _should_stop(self) -> bool:
    if not self.patience or self._evaluations_since_best() < self.patience:
      return False
    logger.info(
      "Early stopping: %s has not improved on %.6g (step %d) in %d evaluations",
      self.metric,
      self.best.value,
      self.best.step,
      self.patience,
    )
    return True

  def _ended_at_best(self, global_step: int) -> bool:
    """Whether an earlier run ended (early stopping, or its last step evaluated) and made
    `global_step`, its best evaluation, the newest checkpoint."""
    if not self.load_best or self.best is None or self.best.step != global_step:
      return False
    later = [row["global_step"] for row in self.history if row["global_step"] > global_step]
    if not later:
      return False
    last_step_done = self.num_train_steps is not None and later[-1] >= self.num_train_steps
    return len(later) >= self.patience or last_step_done

  def __call__(self, global_step: int) -> bool:
    """Evaluates at `global_step` (unless the history has it); True means stop training."""
    self.best = self._best_in_history()
    if self._ended_at_best(global_step):
      logger.info(
        "Training ended at step %d; its best evaluation, step %d, is the newest checkpoint",
        self.history[-1]["global_step"],
        global_step,
      )
      return True
    # Evaluations of steps past the resumed checkpoint describe weights that
    # are gone; they will be made again.
    kept = [row for row in self.history if row["global_step"] <= global_step]
    if len(kept) < len(self.history):
      self.history = kept
      _write_history(self.output_dir, kept)
    self.best = self._best_in_history()
    if any(row["global_step"] == global_step for row in self.history):
      return self._should_stop()
    result = self._evaluate()
    logger.info("***** Eval at step %d *****", global_step)
    for name in HISTORY_COLUMNS[1:]:
      logger.info("  %s = %s", name, result[name])
    if self.metric:
      value = float(result[self.metric])
      if self.best is None or self._better(value, self.best.value):
        if self.keep_best:
          self._keep_best(global_step, result)
        self.best = Best(global_step, value)
    row = {name: result[name] for name in HISTORY_COLUMNS[1:]}
    row["global_step"] = global_step
    self.history.append(row)
    _write_history(self.output_dir, self.history)
    return self._should_stop()

  def finish(self, global_step: int) -> None:
    """After training, at `global_step`: evaluates it unless it was, so the history ends
    with the last step; with early stopping, makes the best checkpoint the newest."""
    self.best = self._best_in_history()
    if not any(row["global_step"] == global_step for row in self.history):
      self(global_step)
    if self.load_best and self.best is not None and self.best.step != global_step:
      self._make_best_newest()

  def _make_best_newest(self) -> None:
    """Puts best/'s checkpoint back into output_dir (when rotated away) as its newest one."""
    name = "model.ckpt-%d" % self.best.step
    prefix = os.path.join(self.output_dir, name)
    if not os.path.isfile(prefix + ".index"):
      _link_checkpoint(os.path.join(self.output_dir, BEST_DIRNAME, name), prefix)
    state_file = os.path.join(self.output_dir, model_folder.CHECKPOINT_STATE_FILENAME)
    with open(state_file, encoding="utf-8") as f:
      newest_first = [os.path.basename(p) for p in model_folder.parse_checkpoint_state(f.read())]
    older = [p for p in reversed(newest_first) if p != name]
    with model_folder.atomic_write(state_file) as f:
      f.write(model_folder.format_checkpoint_state(older + [name]))
    logger.info(
      "Early stopping: the run's model is its best evaluation, step %d (%s = %.6g); %s is now "
      "the newest checkpoint of %s, which eval, predict, export and serving use (the later "
      "checkpoints stay)",
      self.best.step,
      self.metric,
      self.best.value,
      name,
      self.output_dir,
    )

  def _keep_best(self, global_step: int, result: dict) -> None:
    """Replaces best/ with the current weights, their results and the folder's model files."""
    target = os.path.join(self.output_dir, BEST_DIRNAME)
    staging = model_folder.staging_folder(target)
    try:
      prefix = os.path.join(staging, "model.ckpt-%d" % global_step)
      saved = os.path.join(self.output_dir, os.path.basename(prefix))
      if self.load_best and os.path.isfile(saved + ".index"):
        _link_checkpoint(saved, prefix)  # With its Adam slots: training may resume from it.
      else:
        self._save_weights(prefix)
      with model_folder.atomic_write(
        os.path.join(staging, model_folder.CHECKPOINT_STATE_FILENAME)
      ) as f:
        f.write(model_folder.format_checkpoint_state([os.path.basename(prefix)]))
      with model_folder.atomic_write(os.path.join(staging, "eval_results.txt")) as f:
        for name in sorted(set(result) - set(HISTORY_ONLY)):  # The keys of the main file.
          f.write("%s = %s\n" % (name, result[name]))
      for name in _FOLDER_FILES:
        source = os.path.join(self.output_dir, name)
        if os.path.isfile(source):
          shutil.copyfile(source, os.path.join(staging, name))
      model_folder.replace_folder(staging, target)
    except BaseException:
      shutil.rmtree(staging, ignore_errors=True)
      raise
    logger.info(
      "New best %s = %s at step %d: kept in %s",
      self.metric,
      result[self.metric],
      global_step,
      target,
    )


def _link_checkpoint(source: str, target: str) -> None:
  """Hard-links (else copies) the files of checkpoint `source` as `target`, the .index last."""
  files = sorted(glob.glob(glob.escape(source) + ".*"), key=lambda path: path.endswith(".index"))
  for path in files:
    destination = target + path[len(source) :]
    temporary = "%s.tmp-%d" % (destination, os.getpid())
    try:
      try:
        os.link(path, temporary)
      except OSError:  # Another file system, or no hard links there.
        shutil.copyfile(path, temporary)
      os.replace(temporary, destination)
    except OSError as e:
      if os.path.exists(temporary):
        os.remove(temporary)
      raise WriteError(errors.cannot("write", destination, e)) from None
