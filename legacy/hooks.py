"""Lets code written for Google's TF1 scripts import and run unchanged.

Old processor files and scripts start with the header of Google's
`run_classifier.py`: `import modeling`, `import optimization`,
`import tokenization`, `import tensorflow as tf`, and then call TF1 names such
as `tf.gfile.Open`, `tf.logging.info` or `tf.flags.DEFINE_string`. None of
these exist in TensorFlow 2. This module gives such code the names it expects,
but only to the code that is run as legacy code: plugin files loaded by the
task registry (and the modules beside them that they import), and scripts run
with `bert-run-tf1`. The rest of the process, TensorFlow itself and our own
modules, sees the real TensorFlow 2 and nothing else changes.

How: a legacy module is executed with its own `__builtins__`, whose
`__import__` (`legacy_import`) answers names this way, for code whose own
folder (the plugin's or the script's) is `folder`:

* a module or package the folder holds comes first: a script that ships its
  own `modeling.py`, or a `bert/` package of its own (`from bert import
  tf_metrics`), gets that one. Where the name is one of ours (`bert`,
  `run_classifier`, ...) or already taken in `sys.modules`, the folder's copy
  is loaded under a private name, so both live side by side;
* `modeling`, `optimization`, `tokenization` -> `bert.modeling`,
  `bert.optimization`, `bert.tokenization` (Google's API, same names), when
  the folder has none of its own;
* `run_classifier` -> the `run_classifier` module that is running (or is
  imported once), so importing it never defines a flag twice;
* `tensorflow` -> a view of TensorFlow (`legacy.tf_view`); for TF1 scripts
  `tensorflow.contrib...` and `tensorflow.estimator` come from that view too;
* `absl.flags`, `tf.flags` -> the tolerant flags of `legacy.flags`.

Modules in the folder, and in packages inside it, are loaded as legacy code
too (`LegacyFolderFinder`). Plugins also find the module-level names of
Google's run_classifier.py among their builtins (`legacy.google_names`). This
module imports neither TensorFlow nor `bert`.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import traceback

from legacy.flags import ABSL_VIEW, legacy_flags
from legacy.lazy import lazy_module

LEGACY_MODULES = {
  "modeling": "bert.modeling",
  "optimization": "bert.optimization",
  "tokenization": "bert.tokenization",
  "run_classifier": "run_classifier",
}

# Top-level modules of this project: a script folder's module of such a name
# is loaded under a private name, never in place of ours.
OWN_TOP_LEVEL = frozenset(
  ["bert", "classifier", "export", "legacy", "processors", "serving"]
  + ["run_classifier", "extract_features"]
)

# The folder that holds this project's top-level modules (site-packages, or the source tree).
_OWN_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Real paths of the files loaded as legacy code, to locate errors in them.
LEGACY_FILES: set[str] = set()


def legacy_frame(error: BaseException) -> traceback.FrameSummary | None:
  """The innermost traceback frame of `error` that lies in legacy code (or,
  for a SyntaxError in such a file, its place), or None."""
  found = None
  for frame in traceback.extract_tb(error.__traceback__):
    if os.path.realpath(frame.filename) in LEGACY_FILES:
      found = frame
  if found is None and isinstance(error, SyntaxError) and error.filename:
    found = traceback.FrameSummary(error.filename, error.lineno or 0, "")
  return found


def _legacy_module(name: str):
  target = LEGACY_MODULES[name]
  if name in ("modeling", "optimization"):  # These import TensorFlow.
    return lazy_module(target)
  if target == "run_classifier" and "run_classifier" not in sys.modules:
    main = sys.modules.get("__main__")
    if (
      main is not None
      and os.path.basename(getattr(main, "__file__", "") or "") == "run_classifier.py"
    ):
      sys.modules["run_classifier"] = main
  return importlib.import_module(target)


# ---------------------------------------------------------------------------
# The folder's own modules first.

# (folder, top-level name) -> whether the folder holds a module or package of that name.
_FOLDER_HOLDS: dict[tuple[str, str], bool] = {}

# Private module name -> (real top-level name, folder) of a folder's own module.
_ALIASES: dict[str, tuple[str, str]] = {}


def _folder_holds(folder: str, name: str) -> bool:
  key = (folder, name)
  if key not in _FOLDER_HOLDS:
    _FOLDER_HOLDS[key] = os.path.isfile(os.path.join(folder, name + ".py")) or os.path.isdir(
      os.path.join(folder, name)
    )
  return _FOLDER_HOLDS[key]


def _inside(path: str, folder: str) -> bool:
  path, folder = os.path.realpath(path), os.path.realpath(folder)
  return path == folder or path.startswith(folder + os.sep)


def _private_name(top: str, folder: str) -> str:
  digest = hashlib.sha1(os.path.realpath(folder).encode("utf-8")).hexdigest()[:10]
  return "_legacy_%s_%s" % (top, digest)


def _own_name(top: str, folders: list[str]) -> str | None:
  """The module name under which the code's own module `top` is imported
  (`top` itself or a private alias), or None when its folders hold none."""
  for folder in folders:
    if not _folder_holds(folder, top):
      continue
    loaded = sys.modules.get(top)
    loaded_file = getattr(loaded, "__file__", None) or ""
    if top not in OWN_TOP_LEVEL and (loaded is None or _inside(loaded_file, folder)):
      return top
    alias = _private_name(top, folder)
    _ALIASES[alias] = (top, folder)
    return alias
  return None


# ---------------------------------------------------------------------------
# The import hook.


def _tensorflow_import(real_import, name, globals_, locals_, fromlist, v1: bool):
  """`import tensorflow.x.y` for legacy code: the real module where it exists;
  for TF1 scripts the names TensorFlow 2 dropped (`tensorflow.contrib.crf`,
  `tensorflow.estimator`) from the view, and the private modules it dropped
  (`tensorflow.python.estimator.estimator`) from `legacy.removed_modules`."""
  from legacy.tf_view import tensorflow_view

  view = tensorflow_view(v1)
  if v1 and name == "tensorflow.compat.v1" and fromlist:  # from tensorflow.compat.v1 import ...
    return view
  try:
    module = real_import(name, globals_, locals_, fromlist, 0)
  except ModuleNotFoundError:
    if not v1:
      raise
    from legacy import removed_modules

    module = removed_modules.find(name)
    if module is None:
      module = view
      for part in name.split(".")[1:]:
        module = getattr(module, part)
  return module if fromlist else view


def legacy_import(v1: bool, folders: list[str] = ()):
  """Returns an `__import__` that answers old code's module names (see the
  module doc) for code whose own folders are `folders`."""
  real_import = builtins.__import__
  folders = [os.path.abspath(f) for f in folders]

  def __import__(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0:
      top, dot, rest = name.partition(".")
      own = _own_name(top, folders)
      if own is not None:
        return real_import(own + dot + rest, globals, locals, fromlist, level)
      if name in LEGACY_MODULES:
        return _legacy_module(name)
      if top == "absl" and (name == "absl" or not fromlist):
        real_import(name, globals, locals, fromlist, level)
        return ABSL_VIEW
      if name == "absl.flags":
        real_import(name, globals, locals, fromlist, level)
        return legacy_flags
      if name == "tensorflow":  # Imported when first used (see the view).
        from legacy.tf_view import tensorflow_view

        return tensorflow_view(v1)
      if top == "tensorflow":
        return _tensorflow_import(real_import, name, globals, locals, fromlist, v1)
    return real_import(name, globals, locals, fromlist, level)

  return __import__


def legacy_builtins(v1: bool = False, folders: list[str] = ()) -> dict:
  """A copy of the builtins whose `__import__` is `legacy_import(v1, folders)`;
  for plugins (`v1=False`) with Google's run_classifier.py names added."""
  names = dict(vars(builtins))
  if not v1:
    from legacy import google_names

    names.update(google_names.plugin_builtins())
  names["__import__"] = legacy_import(v1, folders)
  return names


# ---------------------------------------------------------------------------
# Loading files as legacy code.


class LegacySourceLoader(importlib.machinery.SourceFileLoader):
  """Loads a .py file as legacy code: its module gets `legacy_builtins`."""

  def __init__(self, fullname: str, path: str, v1: bool = False, folders: list[str] = ()):
    super().__init__(fullname, path)
    self.v1 = v1
    self.folders = list(folders) or [os.path.dirname(os.path.abspath(path))]
    LEGACY_FILES.add(os.path.realpath(path))

  def exec_module(self, module):
    module.__dict__["__builtins__"] = legacy_builtins(self.v1, self.folders)
    super().exec_module(module)


class LegacyFolderFinder(importlib.abc.MetaPathFinder):
  """Finds the modules of given folders, and of the packages inside them, and
  loads them as legacy code.

  A plugin's or script's own helper modules (`import my_utils` beside it,
  `from model.bert_modeling import ...`) are old code too; they get the same
  view of TensorFlow. Names of our own top-level modules always find ours
  (the legacy `__import__` asks for a private alias of the folder's instead).
  """

  def __init__(self, folders, v1: bool = False):
    self.folders = [os.path.abspath(f) for f in folders]
    self.v1 = v1

  def _legacy_spec(self, name: str, spec):
    """`spec` found by the path finder, as a spec named `name` that loads as legacy code."""
    if spec is None:
      return None
    if spec.loader is None or spec.origin is None:  # A namespace package.
      package = importlib.machinery.ModuleSpec(name, None, is_package=True)
      package.submodule_search_locations = list(spec.submodule_search_locations or [])
      return package
    if not spec.origin.endswith(".py") or not isinstance(
      spec.loader, importlib.machinery.SourceFileLoader
    ):
      return None
    loader = LegacySourceLoader(name, spec.origin, self.v1, self.folders)
    return importlib.util.spec_from_file_location(
      name, spec.origin, loader=loader, submodule_search_locations=spec.submodule_search_locations
    )

  def find_spec(self, fullname, path=None, target=None):
    top = fullname.partition(".")[0]
    if top in OWN_TOP_LEVEL:
      # Ours, from where this package was installed, whatever sys.path holds (a script's
      # folder with a classifier.py on it must not hide our classifier package).
      return (
        importlib.machinery.PathFinder.find_spec(fullname, [_OWN_ROOT]) if top == fullname else None
      )
    if path is None and top == fullname:
      if fullname in _ALIASES:
        top, folder = _ALIASES[fullname]
        if folder not in self.folders:
          return None
        return self._legacy_spec(fullname, importlib.machinery.PathFinder.find_spec(top, [folder]))
      return self._legacy_spec(
        fullname, importlib.machinery.PathFinder.find_spec(fullname, self.folders)
      )
    if path is None or not any(_inside(p, f) for p in path for f in self.folders):
      return None
    return self._legacy_spec(fullname, importlib.machinery.PathFinder.find_spec(fullname, path))


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
