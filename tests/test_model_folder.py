"""bert.model_folder: the one home of a model folder's names, labels, state file and safe
writes, and `ModelFolder`, a whole folder read once (with bert.model_config, its config)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import TINY_CONFIG

from bert import model_config, model_folder
from bert.errors import DataError, InputError, WriteError


@pytest.mark.parametrize(
  "labels, problem",
  [
    ([], "non-empty list"),
    ({"a": 1}, "non-empty list"),
    (["a", 1], "labels must be strings, not 1"),
    (["a", "b", "a"], "the label 'a' is listed twice"),
  ],
)
def test_one_rule_for_labels(labels, problem):
  with pytest.raises(model_folder.LabelsError) as info:
    model_folder.check_labels(labels, "somewhere")
  assert str(info.value).startswith("somewhere: ")
  assert problem in str(info.value)
  assert isinstance(info.value, InputError)


def test_labels_round_trip_as_strings(tmp_path):
  model_folder.write_labels(str(tmp_path), [0, 1, "2"])
  assert (tmp_path / "labels.json").read_text(encoding="utf-8") == '[\n  "0",\n  "1",\n  "2"\n]\n'
  assert model_folder.read_labels(str(tmp_path)) == ["0", "1", "2"]
  assert model_folder.read_labels(str(tmp_path / "missing")) is None
  (tmp_path / "labels.json").write_text("[", encoding="utf-8")
  with pytest.raises(model_folder.LabelsError, match="labels.json: not valid JSON"):
    model_folder.read_labels(str(tmp_path))


def test_duplicate_labels_are_not_written(tmp_path):
  with pytest.raises(model_folder.LabelsError, match="listed twice"):
    model_folder.write_labels(str(tmp_path), ["1", 1])
  assert os.listdir(tmp_path) == []


def test_checkpoint_state_round_trip(tmp_path):
  text = model_folder.format_checkpoint_state(["model.ckpt-1", "model.ckpt-2", "model.ckpt-3"])
  assert text.splitlines()[0] == 'model_checkpoint_path: "model.ckpt-3"'
  assert model_folder.parse_checkpoint_state(text) == [
    "model.ckpt-3",
    "model.ckpt-2",
    "model.ckpt-1",
  ]
  assert model_folder.parse_checkpoint_state("garbage") == []
  (tmp_path / "checkpoint").write_text(text)
  assert model_folder.newest_local_checkpoint(str(tmp_path)) is None  # No .index yet.
  (tmp_path / "model.ckpt-3.index").write_bytes(b"")
  assert model_folder.newest_local_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-3")


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
  target = tmp_path / "eval_results.txt"
  target.write_text("old\n")
  with pytest.raises(RuntimeError):
    with model_folder.atomic_write(str(target)) as f:
      f.write("half")
      raise RuntimeError("interrupted")
  assert target.read_text() == "old\n"
  assert os.listdir(tmp_path) == ["eval_results.txt"]


def test_atomic_write_names_the_file_it_cannot_write(tmp_path):
  target = tmp_path / "no" / "such" / "folder.json"
  with pytest.raises(WriteError, match="cannot write %s" % target):
    model_folder.write_json(str(target), [1])


def test_replace_folder_swaps_and_rolls_back(tmp_path, monkeypatch):
  target = tmp_path / "export"
  target.mkdir()
  (target / "old.txt").write_text("old")
  staging = model_folder.staging_folder(str(target))
  with open(os.path.join(staging, "new.txt"), "w") as f:
    f.write("new")
  assert model_folder.replace_folder(staging, str(target)) is True
  assert sorted(os.listdir(tmp_path)) == ["export"]
  assert os.listdir(target) == ["new.txt"]
  assert oct(os.stat(target).st_mode & 0o777) != oct(0o700)  # Not mkdtemp's private mode.

  staging = model_folder.staging_folder(str(target))
  real_rename = os.rename

  def failing_rename(source, destination):
    if source == staging:
      raise OSError(28, "No space left on device")
    return real_rename(source, destination)

  monkeypatch.setattr(os, "rename", failing_rename)
  with pytest.raises(OSError):
    model_folder.replace_folder(staging, str(target))
  monkeypatch.undo()
  assert os.listdir(target) == ["new.txt"]  # The previous folder is back.


def test_module_needs_no_tensorflow():
  code = (
    "import sys, bert.model_folder, bert.model_config, bert.errors, serving.files, "
    "export.hf_export, export.onnx_export, onnx_bert.build; "
    "assert 'tensorflow' not in sys.modules"
  )
  subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(__file__) + "/..")


# -- the checkpoint finder ------------------------------------------------------


class ToolError(InputError):
  """A tool's own error class, as the exporters have."""


TOOL = model_folder.Naming(error=ToolError, folder_flag="output_dir", checkpoint_flag="--ckpt_name")


def _checkpoints(folder, *names):
  folder.mkdir(parents=True, exist_ok=True)
  for name in names:
    (folder / (name + ".index")).write_text("")
  return str(folder)


def test_find_checkpoint_without_tensorflow(tmp_path):
  folder = _checkpoints(tmp_path, "model.ckpt-5", "model.ckpt-12", "bert_model.ckpt")
  assert model_folder.find_checkpoint(folder) == str(tmp_path / "bert_model.ckpt")
  (tmp_path / "checkpoint").write_text(
    model_folder.format_checkpoint_state(["model.ckpt-5", "model.ckpt-12"])
  )
  assert model_folder.find_checkpoint(folder) == str(tmp_path / "model.ckpt-12")
  assert model_folder.find_checkpoint(folder, "model.ckpt-5") == str(tmp_path / "model.ckpt-5")
  assert model_folder.find_checkpoint(folder, str(tmp_path / "model.ckpt-5")) == str(
    tmp_path / "model.ckpt-5"
  )
  (tmp_path / "checkpoint").write_text(model_folder.format_checkpoint_state(["model.ckpt-30"]))
  with pytest.raises(InputError, match="names no existing checkpoint"):
    model_folder.find_checkpoint(folder)


def test_a_missing_checkpoint_is_named_in_the_tools_words(tmp_path):
  folder = _checkpoints(tmp_path / "out", "model.ckpt-5", "model.ckpt-12", "bert_model.ckpt")
  with pytest.raises(ToolError) as info:
    model_folder.find_checkpoint(folder, "model.ckpt-7", TOOL)
  assert str(info.value) == (
    "no checkpoint model.ckpt-7: %s/model.ckpt-7.index does not exist (output_dir has "
    "bert_model.ckpt, model.ckpt-5, model.ckpt-12); pass --ckpt_name=model.ckpt-12" % folder
  )
  with pytest.raises(ToolError, match=r"drop the file extension, e.g. model.ckpt-5\)"):
    model_folder.find_checkpoint(folder, "model.ckpt-5.index", TOOL)
  empty = _checkpoints(tmp_path / "empty")
  with pytest.raises(ToolError) as info:
    model_folder.find_checkpoint(empty, None, TOOL)
  assert str(info.value) == (
    "no checkpoint in output_dir %s: no `checkpoint` state file naming one, and no "
    "bert_model.ckpt.index" % empty
  )


def test_a_folder_named_as_the_checkpoint_stands_for_its_newest(tmp_path):
  inner = _checkpoints(tmp_path / "best", "model.ckpt-4")
  (tmp_path / "best" / "checkpoint").write_text(
    model_folder.format_checkpoint_state(["model.ckpt-4"])
  )
  assert model_folder.find_checkpoint(str(tmp_path), "best") == os.path.join(inner, "model.ckpt-4")


def test_bert_as_service_rules(tmp_path, monkeypatch):
  folder = _checkpoints(tmp_path / "out", "model.ckpt-50", "model.ckpt-343")
  elsewhere = _checkpoints(tmp_path / "cwd", "bert_model.ckpt")
  monkeypatch.chdir(elsewhere)  # -ckpt_name is looked for in the folder only.
  with pytest.raises(InputError):
    model_folder.find_checkpoint(folder, "bert_model.ckpt", bert_as_service=True)
  assert model_folder.find_checkpoint(folder, "model.ckpt", bert_as_service=True).endswith("-343")
  assert model_folder.find_checkpoint(folder, None, bert_as_service=True).endswith("-343")
  (tmp_path / "out" / "checkpoint").write_text(
    model_folder.format_checkpoint_state(["model.ckpt-50"])
  )
  assert model_folder.find_checkpoint(folder, None, bert_as_service=True).endswith("-50")
  (tmp_path / "out" / "checkpoint").write_text(
    model_folder.format_checkpoint_state(["model.ckpt-9"])  # gone: passed over
  )
  assert model_folder.find_checkpoint(folder, None, bert_as_service=True).endswith("-343")


def test_local_checkpoint_is_the_prefix_or_the_folders_newest(tmp_path):
  folder = _checkpoints(tmp_path, "model.ckpt-2")
  assert model_folder.local_checkpoint(folder + "/model.ckpt-2") == folder + "/model.ckpt-2"
  with pytest.raises(ToolError, match="No checkpoint in directory"):
    model_folder.local_checkpoint(folder, ToolError)
  (tmp_path / "checkpoint").write_text(model_folder.format_checkpoint_state(["model.ckpt-2"]))
  assert model_folder.local_checkpoint(folder) == folder + "/model.ckpt-2"
  assert model_folder.local_checkpoint_problem(folder + "/x.ckpt") == (
    "No checkpoint at %s/x.ckpt: %s/x.ckpt.index does not exist" % (folder, folder)
  )


# -- a whole folder -------------------------------------------------------------


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b"]


def _run_folder(path, run_config=None, labels=("neg", "pos"), config=None):
  """A run_classifier.py output folder (the checkpoint's files faked)."""
  folder = _checkpoints(path, "model.ckpt-3")
  (path / "checkpoint").write_text(model_folder.format_checkpoint_state(["model.ckpt-3"]))
  (path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
  (path / "bert_config.json").write_text(json.dumps(config or dict(TINY_CONFIG, vocab_size=6)))
  if labels is not None:
    (path / "labels.json").write_text(json.dumps(list(labels)))
  if run_config is not None:
    (path / "run_config.json").write_text(json.dumps(run_config))
  return folder


def test_open_folder_reads_a_run_folder_once(tmp_path):
  recorded = {
    "task_name": "emotion",
    "do_lower_case": False,
    "max_seq_length": 64,
    "multi_label": True,
    "multi_label_threshold": 0.3,
    "doc_stride": 16,
    "window_pooling": "max",
  }
  folder = _run_folder(tmp_path, recorded)
  model = model_folder.open_folder(folder)
  assert model.checkpoint == folder + "/model.ckpt-3"
  assert (model.vocab_file, model.config_file) == (
    folder + "/vocab.txt",
    folder + "/bert_config.json",
  )
  assert model.bert_config == dict(TINY_CONFIG, vocab_size=6)
  assert model.labels == ("neg", "pos")
  assert (model.multi_label, model.multi_label_threshold) == (True, 0.3)
  assert model.trained == {
    "do_lower_case": False,
    "max_seq_length": 64,
    "doc_stride": 16,
    "window_pooling": "max",
  }
  assert (model.doc_stride, model.window_pooling, model.classifier_dropout) == (16, "max", 0.1)
  assert model.settings == recorded and model.settings_file == folder + "/run_config.json"
  assert model.folder == folder


def test_open_folder_takes_the_recorded_files_and_labels(tmp_path):
  pretrained = _run_folder(tmp_path / "pre", labels=None)
  folder = _checkpoints(tmp_path / "out", "model.ckpt-3")
  (tmp_path / "out" / "label_list.txt").write_text("x\ny\n")
  recorded = {
    "vocab_file": pretrained + "/vocab.txt",
    "bert_config_file": "../pre/bert_config.json",
  }
  (tmp_path / "out" / "run_config.json").write_text(json.dumps(recorded))
  model = model_folder.open_folder(folder, "model.ckpt-3")
  assert model.vocab_file == pretrained + "/vocab.txt"
  assert model.config_file == folder + "/../pre/bert_config.json"
  assert model.labels == ("x", "y")
  (tmp_path / "out" / "label_list.txt").unlink()
  (tmp_path / "out" / "run_config.json").write_text(json.dumps(dict(recorded, label_list=["p"])))
  assert model_folder.open_folder(folder, "model.ckpt-3").labels == ("p",)
  (tmp_path / "out" / "run_config.json").write_text(
    json.dumps(dict(recorded, vocab_file=str(tmp_path / "moved.txt")))
  )
  with pytest.raises(ToolError) as info:
    model_folder.open_folder(folder, "model.ckpt-3", TOOL)
  assert str(info.value) == (
    "no vocab.txt in %s, and the vocab_file %s that run_config.json records does not exist"
    % (folder, tmp_path / "moved.txt")
  )


def test_an_export_records_its_settings_in_export_info(tmp_path):
  folder = _run_folder(tmp_path, labels=None)
  (tmp_path / "export_info.json").write_text(json.dumps({"multi_label": True, "labels": ["z"]}))
  model = model_folder.open_folder(folder)
  assert (model.multi_label, model.multi_label_threshold) == (True, 0.5)
  assert model.settings_file == folder + "/export_info.json" and model.labels is None


@pytest.mark.parametrize(
  "recorded, config, message",
  [
    ({"multi_label": "yes"}, None, "run_config.json: multi_label must be true or false, not 'yes'"),
    ({"doc_stride": -1}, None, "run_config.json: doc_stride must be an int >= 0, not -1"),
    ([1], None, "run_config.json: expected a JSON object"),
    ({}, dict(TINY_CONFIG, hidden_size=30), "bert_config.json: hidden_size 30 is not a multiple"),
    ({}, {"vocab_size": 6}, "bert_config.json: expected a positive integer for 'hidden_size'"),
  ],
)
def test_a_folder_that_does_not_read_is_the_tools_error(tmp_path, recorded, config, message):
  folder = _run_folder(tmp_path, recorded, config=config)
  with pytest.raises(ToolError) as info:
    model_folder.open_folder(folder, None, TOOL)
  assert str(info.value).startswith(folder + "/") and message in str(info.value)


def test_the_server_and_the_exporters_read_one_kind_of_folder():
  from export import hf_import, savedmodel_export
  from serving import files

  assert files.ModelFiles is model_folder.ModelFolder
  assert hf_import.GOOGLE_CONFIG_KEYS is model_config.CONFIG_KEYS
  assert savedmodel_export.NAMING.error is savedmodel_export.ExportError


# -- bert_config.json -----------------------------------------------------------


def test_read_bert_config_is_the_one_reader(tmp_path):
  path = tmp_path / "bert_config.json"
  path.write_text(json.dumps(TINY_CONFIG))
  assert model_config.read_bert_config(str(path)) == TINY_CONFIG
  assert set(model_config.SIZE_KEYS) <= set(model_config.CONFIG_KEYS) == set(TINY_CONFIG)
  path.write_text('{"vocab_size": 3,\n  nope}')
  with pytest.raises(DataError, match=r"bert_config.json:2: not valid JSON"):
    model_config.read_bert_config(str(path))
  with pytest.raises(DataError, match="file not found"):
    model_config.read_bert_config(str(tmp_path / "missing.json"))


# -- remote files ---------------------------------------------------------------


def test_atomic_write_goes_through_gfile_for_a_remote_path():
  import tensorflow as tf

  target = "ram://model_folder_test/out.jsonl"
  with model_folder.atomic_write(target) as f:
    f.write("one\n")
  with tf.io.gfile.GFile(target) as f:
    assert f.read() == "one\n"
  with pytest.raises(RuntimeError):
    with model_folder.atomic_write(target) as f:
      f.write("half")
      raise RuntimeError("interrupted")
  with tf.io.gfile.GFile(target) as f:
    assert f.read() == "one\n"
  assert tf.io.gfile.listdir("ram://model_folder_test/") == ["out.jsonl"]
