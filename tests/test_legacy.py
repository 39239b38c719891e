"""Old code runs unchanged: plugin files with Google's header and TF1 idioms,
Google's names from run_classifier, label-order safety, plugin flags and
errors, and TF1 scripts through `bert-run-tf1` (`python -m legacy`)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from emotion_data import VOCAB, write_emotion_data, write_model_dir

import processors
from processors import get_processor, labels_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "run_classifier.py")

# The first lines of Google's run_classifier.py, as users kept them.
GOOGLE_HEADER = '''
from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import csv
import os
import modeling
import optimization
import tokenization
import tensorflow as tf

flags = tf.flags

FLAGS = flags.FLAGS
'''

# A processor body in Google's style, reading the emotion layout.
EMOTION_BODY = '''
class {name}({base}):

  def get_train_examples(self, data_dir):
    return self._create_examples(
        self._read_tsv(os.path.join(data_dir, "fine_tuning_train_data.tsv")),
        "train")

  def get_dev_examples(self, data_dir):
    return self._create_examples(
        self._read_tsv(os.path.join(data_dir, "fine_tuning_val_data.tsv")),
        "dev")

  def get_test_examples(self, data_dir):
    return self._create_examples(
        self._read_tsv(os.path.join(data_dir, "fine_tuning_test_data.tsv")),
        "test")

  def get_labels(self):
    return ["0", "1", "2", "3", "4", "5", "6"]

  def _create_examples(self, lines, set_type):
    examples = []
    for i, line in enumerate(lines):
      if i == 0:
        continue
      guid = "%s-%d" % (set_type, i)
      if set_type == "test":
        text_a = tokenization.convert_to_unicode(line[0])
        label = "0"
      else:
        text_a = tokenization.convert_to_unicode(line[1])
        label = tokenization.convert_to_unicode(line[0])
      examples.append(
          {example}(guid=guid, text_a=text_a, text_b=None, label=label))
    return examples
'''

IMPORT_VARIANTS = {
  "processors": (
    "from processors import DataProcessor, InputExample",
    "DataProcessor",
    "InputExample",
  ),
  "run_classifier_from": (
    "from run_classifier import DataProcessor, InputExample",
    "DataProcessor",
    "InputExample",
  ),
  "run_classifier_module": (
    "import run_classifier",
    "run_classifier.DataProcessor",
    "run_classifier.InputExample",
  ),
  "bert_star": ("from bert.run_classifier import *", "DataProcessor", "InputExample"),
  "bert_module": (
    "from bert import run_classifier",
    "run_classifier.DataProcessor",
    "run_classifier.InputExample",
  ),
  "header_only": ("", "DataProcessor", "InputExample"),
}


@pytest.fixture(autouse=True)
def _no_env_path(monkeypatch):
  monkeypatch.delenv(processors.PATH_ENV_VAR, raising=False)


def _write(folder, name, source):
  os.makedirs(str(folder), exist_ok=True)
  path = os.path.join(str(folder), name)
  with open(path, "w", encoding="utf-8") as f:
    f.write(textwrap.dedent(source))
  return path


def _legacy_plugin(folder, file_name, class_name, variant):
  line, base, example = IMPORT_VARIANTS[variant]
  source = (
    GOOGLE_HEADER + line + "\nfrom tokenization import "
    "convert_to_unicode\n" + EMOTION_BODY.format(name=class_name, base=base, example=example)
  )
  return _write(folder, file_name, source)


# -- 1. Google's imports in plugin files (no TensorFlow needed to load) -------


@pytest.mark.parametrize("variant", sorted(IMPORT_VARIANTS))
def test_google_header_plugin_loads_and_reads(tmp_path, variant):
  plugins = tmp_path / "plugins"
  name = "Legacy%sProcessor" % variant.title().replace("_", "")
  _legacy_plugin(plugins, "legacy_%s.py" % variant, name, variant)
  data = tmp_path / "data"
  rows = write_emotion_data(str(data), n_train=12, n_val=4, n_test=3)
  task = name[: -len("Processor")].lower()
  processor = get_processor(task, [plugins])
  train = processor.get_train_examples(str(data))
  assert len(train) == 12 and train[0].guid == "train-1"
  assert {e.label for e in train} <= set(processor.get_labels())
  test = processor.get_test_examples(str(data))
  assert [e.text_a for e in test] == [text for _, text in rows]


def test_plugin_with_google_header_does_not_import_tensorflow(tmp_path):
  plugins = tmp_path / "plugins"
  _legacy_plugin(plugins, "legacy.py", "LegacyProcessor", "run_classifier_from")
  code = (
    "import sys; import processors; "
    "p = processors.get_processor('legacy', [%r]); "
    "print('tensorflow' in sys.modules)" % str(plugins)
  )
  proc = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.split() == ["False"]


# -- 2. TF1 idioms inside processor code -------------------------------------

TF1_IDIOMS = (
  GOOGLE_HEADER
  + '''
from run_classifier import DataProcessor, InputExample

flags.DEFINE_string("idiom_train_file", "train.txt", "Training file.")
tf.app.flags.DEFINE_integer("idiom_min_chars", 2, "Shortest text kept.")
flags.DEFINE_string("data_dir", None, "Copied with the script's flags.")


class IdiomProcessor(DataProcessor):

  def _read(self, data_dir, name, set_type):
    path = os.path.join(data_dir, name)
    if not tf.gfile.Exists(path):
      raise ValueError("missing %s" % path)
    assert name in tf.gfile.ListDirectory(data_dir)
    examples = []
    with tf.gfile.Open(path, "r") as f:
      for (i, line) in enumerate(f):
        label, text = line.rstrip("\\n").split("<SEP>")
        if len(text) < FLAGS.idiom_min_chars:
          tf.logging.warning("skipping short line %d", i)
          continue
        examples.append(InputExample(
            "%s-%d" % (set_type, i), tokenization.convert_to_unicode(text),
            None, tokenization.printable_text(label)))
    with tf.gfile.GFile(path, "rb") as f:
      assert len(f.read()) > 0
    tf.logging.info("read %d examples from %s", len(examples), path)
    return examples

  def get_train_examples(self, data_dir):
    return self._read(data_dir, FLAGS.idiom_train_file, "train")

  def get_dev_examples(self, data_dir):
    return self._read(data_dir, "dev.txt", "dev")

  def get_test_examples(self, data_dir):
    return self._read(data_dir, "dev.txt", "test")

  def get_labels(self):
    return ["neg", "pos"]
'''
)


def test_tf1_idioms_in_processor_code(tmp_path):
  plugins = tmp_path / "plugins"
  _write(plugins, "idiom.py", TF1_IDIOMS)
  data = tmp_path / "data"
  data.mkdir()
  (data / "train.txt").write_text(
    "pos<SEP>happy day\nneg<SEP>x\nneg<SEP>sad day\n", encoding="utf-8"
  )
  from absl import flags

  processor = get_processor("idiom", [plugins])
  if not flags.FLAGS.is_parsed():
    flags.FLAGS(["test"])
  examples = processor.get_train_examples(str(data))
  assert [(e.text_a, e.label) for e in examples] == [("happy day", "pos"), ("sad day", "neg")]
  assert flags.FLAGS["idiom_min_chars"].default == 2


def test_tf_view_is_tf2_first_and_v1_for_dropped_names():
  import tensorflow as tf

  from legacy.errors import NotProvided
  from legacy.flags import legacy_flags
  from legacy.tf_view import tensorflow_view

  view = tensorflow_view()
  assert view.constant is tf.constant
  assert view.__version__ == tf.__version__
  assert view.gfile is tf.compat.v1.gfile
  assert view.python_io is tf.compat.v1.python_io
  assert view.flags is legacy_flags
  assert view.app.flags is legacy_flags
  with pytest.raises(AttributeError, match="tf.contrib was removed"):
    _ = view.contrib
  assert tensorflow_view(v1=True).placeholder is tf.compat.v1.placeholder
  with pytest.raises(NotProvided, match="tf.no_such_name is not provided"):
    _ = tensorflow_view(v1=True).no_such_name
  assert not hasattr(tensorflow_view(v1=True), "no_such_name")
  # Our own modules keep the real TensorFlow.
  assert not hasattr(tf, "gfile")


def test_tf1_view_tpu_resolver_under_tf_distribute_says_how_to_reach_a_tpu():
  """Scripts moved to TF 1.15 build the resolver as tf.distribute.cluster_resolver.
  TPUClusterResolver: under bert-run-tf1 it is the one-line usage error, not
  TensorFlow's own (which looks for a Cloud TPU on the network)."""
  import tensorflow as tf

  from legacy import tpu
  from legacy.errors import NoTPU
  from legacy.tf_view import tensorflow_view

  distribute = tensorflow_view(v1=True).distribute
  with pytest.raises(NoTPU, match=r"TPUClusterResolver\('my-tpu'\): bert-run-tf1 runs"):
    distribute.cluster_resolver.TPUClusterResolver("my-tpu", zone=None, project=None)
  assert distribute.cluster_resolver.TPUClusterResolver is tpu.TPUClusterResolver
  resolvers = tf.compat.v1.distribute.cluster_resolver
  assert distribute.cluster_resolver.SimpleClusterResolver is resolvers.SimpleClusterResolver
  assert distribute.get_strategy is tf.compat.v1.distribute.get_strategy


def test_redefined_flag_keeps_the_first_and_takes_the_new_default():
  from absl import flags

  from legacy.flags import legacy_flags

  flag_values = flags.FlagValues()
  flags.DEFINE_string("train_file", "train.tsv", "ours", flag_values=flag_values)
  legacy_flags.DEFINE_string("train_file", "xa1k.csv", "theirs", flag_values=flag_values)
  legacy_flags.DEFINE_integer("train_file_n", 3, "new", flag_values=flag_values)
  assert flag_values["train_file"].default == "xa1k.csv"
  assert flag_values["train_file"].help == "ours"
  assert flag_values["train_file_n"].default == 3


def test_helper_module_beside_the_plugin_imported_later(tmp_path):
  plugins = tmp_path / "plugins"
  _write(
    plugins,
    "label_names_helper.py",
    '''
      import tensorflow as tf

      def read_labels(path):
        with tf.gfile.GFile(path, "r") as f:
          return f.read().split()
      ''',
  )
  _write(
    plugins,
    "late.py",
    '''
      import os

      class LateProcessor(DataProcessor):
        def get_labels(self, data_dir):
          import label_names_helper   # inside a method, as old code did
          return label_names_helper.read_labels(
              os.path.join(data_dir, "labels.txt"))
      ''',
  )
  (tmp_path / "labels.txt").write_text("b a")
  processor = get_processor("late", [plugins])
  assert labels_of(processor, str(tmp_path)) == ["b", "a"]


def test_flags_read_at_import_time_are_parsed_first(tmp_path):
  """TF1's FLAGS parsed the command line when first read, before app.run."""
  plugins = tmp_path / "plugins"
  _write(
    plugins,
    "early.py",
    GOOGLE_HEADER
    + '''
flags.DEFINE_integer("early_width", 3, "A plugin flag.")
MAX_LEN = FLAGS.max_seq_length   # read while the module is imported


class EarlyProcessor(DataProcessor):
  def get_labels(self):
    return [str(MAX_LEN), str(FLAGS.early_width)]
''',
  )
  code = (
    "import sys, run_classifier, processors\n"
    "sys.argv = ['x', '--max_seq_length=20', '--early_width=5']\n"
    "run_classifier._import_requested_task(sys.argv + "
    "['--task_name=early', '--processors_dir=%s'])\n"
    "run_classifier.FLAGS(sys.argv)\n"
    "print(processors.get_processor('early', [%r]).get_labels())" % (plugins, str(plugins))
  )
  proc = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.split() == ["['20',", "'5']"]


# -- 3. the user's old task name from a `processors = {...}` dict -------------


def test_registry_dict_names_the_tasks(tmp_path):
  plugins = tmp_path / "plugins"
  _write(
    plugins,
    "old_main.py",
    '''
      from processors import DataProcessor

      class MyProcessor(DataProcessor):
        def get_labels(self):
          return ["0", "1"]

      class OtherProcessor(DataProcessor):
        def get_labels(self):
          return ["a"]

      class Helper(object):   # named in the dict: a task whatever its base
        def get_train_examples(self, data_dir): return []
        def get_dev_examples(self, data_dir): return []
        def get_test_examples(self, data_dir): return []
        def get_labels(self): return ["x"]

      def main(_):
        processors = {
            "setiment": MyProcessor,
            "cola": ColaProcessor,      # not defined in this file: ignored
            "helper_task": Helper,
        }
      ''',
  )
  tasks = processors.available_tasks([plugins])
  assert tasks["setiment"].endswith("old_main.py")
  assert tasks["helper_task"].endswith("old_main.py")
  assert "other" in tasks and "my" not in tasks
  assert tasks["cola"].endswith(os.path.join("processors", "glue.py"))
  assert get_processor("SETIMENT", [plugins]).get_labels() == ["0", "1"]
  assert get_processor("helper_task", [plugins]).get_labels() == ["x"]


# -- 4. DataProcessor variants -------------------------------------------------


def test_get_labels_with_data_dir(tmp_path):
  class FromData(processors.DataProcessor):
    def get_labels(self, data_dir):
      return sorted(set(open(os.path.join(data_dir, "labels.txt")).read().split()))

  class Plain(processors.DataProcessor):
    def get_labels(self):
      return ["a"]

  (tmp_path / "labels.txt").write_text("b a b c")
  assert labels_of(FromData(), str(tmp_path)) == ["a", "b", "c"]
  assert labels_of(Plain(), str(tmp_path)) == ["a"]


def test_fork_readers(tmp_path):
  reader = processors.DataProcessor
  path = tmp_path / "f.txt"
  path.write_text('l,"a, b"\r\n0,c\n', encoding="utf-8")
  assert reader._read_csv(str(path)) == [["l", "a, b"], ["0", "c"]]
  assert reader._read_tsv(str(path), delimiter=",") == [["l", '"a', ' b"'], ["0", "c"]]
  assert reader._read_tsv(str(path), ",", '"') == [["l", "a, b"], ["0", "c"]]
  assert reader._read_txt(str(path)) == [['l,"a, b"'], ["0,c"]]
  path.write_text("news_tech_!_3_!_happy day \n")
  assert reader._read_txt(str(path)) == [["news_tech", "3", "happy day"]]
  path.write_text('{"label": "1", "sentence": "x"}\n\n{"label": "0"}\n')
  assert reader._read_json(str(path)) == [{"label": "1", "sentence": "x"}, {"label": "0"}]
  path.write_text('{"label": "1"}\nnot json\n')
  with pytest.raises(processors.DataError, match=r"f.txt:2: not a JSON"):
    reader._read_json(str(path))
  path.write_text("a,b\nc\n")
  with pytest.raises(processors.DataError, match="f.txt:2: expected at least 2 comma-separated"):
    reader._read_csv(str(path))[1][1]


# -- 8. Google's names from run_classifier -------------------------------------

NAMES_CHECK = r'''
import numpy as np
import tensorflow as tf
import run_classifier
from bert import run_classifier as packaged
import bert.run_classifier
from run_classifier import (InputExample, InputFeatures, PaddingInputExample,
    DataProcessor, ColaProcessor, MnliProcessor, MrpcProcessor, XnliProcessor,
    convert_single_example, convert_examples_to_features,
    file_based_convert_examples_to_features, _truncate_seq_pair, create_model,
    input_fn_builder, file_based_input_fn_builder)
from bert import modeling, tokenization
assert packaged is run_classifier is bert.run_classifier
star = {}
exec("from bert.run_classifier import *", star)
assert star["DataProcessor"] is DataProcessor and "tf" in star

vocab_file, config_file = sys.argv[1], sys.argv[2]
tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
examples = [InputExample("a", "happy day", None, "1"),
            InputExample("b", "sad day", "it was", "0")]
features = convert_examples_to_features(examples, ["0", "1"], 8, tokenizer)
batch = next(iter(input_fn_builder(features, 8, False, False)(
    {"batch_size": 2})))
assert sorted(batch) == ["input_ids", "input_mask", "label_ids", "segment_ids"]
assert batch["input_ids"].dtype == tf.int32 and batch["input_ids"].shape == (2, 8)
assert batch["label_ids"].numpy().tolist() == [1, 0]
train = input_fn_builder(features, 8, True, True)({"batch_size": 3})
assert next(iter(train))["input_ids"].shape == (3, 8)

record = os.path.join(sys.argv[3], "x.tf_record")
file_based_convert_examples_to_features(examples, ["0", "1"], 8, tokenizer,
                                        record)
batch = next(iter(file_based_input_fn_builder(record, 8, False, False)(
    {"batch_size": 4})))
assert batch["is_real_example"].numpy().tolist() == [1, 1]
assert batch["segment_ids"].numpy()[1].tolist() == [0, 0, 0, 0, 1, 1, 1, 0]

config = modeling.BertConfig.from_json_file(config_file)
with tf.Graph().as_default():
  ids = tf.compat.v1.placeholder(tf.int32, [None, 8])
  outputs = create_model(config, False, ids, ids, ids,
                         tf.compat.v1.placeholder(tf.int32, [None]), 2, False)
  assert outputs[3].shape.as_list() == [None, 2]
try:
  from run_classifier import model_fn_builder
except ImportError as e:
  assert "TensorFlow 2.16 removed" in str(e) and "create_model" in str(e)
else:
  raise AssertionError("model_fn_builder imported")
print("names ok")
'''


def _python(code, *args):
  """`python -c CODE ARGS...` in the project folder, finished successfully."""
  proc = subprocess.run(
    [sys.executable, "-c", code] + list(args),
    capture_output=True,
    text=True,
    cwd=ROOT,
    timeout=300,
    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def test_googles_names_importable_from_run_classifier(tmp_path):
  vocab_file, config_file = write_model_dir(str(tmp_path / "model"))
  proc = _python("import os, sys\n" + NAMES_CHECK, vocab_file, config_file, str(tmp_path))
  assert "names ok" in proc.stdout


# -- end to end through run_classifier.py ---------------------------------------


def run(args, timeout=300):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
  env.pop(processors.PATH_ENV_VAR, None)
  return subprocess.run(
    [sys.executable, SCRIPT] + args,
    capture_output=True,
    text=True,
    timeout=timeout,
    env=env,
    cwd=ROOT,
  )


@pytest.fixture
def model(tiny_bert_dir):
  return tiny_bert_dir


def rc_args(model, task, plugins, data, out, *extra):
  return [
    "--task_name=%s" % task,
    "--processors_dir=%s" % plugins,
    "--data_dir=%s" % data,
    "--vocab_file=%s" % model["vocab"],
    "--bert_config_file=%s" % model["config"],
    "--init_checkpoint=%s" % model["ckpt"],
    "--output_dir=%s" % out,
    "--max_seq_length=16",
    "--train_batch_size=8",
    "--learning_rate=1e-3",
    "--num_train_epochs=1",
    "--seed=3",
  ] + list(extra)


def _last_line(proc):
  return proc.stderr.strip().splitlines()[-1]


FLAG_PLUGIN = (
  GOOGLE_HEADER
  + '''
from run_classifier import DataProcessor, InputExample

flags.DEFINE_string("train_data_file", "train.csv", "The training CSV.")


class FlagTaskProcessor(DataProcessor):

  def _examples(self, name, set_type):
    lines = self._read_csv(os.path.join(FLAGS.data_dir, name))
    return [InputExample("%s-%d" % (set_type, i), line[1], None, line[0])
            for (i, line) in enumerate(lines)]

  def get_train_examples(self, data_dir):
    return self._examples(FLAGS.train_data_file, "train")

  def get_dev_examples(self, data_dir):
    return self._examples("dev.csv", "dev")

  def get_test_examples(self, data_dir):
    return self._examples("dev.csv", "test")

  def get_labels(self):
    labels = set()
    for line in self._read_csv(os.path.join(FLAGS.data_dir, "dev.csv")):
      labels.add(line[0])
    return list(labels)
'''
)


def _csv_data(folder, names=("xa1k.csv", "dev.csv"), labels=("pos", "neg")):
  os.makedirs(str(folder), exist_ok=True)
  for name in names:
    with open(os.path.join(str(folder), name), "w", encoding="utf-8") as f:
      for i in range(16):
        label = labels[i % len(labels)]
        f.write('%s,"%s day, really"\n' % (label, "happy" if i % 2 else "sad"))


@pytest.mark.slow
def test_plugin_flags_and_label_order(model, tmp_path):
  """5: a plugin's own flag on the command line; 7: labels from
  `list(set(...))` in another order on eval use the trained order."""
  plugins, data, out = tmp_path / "plugins", tmp_path / "data", tmp_path / "out"
  _write(plugins, "flag_task.py", FLAG_PLUGIN)
  _csv_data(data)
  args = rc_args(model, "flagtask", plugins, data, out)
  proc = run(args + ["--do_train=true", "--train_data_file=xa1k.csv", "--do_eval=true"])
  assert proc.returncode == 0, proc.stderr[-3000:]
  trained = json.loads((out / "labels.json").read_text())
  first = (out / "eval_results.txt").read_text()

  # Another process: another hash seed, so list(set(...)) may differ.
  reversed_plugin = FLAG_PLUGIN.replace(
    "return list(labels)", "return sorted(labels, reverse=%s)" % (trained == sorted(trained))
  )
  _write(plugins, "flag_task.py", reversed_plugin)
  proc = run(args + ["--do_eval=true"])
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "same labels, other order; using the trained order" in proc.stderr
  assert json.loads((out / "labels.json").read_text()) == trained
  assert (out / "eval_results.txt").read_text() == first

  # Different labels: an error naming both lists, nothing overwritten.
  _csv_data(data, names=("dev.csv",), labels=("pos", "neutral"))
  proc = run(args + ["--do_eval=true"])
  assert proc.returncode == 1
  line = _last_line(proc)
  assert "differ from the labels" in line and "neutral" in line
  assert str(trained) in line
  assert json.loads((out / "labels.json").read_text()) == trained

  # Unknown flags still fail with absl's message.
  proc = run(args + ["--do_eval=true", "--no_such_flag=1"])
  assert proc.returncode != 0
  assert "Unknown command line flag 'no_such_flag'" in proc.stderr


ERROR_PLUGIN = '''
import os
import tokenization
from run_classifier import DataProcessor, InputExample


class BrokenProcessor(DataProcessor):

  def get_train_examples(self, data_dir):
    lines = self._read_tsv(os.path.join(data_dir, "fine_tuning_train_data.tsv"))
    return [InputExample("t-%d" % i, line[1], None, lables[0])
            for (i, line) in enumerate(lines)]

  def get_labels(self):
    return ["0", "1"]
'''


@pytest.mark.slow
def test_error_in_plugin_code_is_one_line_and_leaves_no_folder(model, tmp_path):
  """6: a NameError inside get_train_examples."""
  plugins, data, out = tmp_path / "plugins", tmp_path / "data", tmp_path / "out"
  path = _write(plugins, "broken.py", ERROR_PLUGIN)
  write_emotion_data(str(data), n_train=8, n_val=4, n_test=2)
  proc = run(rc_args(model, "broken", plugins, data, out, "--do_train=true"))
  assert proc.returncode == 1
  assert _last_line(proc) == (
    "run_classifier.py: error: %s:11: NameError: name 'lables' is not defined" % path
  )
  assert "Traceback" not in proc.stderr
  assert not out.exists()

  proc = run(rc_args(model, "broken", plugins, data, out, "--do_train=true", "--verbosity=1"))
  assert "Traceback (most recent call last)" in proc.stderr
  assert not out.exists()

  # An error at import time (the module's own code) is one line too.
  _write(plugins, "broken.py", "import os\nos.path.joinn('a')\n" + ERROR_PLUGIN)
  proc = run(rc_args(model, "broken", plugins, data, out, "--do_train=true"))
  assert proc.returncode == 1
  assert _last_line(proc).startswith(
    "run_classifier.py: error: Task broken: cannot import %s: %s:2: AttributeError:" % (path, path)
  )
  assert not out.exists()


# A whole old run_classifier.py dropped into the plugin folder: its flag
# block, its copies of the data classes and GLUE processors, TF1 model code in
# functions that never run here, and the task dict in main().
WHOLE_OLD_SCRIPT = (
  GOOGLE_HEADER
  + '''
flags.DEFINE_string("data_dir", None, "Where the data is.")
flags.DEFINE_string("bert_config_file", None, "Model config.")
flags.DEFINE_string("task_name", None, "Which task.")
flags.DEFINE_string("vocab_file", None, "Vocabulary.")
flags.DEFINE_string("output_dir", None, "Output folder.")
flags.DEFINE_string("init_checkpoint", None, "Start weights.")
flags.DEFINE_bool("do_lower_case", True, "Lower-case input.")
flags.DEFINE_integer("max_seq_length", 16, "My usual length.")
flags.DEFINE_bool("do_train", False, "Train.")
flags.DEFINE_float("learning_rate", 5e-5, "Adam rate.")
flags.DEFINE_bool("use_tpu", False, "TPU.")


class InputExample(object):
  def __init__(self, guid, text_a, text_b=None, label=None):
    self.guid, self.text_a, self.text_b, self.label = guid, text_a, text_b, label


class PaddingInputExample(object):
  pass


class DataProcessor(object):
  def get_train_examples(self, data_dir):
    raise NotImplementedError()

  def get_dev_examples(self, data_dir):
    raise NotImplementedError()

  def get_test_examples(self, data_dir):
    raise NotImplementedError()

  def get_labels(self):
    raise NotImplementedError()

  @classmethod
  def _read_tsv(cls, input_file, quotechar=None):
    with tf.gfile.Open(input_file, "r") as f:
      return list(csv.reader(f, delimiter="\\t", quotechar=quotechar))


class ColaProcessor(DataProcessor):
  def get_labels(self):
    return ["0", "1"]
'''
  + EMOTION_BODY.format(name="EmotionProcessor", base="DataProcessor", example="InputExample")
  + '''

def model_fn_builder(bert_config, num_labels):
  def model_fn(features, labels, mode, params):
    return tf.contrib.tpu.TPUEstimatorSpec(mode=mode)
  return model_fn


def main(_):
  processors = {
      "cola": ColaProcessor,
      "emotion": EmotionProcessor,
  }
  estimator = tf.contrib.tpu.TPUEstimator(model_fn=model_fn_builder(None, 2))


if __name__ == "__main__":
  flags.mark_flag_as_required("data_dir")
  tf.app.run()
'''
)


@pytest.mark.slow
def test_whole_old_script_as_plugin_replaces_built_in_emotion(model, tmp_path):
  plugins, data, out = tmp_path / "plugins", tmp_path / "data", tmp_path / "out"
  path = _write(plugins, "run_classifier.py", WHOLE_OLD_SCRIPT)
  write_emotion_data(str(data), n_train=24, n_val=8, n_test=4)
  args = rc_args(model, "emotion", plugins, data, out, "--do_train=true", "--do_predict=true")
  args.remove("--max_seq_length=16")  # The old script's default: 16.
  proc = run(args)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Task emotion: %s (EmotionProcessor) replaces the built-in" % path in (proc.stderr)
  assert json.loads((out / "run_config.json").read_text())["max_seq_length"] == 16
  assert len((out / "test_results.tsv").read_text().splitlines()) == 4


# -- 9. TF1 scripts through bert-run-tf1 (python -m legacy) ----------------------


@pytest.mark.slow
def test_tf1_script_runs_unchanged(model, tmp_path):
  import tensorflow as tf

  script = os.path.join(ROOT, "examples", "tf1_style_finetune.py")
  bert_dir = os.path.dirname(model["ckpt"])
  save_path = str(tmp_path / "tf1" / "model.ckpt")
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "legacy",
      script,
      "--bert_dir=%s" % bert_dir,
      "--texts=happy day|||sad day|||love it|||angry today",
      "--num_steps=3",
      "--save_path=%s" % save_path,
    ],
    capture_output=True,
    text=True,
    cwd=ROOT,
    timeout=300,
    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "global_step 3" in proc.stdout
  assert proc.stdout.count("loss") == 3
  assert (
    "name = bert/embeddings/word_embeddings:0, shape = (%d, 32), *INIT_FROM_CKPT*" % len(VOCAB)
  ) in proc.stderr
  names = dict(tf.train.list_variables(save_path))
  assert names["output_weights"] == [2, 32]
  assert "bert/encoder/layer_1/output/LayerNorm/gamma/adam_v" in names
  # The pre-trained weights were loaded, then trained: close, not equal.
  before = tf.train.load_variable(model["ckpt"], "bert/pooler/dense/kernel")
  after = tf.train.load_variable(save_path, "bert/pooler/dense/kernel")
  assert 0 < abs(after - before).max() < 0.1


def test_the_engine_imports_no_legacy_module():
  """Issue 25 item 6: legacy/ sits above the engine; bert/, classifier/ and processors/
  import nothing of it when they load (the registry loads legacy.hooks for plugin files)."""
  code = (
    "import sys\n"
    "import bert.modeling, bert.tokenization, bert.optimization, classifier.features\n"
    "import classifier.workflow, classifier.pipeline, processors, processors.glue\n"
    "ours = ('legacy', 'bert', 'classifier', 'processors')\n"
    "parts = [m.split('.') for m in sys.modules]\n"
    "print(sorted('.'.join(p) for p in parts if p[0] in ours and 'legacy' in p))\n"
  )
  assert _python(code).stdout.strip() == "[]"
