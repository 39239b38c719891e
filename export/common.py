"""The parts every export tool needs, kept in one place.

bert-export-serving, bert-export-savedmodel, bert-export-hf, bert-export-onnx and
bert-import-hf all read a model folder, build their result in a folder beside the
target and rename it into place, and run as console scripts that print a user's
mistake as one line. This module holds those steps; each tool passes its own flag
names and error class, so every message names what that tool's user typed.

Importing it starts no TensorFlow; the checkpoint helpers import it when they are called.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import shutil
import sys
from typing import Callable, Iterator, Sequence, TypeVar

from bert import errors, model_folder
from bert.errors import WriteError

# The classifier head that run_classifier.py adds on top of the encoder.
HEAD_NAMES = ("output_weights", "output_bias")

_YES = ("1", "true", "t", "yes", "y")
_NO = ("0", "false", "f", "no", "n")

Result = TypeVar("Result")


# -- the folder a tool writes ---------------------------------------------------


def target_path(path: str) -> str:
  """The absolute form of a target folder argument, a trailing slash dropped."""
  return os.path.abspath(path.rstrip("/\\") or path)


def outermost_missing(folder: str) -> str | None:
  """The highest folder on the way down to `folder` that does not exist yet.

  That is what has to be removed to undo creating `folder`; None when it exists.
  """
  missing = None
  below = os.path.abspath(folder)
  while not os.path.exists(below):
    missing, below = below, os.path.dirname(below)
  return missing


def lies_within(path: str, folder: str) -> bool:
  """True when `path` is `folder` or inside it, links resolved."""
  inner = os.path.realpath(path)
  outer = os.path.realpath(folder)
  return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)


@dataclasses.dataclass(frozen=True)
class TargetRules:
  """When a tool may replace the folder it writes, and how its refusals read.

  Attributes:
    error: the InputError subclass a refusal raises.
    flag: the target's name in messages (`--hf_dir`, `export_dir`); "" for none.
    source_flag: the name of the folder the tool reads from.
    markers: files of which one marks an earlier result of the tool, the only
      kind of non-empty folder that --overwrite replaces; empty: any folder.
    kind: what the markers stand for in messages ("HuggingFace model"); ""
      names the markers themselves.
    busy_hint: what follows "exists and is not empty" without --overwrite.
    foreign_first: refuse a folder without markers even before --overwrite is
      asked for (otherwise that refusal waits until --overwrite is passed).
  """

  error: type[errors.InputError]
  flag: str = ""
  source_flag: str = "--output_dir"
  markers: tuple[str, ...] = ()
  kind: str = ""
  busy_hint: str = ": pass --overwrite to replace it"
  foreign_first: bool = False

  def _name(self, target: str) -> str:
    return "%s %s" % (self.flag, target) if self.flag else target

  def _holds_no_result(self, target: str) -> bool:
    if not self.markers:
      return False
    return not any(os.path.isfile(os.path.join(target, marker)) for marker in self.markers)

  def check(self, source: str | None, target: str, overwrite: bool) -> None:
    """Raises `error` when replacing `target` would lose data.

    `source` (skipped when None) must lie outside `target`; an existing
    `target` must be a real, empty folder, or one that --overwrite may replace.
    """
    name = self._name(target)
    if source is not None and lies_within(source, target):
      raise self.error(
        "%s would replace %s %s: choose another folder" % (name, self.source_flag, source)
      )
    if not os.path.lexists(target):
      return
    if os.path.islink(target):
      raise self.error("%s is a symbolic link: name the folder itself" % name)
    if not os.path.isdir(target):
      raise self.error("%s exists and is not a directory" % name)
    try:
      content = os.listdir(target)
    except OSError as e:
      raise self.error("cannot list %s: %s" % (name, e.strerror or e)) from None
    if not content:
      return
    if (overwrite or self.foreign_first) and self._holds_no_result(target):
      marked_by = " or ".join(self.markers)
      what = "%s (no %s)" % (self.kind, marked_by) if self.kind else marked_by
      advice = "--overwrite replaces only an earlier export; " if overwrite else ""
      raise self.error(
        "%s is not empty and holds no %s: %sremove it yourself" % (name, what, advice)
      )
    if not overwrite:
      raise self.error("%s exists and is not empty%s" % (name, self.busy_hint))

  def move_into_place(
    self,
    staging: str,
    source: str | None,
    target: str,
    overwrite: bool,
    failure: str = "cannot move the export into",
  ) -> bool:
    """Checks `target` once more, since the export took a while, then renames `staging` to it.

    Returns True when an earlier folder was replaced. A failed rename is a
    WriteError `<failure> <target>: <reason>`.
    """
    self.check(source, target, overwrite)
    with writing(failure, target):
      return model_folder.replace_folder(staging, target)


@contextlib.contextmanager
def writing(failure: str, target: str, *also: type[BaseException]) -> Iterator[None]:
  """Reports an OSError (or one of `also`) of the block as `<failure> <target>: <why>`.

  The error raised is a WriteError; one that already is passes through as it is.
  """
  try:
    yield
  except WriteError:
    raise
  except (OSError,) + also as e:
    why = getattr(e, "strerror", None) or errors.first_line(e)
    raise WriteError("%s %s: %s" % (failure, target, why)) from None


@contextlib.contextmanager
def staging_beside(target: str, failure: str = "cannot create a folder beside") -> Iterator[str]:
  """Yields a new empty folder beside `target` to build the export in.

  It is gone afterwards: renamed into place by the block, or removed. When the
  block fails, the folders above `target` made for it are removed as well.
  """
  made_above = outermost_missing(os.path.dirname(os.path.abspath(target)))
  staging = None
  finished = False
  try:
    with writing(failure, target):
      staging = model_folder.staging_folder(target)
    yield staging
    finished = True
  finally:
    if staging is not None and os.path.isdir(staging):
      shutil.rmtree(staging, ignore_errors=True)
    if made_above is not None and not finished:
      shutil.rmtree(made_above, ignore_errors=True)


def copy_file(source: str, target: str, error: type[errors.InputError]) -> None:
  """Copies `source` to `target` byte for byte.

  A source that cannot be read raises `error`; a target that cannot be written
  raises WriteError. Both name the file.
  """
  try:
    shutil.copyfile(source, target)
  except OSError as e:
    why = e.strerror or e
    if e.filename == source:
      raise error("cannot read %s: %s" % (source, why)) from None
    raise WriteError("cannot write %s: %s" % (target, why)) from None


# -- what the tools read ---------------------------------------------------------


def _model_file(
  folder: str, run_config: dict, filename: str, key: str, error: type[errors.InputError]
) -> str:
  own = os.path.join(folder, filename)
  if os.path.isfile(own):
    return own
  recorded = model_folder.recorded_file(folder, run_config, key)
  if recorded is None:
    raise error("no %s in %s" % (filename, folder))
  if not os.path.isfile(recorded):
    raise error(
      "no %s in %s, and the %s %s that %s records does not exist"
      % (filename, folder, key, recorded, model_folder.RUN_CONFIG_FILENAME)
    )
  return recorded


def model_files(folder: str, run_config: dict, error: type[errors.InputError]) -> tuple[str, str]:
  """(bert_config.json, vocab.txt) of a model folder.

  Each is the folder's own file, else the existing one that run_config.json
  records (`bert_config_file`, `vocab_file`); when there is neither, `error`
  is raised.
  """
  return (
    _model_file(folder, run_config, model_folder.BERT_CONFIG_FILENAME, "bert_config_file", error),
    _model_file(folder, run_config, model_folder.VOCAB_FILENAME, "vocab_file", error),
  )


def head_size(
  checkpoint: str,
  shapes: dict,
  hidden_size: int,
  error: type[errors.InputError],
  labels: Sequence[str] | None = None,
) -> int | None:
  """How many labels the checkpoint's classifier head scores; None when it has no head.

  `shapes` maps the checkpoint's variable names to their shapes. Half a head,
  shapes that do not fit `hidden_size`, or a row count other than the number
  of `labels` (when given) raise `error`.
  """
  present = [name for name in HEAD_NAMES if name in shapes]
  if not present:
    return None
  if len(present) == 1:
    (absent,) = [name for name in HEAD_NAMES if name not in shapes]
    raise error(
      "checkpoint %s has %s but not %s: a classifier head needs both"
      % (checkpoint, present[0], absent)
    )
  weights = list(shapes["output_weights"])
  bias = list(shapes["output_bias"])
  if len(bias) != 1 or weights != [bias[0], hidden_size]:
    raise error(
      "checkpoint %s has a classifier head of shapes output_weights %s, output_bias %s; "
      "expected [num_labels, %d] and [num_labels]" % (checkpoint, weights, bias, hidden_size)
    )
  rows = bias[0]
  if labels is not None and len(labels) != rows:
    raise error(
      "checkpoint %s has a head for %d labels but the label list has %d: %s"
      % (checkpoint, rows, len(labels), ", ".join(labels))
    )
  return rows


@contextlib.contextmanager
def reading_checkpoint(prefix: str, error: type[errors.InputError]) -> Iterator[None]:
  """Reports a checkpoint that TensorFlow cannot read (cut short, corrupt) as `error`."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  try:
    yield
  except errors.ProjectError:
    raise
  except (tf.errors.OpError, IndexError, ValueError) as e:  # IndexError: data cut short
    raise error("cannot read checkpoint %s: %s" % (prefix, errors.first_line(e))) from None


def checkpoint_shapes(prefix: str, error: type[errors.InputError]) -> dict[str, list[int]]:
  """Variable name -> shape for every variable of checkpoint `prefix`."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  with reading_checkpoint(prefix, error):
    listed = tf.train.list_variables(prefix)
  return {name: list(shape) for name, shape in listed}


def load_model(prefix: str, bert_config, num_labels: int | None, multi_label: bool = False):
  """The checkpoint's weights in a new BertClassifier, or BertEncoder when `num_labels` is None.

  Every `bert/*` and `output_*` variable the model has must be in the checkpoint.
  """
  # pylint: disable=import-outside-toplevel
  from bert import checkpoint as ckpt_lib
  from bert import modeling
  from classifier import model as classifier_model

  if num_labels is None:
    model = modeling.BertEncoder(bert_config)
  else:
    model = classifier_model.BertClassifier(bert_config, num_labels, multi_label=multi_label)
  ckpt_lib.load_variables(
    model.variables_by_name,
    prefix,
    required_prefixes=("bert/", "output_"),
    partial_hint="A checkpoint without them cannot be exported.",
  )
  return model


# -- console scripts ---------------------------------------------------------------


def parse_bool(text: str) -> bool:
  """A flag's boolean: 1, true, t, yes, y or 0, false, f, no, n in any case."""
  word = text.lower()
  if word in _YES:
    return True
  if word in _NO:
    return False
  raise argparse.ArgumentTypeError("expected true or false, got %r" % text)


def add_bool_flag(
  parser: argparse.ArgumentParser, name: str, help_text: str, default: bool | None = False
) -> None:
  """Adds a boolean flag that is true when given alone (`--name`) or set as `--name=false`."""
  parser.add_argument(
    name, nargs="?", const=True, default=default, type=parse_bool, metavar="BOOL", help=help_text
  )


def check_tolerance(tolerance: float) -> None:
  """Refuses a negative --tolerance (NaN too) as a usage error."""
  if not tolerance >= 0:
    raise errors.UsageError("--tolerance=%s: must be >= 0" % tolerance)


@contextlib.contextmanager
def console_logging(logger: logging.Logger) -> Iterator[None]:
  """Shows the INFO logs of `logger`'s top package while a command runs.

  The package is `export`, or the tool's own module when it runs as
  `__main__`. Its records go to stderr with the time of day, unless the process
  has set up logging itself (a root handler), in which case they go there.
  """
  package = logging.getLogger(logger.name.split(".")[0])
  level, propagate = package.level, package.propagate
  console = None
  if not logging.getLogger().handlers:
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    package.addHandler(console)
    package.propagate = False
  package.setLevel(logging.INFO)
  try:
    yield
  finally:
    if console is not None:
      package.removeHandler(console)
    package.setLevel(level)
    package.propagate = propagate


def run_command(
  program: str,
  logger: logging.Logger,
  job: Callable[[], Result],
  show: Callable[[Result], None] | None = None,
) -> int:
  """Runs a console script's `job` with its logs shown; returns the exit status.

  A ProjectError from the job (a bad input, a failed write) is printed as one
  line, `<program>: error: <message>`, and its exit status returned. After a
  job that succeeds, `show` gets its result and the status is 0.
  """
  with console_logging(logger):
    try:
      result = job()
    except errors.ProjectError as e:
      return errors.report(program, e)
  if show is not None:
    show(result)
  return 0
