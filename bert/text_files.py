"""Whole input files read as UTF-8 text, local or remote, without TensorFlow.

A file that is missing, unreadable or not UTF-8 raises `bert.errors.DataError`
naming it (and, for bad bytes, the line). Remote paths (gs://, hdfs://, ...)
go through `tf.io.gfile`, the only case that imports TensorFlow.
`files_read()` collects the paths read inside a block, so that an error about
the data can name every file it came from.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from bert.errors import DataError, os_reason

_files_read = None  # While `files_read()` is active: the paths read.


@contextlib.contextmanager
def files_read() -> Iterator[list[str]]:
  """Collects, in a list, the paths that this module's readers read
  inside the `with` block (to name them in errors about the data)."""
  global _files_read
  outer, _files_read = _files_read, []
  try:
    yield _files_read
  finally:
    _files_read = outer


def read_bytes(input_file: str | os.PathLike) -> bytes:
  """Reads a whole file as bytes, raising DataError for a missing file."""
  path = os.fspath(input_file)
  if _files_read is not None:
    _files_read.append(path)
  if "://" in path:
    # Remote file systems (gs://, hdfs://, ...) need TensorFlow's gfile.
    import tensorflow as tf  # Only for remote paths.

    try:
      with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()
    except tf.errors.NotFoundError:
      raise DataError("file not found", path) from None
    except tf.errors.OpError as e:
      raise DataError("cannot read file: %s" % e.message, path) from None
  try:
    with open(path, "rb") as f:
      return f.read()
  except FileNotFoundError:
    raise DataError("file not found", path) from None
  except OSError as e:
    raise DataError("cannot read file: %s" % os_reason(e), path) from None


def read_text(input_file: str | os.PathLike) -> str:
  """A whole UTF-8 file as str: BOM dropped, line ends made "\\n", and the
  text ending with "\\n" unless empty. Raises DataError for bad files."""
  input_file = os.fspath(input_file)
  data = read_bytes(input_file)
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as e:
    line_number = data.count(b"\n", 0, e.start) + 1
    raise DataError(
      "not valid UTF-8 (byte 0x%02x); save the file as UTF-8" % data[e.start],
      input_file,
      line_number,
    ) from None
  if text.startswith("\ufeff"):
    text = text[1:]
  text = text.replace("\r\n", "\n").replace("\r", "\n")
  if text and not text.endswith("\n"):
    text += "\n"
  return text
