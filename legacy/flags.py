"""absl's flags as TF1-era code used them (`tf.flags`, `tf.app.flags`).

`legacy_flags` is absl's `flags` module, except that defining a flag whose name
is already defined keeps the existing flag (with the new default) instead of
raising `DuplicateFlagError` (a plugin copied with its script's flag block
defines `data_dir` again), and its `FLAGS` parses the command line on first
use, as TF1's did. `LegacyApp` is TF1's `tf.app`; `ABSL_VIEW` the `absl`
package whose `flags` is `legacy_flags`. Neither TensorFlow nor absl is
imported until used.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types

_logger = logging.getLogger(__name__)


def _keep_existing(define):
  """Wraps an absl DEFINE_* function: an already defined name is kept.

  The existing flag takes the new definition's default when that parses as
  a value of the flag (a plugin that defines `train_file` with its own
  default reads its own default), else the definition is ignored.
  """

  def define_once(name, *args, **kwargs):
    from absl import flags as absl_flags

    flag_values = kwargs.get("flag_values", absl_flags.FLAGS)
    if isinstance(flag_values, _ParsedOnUse):
      kwargs["flag_values"] = flag_values = absl_flags.FLAGS
    if name not in flag_values:
      return define(name, *args, **kwargs)
    flag = flag_values[name]
    default = args[0] if args else kwargs.get("default", flag.default)
    if default != flag.default:
      try:
        flag_values.set_default(name, default)
        _logger.info("flag --%s was defined again; its default is now %r", name, default)
      except (ValueError, absl_flags.Error):
        _logger.warning(
          "flag --%s was defined again with default %r, which "
          "is not a valid value of it; keeping the first "
          "definition",
          name,
          default,
        )
    return absl_flags.FlagHolder(flag_values, flag)

  define_once.__name__ = define.__name__
  define_once.__doc__ = define.__doc__
  return define_once


# absl's DEFINE_* functions called as (name, default, ...); DEFINE_flag and
# DEFINE_alias take other first arguments and are left as they are.
_NAME_FIRST_DEFINERS = (
  "DEFINE_string",
  "DEFINE_bool",
  "DEFINE_boolean",
  "DEFINE_integer",
  "DEFINE_float",
  "DEFINE_enum",
  "DEFINE_enum_class",
  "DEFINE_list",
  "DEFINE_spaceseplist",
)


class _ParsedOnUse:
  """absl's FLAGS, parsed from sys.argv (known flags only) on first use.

  TF1's `tf.flags.FLAGS` did this, so old code could read a flag at import
  time, before `tf.app.run()` parsed the command line; the full parse that
  follows (run_classifier.py's `app.run`) is unchanged.
  """

  def __getattr__(self, name):
    from absl import flags as absl_flags

    flag_values = absl_flags.FLAGS
    if not flag_values.is_parsed() and not name.startswith("_"):
      flag_values(sys.argv, known_only=True)
    return getattr(flag_values, name)

  def __setattr__(self, name, value):
    from absl import flags as absl_flags

    setattr(absl_flags.FLAGS, name, value)

  def __getitem__(self, name):
    from absl import flags as absl_flags

    return absl_flags.FLAGS[name]

  def __contains__(self, name):
    from absl import flags as absl_flags

    return name in absl_flags.FLAGS


class _LegacyFlags(types.ModuleType):
  """absl's `flags` module whose DEFINE_* functions skip existing names and
  whose `FLAGS` parses the command line on first use, as TF1's did."""

  def __init__(self):
    super().__init__(
      "flags", "absl.flags for legacy code: a flag defined twice keeps its first definition."
    )
    self.FLAGS = _ParsedOnUse()

  def __getattr__(self, name):
    from absl import flags as absl_flags

    value = getattr(absl_flags, name)
    if name in _NAME_FIRST_DEFINERS or name.startswith("DEFINE_multi_"):
      value = _keep_existing(value)
    setattr(self, name, value)
    return value


legacy_flags = _LegacyFlags()


class LegacyApp(types.ModuleType):
  """`tf.app` of TF1: `run` (absl's) and `flags` (`legacy_flags`)."""

  def __init__(self):
    super().__init__("app", "tf.app for legacy code.")
    self.flags = legacy_flags

  def __getattr__(self, name):
    from absl import app as absl_app

    return getattr(absl_app, name)


class _AbslView(types.ModuleType):
  """The `absl` package whose `flags` is `legacy_flags`."""

  def __init__(self):
    super().__init__("absl", "absl for legacy code.")
    self.flags = legacy_flags

  def __getattr__(self, name):
    if name.startswith("__"):
      raise AttributeError(name)
    try:
      return importlib.import_module("absl." + name)
    except ImportError:
      raise AttributeError("module 'absl' has no attribute '%s'" % name) from None


ABSL_VIEW = _AbslView()
