"""What every console script shares beyond its error line: its progress logs.

`run_command` runs a script's job with the INFO logs of its package shown on
stderr and reports a `bert.errors.ProjectError` as one line
(`bert.errors.report`); `console_logging` shows those logs alone (the Python
API of run_classifier shows its progress so); `format_seconds` writes the
durations (ETA) of progress lines. TensorFlow-free.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from typing import TypeVar

from bert import errors

Result = TypeVar("Result")


@contextlib.contextmanager
def console_logging(logger: logging.Logger, *packages: str) -> Iterator[None]:
  """Shows the INFO logs of `logger`'s top package (and of `packages`) while a command runs.

  The top package is the tool's (`export`, `classifier`), or its own module when it
  runs as `__main__`. The records go to stderr with the time of day, unless the process
  has set up logging itself (a root handler), in which case they go there.
  """
  with contextlib.ExitStack() as stack:
    for name in dict.fromkeys((logger.name.split(".")[0],) + packages):
      stack.enter_context(_showing(logging.getLogger(name)))
    yield


@contextlib.contextmanager
def _showing(package: logging.Logger) -> Iterator[None]:
  """The INFO logs of `package` on stderr (or the root handler) inside the block."""
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
  packages: tuple[str, ...] = (),
) -> int:
  """Runs a console script's `job` with its logs shown; returns the exit status.

  A ProjectError from the job (a bad input, a failed write) is printed as one
  line, `<program>: error: <message>`, and its exit status returned. After a
  job that succeeds, `show` gets its result and the status is 0. `packages`
  names lower packages whose logs belong to the job too (`onnx_bert`).
  """
  with console_logging(logger, *packages):
    try:
      result = job()
    except errors.ProjectError as e:
      return errors.report(program, e)
  if show is not None:
    show(result)
  return 0


def format_seconds(seconds: float) -> str:
  """`1h02m03s`-style duration."""
  if seconds == float("inf"):
    return "?"
  seconds = int(round(seconds))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return "%dh%02dm%02ds" % (h, m, s) if h else "%dm%02ds" % (m, s)
