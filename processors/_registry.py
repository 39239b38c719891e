"""Finds tasks: `DataProcessor` subclasses in plugin files and entry points.

Where tasks come from, in this order:

1. `.py` files in the `processors/` package folder (the built-in tasks, and any
   file a user drops in there);
2. `.py` files in the extra folders the caller passes as `plugin_dirs`
   (run_classifier.py passes `--processors_dir`);
3. `.py` files in the folders listed in the environment variable
   `BERT_PROCESSORS_PATH` (separated by `os.pathsep`, ":" on Linux);
4. entry points of installed packages in the group `bert_classic.processors`,
   e.g. in setup.py:
   `entry_points={"bert_classic.processors":
   ["sentiment = my_pkg.sentiment:SentimentProcessor"]}`.

In a folder, every `.py` file is read except `base.py` and files whose name
starts with `_`. Files are scanned with `ast`, never imported, to list tasks: a
task is a top-level class whose name does not start with `_` or `Base` (those
are abstract helpers) and whose base classes include one whose name ends with
`Processor` (`DataProcessor`, `processors.DataProcessor`, `MrpcProcessor`...).

The task name is, in this order: a key of a `processors = {"name": Class, ...}`
dict literal in the file (at module level or inside a top-level function such
as the `main()` the class was copied from) whose value is a class defined in
that file; the string literal in a `task_name = "..."` assignment in the class
body; or else the class name without a trailing `Processor`. Names are
lower-cased, and lookups are case-insensitive. A class named in such a dict is a
task whatever its base classes are. An entry point's name is its task name.

Plugin files are executed as legacy code (see `legacy.hooks`; the registry
imports that package only when it loads a plugin file): Google's
`import tokenization`, `import modeling`, `import run_classifier`,
`import tensorflow as tf` with `tf.gfile`/`tf.logging`/`tf.flags` work in them.
A class is accepted as a processor if it subclasses `DataProcessor` or, like a
copy of Google's base class, has the four `get_*` methods.

Only the module defining the requested task is imported, by `get_processor`. A
plugin file that cannot be parsed, or two sources that claim one task name, are
reported by `plugin_problems` and only make requests for the affected task
fail; every other task keeps working. The one exception: a user's task with
the name of a built-in one (glue.py, emotion.py, tabular.py), such as the
`EmotionProcessor` of their old script, replaces the built-in task, and
`plugin_problems` says so.
"""

import ast
import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
from collections.abc import Iterable

from bert.errors import InputError, UsageError, os_reason
from processors.base import DataProcessor

ENTRY_POINT_GROUP = "bert_classic.processors"
PATH_ENV_VAR = "BERT_PROCESSORS_PATH"

_PACKAGE_NAME = __name__.rpartition(".")[0]
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_SKIPPED_FILES = ("base.py",)
_BUILT_IN_FILES = ("emotion.py", "glue.py", "tabular.py")

PluginDirs = str | os.PathLike | Iterable[str | os.PathLike] | None


class TaskError(InputError):
  """A task that cannot be found, is defined twice, or cannot be loaded.

  The message is one line naming the task and, where there is one, the file
  or entry point at fault.
  """

  def __init__(self, message: str):
    super().__init__(" ".join(str(message).split()))


class UnknownTaskError(TaskError, UsageError):
  """No task of the --task_name given: a usage error (exit status 2)."""


@dataclasses.dataclass(frozen=True)
class _Task:
  """Where one task is defined.

  Attributes:
      name: The lower-case task name.
      source: The file path, or "entry point <name> = <module>:<Class>".
      class_name: The class name (files only).
      path: The plugin file (files only).
      in_package: True for files inside the processors/ package folder.
      entry_point: The entry point (entry points only).
  """

  name: str
  source: str
  class_name: str = ""
  path: str = ""
  in_package: bool = False
  entry_point: importlib.metadata.EntryPoint | None = None


@dataclasses.dataclass
class _Catalog:
  """Everything discovered: task name -> its definitions, and the problems."""

  tasks: dict[str, list[_Task]]
  problems: list[str]


def _one_line(text: object) -> str:
  return " ".join(str(text).split())


def _folders(plugin_dirs: PluginDirs) -> list[str]:
  """Returns the package folder, then plugin_dirs, then BERT_PROCESSORS_PATH."""
  if plugin_dirs is None:
    plugin_dirs = ()
  elif isinstance(plugin_dirs, str):
    plugin_dirs = plugin_dirs.split(os.pathsep)
  elif isinstance(plugin_dirs, os.PathLike):
    plugin_dirs = (plugin_dirs,)
  env_dirs = os.environ.get(PATH_ENV_VAR, "").split(os.pathsep)
  folders = [_PACKAGE_DIR]
  for folder in [*plugin_dirs, *env_dirs]:
    folder = os.fspath(folder)
    if folder:
      folders.append(os.path.abspath(os.path.expanduser(folder)))
  return folders


def _strip_suffix(class_name: str) -> str:
  if class_name.endswith("Processor") and class_name != "Processor":
    return class_name[: -len("Processor")]
  return class_name


def _base_name(node: ast.expr) -> str:
  """`DataProcessor` for `DataProcessor`, `processors.DataProcessor`, ..."""
  if isinstance(node, ast.Name):
    return node.id
  if isinstance(node, ast.Attribute):
    return node.attr
  return ""


def _literal_task_name(class_node: ast.ClassDef) -> str | None:
  """The string assigned to `task_name` in the class body, if any."""
  name = None
  for statement in class_node.body:
    if isinstance(statement, ast.Assign):
      targets, value = statement.targets, statement.value
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
      targets, value = [statement.target], statement.value
    else:
      continue
    if (
      any(isinstance(t, ast.Name) and t.id == "task_name" for t in targets)
      and isinstance(value, ast.Constant)
      and isinstance(value.value, str)
    ):
      name = value.value
  return name


def _registry_dicts(tree: ast.Module) -> Iterable[ast.Dict]:
  """The dict literals assigned to `processors` at module level or in a
  top-level function (Google's `main()` kept its tasks in such a dict)."""
  statements = list(tree.body)
  for node in tree.body:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      statements.extend(ast.walk(node))
  for node in statements:
    if isinstance(node, ast.Assign):
      targets = node.targets
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
      targets = [node.target]
    else:
      continue
    if isinstance(node.value, ast.Dict) and any(
      isinstance(t, ast.Name) and t.id == "processors" for t in targets
    ):
      yield node.value


def _registered_names(tree: ast.Module, class_names: set) -> dict:
  """Class name -> the task names a `processors = {...}` dict gives it."""
  names: dict[str, list[str]] = {}
  for mapping in _registry_dicts(tree):
    for key, value in zip(mapping.keys, mapping.values):
      if (
        isinstance(key, ast.Constant)
        and isinstance(key.value, str)
        and isinstance(value, ast.Name)
        and value.id in class_names
      ):
        names.setdefault(value.id, []).append(key.value)
  return names


def _scan_file(path: str) -> list[tuple[str, str]]:
  """Returns (task name, class name) for each task class in a .py file.

  Raises:
      SyntaxError, ValueError or OSError if the file cannot be read or parsed.
  """
  with open(path, "rb") as f:
    tree = ast.parse(f.read(), filename=path)
  classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
  registered = _registered_names(tree, {node.name for node in classes})
  found = []
  for node in classes:
    if node.name in registered:
      found.extend((name.lower(), node.name) for name in registered[node.name])
      continue
    if node.name.startswith(("_", "Base")) or node.name == "DataProcessor":
      continue
    if not any(_base_name(b).endswith("Processor") for b in node.bases):
      continue
    task_name = _literal_task_name(node) or _strip_suffix(node.name)
    found.append((task_name.lower(), node.name))
  return found


def _describe_parse_error(error: Exception) -> str:
  if isinstance(error, SyntaxError):
    return "%s (line %s)" % (error.msg, error.lineno)
  if isinstance(error, OSError):
    return os_reason(error)
  return "%s: %s" % (type(error).__name__, error)


def _catalog(plugin_dirs: PluginDirs) -> _Catalog:
  """Scans every folder and entry point; imports nothing."""
  tasks: dict[str, list[_Task]] = {}
  problems: list[str] = []
  seen_folders = set()
  for folder in _folders(plugin_dirs):
    real_folder = os.path.realpath(folder)
    if real_folder in seen_folders:
      continue
    seen_folders.add(real_folder)
    if not os.path.isdir(folder):
      problems.append("%s: processors folder not found" % folder)
      continue
    in_package = real_folder == os.path.realpath(_PACKAGE_DIR)
    for file_name in sorted(os.listdir(folder)):
      if not file_name.endswith(".py") or file_name.startswith("_") or file_name in _SKIPPED_FILES:
        continue
      path = os.path.join(folder, file_name)
      if not os.path.isfile(path):
        continue
      try:
        found = _scan_file(path)
      except (SyntaxError, ValueError, OSError) as e:
        problems.append("%s: cannot read plugin file: %s" % (path, _describe_parse_error(e)))
        continue
      for task_name, class_name in found:
        tasks.setdefault(task_name, []).append(
          _Task(
            name=task_name, source=path, class_name=class_name, path=path, in_package=in_package
          )
        )
  try:
    entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
  except Exception as e:  # A broken installed package must not stop us.
    problems.append("cannot read entry points %s: %s" % (ENTRY_POINT_GROUP, _one_line(e)))
    entry_points = ()
  for entry_point in entry_points:
    task_name = entry_point.name.lower()
    tasks.setdefault(task_name, []).append(
      _Task(
        name=task_name,
        source="entry point %s = %s" % (entry_point.name, entry_point.value),
        entry_point=entry_point,
      )
    )
  for task_name, definitions in sorted(tasks.items()):
    own = [d for d in definitions if not _is_built_in(d)]
    if len(own) == 1 and len(definitions) > 1:
      # The user's copy (say their old EmotionProcessor, or the GLUE
      # classes of their whole old script) replaces ours.
      problems.append(_replaced_message(task_name, own[0], definitions))
      tasks[task_name] = own
    elif len(definitions) > 1:
      problems.append(_duplicate_message(task_name, definitions))
  return _Catalog(tasks=tasks, problems=problems)


def _is_built_in(task: _Task) -> bool:
  """A task of a file this package ships (not one a user dropped in)."""
  return task.in_package and os.path.basename(task.path) in _BUILT_IN_FILES


def _where(task: _Task) -> str:
  return "%s (%s)" % (task.source, task.class_name) if task.class_name else task.source


def _replaced_message(task_name: str, own: _Task, definitions: list[_Task]) -> str:
  built_in = " and ".join(_where(d) for d in definitions if d is not own)
  return "Task %s: %s replaces the built-in %s" % (task_name, _where(own), built_in)


def _duplicate_message(task_name: str, definitions: list[_Task]) -> str:
  where = " and ".join(_where(d) for d in definitions)
  return (
    "Task %s is defined more than once: %s. Rename one of the classes "
    "or give it a different task_name = \"...\"" % (task_name, where)
  )


def available_tasks(plugin_dirs: PluginDirs = ()) -> dict[str, str]:
  """Lists the tasks that can be requested, without importing any of them.

  Tasks defined twice are left out (see `plugin_problems`). A listed task can
  still fail in `get_processor` if its module fails to import.

  Args:
      plugin_dirs: Extra folders of plugin `.py` files, searched after the
          package folder and before `BERT_PROCESSORS_PATH`: an iterable of
          paths, one path-like, or a str of `os.pathsep`-separated folders.

  Returns:
      Task name (lower case) -> source (the file path, or
      "entry point <name> = <module>:<Class>"), sorted by name.
  """
  catalog = _catalog(plugin_dirs)
  return {
    name: definitions[0].source
    for name, definitions in sorted(catalog.tasks.items())
    if len(definitions) == 1
  }


def plugin_problems(plugin_dirs: PluginDirs = ()) -> list[str]:
  """Lists what keeps some tasks from being found, one line each.

  These are plugin files that cannot be parsed (the tasks in them are not
  listed), plugin folders that do not exist, and task names claimed by two
  sources. None of them is fatal: run_classifier.py logs them as warnings,
  and they are repeated in the error when a task is not found.

  Args:
      plugin_dirs: As for `available_tasks`.

  Returns:
      A list of one-line messages, each naming the file(s) or folder at fault.
  """
  return _catalog(plugin_dirs).problems


def _plugin_module_name(path: str) -> str:
  stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
  digest = hashlib.sha1(os.path.realpath(path).encode("utf-8")).hexdigest()
  return "_bert_classic_plugin_%s_%s" % (stem, digest[:10])


def _import_file(task: _Task):
  """Imports the module of a plugin file as legacy code (`legacy.hooks`).

  Files in the package folder become `processors.<stem>`, others get a
  private module name; either is imported once.
  """
  from legacy import hooks  # The layer above: only plugin files need it.

  stem = os.path.splitext(os.path.basename(task.path))[0]
  if task.in_package and stem.isidentifier():
    module_name = "%s.%s" % (_PACKAGE_NAME, stem)
  else:
    module_name = _plugin_module_name(task.path)
  if module_name in sys.modules:
    return sys.modules[module_name]
  return hooks.load_legacy_file(module_name, task.path)


def plugin_location(error: BaseException) -> str | None:
  """`file:line` of the innermost traceback frame of `error` that lies in a
  plugin file (or a module beside one), or None."""
  hooks = sys.modules.get("legacy.hooks")  # Not loaded: no plugin file was either.
  frame = None if hooks is None else hooks.legacy_frame(error)
  return None if frame is None else "%s:%s" % (frame.filename, frame.lineno)


def describe_error(error: BaseException) -> str:
  """One line for an error raised by plugin code: `file:line: Type: message`
  (just `Type: message` when no frame lies in plugin code)."""
  text = "%s: %s" % (type(error).__name__, _one_line(error))
  where = plugin_location(error)
  return text if where is None else "%s: %s" % (where, text)


def _load_class(task: _Task) -> type:
  """Imports the module of one task and returns its class."""
  if task.entry_point is not None:
    try:
      return task.entry_point.load()
    except (Exception, SystemExit) as e:
      raise TaskError(
        "Task %s: cannot load %s: %s" % (task.name, task.source, describe_error(e))
      ) from e
  try:
    module = _import_file(task)
  except (Exception, SystemExit) as e:
    raise TaskError(
      "Task %s: cannot import %s: %s" % (task.name, task.path, describe_error(e))
    ) from e
  cls = getattr(module, task.class_name, None)
  if cls is None:
    raise TaskError(
      "Task %s: %s defines no class %s at import" % (task.name, task.path, task.class_name)
    )
  return cls


_PROCESSOR_METHODS = ("get_train_examples", "get_dev_examples", "get_test_examples", "get_labels")


def _is_processor_class(cls) -> bool:
  """A `DataProcessor` subclass, or a class with its four methods."""
  if not isinstance(cls, type):
    return False
  return issubclass(cls, DataProcessor) or all(
    callable(getattr(cls, method, None)) for method in _PROCESSOR_METHODS
  )


def load_task_class(task_name: str, plugin_dirs: PluginDirs = ()) -> type:
  """Imports the module that defines a task and returns the task's class.

  This is what `get_processor` does before it instantiates the class;
  run_classifier.py calls it before it parses the command line, so that the
  flags a plugin defines can be set there.

  Raises:
      TaskError: as `get_processor`.
  """
  name = task_name.lower()
  catalog = _catalog(plugin_dirs)
  definitions = catalog.tasks.get(name, [])
  if not definitions:
    available = sorted(n for n, d in catalog.tasks.items() if len(d) == 1)
    message = "Task not found: %s. Available tasks: %s" % (name, ", ".join(available) or "(none)")
    if catalog.problems:
      message += ". Problems: %s" % "; ".join(catalog.problems)
    raise UnknownTaskError(message)
  if len(definitions) > 1:
    raise TaskError(_duplicate_message(name, definitions))
  task = definitions[0]
  cls = _load_class(task)
  if not _is_processor_class(cls):
    missing = [m for m in _PROCESSOR_METHODS if not callable(getattr(cls, m, None))]
    raise TaskError(
      "Task %s: %s in %s is not a data processor: it neither subclasses "
      "processors.DataProcessor nor has %s"
      % (
        name,
        getattr(cls, "__name__", task.class_name or cls),
        task.source,
        ", ".join(missing) or "the four get_* methods",
      )
    )
  return cls


def get_processor(task_name: str, plugin_dirs: PluginDirs = ()) -> DataProcessor:
  """Returns a new instance of the processor of a task.

  Only the module that defines the task is imported (see `load_task_class`).
  Plugin files from the package folder are imported as `processors.<stem>`,
  others under a private module name, both as legacy code, so a class copied
  from an old run_classifier.py with its header runs as it is.

  Args:
      task_name: str. The task, in any case ("CoLA" finds "cola").
      plugin_dirs: As for `available_tasks`.

  Returns:
      An instance of the task's class.

  Raises:
      TaskError: if the task is unknown ("Task not found: <name>. Available
          tasks: ..."), defined twice, or its module fails to import, its
          class is not a data processor or cannot be instantiated.
  """
  cls = load_task_class(task_name, plugin_dirs)
  try:
    return cls()
  except Exception as e:
    raise TaskError(
      "Task %s: %s() failed: %s" % (task_name.lower(), cls.__name__, describe_error(e))
    ) from e
