"""The project's error classes and how every console script reports them.

Errors that users cause (a wrong flag, a bad file, a missing checkpoint) are
subclasses of `ProjectError`; a console script prints them as one line,
`<program>: error: <message>`, and exits with `exit_status`. The rule, the
same in every script: 2 (`UsageError`) when the command line is wrong whatever
the files hold (a flag unknown, malformed, out of range, excluded by another,
ignored, or contradicting the model trained in the folder it names); 1 for
everything else (a file or folder not as the command needs it, a failed write
or check). Any other exception is a bug and keeps its traceback. TensorFlow-free.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

USAGE_EXIT_STATUS = 2
ERROR_EXIT_STATUS = 1


class ProjectError(Exception):
  """Base of the errors a user can cause and fix; the message is one line."""

  exit_status = ERROR_EXIT_STATUS


class UsageError(ProjectError, ValueError):
  """The command line is wrong: a flag is missing, malformed or out of range."""

  exit_status = USAGE_EXIT_STATUS


class InputError(ProjectError, ValueError):
  """An input file, folder or model is missing, malformed or inconsistent."""


class WriteError(ProjectError, OSError):
  """An output could not be written (disk full, no permission); nothing half-written is left."""


class DataError(InputError):
  """Bad input data: a missing, empty, undecodable or malformed file.

  `str(error)` is one line naming the file, the 1-based line number where
  known, and what was expected, e.g.

      data/train.tsv:5: expected at least 4 tab-separated columns, found 2

  Attributes:
      reason: str. What was wrong, without the location.
      input_file: str or None. The file the data came from.
      line_number: int or None. The 1-based line number in `input_file`.
  """

  def __init__(
    self, reason: str, input_file: str | None = None, line_number: int | None = None
  ) -> None:
    self.reason = reason
    self.input_file = input_file
    self.line_number = line_number
    location = ""
    if input_file is not None:
      location = str(input_file)
      if line_number is not None:
        location += ":%d" % line_number
      location += ": "
    super().__init__(location + " ".join(str(reason).split()))

  def __reduce__(self):
    return (type(self), (self.reason, self.input_file, self.line_number))


def first_line(error: BaseException) -> str:
  """The first non-empty line of `str(error)`, or the class name when empty."""
  for line in str(error).splitlines():
    if line.strip():
      return line.strip()
  return type(error).__name__


def os_reason(error: BaseException) -> str:
  """Why a file operation failed, in one line: the OS's words when it gave some
  (`No such file or directory`), else the error's first line."""
  return getattr(error, "strerror", None) or first_line(error)


def cannot(action: str, path: str, error: BaseException) -> str:
  """The one message form for a failed file operation: `cannot <action> <path>: <why>`."""
  return "cannot %s %s: %s" % (action, path, os_reason(error))


def report(program: str, error: BaseException) -> int:
  """Prints `<program>: error: <first line>` to stderr; returns the exit status."""
  sys.stderr.write("%s: error: %s\n" % (program, first_line(error)))
  sys.stderr.flush()
  return getattr(error, "exit_status", ERROR_EXIT_STATUS)


class ArgumentParser(argparse.ArgumentParser):
  """An argparse parser for our console scripts: a bad command line is one line, exit status 2."""

  def error(self, message: str) -> NoReturn:
    """Reports `message` as `<prog>: error: <message> (see --help)` and exits 2."""
    report(self.prog, UsageError("%s (see --help)" % message))
    sys.exit(USAGE_EXIT_STATUS)


def absl_flags_parser(program: str) -> Callable[[Sequence[str]], Sequence[str]]:
  """An `app.run(flags_parser=...)` that reports bad flags as a usage error (exit 2)."""

  def parse(argv: Sequence[str]) -> Sequence[str]:
    from absl import flags  # Only console scripts built on absl need it.

    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      report(program, e)
      sys.stderr.write("Pass --helpfull to see the flags.\n")
      sys.exit(USAGE_EXIT_STATUS)

  return parse
