"""Files and folders written so that a reader never sees half of one.

`atomic_write` and `write_json` write a file under a temporary name beside it
and rename it at the end. bert-export-*, bert-import-* and the ONNX backends
build their result in a new folder beside the target (`staging_beside`) and
rename it into place (`replace_folder`), so that a failed run leaves no
half-written folder; `TargetRules` says when an existing target may be replaced
and how a refusal reads (each tool names its own flags and error class).
TensorFlow-free (a remote path in `atomic_write` excepted).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO

from bert import errors
from bert.errors import WriteError, os_reason


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
      raise self.error(errors.cannot("list", name, e)) from None
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
      return replace_folder(staging, target)


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
    why = errors.os_reason(e)
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
      staging = staging_folder(target)
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
    why = errors.os_reason(e)
    if e.filename == source:
      raise error("cannot read %s: %s" % (source, why)) from None
    raise WriteError("cannot write %s: %s" % (target, why)) from None


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w") -> Iterator[IO]:
  """Yields a temporary file beside `path`, renamed to `path` once written.

  On any failure the temporary file is removed and `path` keeps its old
  content; an OSError (or, for a remote path such as gs://bucket/file, which
  goes through `tf.io.gfile`, a TensorFlow error) becomes a WriteError naming
  the file.
  """
  tmp_path = "%s.tmp-%d" % (path, os.getpid())
  files = _RemoteFiles() if "://" in path else _LocalFiles()
  try:
    with files.open(tmp_path, mode) as f:
      yield f
      files.sync(f)
    files.rename(tmp_path, path)
  except WriteError:
    raise
  except files.errors as e:
    why = os_reason(e)
    raise WriteError("cannot write %s: %s" % (path, why)) from e
  finally:
    files.remove_if_exists(tmp_path)


class _LocalFiles:
  """The file operations `atomic_write` needs, on the local file system."""

  errors = (OSError,)

  def open(self, path: str, mode: str) -> IO:
    text_options = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
    return open(path, mode, **text_options)

  def sync(self, f: IO) -> None:
    f.flush()
    os.fsync(f.fileno())

  def rename(self, source: str, target: str) -> None:
    os.replace(source, target)

  def remove_if_exists(self, path: str) -> None:
    if os.path.exists(path):
      os.remove(path)


class _RemoteFiles:
  """The same through `tf.io.gfile` (gs://, hdfs://, ...); imports TensorFlow."""

  def __init__(self) -> None:
    import tensorflow as tf  # Only for remote paths.

    self.gfile = tf.io.gfile
    self.errors = (OSError, tf.errors.OpError)

  def open(self, path: str, mode: str) -> IO:
    return self.gfile.GFile(path, mode)

  def sync(self, f: IO) -> None:
    f.flush()

  def rename(self, source: str, target: str) -> None:
    self.gfile.rename(source, target, overwrite=True)

  def remove_if_exists(self, path: str) -> None:
    if self.gfile.exists(path):
      self.gfile.remove(path)


def write_json(path: str, value: object) -> None:
  """Writes `value` as indented UTF-8 JSON, atomically."""
  with atomic_write(path) as f:
    json.dump(value, f, indent=2, ensure_ascii=False)
    f.write("\n")


def staging_folder(target: str) -> str:
  """A new empty folder beside `target` to build its replacement in."""
  parent = os.path.dirname(os.path.abspath(target))
  os.makedirs(parent, exist_ok=True)
  return tempfile.mkdtemp(prefix=".%s.tmp-" % os.path.basename(target), dir=parent)


def replace_folder(staging: str, target: str) -> bool:
  """Moves the finished folder `staging` to `target`, replacing what is there.

  An old non-empty `target` is first renamed aside and deleted only once the
  new folder is in place; if the final rename fails, the old folder is put
  back. `staging` gets the permissions of a newly made folder (mkdtemp makes
  it private). Returns True when an earlier non-empty folder was replaced.
  """
  umask = os.umask(0o022)
  os.umask(umask)
  os.chmod(staging, 0o777 & ~umask)
  if os.path.isdir(target) and not os.listdir(target):
    os.rmdir(target)
  if not os.path.lexists(target):
    os.rename(staging, target)
    return False
  aside = tempfile.mkdtemp(
    prefix=".%s.old-" % os.path.basename(target), dir=os.path.dirname(os.path.abspath(target))
  )
  os.rmdir(aside)
  os.rename(target, aside)
  try:
    os.rename(staging, target)
  except OSError:
    os.rename(aside, target)
    raise
  shutil.rmtree(aside, ignore_errors=True)
  return True
