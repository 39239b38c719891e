"""The layers of the code (CONTRIBUTING.md, "Layers"): no import points up, none goes round.

Every import of every product module is read with `ast` (those inside functions too),
without importing anything. A module may import its own layer's package and the layers
below; export/ and serving/ stand side by side and do not import each other. A file
that imports another that (directly or not) imports it back is a circle. The few
exceptions are named below with their reason; one that no longer occurs fails too, so
that the list only shrinks.
"""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# From the ground up; names on one line form one layer.
LAYERS = (
  ("bert",),
  ("onnx_bert",),
  ("processors",),
  ("classifier",),
  ("export", "serving"),
  ("legacy",),
  ("run_classifier", "extract_features"),
  ("bench", "scripts"),
)
# Packages of one layer that must not import each other.
SIDE_BY_SIDE = {("export", "serving"), ("serving", "export")}

# (importing file, imported module) -> why the arrow may point up.
UPWARD_EXCEPTIONS = {
  ("bert/run_classifier.py", "run_classifier"): "the alias `from bert import run_classifier` "
  "of Google's pip package names the running script itself",
  ("processors/_registry.py", "legacy"): "a plugin file is loaded as old code (legacy.hooks), "
  "inside the function that loads it: importing processors loads no legacy module",
}
# Circles allowed, each with its reason: the files of each, as a set (none today).
CIRCLE_EXCEPTIONS: dict[frozenset, str] = {}

_LAYER_OF = {name: index for index, names in enumerate(LAYERS) for name in names}


def _product_files() -> list[str]:
  """Paths (from the root) of every product .py file: the layers' packages and scripts."""
  found = []
  for name in _LAYER_OF:
    if os.path.isfile(os.path.join(ROOT, name + ".py")):
      found.append(name + ".py")
      continue
    for folder, dirs, files in os.walk(os.path.join(ROOT, name)):
      dirs[:] = [d for d in dirs if d != "__pycache__"]
      found += [os.path.relpath(os.path.join(folder, f), ROOT) for f in files if f.endswith(".py")]
  return sorted(found)


def _module_of(path: str) -> str:
  """`bert/model_folder.py` -> `bert.model_folder`; a package's __init__ -> the package."""
  module = path[: -len(".py")].replace(os.sep, ".")
  return module[: -len(".__init__")] if module.endswith(".__init__") else module


def _imports(path: str) -> list[str]:
  """The absolute names of every module `path` imports (those of `from a import b`: a.b)."""
  with open(os.path.join(ROOT, path), encoding="utf-8") as f:
    tree = ast.parse(f.read(), path)
  package = _module_of(path).rsplit(".", 1)[0] if "/" in path else ""
  if path.endswith("__init__.py"):
    package = _module_of(path)
  names = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names += [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        parts = package.split(".")
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
      names += [base] + ["%s.%s" % (base, alias.name) for alias in node.names]
  return names


def _project_imports() -> dict[str, set[str]]:
  """File -> the project modules it imports (by their top-level package, and in full)."""
  return {
    path: {name for name in _imports(path) if name.split(".")[0] in _LAYER_OF}
    for path in _product_files()
  }


def test_every_layer_package_is_read():
  files = _product_files()
  for name in ("bert/model_folder.py", "onnx_bert/build.py", "export/onnx_export.py"):
    assert name in files
  assert not [f for f in files if f.startswith("tests/")]


def _against_layers(imports: dict[str, set[str]]) -> tuple[list[str], set]:
  """(imports that point up or sideways, the exceptions that allowed others)."""
  wrong, used = [], set()
  for path, names in imports.items():
    mine = path.split("/")[0].removesuffix(".py")
    for name in sorted(n for n in names if not any(m.startswith(n + ".") for m in names)):
      theirs = name.split(".")[0]
      if _LAYER_OF[theirs] <= _LAYER_OF[mine] and (mine, theirs) not in SIDE_BY_SIDE:
        continue
      if (path, theirs) in UPWARD_EXCEPTIONS:
        used.add((path, theirs))
      else:
        wrong.append("%s imports %s" % (path, name))
  return wrong, used


def test_no_import_points_up_or_sideways():
  wrong, used = _against_layers(_project_imports())
  assert wrong == [], "imports against the layers (CONTRIBUTING.md, Layers):\n" + "\n".join(wrong)
  assert used == set(UPWARD_EXCEPTIONS), "exceptions that no longer occur: %s" % (
    set(UPWARD_EXCEPTIONS) - used
  )


def _file_graph() -> dict[str, set[str]]:
  """File -> the product files it imports. `from a import b` means a/b.py when there is
  one, else a's __init__.py; a package's __init__.py, run first by any import of its
  modules, counts only when it is imported itself."""
  files = {_module_of(path): path for path in _product_files()}
  graph = {}
  for path, names in _project_imports().items():
    named = {name for name in names if name in files}
    # "a" stands for a's __init__.py only when no "a.b" module was named beside it.
    targets = {name for name in named if not any(other.startswith(name + ".") for other in named)}
    graph[path] = {files[name] for name in targets if files[name] != path}
  return graph


def _circles(graph: dict[str, set[str]]) -> list[frozenset]:
  """The strongly connected sets of more than one file (Tarjan's algorithm)."""
  index, low, stack, on_stack, found = {}, {}, [], set(), []

  def visit(node: str) -> None:
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    for other in sorted(graph[node]):
      if other not in index:
        visit(other)
        low[node] = min(low[node], low[other])
      elif other in on_stack:
        low[node] = min(low[node], index[other])
    if low[node] == index[node]:
      members = set()
      while True:
        member = stack.pop()
        on_stack.discard(member)
        members.add(member)
        if member == node:
          break
      if len(members) > 1:
        found.append(frozenset(members))

  for node in sorted(graph):
    if node not in index:
      visit(node)
  return found


def test_no_circles():
  circles = _circles(_file_graph())
  unexpected = [sorted(c) for c in circles if c not in CIRCLE_EXCEPTIONS]
  assert unexpected == [], "files that import each other: %s" % unexpected
  assert set(CIRCLE_EXCEPTIONS) <= set(circles), "circles gone: %s" % (
    set(CIRCLE_EXCEPTIONS) - set(circles)
  )


def test_the_check_finds_an_upward_import_and_a_circle():
  wrong, _ = _against_layers(
    {
      "bert/modeling.py": {"bert.errors", "classifier.trainer"},
      "export/hf_export.py": {"classifier.input_pipeline", "onnx_bert.runtime", "serving.files"},
      "classifier/trainer.py": {"bert.modeling", "processors"},
    }
  )
  assert wrong == [
    "bert/modeling.py imports classifier.trainer",
    "export/hf_export.py imports serving.files",
  ]
  assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset({"a", "b", "c"})]
  assert _imports("onnx_bert/__init__.py") == []
