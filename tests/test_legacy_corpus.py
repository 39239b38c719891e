"""Real-shaped legacy processors (tests/legacy_processors/) run unchanged.

Each plugin file there is written the way users wrote processors inside or next
to their copy of Google's run_classifier.py (see _corpus.py for the idioms and
where they were seen). The fast tests read every case's data in-process; the
slow ones run each case through run_classifier.py end to end on a tiny model.
"""

import json
import os
import subprocess
import sys

import pytest

import processors

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS_DIR = os.path.join(HERE, "legacy_processors")
sys.path.insert(0, CORPUS_DIR)
import _corpus  # noqa: E402

CASES = {case["task"]: case for case in _corpus.CASES}


@pytest.fixture(autouse=True)
def _no_env_path(monkeypatch):
  monkeypatch.delenv(processors.PATH_ENV_VAR, raising=False)


def test_every_case_is_listed_without_problems():
  tasks = processors.available_tasks([CORPUS_DIR])
  assert set(CASES) <= set(tasks)
  assert not [p for p in processors.plugin_problems([CORPUS_DIR]) if CORPUS_DIR in p]


def _gold(rows):
  return [str(row[0]) for row in rows]


@pytest.mark.parametrize("task", sorted(CASES))
def test_case_reads_its_data(task, tmp_path):
  from absl import flags

  import run_classifier  # noqa: F401  (the flags plugin code reads)

  case = CASES[task]
  data = _corpus.write_data(case, str(tmp_path / "data"))
  flag_values = flags.FLAGS
  if not flag_values.is_parsed():
    flag_values(["test"])
  processors.load_task_class(task, [CORPUS_DIR])  # defines its flags
  for flag in case["extra_flags"]:
    name, _, value = flag.lstrip("-").partition("=")
    flag_values[name].parse(value)
  flag_values.data_dir = str(tmp_path / "data")
  processor = processors.get_processor(task, [CORPUS_DIR])
  train = list(processor.get_train_examples(str(tmp_path / "data")))
  labels = processors.labels_of(processor, str(tmp_path / "data"))
  assert sorted(map(str, labels)) == sorted(map(str, case["labels"]))
  assert {str(e.label) for e in train} <= set(map(str, labels))
  # Every example's label follows the keyword rule of the data.
  written = {(str(t_a)): str(label) for label, t_a, _ in data["train"]}
  matched = [e for e in train if e.text_a in written]
  assert len(matched) >= len(train) - 1
  assert all(written[e.text_a] == str(e.label) for e in matched)


# -- end to end ------------------------------------------------------------------


@pytest.fixture
def model(tiny_bert_dir):
  return tiny_bert_dir


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(CASES))
def test_case_runs_through_run_classifier(task, model, tmp_path):
  case = CASES[task]
  data_dir, out = str(tmp_path / "data"), tmp_path / "out"
  data = _corpus.write_data(case, data_dir)
  stages = ["--do_train=true", "--do_eval=true"]
  if "test" in case["splits"]:
    stages.append("--do_predict=true")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
  proc = subprocess.run(
    [
      sys.executable,
      os.path.join(ROOT, "run_classifier.py"),
      "--task_name=%s" % task,
      "--processors_dir=%s" % CORPUS_DIR,
      "--data_dir=%s" % data_dir,
      "--vocab_file=%s" % model["vocab"],
      "--bert_config_file=%s" % model["config"],
      "--init_checkpoint=%s" % model["ckpt"],
      "--output_dir=%s" % out,
      "--max_seq_length=32",
      "--train_batch_size=16",
      "--learning_rate=1e-3",
      "--num_train_epochs=1",
      "--seed=1",
    ]
    + stages
    + case["extra_flags"],
    capture_output=True,
    text=True,
    cwd=ROOT,
    timeout=600,
    env=env,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr
  labels = json.loads((out / "labels.json").read_text(encoding="utf-8"))
  assert sorted(map(str, labels)) == sorted(map(str, case["labels"]))
  results = (out / "eval_results.txt").read_text().splitlines()
  assert [line.split(" = ")[0] for line in results] == [
    "eval_accuracy",
    "eval_loss",
    "global_step",
    "loss",
  ]
  if "test" in case["splits"]:
    rows = (out / "test_results.tsv").read_text().splitlines()
    assert len(data["test"]) - 1 <= len(rows) <= len(data["test"])
    assert all(len(row.split("\t")) == len(labels) for row in rows)
