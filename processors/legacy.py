"""Lets code written for Google's TF1 scripts import and run unchanged.

Old processor files and scripts start with the header of Google's
`run_classifier.py`: `import modeling`, `import optimization`,
`import tokenization`, `import tensorflow as tf`, and then call TF1 names such
as `tf.gfile.Open`, `tf.logging.info` or `tf.flags.DEFINE_string`. None of
these exist in TensorFlow 2. This module gives such code the names it expects,
but only to the code that is run as legacy code: plugin files loaded by the
task registry (and the modules beside them that they import), and scripts run
with `python -m bert.tf1`. The rest of the process, TensorFlow itself and our
own modules, sees the real TensorFlow 2 and nothing else changes.

How: a legacy module is executed with its own `__builtins__`, whose
`__import__` answers a few names differently (see `LEGACY_MODULES` and
`legacy_import`):

* `modeling`, `optimization`, `tokenization` -> `bert.modeling`,
  `bert.optimization`, `bert.tokenization` (Google's API, same names);
* `run_classifier` -> the `run_classifier` module that is running (or is
  imported once), so importing it never defines a flag twice;
* `tensorflow` -> a view of TensorFlow (`tensorflow_view`): for plugins, TF2
  where TF2 has the name and `tf.compat.v1` for the names TF2 dropped
  (`tf.gfile`, `tf.logging`, `tf.python_io`, ...), with `tf.flags` and
  `tf.app.flags` answering with `legacy_flags`; for TF1 scripts, `tf.compat.v1`
  itself.

Plugins also find the module-level names of Google's run_classifier.py
(`DataProcessor`, `InputExample`, `tokenization`, `FLAGS`, ...; see
`google_module_names`) among their builtins: a class cut out of that file
runs without the lines above it, and the file's own names still come first.

`legacy_flags` is absl's `flags` module, except that defining a flag whose
name is already defined keeps the existing flag (with the new default)
instead of raising `DuplicateFlagError` (a plugin copied with its script's
flag block defines `data_dir` again). This module imports neither TensorFlow nor `bert`; the
view imports TensorFlow on first use.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import types

LEGACY_MODULES = {
  "modeling": "bert.modeling",
  "optimization": "bert.optimization",
  "tokenization": "bert.tokenization",
  "run_classifier": "run_classifier",
}

_logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# Flags that tolerate being defined twice.


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


class _ParsedOnUse(object):
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


class _LegacyApp(types.ModuleType):
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


_ABSL_VIEW = _AbslView()


# ---------------------------------------------------------------------------
# What `import tensorflow` gives legacy code.


class _TensorFlowView(types.ModuleType):
  """TensorFlow as TF1-era code expects it; imports TensorFlow on first use.

  With `v1=False` (plugins) a name resolves to TF2's where TF2 has it, else to
  `tf.compat.v1`'s; `flags` and `app` are the tolerant legacy ones. With
  `v1=True` (TF1 scripts) every name is `tf.compat.v1`'s.
  """

  def __init__(self, v1: bool):
    super().__init__("tensorflow", "TensorFlow as TF1 code expects it.")
    self._v1_only = v1

  def __getattr__(self, name):
    if name == "__path__":  # Not a package: submodules import for real.
      raise AttributeError(name)
    if not self._v1_only:  # These three need no TensorFlow.
      if name == "flags":
        return legacy_flags
      if name == "app":
        return _LegacyApp()
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
      raise AttributeError(
        "module 'tensorflow' has no attribute '%s' (neither in TensorFlow 2 "
        "nor in tf.compat.v1; tf.contrib was removed in TensorFlow 2)" % name
      ) from None

  def __dir__(self):
    import tensorflow as tf

    return sorted(set(dir(tf)) | set(dir(tf.compat.v1)))


_VIEWS = {False: _TensorFlowView(v1=False), True: _TensorFlowView(v1=True)}


def tensorflow_view(v1: bool = False) -> types.ModuleType:
  """The `tensorflow` module that legacy code gets (see the module doc)."""
  return _VIEWS[v1]


# ---------------------------------------------------------------------------
# The import hook and the loader of legacy files.


def _legacy_module(name: str):
  target = LEGACY_MODULES[name]
  if name in ("modeling", "optimization"):  # These import TensorFlow.
    return _LAZY_MODULES.setdefault(name, _LazyModule(target))
  if target == "run_classifier" and "run_classifier" not in sys.modules:
    main = sys.modules.get("__main__")
    if (
      main is not None
      and os.path.basename(getattr(main, "__file__", "") or "") == "run_classifier.py"
    ):
      sys.modules["run_classifier"] = main
  return importlib.import_module(target)


def legacy_import(v1: bool):
  """Returns an `__import__` that answers Google's module names (see above)."""
  real_import = builtins.__import__

  def __import__(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0:
      top = name.partition(".")[0]
      if name in LEGACY_MODULES:
        return _legacy_module(name)
      if top == "absl" and (name == "absl" or not fromlist):
        real_import(name, globals, locals, fromlist, level)
        return _ABSL_VIEW
      if name == "absl.flags":
        real_import(name, globals, locals, fromlist, level)
        return legacy_flags
      if name == "tensorflow":  # Imported when first used (see the view).
        return tensorflow_view(v1)
      if top == "tensorflow":
        module = real_import(name, globals, locals, fromlist, level)
        return module if fromlist else tensorflow_view(v1)
    return real_import(name, globals, locals, fromlist, level)

  return __import__


class _LazyModule(types.ModuleType):
  """A module imported on first attribute access (keeps TensorFlow lazy)."""

  def __init__(self, target: str):
    super().__init__(target.rpartition(".")[2], "%s, imported on first use." % target)
    self._target = target

  def __getattr__(self, name):
    if name.startswith("__") and name.endswith("__"):
      raise AttributeError(name)
    return getattr(importlib.import_module(self._target), name)


_LAZY_MODULES: dict = {}


def google_module_names() -> dict:
  """The names Google's run_classifier.py defined at module level.

  A processor class lived in that file and used them freely; a plugin file
  that holds the class without them (or with only the import lines) finds
  them as builtins, so its own definitions and imports still come first.
  """
  import collections
  import csv
  from bert import tokenization
  from classifier import features
  from processors import base, glue

  names = {
    "collections": collections,
    "csv": csv,
    "os": os,
    "tf": tensorflow_view(False),
    "flags": legacy_flags,
    "FLAGS": legacy_flags.FLAGS,
    "tokenization": tokenization,
    "modeling": _legacy_module("modeling"),
    "optimization": _legacy_module("optimization"),
  }
  for module, attributes in [
    (base, ["InputExample", "PaddingInputExample", "InputFeatures", "DataProcessor"]),
    (glue, ["XnliProcessor", "MnliProcessor", "MrpcProcessor", "ColaProcessor"]),
    (
      features,
      [
        "convert_single_example",
        "convert_examples_to_features",
        "file_based_convert_examples_to_features",
        "_truncate_seq_pair",
      ],
    ),
  ]:
    # A module that is still being loaded (glue.py itself) lacks its names.
    names.update((name, getattr(module, name)) for name in attributes if hasattr(module, name))
  return names


def legacy_builtins(v1: bool = False) -> dict:
  """A copy of the builtins whose `__import__` is `legacy_import(v1)`; for
  plugins (`v1=False`) with `google_module_names()` added."""
  names = dict(vars(builtins))
  if not v1:
    names.update(google_module_names())
  names["__import__"] = legacy_import(v1)
  return names


# Real paths of the files loaded as legacy code, to locate errors in them.
LEGACY_FILES: set[str] = set()


class LegacySourceLoader(importlib.machinery.SourceFileLoader):
  """Loads a .py file as legacy code: its module gets `legacy_builtins`."""

  def __init__(self, fullname: str, path: str, v1: bool = False):
    super().__init__(fullname, path)
    self.v1 = v1
    LEGACY_FILES.add(os.path.realpath(path))

  def exec_module(self, module):
    module.__dict__["__builtins__"] = legacy_builtins(self.v1)
    super().exec_module(module)


class LegacyFolderFinder(importlib.abc.MetaPathFinder):
  """Finds top-level modules in given folders and loads them as legacy code.

  A plugin's or script's own helper modules (`import my_utils` beside it) are
  old code too; they get the same view of TensorFlow.
  """

  def __init__(self, folders, v1: bool = False):
    self.folders = [os.path.abspath(f) for f in folders]
    self.v1 = v1

  def find_spec(self, fullname, path=None, target=None):
    if path is not None or "." in fullname or fullname in LEGACY_MODULES:
      return None
    spec = importlib.machinery.PathFinder.find_spec(fullname, self.folders)
    if (
      spec is None
      or spec.origin is None
      or not spec.origin.endswith(".py")
      or not isinstance(spec.loader, importlib.machinery.SourceFileLoader)
    ):
      return None
    spec.loader = LegacySourceLoader(fullname, spec.origin, self.v1)
    return spec


def install_folder_finder(folders, v1: bool = False) -> LegacyFolderFinder:
  """Puts a `LegacyFolderFinder` for `folders` first on `sys.meta_path`."""
  finder = LegacyFolderFinder(folders, v1)
  sys.meta_path.insert(0, finder)
  return finder


def load_legacy_file(module_name: str, path: str, v1: bool = False):
  """Imports the file `path` as module `module_name`, as legacy code.

  The module is in `sys.modules` while it runs (as for any import) and is
  removed again if it fails. Modules in the file's folder that it imports are
  loaded as legacy code too: first while it runs, later (from its functions)
  when no other module of that name is found.
  """
  loader = LegacySourceLoader(module_name, path, v1)
  spec = importlib.util.spec_from_file_location(module_name, path, loader=loader)
  module = importlib.util.module_from_spec(spec)
  sys.modules[module_name] = module
  folder = os.path.dirname(os.path.abspath(path))
  finder = install_folder_finder([folder], v1)
  sys.path.insert(0, folder)
  try:
    loader.exec_module(module)
  except BaseException:
    sys.modules.pop(module_name, None)
    raise
  finally:
    # Afterwards the folder is searched last, for the imports that plugin
    # code makes inside its functions (`import my_utils` in a method).
    sys.meta_path.remove(finder)
    if not any(isinstance(f, LegacyFolderFinder) and f.folders == [folder] for f in sys.meta_path):
      sys.meta_path.append(finder)
    try:
      sys.path.remove(folder)
    except ValueError:
      pass
  return module
