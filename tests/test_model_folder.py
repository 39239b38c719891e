"""bert.model_folder: the one home of a model folder's names, labels, state file and safe writes."""

import os
import subprocess
import sys

import pytest

from bert import model_folder
from bert.errors import InputError, WriteError


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
  code = "import sys, bert.model_folder, bert.errors; assert 'tensorflow' not in sys.modules"
  subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(__file__) + "/..")
