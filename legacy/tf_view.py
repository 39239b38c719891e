"""What `import tensorflow` gives legacy code: a view of TensorFlow.

Two views, both importing TensorFlow on first use:

* for processor plugins (`tensorflow_view()`): TF2's name where TF2 has it,
  else `tf.compat.v1`'s (`tf.gfile`, `tf.python_io`, ...), with the tolerant
  `tf.flags` / `tf.app.flags` of `legacy.flags` and `tf.logging` on absl's
  logger;
* for TF1 scripts under `bert-run-tf1` (`tensorflow_view(v1=True)`):
  `tf.compat.v1`, plus what TensorFlow 2 removed and this package provides
  again: `tf.estimator` (`legacy.estimator`) and `tf.contrib`
  (`legacy.contrib`); its `tf.compat.v1` is that view again (scripts of the
  TF 1.15 era wrote `import tensorflow.compat.v1 as tf`), and its
  `tf.distribute.cluster_resolver.TPUClusterResolver` is `legacy.tpu`'s.

A name neither has is a `NotProvided` error, which is also an AttributeError
(so `hasattr(tf, name)` still answers False).
"""

from __future__ import annotations

import importlib
import types

from legacy.errors import README_SECTION, NotProvided
from legacy.flags import LegacyApp, legacy_flags

# Names the TF1 view answers from this package instead of tf.compat.v1.
V1_ADDITIONS = {"estimator": "legacy.estimator", "contrib": "legacy.contrib"}


class _TensorFlowView(types.ModuleType):
  """TensorFlow as TF1-era code expects it (see the module doc)."""

  def __init__(self, v1: bool):
    super().__init__("tensorflow", "TensorFlow as TF1 code expects it.")
    self._v1_only = v1

  def __getattr__(self, name):
    if name == "__path__":  # Not a package: submodules import for real.
      raise AttributeError(name)
    if self._v1_only and name in V1_ADDITIONS:
      return importlib.import_module(V1_ADDITIONS[name])
    if self._v1_only and name in _V1_OVERLAYS:
      return _V1_OVERLAYS[name]
    if self._v1_only and name == "compat":  # `tf.compat.v1.estimator` as in TF 1.15.
      return _COMPAT_VIEW
    if not self._v1_only:  # These three need no TensorFlow.
      if name == "flags":
        return legacy_flags
      if name == "app":
        return LegacyApp()
      if name == "logging":  # tf.logging.info & co. on absl's logger, once.
        from absl import logging as absl_logging

        return absl_logging
    import tensorflow as tf

    v1 = tf.compat.v1
    try:
      return getattr(v1 if self._v1_only else tf, name)
    except AttributeError:
      pass
    try:
      return getattr(v1, name)
    except AttributeError:
      pass
    if self._v1_only:
      raise NotProvided(
        "tf.%s is not provided: TensorFlow 2 has no such name, not even in tf.compat.v1 (%s)"
        % (name, README_SECTION)
      ) from None
    raise AttributeError(
      "module 'tensorflow' has no attribute '%s' (neither in TensorFlow 2 "
      "nor in tf.compat.v1; tf.contrib was removed in TensorFlow 2)" % name
    ) from None

  def __dir__(self):
    import tensorflow as tf

    names = set(dir(tf.compat.v1))
    return sorted(names | set(V1_ADDITIONS) if self._v1_only else names | set(dir(tf)))


class _Overlay(types.ModuleType):
  """A module of tf.compat.v1 (`path` below it) with a few names answered by
  this package instead (`overrides`: name -> "module:attribute" or an overlay)."""

  def __init__(self, path: str, overrides: dict):
    super().__init__("tf." + path, "tf.%s as TF1 scripts use it under bert-run-tf1." % path)
    self._path = path
    self._overrides = overrides

  def __getattr__(self, name):
    if name.startswith("__"):
      raise AttributeError(name)
    value = self._overrides.get(name)
    if isinstance(value, str):
      module, _, attribute = value.partition(":")
      return getattr(importlib.import_module(module), attribute)
    if value is not None:
      return value
    import tensorflow as tf

    module = tf.compat.v1
    for part in self._path.split("."):
      module = getattr(module, part)
    return getattr(module, name)


# A TPU resolver under TF 1.15's name too: the runner drives no TPU, so it says how to reach one
# (TensorFlow's own would look for a Cloud TPU and fail on the network).
_V1_OVERLAYS = {
  "distribute": _Overlay(
    "distribute",
    {
      "cluster_resolver": _Overlay(
        "distribute.cluster_resolver", {"TPUClusterResolver": "legacy.tpu:TPUClusterResolver"}
      )
    },
  )
}


class _CompatView(types.ModuleType):
  """`tf.compat` for TF1 scripts: `v1` is their view of TensorFlow, the rest TensorFlow's."""

  def __init__(self):
    super().__init__("tensorflow.compat", "tf.compat as TF1 code expects it.")

  def __getattr__(self, name):
    if name == "v1":
      return _VIEWS[True]
    import tensorflow as tf

    return getattr(tf.compat, name)


_VIEWS = {False: _TensorFlowView(v1=False), True: _TensorFlowView(v1=True)}
_COMPAT_VIEW = _CompatView()


def tensorflow_view(v1: bool = False) -> types.ModuleType:
  """The `tensorflow` module that legacy code gets (see the module doc)."""
  return _VIEWS[v1]
