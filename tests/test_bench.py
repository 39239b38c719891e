"""bench/bench.py smoke test: --quick on a tiny BERT, train + convert only."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, TINY_CONFIG


def _quick_bench(tmp_path, sections: str, *extra: str, timeout: int = 300) -> str:
  """Runs `bench/bench.py --quick --only <sections>` on the tiny BERT; its stdout."""
  config = tmp_path / "bert_config.json"
  config.write_text(json.dumps(TINY_CONFIG))
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  command = [sys.executable, os.path.join(ROOT, "bench", "bench.py"), "--quick", "--only", sections]
  proc = subprocess.run(
    command + ["--config", str(config), *extra],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
  )
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return proc.stdout


@pytest.mark.slow
def test_bench_quick_train_convert(tmp_path):
  out_json = tmp_path / "out.json"
  out = _quick_bench(tmp_path, "train,convert", "--json", str(out_json), timeout=240)
  for header in ("machine:", "settings:", "cpu", "tensorflow", "tf_intra_op_threads"):
    assert header in out, out
  rows = [line for line in out.splitlines() if line.startswith("| ")]
  table = {}
  for line in rows[1:]:
    cells = [c.strip() for c in line.strip("|").split("|")]
    table[(cells[0], cells[1])] = cells[2:]
  number = re.compile(r"^[0-9][0-9,]*(\.[0-9]+)?(e[-+]?[0-9]+)?$")
  expected = [
    ("train", "fixed padding", "examples/s"),
    ("train", "fixed padding, real tokens", "tokens/s"),
    ("train", "dynamic padding", "examples/s"),
    ("train", "dynamic padding, real tokens", "tokens/s"),
    ("train", "dynamic vs fixed (examples/s)", "x"),
    ("convert", "(a) Google-style, 1 process", "examples/s"),
    ("convert", "(b) ours, num_workers=1", "examples/s"),
    ("convert", "speedup (c) vs (b)", "x"),
  ]
  for section, name, unit in expected:
    assert (section, name) in table, (section, name, sorted(table))
    median, got_unit = table[(section, name)][:2]
    assert number.match(median), (section, name, median)
    assert got_unit == unit
  assert any(s == "convert" and n.startswith("(c) ours, num_workers=") for s, n in table)
  # Sections not asked for are not run.
  assert not any(s in ("eval", "predict", "serve") for s, _ in table)
  assert "check: convert (b) and (c) files byte-identical: yes" in out
  saved = json.loads(out_json.read_text())
  assert saved["settings"]["sections"] == ["train", "convert"]
  assert len(saved["results"]) == len(rows) - 1
  assert all(r["median"] > 0 for r in saved["results"])


@pytest.mark.slow
def test_bench_quick_eval_predict_serve(tmp_path):
  out = _quick_bench(tmp_path, "eval,predict,serve")
  for figure in (
    "evaluate() dynamic padding",
    "predict() dynamic padding",
    "8 concurrent clients, batch 1 each",
    "served / in-process forward, batch 16",
  ):
    assert re.search(r"\| %s +\| [0-9][0-9,.]* +\|" % re.escape(figure), out), (figure, out)
  assert "0 retrace(s) in timed calls" in out
  assert re.search(r"check: eval accuracy fixed / dynamic: (\S+) / \1\n", out)
  diff = re.search(r"check: predict fixed vs dynamic max \|dp\|: (\S+)", out)
  assert float(diff.group(1)) < 1e-5


def test_accuracy_task_labels_follow_their_cue_words():
  from bench import accuracy

  words = ["w%d" % i for i in range(3000)]
  labels, texts = accuracy.make_task(words, 400, 64, seed=5)
  assert len(labels) == len(texts) == 400
  assert set(labels) == {str(i) for i in range(accuracy.NUM_LABELS)}
  pool = words[
    accuracy.FIRST_CUE_RANK : accuracy.FIRST_CUE_RANK
    + accuracy.NUM_LABELS * accuracy.CUES_PER_LABEL
  ]
  cue_label = {w: i % accuracy.NUM_LABELS for i, w in enumerate(pool)}
  distracted = 0
  for label, text in zip(labels, texts):
    counts = [0] * accuracy.NUM_LABELS
    for token in text.split():
      if token in cue_label:
        counts[cue_label[token]] += 1
    assert counts[int(label)] >= 1
    assert counts[int(label)] > max(c for i, c in enumerate(counts) if i != int(label)), (
      label,
      text,
    )
    distracted += sum(counts) > counts[int(label)]
  assert 0.2 < distracted / 400 < 0.4


@pytest.mark.slow
def test_bench_quick_bf16_and_inference_precision(tmp_path):
  out = _quick_bench(tmp_path, "bf16,infer_precision")
  for figure in (
    "ours float32 train, fixed padding",
    "ours mixed_bfloat16 train, fixed padding",
    "ours bf16 / ours fp32",
    "TF float32, batch 8, seq 32",
    "TF bfloat16, batch 8, seq 32",
    "TF bfloat16 / TF float32, batch 8",
  ):
    assert re.search(r"\| %s +\| [0-9][0-9,.e+-]* +\|" % re.escape(figure), out), (figure, out)
  assert "check: bf16: matmul unit: " in out
  gap = re.search(r"\| TF bfloat16 vs TF float32: max \|dp\| +\| (\S+) ", out)
  assert float(gap.group(1)) < 1e-2
  assert re.search(r"precision +float32", out)  # the settings block says what train etc. use


def test_precision_agreement_and_the_bf16_unit_note(monkeypatch):
  from bench import common, precision
  from bert import machine

  reference = np.array([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5]])
  other = np.array([[0.8, 0.2], [0.6, 0.4], [0.5, 0.5]])
  gap, same = common.probability_agreement(reference, other)
  assert gap == pytest.approx(0.2) and same == pytest.approx(2 / 3)
  monkeypatch.setattr(machine, "cpuinfo", lambda: {"flags": "avx2 avx512f avx512_bf16"})
  assert "cannot be measured here" in precision.bf16_unit_note()
  monkeypatch.setattr(machine, "cpuinfo", lambda: {"flags": "avx512_bf16 amx_bf16 amx_tile"})
  assert precision.bf16_unit_note() == "AMX-BF16 tiles: the AMX goals apply"


def test_accuracy_study_compares_padding_or_precision():
  from bench import accuracy

  assert accuracy.parse_args([]).vary == "padding"
  args = accuracy.parse_args(["--vary", "precision", "--data", "demo"])
  assert accuracy.VARIANTS[args.vary] == {
    "float32": [],
    "mixed_bfloat16": ["--precision=mixed_bfloat16"],
  }
  found = accuracy.agreement(np.eye(3), np.eye(3)[[0, 2, 1]])
  assert found == {
    "max_abs_probability_diff": 1.0,
    "same_prediction": pytest.approx(1 / 3),
    "examples": 3,
  }
