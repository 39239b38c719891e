"""Name-based checkpoint I/O in Google's layout (no Keras object graph).

Reads Google's released checkpoints (a prefix such as `dir/bert_model.ckpt`,
with no `checkpoint` state file) and writes `model.ckpt-N.index` +
`model.ckpt-N.data-00000-of-00001` with a `checkpoint` state file, readable by
`tf.train.load_checkpoint`, by graph-mode
`tf.compat.v1.train.init_from_checkpoint` and by both model faces.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping

import tensorflow as tf

from bert import errors, model_folder
from bert.errors import InputError

logger = logging.getLogger(__name__)

STATE_FILENAME = model_folder.CHECKPOINT_STATE_FILENAME
DATA_SUFFIX = model_folder.CHECKPOINT_DATA_SUFFIX


class CheckpointError(InputError):
  """A checkpoint is missing or unreadable."""


class CheckpointMismatchError(CheckpointError):
  """The model's variables and a checkpoint's disagree on names or shapes."""


class DamagedCheckpointError(CheckpointError):
  """A checkpoint's files are there but cannot be read (truncated, corrupt)."""


def _one_line(error: BaseException) -> str:
  text = getattr(error, "message", None) or str(error) or type(error).__name__
  return " ".join(text.split())


def _damaged(prefix: str, error: BaseException) -> DamagedCheckpointError:
  return DamagedCheckpointError(
    "Checkpoint %s is damaged (%s, %s): %s: %s"
    % (
      prefix,
      os.path.basename(prefix) + DATA_SUFFIX,
      os.path.basename(prefix) + ".index",
      type(error).__name__,
      _one_line(error),
    )
  )


def _open_reader(prefix: str):
  """`tf.train.load_checkpoint`, a damaged index raising DamagedCheckpointError."""
  try:
    return tf.train.load_checkpoint(prefix)
  except (tf.errors.OpError, IndexError, ValueError) as e:
    raise _damaged(prefix, e) from None


def _read_tensor(reader, prefix: str, name: str):
  """One tensor; a truncated or corrupt data file raises DamagedCheckpointError."""
  try:
    return reader.get_tensor(name)
  except (tf.errors.OpError, IndexError, ValueError) as e:
    raise _damaged(prefix, e) from None


def _some(items: list, shown: int = 5) -> str:
  """The first `shown` items, and how many there are in all."""
  text = "; ".join(items[:shown])
  if len(items) > shown:
    text += "; ... (%d in all)" % len(items)
  return text


def variable_name(variable: tf.Variable) -> str:
  """A variable's checkpoint name: its `name` without the `:0` suffix."""
  name = variable.name
  base, colon, index = name.rpartition(":")
  return base if colon and index.isdecimal() else name


def resolve_checkpoint(path: str) -> str:
  """Returns the checkpoint prefix that `path` names.

  `path` may be a prefix (`dir/bert_model.ckpt`, `dir/model.ckpt-343`) or a
  directory, whose newest checkpoint (per its `checkpoint` state file) is used.

  Raises:
    CheckpointError: nothing loadable is there.
  """
  if "://" not in path:
    return model_folder.local_checkpoint(path, CheckpointError)
  if tf.io.gfile.isdir(path):
    latest = latest_checkpoint(path)
    if latest is None:
      raise CheckpointError(model_folder.no_checkpoint_in_directory(path))
    return latest
  if not tf.io.gfile.exists(path + ".index"):
    raise CheckpointError(model_folder.no_checkpoint_at(path))
  return path


def list_variables(path: str) -> list[tuple[str, list[int]]]:
  """(name, shape) of every variable in the checkpoint `path`."""
  return tf.train.list_variables(resolve_checkpoint(path))


@contextlib.contextmanager
def reading_checkpoint(prefix: str, error: type[InputError]) -> Iterator[None]:
  """Reports a checkpoint that TensorFlow cannot read (cut short, corrupt) as `error`."""
  try:
    yield
  except errors.ProjectError:
    raise
  except (tf.errors.OpError, IndexError, ValueError) as e:  # IndexError: data cut short
    raise error("cannot read checkpoint %s: %s" % (prefix, errors.first_line(e))) from None


def checkpoint_shapes(prefix: str, error: type[InputError]) -> dict[str, list[int]]:
  """Variable name -> shape for every variable of checkpoint `prefix`; `error` when unreadable."""
  with reading_checkpoint(prefix, error):
    listed = tf.train.list_variables(prefix)
  return {name: list(shape) for name, shape in listed}


def latest_checkpoint(directory: str) -> str | None:
  """The newest checkpoint prefix recorded in `directory`, or None."""
  state = read_checkpoint_state(directory)
  if not state:
    return None
  path = state[0]
  if not os.path.isabs(path):
    path = os.path.join(directory, path)
  if not tf.io.gfile.exists(path + ".index"):
    return None
  return path


def read_checkpoint_state(directory: str) -> list[str]:
  """Checkpoint paths listed in `directory/checkpoint`, the newest first."""
  state_path = os.path.join(directory, STATE_FILENAME)
  if not tf.io.gfile.exists(state_path):
    return []
  with tf.io.gfile.GFile(state_path, "r") as f:
    return model_folder.parse_checkpoint_state(f.read())


def checkpoint_step(path: str) -> int | None:
  """N of a `...model.ckpt-N` prefix, or None."""
  m = re.search(r"-(\d+)$", path)
  return int(m.group(1)) if m else None


def load_variables(
  variables: Mapping[str, tf.Variable],
  path: str,
  required_prefixes: Iterable[str] = ("bert/",),
  allow_partial: bool = False,
  partial_hint: str = "They would stay randomly initialised; "
  "pass --allow_partial_checkpoint to accept that.",
) -> set[str]:
  """Assigns the checkpoint's tensors to `variables` by exact name.

  Args:
    variables: checkpoint name -> variable (e.g. `BertEncoder.variables_by_name`).
    path: checkpoint prefix or directory.
    required_prefixes: variables whose names start with one of these must be
      in the checkpoint with the same shape (Google silently left them random).
    allow_partial: log the missing required variables instead of raising.
    partial_hint: the sentence that ends the error about missing variables
      (what the caller's user can do about it).

  Returns:
    The names that were loaded.

  Raises:
    CheckpointMismatchError: a required variable is missing, or any variable
      found in the checkpoint has another shape.
    DamagedCheckpointError: the checkpoint's files cannot be read.
  """
  prefix = resolve_checkpoint(path)
  reader = _open_reader(prefix)
  shapes = reader.get_variable_to_shape_map()
  required_prefixes = tuple(required_prefixes)
  missing, mismatched, loaded = [], [], set()
  for name, variable in variables.items():
    if name not in shapes:
      if name.startswith(required_prefixes):
        missing.append(name)
      continue
    if list(shapes[name]) != variable.shape.as_list():
      mismatched.append(
        "%s (checkpoint %s, model %s)" % (name, list(shapes[name]), variable.shape.as_list())
      )
      continue
    variable.assign(_read_tensor(reader, prefix, name))
    loaded.add(name)
  if mismatched:
    raise CheckpointMismatchError(
      "Checkpoint %s does not fit the model (is bert_config.json the one of "
      "this checkpoint?): shape mismatch for %d variable(s): %s"
      % (prefix, len(mismatched), _some(mismatched))
    )
  if missing:
    message = "Checkpoint %s lacks %d of the model's variables: %s. Its names: %s" % (
      prefix,
      len(missing),
      ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else ""),
      ", ".join(sorted(shapes)[:5]) + (", ..." if len(shapes) > 5 else ""),
    )
    if not allow_partial:
      raise CheckpointMismatchError(message + ". " + partial_hint)
    logger.warning("%s. They stay randomly initialised.", message)
  return loaded


def log_variables(
  variables: Iterable[tf.Variable],
  initialized: set[str],
  log: Callable[..., None] | None = None,
) -> None:
  """Logs Google's `name = ..., shape = ...[, *INIT_FROM_CKPT*]` lines."""
  log = log or logger.info
  for var in variables:
    loaded = variable_name(var) in initialized
    log(
      "  name = %s, shape = %s%s",
      var.name,
      tuple(var.shape),
      ", *INIT_FROM_CKPT*" if loaded else "",
    )


def save_variables(variables: Mapping[str, object], prefix: str) -> str:
  """Writes `name -> tensor/variable` as a name-based checkpoint at `prefix`.

  The files are written under a temporary prefix and renamed, data first and
  `.index` last, so a reader never sees a half-written checkpoint.
  """
  directory = os.path.dirname(prefix) or "."
  tf.io.gfile.makedirs(directory)
  tmp_prefix = os.path.join(directory, ".tmp-%d-%s" % (os.getpid(), os.path.basename(prefix)))
  names = list(variables)
  tensors = [tf.convert_to_tensor(_read_value(variables[n])) for n in names]
  data_in_place = False
  try:
    with tf.device("CPU:0"):
      tf.raw_ops.SaveV2(
        prefix=tmp_prefix, tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors
      )
    tf.io.gfile.rename(tmp_prefix + DATA_SUFFIX, prefix + DATA_SUFFIX, overwrite=True)
    data_in_place = True
    tf.io.gfile.rename(tmp_prefix + ".index", prefix + ".index", overwrite=True)
  except (tf.errors.OpError, OSError) as e:
    if data_in_place:  # A data file without its index is no checkpoint.
      _remove_quietly(prefix + DATA_SUFFIX)
    raise CheckpointError("cannot write checkpoint %s: %s" % (prefix, _one_line(e))) from e
  finally:
    for leftover in (tmp_prefix + DATA_SUFFIX, tmp_prefix + ".index"):
      _remove_quietly(leftover)
  return prefix


def _remove_quietly(path: str) -> None:
  """Removes `path` if it exists; a failure to remove is only logged."""
  try:
    if tf.io.gfile.exists(path):
      tf.io.gfile.remove(path)
  except (tf.errors.OpError, OSError) as e:
    logger.warning("cannot remove %s: %s", path, _one_line(e))


def _read_value(value):
  if isinstance(value, tf.Variable):
    return value.read_value()
  return value


def write_checkpoint_state(directory: str, paths: list[str]) -> None:
  """Atomically writes `directory/checkpoint`; `paths` oldest first."""
  state_path = os.path.join(directory, STATE_FILENAME)
  tmp_path = state_path + ".tmp"
  try:
    with tf.io.gfile.GFile(tmp_path, "w") as f:
      f.write(model_folder.format_checkpoint_state(paths))
    tf.io.gfile.rename(tmp_path, state_path, overwrite=True)
  except (tf.errors.OpError, OSError) as e:
    raise CheckpointError("cannot write %s: %s" % (state_path, _one_line(e))) from e
  finally:
    _remove_quietly(tmp_path)


class CheckpointManager:
  """Saves `model.ckpt-N` into a directory, keeping the `max_to_keep` newest."""

  def __init__(self, directory: str, basename: str = "model.ckpt", max_to_keep: int = 5) -> None:
    self.directory = directory
    self.basename = basename
    self.max_to_keep = max_to_keep

  @property
  def latest_checkpoint(self) -> str | None:
    """Prefix of the newest checkpoint in the directory, or None."""
    return latest_checkpoint(self.directory)

  def checkpoints(self) -> list[str]:
    """Prefixes of the checkpoints in the state file that exist, newest first."""
    paths = [
      p if os.path.isabs(p) else os.path.join(self.directory, p)
      for p in read_checkpoint_state(self.directory)
    ]
    return [p for p in paths if tf.io.gfile.exists(p + ".index")]

  def save(self, variables: Mapping[str, object], step: int) -> str:
    """Writes `model.ckpt-<step>`, updates the state file, prunes old ones.

    A failed write (disk full, read-only folder) leaves no temporary file and
    the state file as it was; its CheckpointError names the newest complete
    checkpoint, which is kept.
    """
    name = "%s-%d" % (self.basename, step)
    try:
      self._save(variables, name)
    except CheckpointError as e:
      latest = self.latest_checkpoint
      raise CheckpointError(
        "%s; the newest complete checkpoint is %s" % (e, latest or "(none)")
      ) from e.__cause__
    return os.path.join(self.directory, name)

  def _save(self, variables: Mapping[str, object], name: str) -> None:
    save_variables(variables, os.path.join(self.directory, name))
    kept = [os.path.basename(p) for p in reversed(read_checkpoint_state(self.directory))]
    kept = [
      p
      for p in kept
      if p != name and tf.io.gfile.exists(os.path.join(self.directory, p + ".index"))
    ]
    kept.append(name)
    removed, kept = kept[: -self.max_to_keep], kept[-self.max_to_keep :]
    write_checkpoint_state(self.directory, kept)
    for old in removed:
      for filename in tf.io.gfile.glob(os.path.join(self.directory, old + ".*")):
        tf.io.gfile.remove(filename)
