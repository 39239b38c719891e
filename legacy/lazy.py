"""Modules imported on first use, so that handing old code `modeling` and
`optimization` does not start TensorFlow before the code needs it."""

from __future__ import annotations

import importlib
import types


class _LazyModule(types.ModuleType):
  """A module imported on first attribute access (keeps TensorFlow lazy)."""

  def __init__(self, target: str):
    super().__init__(target.rpartition(".")[2], "%s, imported on first use." % target)
    self._target = target

  def __getattr__(self, name):
    if name.startswith("__") and name.endswith("__"):
      raise AttributeError(name)
    return getattr(importlib.import_module(self._target), name)


_LAZY_MODULES: dict[str, _LazyModule] = {}


def lazy_module(target: str) -> types.ModuleType:
  """`target` (a module name), imported when one of its names is first used."""
  return _LAZY_MODULES.setdefault(target, _LazyModule(target))
