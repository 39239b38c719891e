"""Loggers named like bert-as-service's: VENTILATOR, WORKER-0, HTTP, ..."""

from __future__ import annotations

import logging
import sys

ROOT = "serving"


class _Formatter(logging.Formatter):
  """`I:VENTILATOR:[ser:_ha: 42]:message`, the original server's layout."""

  def format(self, record):
    record.short_name = record.name.rsplit(".", 1)[-1]
    return super().format(record)


def get_logger(name: str) -> logging.Logger:
  """The logger `serving.<name>` (e.g. "VENTILATOR", "WORKER-1")."""
  return logging.getLogger("%s.%s" % (ROOT, name))


def configure(verbose: bool = False) -> None:
  """Sends `serving.*` logs to stderr, DEBUG with -verbose else INFO."""
  root = logging.getLogger(ROOT)
  root.setLevel(logging.DEBUG if verbose else logging.INFO)
  if not any(getattr(h, "_serving", False) for h in root.handlers):
    handler = logging.StreamHandler(sys.stderr)
    handler._serving = True
    handler.setFormatter(
      _Formatter(
        "%(levelname).1s:%(short_name)s:[%(module).3s:%(funcName).3s:%(lineno)3d]:%(message)s"
      )
    )
    root.addHandler(handler)
  root.propagate = False
