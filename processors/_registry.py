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

The task name is the string literal in a `task_name = "..."` assignment in the
class body, or else the class name without a trailing `Processor`; either is
lower-cased, and lookups are case-insensitive. An entry point's name is its task
name.

Only the module defining the requested task is imported, by `get_processor`. A
plugin file that cannot be parsed, or two sources that claim one task name, are
reported by `plugin_problems` and only make requests for the affected task
fail; every other task keeps working.
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

from processors.base import DataProcessor

ENTRY_POINT_GROUP = "bert_classic.processors"
PATH_ENV_VAR = "BERT_PROCESSORS_PATH"

_PACKAGE_NAME = __name__.rpartition(".")[0]
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_SKIPPED_FILES = ("base.py",)

PluginDirs = str | os.PathLike | Iterable[str | os.PathLike] | None


class TaskError(ValueError):
    """A task that cannot be found, is defined twice, or cannot be loaded.

    The message is one line naming the task and, where there is one, the file
    or entry point at fault.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


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
        return class_name[:-len("Processor")]
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
        if (any(isinstance(t, ast.Name) and t.id == "task_name" for t in targets)
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)):
            name = value.value
    return name


def _scan_file(path: str) -> list[tuple[str, str]]:
    """Returns (task name, class name) for each task class in a .py file.

    Raises:
        SyntaxError, ValueError or OSError if the file cannot be read or parsed.
    """
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), filename=path)
    found = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
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
        return error.strerror or str(error)
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
            if (not file_name.endswith(".py") or file_name.startswith("_")
                    or file_name in _SKIPPED_FILES):
                continue
            path = os.path.join(folder, file_name)
            if not os.path.isfile(path):
                continue
            try:
                found = _scan_file(path)
            except (SyntaxError, ValueError, OSError) as e:
                problems.append("%s: cannot read plugin file: %s"
                                % (path, _describe_parse_error(e)))
                continue
            for task_name, class_name in found:
                tasks.setdefault(task_name, []).append(_Task(
                    name=task_name, source=path, class_name=class_name,
                    path=path, in_package=in_package))
    try:
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception as e:  # A broken installed package must not stop us.
        problems.append("cannot read entry points %s: %s"
                        % (ENTRY_POINT_GROUP, _one_line(e)))
        entry_points = ()
    for entry_point in entry_points:
        task_name = entry_point.name.lower()
        tasks.setdefault(task_name, []).append(_Task(
            name=task_name,
            source="entry point %s = %s" % (entry_point.name, entry_point.value),
            entry_point=entry_point))
    for task_name, definitions in sorted(tasks.items()):
        if len(definitions) > 1:
            problems.append(_duplicate_message(task_name, definitions))
    return _Catalog(tasks=tasks, problems=problems)


def _duplicate_message(task_name: str, definitions: list[_Task]) -> str:
    where = " and ".join(
        "%s (%s)" % (d.source, d.class_name) if d.class_name else d.source
        for d in definitions)
    return ("Task %s is defined more than once: %s. Rename one of the classes "
            "or give it a different task_name = \"...\"" % (task_name, where))


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
    return {name: definitions[0].source
            for name, definitions in sorted(catalog.tasks.items())
            if len(definitions) == 1}


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


def _hint(error: BaseException) -> str:
    """Advice for the errors that code pasted from Google's script meets."""
    missing = getattr(error, "name", None) if isinstance(error, ImportError) else None
    if missing in ("tokenization", "modeling", "optimization"):
        return "; use `from bert import %s`" % missing
    if missing == "run_classifier" or "run_classifier" in str(error):
        return ("; use `from processors import DataProcessor, InputExample` "
                "instead of importing run_classifier")
    if type(error).__name__ == "DuplicateFlagError":
        return ("; a plugin must not define flags or import run_classifier, use "
                "`from processors import DataProcessor, InputExample`")
    if isinstance(error, AttributeError) and re.search(
            r"'tensorflow' has no attribute '(flags|app|gfile|logging)'",
            str(error)):
        return "; a plugin needs no TensorFlow: use `from processors import ...`"
    return ""


def _plugin_module_name(path: str) -> str:
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    digest = hashlib.sha1(os.path.realpath(path).encode("utf-8")).hexdigest()
    return "_bert_classic_plugin_%s_%s" % (stem, digest[:10])


def _import_file(task: _Task):
    """Imports the module of a plugin file (package files as processors.<stem>)."""
    stem = os.path.splitext(os.path.basename(task.path))[0]
    if task.in_package and stem.isidentifier():
        importlib.invalidate_caches()  # See files dropped in since start-up.
        return importlib.import_module("%s.%s" % (_PACKAGE_NAME, stem))
    module_name = _plugin_module_name(task.path)
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, task.path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    folder = os.path.dirname(task.path)
    sys.path.insert(0, folder)  # So the plugin can import its own helpers.
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
    return module


def _load_class(task: _Task) -> type:
    """Imports the module of one task and returns its class."""
    if task.entry_point is not None:
        try:
            return task.entry_point.load()
        except (Exception, SystemExit) as e:
            raise TaskError("Task %s: cannot load %s: %s: %s%s" % (
                task.name, task.source, type(e).__name__, _one_line(e),
                _hint(e))) from e
    try:
        module = _import_file(task)
    except (Exception, SystemExit) as e:
        raise TaskError("Task %s: cannot import %s: %s: %s%s" % (
            task.name, task.path, type(e).__name__, _one_line(e),
            _hint(e))) from e
    cls = getattr(module, task.class_name, None)
    if cls is None:
        raise TaskError("Task %s: %s defines no class %s at import" % (
            task.name, task.path, task.class_name))
    return cls


def get_processor(task_name: str, plugin_dirs: PluginDirs = ()) -> DataProcessor:
    """Returns a new instance of the processor of a task.

    Only the module that defines the task is imported. Plugin files from the
    package folder are imported as `processors.<stem>`, others under a private
    module name. A plugin imports the base classes with
    `from processors import DataProcessor, InputExample` (code pasted from
    Google's script imports them from `run_classifier` and uses
    `import tokenization`; change those to the processors import and
    `from bert import tokenization`).

    Args:
        task_name: str. The task, in any case ("CoLA" finds "cola").
        plugin_dirs: As for `available_tasks`.

    Returns:
        An instance of the task's `DataProcessor` subclass.

    Raises:
        TaskError: if the task is unknown ("Task not found: <name>. Available
            tasks: ..."), defined twice, or its module fails to import, its
            class is not a `DataProcessor` subclass or cannot be instantiated.
    """
    name = task_name.lower()
    catalog = _catalog(plugin_dirs)
    definitions = catalog.tasks.get(name, [])
    if not definitions:
        available = sorted(n for n, d in catalog.tasks.items() if len(d) == 1)
        message = "Task not found: %s. Available tasks: %s" % (
            name, ", ".join(available) or "(none)")
        if catalog.problems:
            message += ". Problems: %s" % "; ".join(catalog.problems)
        raise TaskError(message)
    if len(definitions) > 1:
        raise TaskError(_duplicate_message(name, definitions))
    task = definitions[0]
    cls = _load_class(task)
    if not (isinstance(cls, type) and issubclass(cls, DataProcessor)):
        raise TaskError(
            "Task %s: %s in %s is not a subclass of processors.DataProcessor; "
            "write `from processors import DataProcessor, InputExample` and do "
            "not define your own DataProcessor" % (
                name, getattr(cls, "__name__", task.class_name or cls),
                task.source))
    try:
        return cls()
    except Exception as e:
        raise TaskError("Task %s: %s() in %s failed: %s: %s" % (
            name, cls.__name__, task.source, type(e).__name__,
            _one_line(e))) from e
