"""Tests for the task registry in processors/ (no TensorFlow)."""

import glob
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

import processors
from processors import TaskError, available_tasks, get_processor, plugin_problems
from processors.glue import ColaProcessor

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.dirname(os.path.abspath(processors.__file__))
BUILT_IN = ["cola", "emotion", "mnli", "mrpc", "tabular", "xnli"]

SIMPLE_PLUGIN = '''
import os
from processors import DataProcessor, InputExample


class {cls}(DataProcessor):
    {body}
    def get_train_examples(self, data_dir):
        lines = self._read_tsv(os.path.join(data_dir, "train.tsv"))
        return [InputExample("train-%d" % i, line[1], None, line[0])
                for (i, line) in enumerate(lines)]

    def get_labels(self):
        return ["a", "b"]
'''


@pytest.fixture(autouse=True)
def _no_env_path(monkeypatch):
  monkeypatch.delenv(processors.PATH_ENV_VAR, raising=False)


def _plugin(folder, file_name, cls="SentimentProcessor", body="", source=None):
  """Writes a plugin file into `folder`; returns its path."""
  os.makedirs(str(folder), exist_ok=True)
  path = os.path.join(str(folder), file_name)
  if source is None:
    source = SIMPLE_PLUGIN.format(cls=cls, body=body or "pass")
  with open(path, "w", encoding="utf-8") as f:
    f.write(textwrap.dedent(source))
  return path


# --- built-in tasks -------------------------------------------------------------


def test_built_in_tasks_are_listed():
  tasks = available_tasks()
  assert set(BUILT_IN) <= set(tasks)
  assert list(tasks) == sorted(tasks)
  assert tasks["cola"] == os.path.join(PACKAGE_DIR, "glue.py")
  assert tasks["emotion"] == os.path.join(PACKAGE_DIR, "emotion.py")
  assert plugin_problems() == []


@pytest.mark.parametrize(
  "name,module",
  [
    ("cola", "processors.glue"),
    ("mnli", "processors.glue"),
    ("mrpc", "processors.glue"),
    ("xnli", "processors.glue"),
    ("emotion", "processors.emotion"),
  ],
)
def test_get_built_in_processor(name, module):
  processor = get_processor(name)
  assert isinstance(processor, processors.DataProcessor)
  assert type(processor).__module__ == module


def test_lookup_is_case_insensitive():
  assert isinstance(get_processor("CoLA"), ColaProcessor)
  assert isinstance(get_processor("COLA"), ColaProcessor)
  assert type(get_processor("Emotion")).__name__ == "EmotionProcessor"


def test_each_call_returns_a_new_instance():
  assert get_processor("xnli") is not get_processor("xnli")


def test_unknown_task_lists_available_tasks():
  with pytest.raises(TaskError) as info:
    get_processor("Nope")
  message = str(info.value)
  assert message.startswith("Task not found: nope. Available tasks: ")
  assert "cola, emotion, mnli, mrpc, tabular, xnli" in message
  assert "\n" not in message
  assert isinstance(info.value, ValueError)


def test_exports():
  for name in [
    "DataProcessor",
    "InputExample",
    "PaddingInputExample",
    "InputFeatures",
    "DataError",
    "TaskError",
    "available_tasks",
    "get_processor",
    "plugin_problems",
  ]:
    assert hasattr(processors, name), name


# --- plugin folders -------------------------------------------------------------


def test_plugin_dir_adds_a_task(tmp_path):
  plugins = tmp_path / "plugins"
  path = _plugin(plugins, "sentiment.py")
  assert "sentiment" not in available_tasks()
  assert available_tasks([str(plugins)])["sentiment"] == path
  processor = get_processor("sentiment", [str(plugins)])
  assert isinstance(processor, processors.DataProcessor)
  data = tmp_path / "data"
  data.mkdir()
  (data / "train.tsv").write_text("a\thello\n", encoding="utf-8")
  [example] = processor.get_train_examples(str(data))
  assert (example.guid, example.text_a, example.label) == ("train-0", "hello", "a")


def test_plugin_dirs_accepts_a_str_or_path(tmp_path):
  plugins = tmp_path / "plugins"
  _plugin(plugins, "sentiment.py")
  other = tmp_path / "other"
  _plugin(other, "topic.py", cls="TopicProcessor")
  assert "sentiment" in available_tasks(plugins)
  both = available_tasks(str(plugins) + os.pathsep + str(other))
  assert {"sentiment", "topic"} <= set(both)
  assert "sentiment" not in available_tasks(None)  # None: no extra folders.


def test_env_var_adds_tasks(tmp_path, monkeypatch):
  first = tmp_path / "first"
  second = tmp_path / "second"
  _plugin(first, "sentiment.py")
  _plugin(second, "topic.py", cls="TopicProcessor")
  monkeypatch.setenv(processors.PATH_ENV_VAR, str(first) + os.pathsep + os.pathsep + str(second))
  tasks = available_tasks()
  assert {"sentiment", "topic"} <= set(tasks)
  assert type(get_processor("Topic")).__name__ == "TopicProcessor"


def test_task_name_attribute(tmp_path):
  plugins = tmp_path / "plugins"
  _plugin(plugins, "whatever.py", cls="SomeOtherName", body='task_name = "MyTask"')
  tasks = available_tasks([plugins])
  assert "mytask" in tasks and "someothername" not in tasks
  processor = get_processor("MYTASK", [plugins])
  assert type(processor).__name__ == "SomeOtherName"


def test_class_name_without_processor_suffix(tmp_path):
  plugins = tmp_path / "plugins"
  _plugin(plugins, "a.py", cls="ToxicCommentsProcessor")
  _plugin(plugins, "b.py", cls="Spam")  # No suffix: the whole name.
  _plugin(plugins, "c.py", cls="Processor")  # Nothing left after stripping.
  tasks = available_tasks([plugins])
  assert {"toxiccomments", "spam", "processor"} <= set(tasks)


def test_which_classes_are_tasks(tmp_path):
  plugins = tmp_path / "plugins"
  _plugin(
    plugins,
    "mixed.py",
    source='''
        import processors
        from processors import DataProcessor
        from processors.glue import MrpcProcessor


        class BaseTsvProcessor(DataProcessor):      # abstract helper: skipped
            pass


        class _HelperProcessor(DataProcessor):      # private: skipped
            pass


        class Helper(object):                       # not a processor
            pass


        class SpamProcessor(BaseTsvProcessor):      # "spam"
            def get_labels(self):
                return ["0", "1"]


        class QualifiedProcessor(processors.DataProcessor):   # "qualified"
            pass


        class ParaphraseProcessor(MrpcProcessor):   # subclass of a task
            pass


        class Plain(DataProcessor):                 # "plain": no suffix to strip
            pass


        if True:
            class HiddenProcessor(DataProcessor):  # not top level: not seen
                pass
        ''',
  )
  _plugin(plugins, "_private.py", cls="PrivateProcessor")
  _plugin(plugins, "base.py", cls="BaseFileProcessor")
  tasks = {
    name for name, source in available_tasks([plugins]).items() if source.startswith(str(plugins))
  }
  assert tasks == {"spam", "qualified", "paraphrase", "plain"}
  assert get_processor("paraphrase", [plugins]).get_labels() == ["0", "1"]


def test_listing_does_not_import_plugins(tmp_path):
  plugins = tmp_path / "plugins"
  marker = tmp_path / "imported"
  _plugin(
    plugins,
    "noisy.py",
    source='''
        open(%r, "w").close()
        from processors import DataProcessor


        class NoisyProcessor(DataProcessor):
            pass
        '''
    % str(marker),
  )
  assert "noisy" in available_tasks([plugins])
  assert plugin_problems([plugins]) == []
  assert not marker.exists()
  get_processor("noisy", [plugins])
  assert marker.exists()


def test_plugin_can_import_its_own_helper_module(tmp_path):
  plugins = tmp_path / "plugins"
  os.makedirs(str(plugins))
  (plugins / "_labels_for_test_registry.py").write_text("LABELS = ['x', 'y']\n")
  _plugin(
    plugins,
    "helped.py",
    source='''
        from processors import DataProcessor
        from _labels_for_test_registry import LABELS


        class HelpedProcessor(DataProcessor):
            def get_labels(self):
                return LABELS
        ''',
  )
  try:
    assert get_processor("helped", [plugins]).get_labels() == ["x", "y"]
    assert str(plugins) not in sys.path
  finally:
    sys.modules.pop("_labels_for_test_registry", None)


def test_plugin_module_is_imported_once(tmp_path):
  plugins = tmp_path / "plugins"
  _plugin(plugins, "sentiment.py")
  first = get_processor("sentiment", [plugins])
  second = get_processor("sentiment", [plugins])
  assert type(first) is type(second)


def test_missing_plugin_folder_is_a_problem_not_an_error(tmp_path):
  missing = str(tmp_path / "typo")
  assert set(BUILT_IN) <= set(available_tasks([missing]))
  assert plugin_problems([missing]) == ["%s: processors folder not found" % missing]
  with pytest.raises(TaskError) as info:
    get_processor("sentiment", [missing])
  assert "%s: processors folder not found" % missing in str(info.value)


def test_same_folder_twice_is_not_a_duplicate(tmp_path, monkeypatch):
  plugins = tmp_path / "plugins"
  _plugin(plugins, "sentiment.py")
  monkeypatch.setenv(processors.PATH_ENV_VAR, str(plugins))
  assert "sentiment" in available_tasks([plugins, PACKAGE_DIR])
  assert plugin_problems([plugins, PACKAGE_DIR]) == []


# --- errors ---------------------------------------------------------------------


def test_duplicate_task_name_names_both_files(tmp_path):
  plugins = tmp_path / "plugins"
  first = _plugin(plugins, "one.py", cls="DupProcessor")
  second = _plugin(plugins, "two.py", cls="Other", body='task_name = "dup"')
  _plugin(plugins, "fine.py", cls="FineProcessor")
  with pytest.raises(TaskError) as info:
    get_processor("DUP", [plugins])
  message = str(info.value)
  assert first in message and second in message
  assert message.startswith("Task dup is defined more than once: ")
  assert "dup" not in available_tasks([plugins])
  assert "fine" in available_tasks([plugins])
  get_processor("fine", [plugins])
  [problem] = plugin_problems([plugins])
  assert first in problem and second in problem


def test_plugin_with_a_built_in_name_replaces_it(tmp_path):
  plugins = tmp_path / "plugins"
  mine = _plugin(plugins, "mycola.py", cls="ColaProcessor")
  processor = get_processor("cola", [plugins])
  assert not isinstance(processor, ColaProcessor)
  assert processor.get_labels() == ["a", "b"]
  assert available_tasks([plugins])["cola"] == mine
  assert plugin_problems([plugins]) == [
    "Task cola: %s (ColaProcessor) replaces the built-in %s "
    "(ColaProcessor)" % (mine, os.path.join(PACKAGE_DIR, "glue.py"))
  ]
  assert isinstance(get_processor("cola"), ColaProcessor)  # Without the plugin.


def test_two_plugins_with_a_built_in_name_are_a_duplicate(tmp_path):
  first = _plugin(tmp_path / "one", "a.py", cls="EmotionProcessor")
  second = _plugin(tmp_path / "two", "b.py", cls="EmotionProcessor")
  with pytest.raises(TaskError) as info:
    get_processor("emotion", [tmp_path / "one", tmp_path / "two"])
  assert first in str(info.value) and second in str(info.value)


def test_syntax_error_file_is_reported_and_others_still_work(tmp_path):
  plugins = tmp_path / "plugins"
  broken = _plugin(
    plugins,
    "broken.py",
    source='''
        from processors import DataProcessor


        class BrokenProcessor(DataProcessor)
            pass
        ''',
  )
  _plugin(plugins, "sentiment.py")
  tasks = available_tasks([plugins])
  assert "sentiment" in tasks and "cola" in tasks and "broken" not in tasks
  [problem] = plugin_problems([plugins])
  assert problem.startswith("%s: cannot read plugin file: " % broken)
  assert "line 5" in problem
  assert isinstance(get_processor("cola", [plugins]), ColaProcessor)
  get_processor("sentiment", [plugins])
  with pytest.raises(TaskError) as info:
    get_processor("broken", [plugins])
  assert str(info.value).startswith("Task not found: broken. Available tasks: ")
  assert broken in str(info.value) and "line 5" in str(info.value)


def test_import_error_names_file_and_cause_only_for_its_tasks(tmp_path):
  plugins = tmp_path / "plugins"
  pasted = _plugin(
    plugins,
    "pasted.py",
    source='''
        import no_such_helper_module
        from processors import DataProcessor


        class PastedProcessor(DataProcessor):
            pass


        class AlsoPastedProcessor(DataProcessor):
            pass
        ''',
  )
  _plugin(plugins, "sentiment.py")
  assert {"pasted", "alsopasted", "sentiment"} <= set(available_tasks([plugins]))
  for name in ["pasted", "alsopasted"]:
    with pytest.raises(TaskError) as info:
      get_processor(name, [plugins])
    assert str(info.value) == (
      "Task %s: cannot import %s: %s:2: ModuleNotFoundError: No module "
      "named 'no_such_helper_module'" % (name, pasted, pasted)
    )
  get_processor("sentiment", [plugins])
  assert not [m for m in sys.modules if m.startswith("_bert_classic_plugin_pasted")]


def test_runtime_error_in_plugin_module(tmp_path):
  plugins = tmp_path / "plugins"
  path = _plugin(
    plugins,
    "boom.py",
    source='''
        from processors import DataProcessor
        raise RuntimeError("boom\\non two lines")


        class BoomProcessor(DataProcessor):
            pass
        ''',
  )
  with pytest.raises(TaskError) as info:
    get_processor("boom", [plugins])
  assert str(info.value) == (
    "Task boom: cannot import %s: %s:3: RuntimeError: boom on two lines" % (path, path)
  )


def test_class_without_the_processor_methods_is_refused(tmp_path):
  plugins = tmp_path / "plugins"
  path = _plugin(
    plugins,
    "own_base.py",
    source='''
        class DataProcessor(object):   # a copy of the base class, but empty
            pass


        class OwnProcessor(DataProcessor):
            def get_labels(self):
                return ["a"]
        ''',
  )
  assert "own" in available_tasks([plugins])
  with pytest.raises(TaskError) as info:
    get_processor("own", [plugins])
  assert str(info.value) == (
    "Task own: OwnProcessor in %s is not a data processor: it neither "
    "subclasses processors.DataProcessor nor has get_train_examples, "
    "get_dev_examples, get_test_examples" % path
  )


def test_failing_constructor(tmp_path):
  plugins = tmp_path / "plugins"
  path = _plugin(
    plugins,
    "ctor.py",
    cls="CtorProcessor",
    body="def __init__(self):\n        raise KeyError('x')\n",
  )
  with pytest.raises(TaskError) as info:
    get_processor("ctor", [plugins])
  assert str(info.value) == ("Task ctor: CtorProcessor() failed: %s:8: KeyError: 'x'" % path)


# --- entry points ---------------------------------------------------------------


def test_entry_point_adds_a_task(tmp_path, monkeypatch):
  site = tmp_path / "site"
  module = "ep_plugin_%s" % uuid.uuid4().hex[:8]
  _plugin(site, module + ".py", cls="EpDemoProcessor")
  dist_info = site / "bert_classic_test_plugin-0.1.dist-info"
  dist_info.mkdir()
  (dist_info / "METADATA").write_text(
    "Metadata-Version: 2.1\nName: bert-classic-test-plugin\nVersion: 0.1\n"
  )
  (dist_info / "entry_points.txt").write_text(
    "[bert_classic.processors]\nEpDemo = %s:EpDemoProcessor\n"
    "epbroken = %s:NoSuchClass\n" % (module, module)
  )
  monkeypatch.syspath_prepend(str(site))
  try:
    tasks = available_tasks()
    assert tasks["epdemo"] == "entry point EpDemo = %s:EpDemoProcessor" % module
    assert module not in sys.modules  # Listing imports nothing.
    processor = get_processor("EPDEMO")
    assert type(processor).__name__ == "EpDemoProcessor"
    with pytest.raises(TaskError) as info:
      get_processor("epbroken")
    assert str(info.value).startswith(
      "Task epbroken: cannot load entry point epbroken = %s:NoSuchClass: AttributeError" % module
    )
  finally:
    sys.modules.pop(module, None)


# --- the real processors/ folder ------------------------------------------------


@pytest.fixture
def dropped_in_package():
  """Drops a plugin file into the real processors/ folder, then removes it."""
  stem = "tmp_test_registry_%s" % uuid.uuid4().hex[:8]
  path = os.path.join(PACKAGE_DIR, stem + ".py")
  try:
    _plugin(PACKAGE_DIR, stem + ".py", cls="DroppedInProcessor", body='task_name = "%s"' % stem)
    yield stem, path
  finally:
    os.remove(path)
    for cached in glob.glob(os.path.join(PACKAGE_DIR, "__pycache__", stem + ".*")):
      os.remove(cached)
    sys.modules.pop("processors." + stem, None)


def test_file_dropped_into_processors_folder_is_a_task(dropped_in_package):
  stem, path = dropped_in_package
  assert available_tasks()[stem] == path
  processor = get_processor(stem.upper())
  assert type(processor).__module__ == "processors." + stem
  assert type(processor).__name__ == "DroppedInProcessor"


# --- no TensorFlow --------------------------------------------------------------


def test_listing_and_loading_do_not_import_tensorflow():
  code = textwrap.dedent('''
        import sys
        import processors
        tasks = processors.available_tasks()
        assert "cola" in tasks, tasks
        assert "processors.glue" not in sys.modules
        assert "processors.emotion" not in sys.modules
        processors.get_processor("cola")
        processors.get_processor("emotion")
        assert "tensorflow" not in sys.modules
        print("ok")
        ''')
  env = dict(os.environ)
  env.pop(processors.PATH_ENV_VAR, None)
  result = subprocess.run(
    [sys.executable, "-c", code],
    cwd=REPO_ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == "ok"
