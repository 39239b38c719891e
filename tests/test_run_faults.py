"""run_classifier.py under faults: too little data, bad flag values and model
files, damaged checkpoints, storage failures, text after an extra tab."""

import json
import os
import subprocess
import sys
import time

import pytest
from emotion_data import VOCAB, tiny_config, write_emotion_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "run_classifier.py")


def run(args, prelude="", timeout=300, **environ):
  """run_classifier.py in a child; `prelude` is Python run before it (to
  inject faults), `environ` more environment variables."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", **environ)
  code = (
    "import runpy, sys\n%s\nsys.argv = [%r] + sys.argv[1:]\n"
    "runpy.run_path(%r, run_name='__main__')\n" % (prelude, SCRIPT, SCRIPT)
  )
  return subprocess.run(
    [sys.executable, "-c", code] + args,
    capture_output=True,
    text=True,
    timeout=timeout,
    env=env,
    cwd=ROOT,
  )


def last_line(proc):
  return proc.stderr.strip().splitlines()[-1]


@pytest.fixture
def data(tmp_path):
  folder = str(tmp_path / "data")
  write_emotion_data(folder, n_train=64, n_val=16, n_test=8)
  return folder


def args_for(model, data, out, *extra):
  return [
    "--task_name=emotion",
    "--data_dir=%s" % data,
    "--vocab_file=%s" % model["vocab"],
    "--bert_config_file=%s" % model["config"],
    "--init_checkpoint=%s" % model["ckpt"],
    "--output_dir=%s" % out,
    "--max_seq_length=16",
    "--train_batch_size=8",
    "--seed=2",
    "--learning_rate=1e-3",
  ] + list(extra)


# -- 6. too little data ----------------------------------------------------------


def test_too_few_examples_for_one_step_is_an_error(tiny_bert_dir, tmp_path):
  data = tmp_path / "data"
  write_emotion_data(str(data), n_train=5, n_val=4, n_test=2)
  out = tmp_path / "out"
  proc = run(
    args_for(
      tiny_bert_dir,
      data,
      out,
      "--do_train=true",
      "--do_eval=true",
      "--train_batch_size=32",
      "--num_train_epochs=3",
    )
  )
  assert proc.returncode == 1
  assert last_line(proc) == (
    "run_classifier.py: error: %s: 5 training examples with "
    "--train_batch_size=32 and --num_train_epochs=3.0 give 0 training steps; "
    "need at least 11 examples (or a smaller --train_batch_size)"
    % (data / "fine_tuning_train_data.tsv")
  )
  assert not out.exists()
  (data / "fine_tuning_train_data.tsv").write_text("label\ttext\n")
  proc = run(args_for(tiny_bert_dir, data, out, "--do_train=true"))
  assert "0 training examples" in last_line(proc)


# -- 7. bad flag values and model files, before TensorFlow -----------------------


def _config(tmp_path, **changes):
  config = dict(tiny_config(len(VOCAB)), **changes)
  path = tmp_path / "bert_config.json"
  path.write_text(json.dumps(config))
  return str(path)


@pytest.mark.parametrize(
  "extra, message",
  [
    (["--train_batch_size=0"], "--train_batch_size=0: must be at least 1"),
    (["--max_seq_length=2"], "--max_seq_length=2: need at least 3"),
    (["--num_train_epochs=0"], "--num_train_epochs=0.0: must be more than 0"),
  ],
)
def test_bad_flag_values_fail_fast(tiny_bert_dir, data, tmp_path, extra, message):
  out = tmp_path / "out"
  start = time.time()
  proc = run(
    args_for(tiny_bert_dir, data, out, "--do_train=true", *extra),
    prelude="import builtins\n_real = builtins.__import__\n"
    "def _no_tf(name, *a, **k):\n"
    "  assert not name.startswith('tensorflow'), 'TF imported'\n"
    "  return _real(name, *a, **k)\nbuiltins.__import__ = _no_tf",
  )
  assert proc.returncode == 2, proc.stderr[-2000:]  # A usage error.
  assert last_line(proc) == "run_classifier.py: error: " + message + (
    "" if "must be" in message else " ([CLS], one token, [SEP])"
  )
  assert time.time() - start < 20  # No TensorFlow: ~0.3 s on 2 cores.
  assert not out.exists()


def test_model_files_are_checked_first(tiny_bert_dir, data, tmp_path):
  out = tmp_path / "out"
  broken = tmp_path / "broken.json"
  broken.write_text('{"vocab_size": 36,\n "hidden_size": 32,,\n}')
  proc = run(
    args_for(tiny_bert_dir, data, out, "--do_train=true", "--bert_config_file=%s" % broken)
  )
  assert last_line(proc).startswith("run_classifier.py: error: %s:2: not valid JSON" % broken)

  small = _config(tmp_path, vocab_size=20)
  proc = run(args_for(tiny_bert_dir, data, out, "--do_train=true", "--bert_config_file=%s" % small))
  assert last_line(proc) == (
    "run_classifier.py: error: %s has %d tokens but %s says vocab_size 20: "
    "the ids from 20 up have no embedding; use the vocab.txt and "
    "bert_config.json of one model" % (tiny_bert_dir["vocab"], len(VOCAB), small)
  )
  proc = run(
    args_for(
      tiny_bert_dir,
      data,
      out,
      "--do_train=true",
      "--bert_config_file=%s" % _config(tmp_path, num_attention_heads=5),
    )
  )
  assert "hidden_size 32 is not a multiple of num_attention_heads 5" in (last_line(proc))
  assert not out.exists()


@pytest.mark.slow
def test_other_hidden_size_lists_a_few_variables(tiny_bert_dir, data, tmp_path):
  config = _config(tmp_path, hidden_size=16, intermediate_size=20)
  proc = run(
    args_for(
      tiny_bert_dir, data, tmp_path / "out", "--do_train=true", "--bert_config_file=%s" % config
    )
  )
  line = last_line(proc)
  assert proc.returncode == 1
  assert "shape mismatch for" in line and "in all)" in line
  assert len(line) < 900


# -- 8. damaged checkpoints --------------------------------------------------------


@pytest.mark.slow
def test_truncated_newest_checkpoint(tiny_bert_dir, data, tmp_path):
  out = tmp_path / "out"
  base = args_for(tiny_bert_dir, data, out, "--num_train_epochs=2", "--save_checkpoints_steps=8")
  proc = run(base + ["--do_train=true"])
  assert proc.returncode == 0, proc.stderr[-2000:]
  newest = out / "model.ckpt-16.data-00000-of-00001"
  newest.write_bytes(newest.read_bytes()[:4000])

  proc = run(base + ["--do_eval=true"])
  assert proc.returncode == 1
  assert last_line(proc).startswith(
    "run_classifier.py: error: Checkpoint %s is damaged (model.ckpt-16."
    "data-00000-of-00001, model.ckpt-16.index): " % (out / "model.ckpt-16")
  )

  proc = run(base + ["--do_train=true", "--do_eval=true"])
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "resuming from the previous checkpoint instead" in proc.stderr
  assert "Restoring %s" % (out / "model.ckpt-8") in proc.stderr
  results = (out / "eval_results.txt").read_text()
  assert "global_step = 16" in results


# -- 9. storage failures -------------------------------------------------------------

DISK_FULL = '''
import tensorflow as tf
_rename = tf.io.gfile.rename
def _full(src, dst, overwrite=False):
  if ".tmp-" in src and dst.endswith(".index") and "ckpt-0." not in dst:
    raise tf.errors.ResourceExhaustedError(None, None,
                                           "No space left on device")
  return _rename(src, dst, overwrite)
tf.io.gfile.rename = _full
'''


@pytest.mark.slow
def test_disk_full_while_saving_keeps_the_last_good_checkpoint(tiny_bert_dir, data, tmp_path):
  import tensorflow as tf

  out = tmp_path / "out"
  # Leftovers of a run killed earlier (pid 999999 does not exist).
  out.mkdir()
  (out / ".tmp-999999-model.ckpt-5.data-00000-of-00001").write_bytes(b"x" * 99)
  (out / "train.tf_record.tmp-999999").write_bytes(b"x")
  (out / "train.tf_record.chunks-999999-abc").mkdir()
  proc = run(
    args_for(
      tiny_bert_dir,
      data,
      out,
      "--do_train=true",
      "--num_train_epochs=1",
      "--save_checkpoints_steps=4",
    ),
    prelude=DISK_FULL,
  )
  assert proc.returncode == 1
  assert last_line(proc) == (
    "run_classifier.py: error: cannot write checkpoint %s: No space left "
    "on device; the newest complete checkpoint is %s" % (out / "model.ckpt-4", out / "model.ckpt-0")
  )
  assert "Removed 3 temporary file(s)" in proc.stderr
  names = sorted(os.listdir(out))
  assert not [n for n in names if "tmp" in n or "chunks" in n], names
  assert not [n for n in names if n.startswith("model.ckpt-4")], names
  state = (out / "checkpoint").read_text()
  assert 'model_checkpoint_path: "model.ckpt-0"' in state
  assert tf.train.load_checkpoint(str(out / "model.ckpt-0")).has_tensor("output_weights")


def test_orphans_of_running_processes_are_kept(tmp_path):
  from classifier import outputs

  (tmp_path / ("eval_results.txt.tmp-%d" % os.getpid())).write_text("x")
  (tmp_path / ".tmp-999999-model.ckpt-1.index").write_text("x")
  (tmp_path / "checkpoint.tmp").write_text("x")
  (tmp_path / "my.tmp-notes.txt").write_text("x")
  assert outputs.remove_orphans(str(tmp_path)) == [
    ".tmp-999999-model.ckpt-1.index",
    "checkpoint.tmp",
  ]
  assert sorted(os.listdir(tmp_path)) == [
    "eval_results.txt.tmp-%d" % os.getpid(),
    "my.tmp-notes.txt",
  ]


def test_failed_write_of_a_result_file_names_it(tmp_path, monkeypatch):
  from classifier import outputs

  target = tmp_path / "eval_results.txt"

  def full(*args, **kwargs):
    raise OSError(28, "No space left on device")

  monkeypatch.setattr(os, "replace", full)
  with pytest.raises(OSError, match="cannot write %s: No space left on device" % target):
    outputs.write_eval_results(str(target), {"eval_accuracy": 1.0})
  assert os.listdir(tmp_path) == []


# -- 10. text after an extra tab ------------------------------------------------------


def test_text_after_an_extra_tab_is_dropped_with_one_warning(tmp_path, caplog):
  from processors.emotion import EmotionProcessor
  from processors.glue import MrpcProcessor

  (tmp_path / "fine_tuning_train_data.tsv").write_text(
    "label\ttext\n1\tsad day\n2\tangry\tand more\n3\tok\n4\tx\ty\tz\n"
  )
  with caplog.at_level("WARNING", logger="run_classifier"):
    examples = EmotionProcessor().get_train_examples(str(tmp_path))
  assert [e.text_a for e in examples] == ["sad day", "angry", "ok", "x"]
  warnings = [r.getMessage() for r in caplog.records]
  assert warnings == [
    "%s: 2 row(s) have more than 2 tab-separated fields; the text after the "
    "extra tab(s) is dropped, as Google's code did (first at line 3)"
    % (tmp_path / "fine_tuning_train_data.tsv")
  ]
  caplog.clear()
  (tmp_path / "train.tsv").write_text(
    "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\ta\tb\tone\ttwo\n"
  )
  with caplog.at_level("WARNING", logger="run_classifier"):
    MrpcProcessor().get_train_examples(str(tmp_path))
  assert caplog.records == []


# -- usage and data mistakes end before TensorFlow starts ---------------------------

NO_TENSORFLOW = (
  "import builtins\n_real = builtins.__import__\n"
  "def _no_tf(name, *a, **k):\n"
  "  assert not name.startswith('tensorflow'), 'TF imported'\n"
  "  return _real(name, *a, **k)\n"
  "builtins.__import__ = _no_tf"
)


@pytest.mark.parametrize(
  "change, message",
  [
    ({"--task_name": "nosuch"}, "Task not found: nosuch."),
    (
      {"--data_dir": "/nonexistent/data"},
      "/nonexistent/data/fine_tuning_train_data.tsv: file not found",
    ),
    (
      {"--init_checkpoint": "/nonexistent/bert_model.ckpt.index"},
      "No checkpoint at /nonexistent/bert_model.ckpt.index",
    ),
    ({"--vocab_file": "/nonexistent/vocab.txt"}, "Vocab file not found"),
    (
      {"bad_row": True},
      "fine_tuning_val_data.tsv:3: expected at least 2 tab-separated columns, found 1",
    ),
  ],
)
def test_mistakes_fail_before_tensorflow(tiny_bert_dir, data, tmp_path, change, message):
  if change.pop("bad_row", False):  # Line 3 of the dev file loses its text.
    path = os.path.join(data, "fine_tuning_val_data.tsv")
    with open(path, encoding="utf-8") as f:
      lines = f.read().splitlines()
    lines[2] = "3"
    with open(path, "w", encoding="utf-8") as f:
      f.write("\n".join(lines) + "\n")
  out = tmp_path / "out"
  args = [
    a
    for a in args_for(tiny_bert_dir, data, out, "--do_train=true", "--do_eval=true")
    if a.split("=")[0] not in change
  ]
  args += ["%s=%s" % item for item in change.items()]
  start = time.time()
  proc = run(args, prelude=NO_TENSORFLOW)
  elapsed = time.time() - start
  # An unknown --task_name is a usage error (2), the others input errors (1).
  assert proc.returncode == (2 if "Task not found" in message else 1), proc.stderr[-2000:]
  assert message in last_line(proc)
  assert "Traceback" not in proc.stderr
  assert not out.exists()
  assert elapsed < 10  # About 0.3 s on 2 idle cores; TensorFlow alone takes 3+.


@pytest.mark.slow
def test_tensorflow_start_up_noise_is_hidden(tiny_bert_dir, data, tmp_path):
  out = tmp_path / "out"
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  proc = subprocess.run(
    [sys.executable, SCRIPT]
    + args_for(tiny_bert_dir, data, out, "--do_eval=true", "--do_predict=true"),
    capture_output=True,
    text=True,
    timeout=300,
    env=env,
    cwd=ROOT,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "***** Eval results *****" in proc.stderr
  for noise in ["cuInit", "OUT_OF_RANGE", "oneDNN", "cpu_feature_guard", "cudart_stub"]:
    assert noise not in proc.stderr, noise


# -- 10. flags against a trained folder, flags that would be ignored ----------------


def _trained_folder(out, **recorded):
  """A folder as run_classifier.py leaves it (checkpoint files faked: no TensorFlow)."""
  out.mkdir()
  settings = {
    "task_name": "emotion",
    "label_list": [str(i) for i in range(7)],
    "max_seq_length": 16,
    "multi_label": False,
    "multi_label_threshold": 0.5,
    "doc_stride": 0,
    "window_pooling": "mean",
  }
  settings.update(recorded)
  (out / "run_config.json").write_text(json.dumps(settings))
  (out / "labels.json").write_text(json.dumps(settings["label_list"]))
  (out / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-8"\n')
  (out / "model.ckpt-8.index").write_bytes(b"index")
  for name in ("eval_results.txt", "eval_metrics.json", "test_results.tsv"):
    (out / name).write_text("results of the trained model\n")
  return {path.name: path.read_bytes() for path in out.iterdir()}


def _folder_args(model, data, out, *extra):
  return [
    "--task_name=emotion",
    "--data_dir=%s" % data,
    "--vocab_file=%s" % model[0],
    "--bert_config_file=%s" % model[1],
    "--output_dir=%s" % out,
  ] + list(extra)


@pytest.fixture
def small_model(tmp_path):
  from emotion_data import write_model_dir

  return write_model_dir(str(tmp_path / "model"))


@pytest.mark.parametrize(
  "recorded, extra, message",
  [
    (
      {},
      ["--multi_label"],
      "--multi_label contradicts the model in {out}, trained single-label (run_config.json): "
      "leave the flag out, or train a new model in another --output_dir",
    ),
    (
      {"multi_label": True},
      ["--nomulti_label"],
      "--nomulti_label contradicts the model in {out}, trained multi-label",
    ),
    (
      {"doc_stride": 8},
      ["--doc_stride=4"],
      "--doc_stride=4 contradicts the model in {out}, trained with --doc_stride=8",
    ),
    ({}, ["--doc_stride=4"], "--doc_stride=4 contradicts the model in {out}, trained with "),
    (
      {"doc_stride": 8},
      ["--window_pooling=max"],
      "--window_pooling=max contradicts the model in {out}, trained with --window_pooling=mean",
    ),
    (
      {"doc_stride": 8},
      ["--max_seq_length=32"],
      "--max_seq_length=32 contradicts the model in {out}, trained with --max_seq_length=16",
    ),
  ],
)
def test_flag_contradicting_the_trained_folder_changes_nothing(
  small_model, data, tmp_path, recorded, extra, message
):
  out = tmp_path / "out"
  before = _trained_folder(out, **recorded)
  args = _folder_args(small_model, data, out, "--do_eval", "--do_predict", *extra)
  proc = run(args, prelude=NO_TENSORFLOW)
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert last_line(proc).startswith("run_classifier.py: error: " + message.format(out=out))
  assert "Traceback" not in proc.stderr
  assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_settings_left_out_are_read_from_the_trained_folder(small_model, tmp_path, caplog):
  from classifier import RunConfig
  from classifier.folder_settings import apply_recorded_settings, recorded_settings

  out = tmp_path / "out"
  _trained_folder(
    out, multi_label=True, multi_label_threshold=0.3, doc_stride=8, window_pooling="max"
  )
  config = RunConfig.from_flat(
    "data", small_model[1], "emotion", small_model[0], str(out), do_eval=True
  )
  with caplog.at_level("INFO"):
    adopted = apply_recorded_settings(config, recorded_settings(str(out)))
  data, prediction = adopted.data, adopted.prediction
  assert (data.max_seq_length, data.doc_stride, prediction.window_pooling) == (16, 8, "max")
  assert (data.multi_label, prediction.multi_label_threshold) == (True, 0.3)
  assert (
    "Settings of the trained model in %s (run_config.json): --multi_label, --doc_stride=8, "
    "--max_seq_length=16, --window_pooling=max, --multi_label_threshold=0.3" % out
  ) in caplog.text
  # A folder without a checkpoint holds no trained model: the flags decide.
  os.remove(out / "model.ckpt-8.index")
  assert apply_recorded_settings(config, recorded_settings(str(out))) == config


@pytest.mark.parametrize(
  "extra, message",
  [
    (
      ["--window_pooling=max"],
      "--window_pooling needs --doc_stride: it combines the windows of a long text",
    ),
    (
      ["--window_pooling=mean"],  # Given at its default: still given.
      "--window_pooling needs --doc_stride",
    ),
    (
      ["--multi_label_threshold=0.3"],
      "--multi_label_threshold applies to multi-label runs: add --multi_label, or leave it out",
    ),
    (
      ["--multi_label_threshold=0.5"],
      "--multi_label_threshold applies to multi-label runs",
    ),
    (["--label_separator=|"], "--label_separator applies to multi-label runs"),
    (
      ["--multi_label", "--label_separator="],
      "--label_separator is empty: give the text between two labels, e.g. ','",
    ),
  ],
)
def test_flags_that_would_be_ignored_are_refused(tiny_bert_dir, data, tmp_path, extra, message):
  out = tmp_path / "out"
  proc = run(args_for(tiny_bert_dir, data, out, "--do_train", *extra), prelude=NO_TENSORFLOW)
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert last_line(proc).startswith("run_classifier.py: error: " + message)
  assert not out.exists()


def test_tab_label_separator_in_a_tab_file_is_a_usage_error(tiny_bert_dir, tmp_path):
  data = tmp_path / "data"
  data.mkdir()
  (data / "train.tsv").write_text("text\tlabel\nhappy day\ta,b\n")
  out = tmp_path / "out"
  args = [a for a in args_for(tiny_bert_dir, data, out, "--do_train") if "task_name" not in a]
  proc = run(
    args + ["--task_name=tabular", "--multi_label", "--label_separator=tab"],
    prelude=NO_TENSORFLOW,
  )
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert last_line(proc) == (
    "run_classifier.py: error: --label_separator cannot be a tab when the files are "
    "tab-separated; use e.g. --label_separator=,"
  )
  assert not out.exists()


@pytest.mark.parametrize(
  "tf_config, message",
  [
    (
      {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 5}},
      "TF_CONFIG task.index 5 is out of range: cluster.worker lists 2 tasks (index 0 to 1)",
    ),
    (
      {"cluster": {"worker": "a:1,b:2"}, "task": {"type": "worker", "index": 0}},
      'TF_CONFIG cluster.worker must be a list of "host:port" strings, found "a:1,b:2"',
    ),
    (
      {"cluster": {"worker": ["a:1", "b:2"]}},
      'TF_CONFIG has no "task": expected {"type": "worker", "index": N}',
    ),
    (
      {"cluster": {"worker": ["a:1"]}, "task": "worker"},
      'TF_CONFIG task must be an object such as {"type": "worker", "index": 0}, found a string',
    ),
    (
      {"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": -1}},
      "TF_CONFIG task.index must be an integer from 0, found -1",
    ),
    (
      {"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}},
      "TF_CONFIG task type 'chief' is not a job of its cluster (worker)",
    ),
    ({"task": {"type": "worker", "index": 0}}, "TF_CONFIG cluster must be an object"),
    (["worker"], "TF_CONFIG is not valid: expected a JSON object, found a list"),
  ],
)
def test_malformed_tf_config_is_one_line_before_tensorflow(
  tiny_bert_dir, data, tmp_path, tf_config, message
):
  out = tmp_path / "out"
  proc = run(
    args_for(tiny_bert_dir, data, out, "--do_train"),
    prelude=NO_TENSORFLOW,
    TF_CONFIG=json.dumps(tf_config),
  )
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert last_line(proc).startswith("run_classifier.py: error: " + message)
  assert "Traceback" not in proc.stderr
  assert not out.exists()


def test_an_unknown_dev_label_is_named_by_file_and_line(small_model, tmp_path):
  from classifier import RunConfig, run_workflow
  from processors import DataError

  data = tmp_path / "data"
  data.mkdir()
  header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
  texts = ["happy day", "sad day", "angry day", "calm day", "love day", "fear day"]
  labels = ["1", "0", "1", "0", "yes", "1"]  # Line 6 of dev.tsv (dev-5) says "yes".
  rows = [
    "%s\t%d\t%d\t%s\tthe %s\n" % (y, i, i, t, t) for i, (y, t) in enumerate(zip(labels, texts))
  ]
  (data / "dev.tsv").write_text(header + "".join(rows))
  vocab, config = small_model
  run = RunConfig.from_flat(str(data), config, "mrpc", vocab, str(tmp_path / "out"), do_eval=True)
  expected = (
    "%s:6: example dev-5: label 'yes' is not one of get_labels() = ['0', '1'] (check the label "
    "column, or list every label in the processor's get_labels())" % (data / "dev.tsv")
  )
  with pytest.raises(DataError) as error:
    run_workflow(run.replace(max_seq_length=16))
  assert str(error.value) == expected
  # Another row with the same label: the one holding the example's text is named.
  rows.insert(2, "yes\t9\t9\tlove night\tthe love night\n")
  (data / "dev.tsv").write_text(header + "".join(rows))
  with pytest.raises(DataError, match="dev.tsv:4: example dev-3: label 'yes'"):
    run_workflow(run.replace(max_seq_length=16))
  assert not (tmp_path / "out").exists()


def test_class_weights_without_training_are_refused(small_model, data, tmp_path):
  from bert.errors import UsageError
  from classifier import RunConfig, run_workflow

  vocab, config = small_model
  out = tmp_path / "out"
  run = RunConfig.from_flat(
    data, config, "emotion", vocab, str(out), do_eval=True, max_seq_length=16
  )
  with pytest.raises(UsageError, match="--class_weights needs --do_train: it weighs the training"):
    run_workflow(run.replace(class_weights="1,2,1,1,1,1,1"))
  assert not out.exists()
