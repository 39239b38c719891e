"""--precision everywhere (issue 27): what `auto` picks, the flag reaching every entry point
(run_classifier's training, eval and predict, extract_features, the server), bf16 numerics on
the predict path, and float32 checkpoints with Google's names after bf16 training."""

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from emotion_data import write_emotion_data, write_model_dir

from bert import precision as precisions
from bert.errors import UsageError
from classifier import RunConfig, run_workflow
from classifier.plan import plan_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")

ZEN4 = {"flags": "fma avx2 avx512f avx512_vnni avx512_bf16"}
SAPPHIRE_RAPIDS = {"flags": "fma avx2 avx512f avx512_bf16 amx_tile amx_bf16 amx_int8"}
AVX2_ONLY = {"flags": "fma avx2"}
# bf16 against float32 on the tiny random model of these tests (measured: probabilities
# 2e-3 apart on the predict path, extract_features' layer values 0.05 apart, most under 0.02).
PROBABILITY_ATOL = 1e-2
LAYER_ATOL = 0.15


@pytest.mark.parametrize(
  "info, gpus, tpu, picked",
  [
    (SAPPHIRE_RAPIDS, (), False, "mixed_bfloat16"),
    (ZEN4, (), False, "mixed_bfloat16"),
    (AVX2_ONLY, (), False, "float32"),
    ({}, (), False, "float32"),
    (AVX2_ONLY, [(8, 0), (9, 0)], False, "mixed_bfloat16"),
    (SAPPHIRE_RAPIDS, [(7, 0)], False, "float32"),
    (SAPPHIRE_RAPIDS, [None], False, "float32"),
    (AVX2_ONLY, (), True, "mixed_bfloat16"),
  ],
)
def test_auto_picks_bf16_where_the_matmuls_have_a_bf16_unit(info, gpus, tpu, picked):
  precision, reason = precisions.choose(info, gpus, tpu)
  assert precision == picked and reason


def test_auto_names_the_unit_it_found():
  assert "AMX-BF16" in precisions.choose(SAPPHIRE_RAPIDS)[1]
  assert "AVX512-BF16" in precisions.choose(ZEN4)[1]
  assert "no bf16 matmul unit" in precisions.choose(AVX2_ONLY)[1]


def test_resolve_and_compute_dtypes():
  assert precisions.resolve("float32") == ("float32", "")
  assert precisions.resolve("mixed_bfloat16") == ("mixed_bfloat16", "")
  assert precisions.resolve("auto", gpus=[])[0] in ("float32", "mixed_bfloat16")
  assert [precisions.compute_dtype(p) for p in precisions.COMPUTE_DTYPES] == [
    "float32",
    "float16",
    "bfloat16",
  ]
  with pytest.raises(ValueError, match="precision must be one of"):
    precisions.resolve("bfloat8")


def test_every_entry_point_offers_the_same_choices():
  run_classifier_help = subprocess.run(
    [sys.executable, "run_classifier.py", "--helpfull"], cwd=ROOT, env=ENV, capture_output=True
  ).stdout.decode()
  extract_help = subprocess.run(
    [sys.executable, "extract_features.py", "--helpfull"], cwd=ROOT, env=ENV, capture_output=True
  ).stdout.decode()
  choices = "<float32|mixed_float16|mixed_bfloat16|auto>"
  for text in (run_classifier_help, extract_help):
    assert "--precision: %s" % choices in text
  from serving import args as serving_args

  parser = serving_args.get_args_parser()
  assert parser.parse_args(["-model_dir", "m"]).precision == "float32"
  assert parser.parse_args(["-model_dir", "m", "-precision", "auto"]).precision == "auto"
  with pytest.raises(SystemExit):
    parser.parse_args(["-model_dir", "m", "-precision", "bfloat8"])


def test_server_refuses_precision_with_an_onnx_backend():
  from serving import args as serving_args

  args = serving_args.get_args_parser().parse_args(
    ["-model_dir", "m", "-backend", "onnxruntime_int8", "-precision", "mixed_bfloat16"]
  )
  with pytest.raises(serving_args.UsageError, match="-precision mixed_bfloat16 is the TensorFlow"):
    serving_args.check_supported(args)


@pytest.fixture
def workspace(tmp_path):
  vocab, config = write_model_dir(str(tmp_path / "model"))
  write_emotion_data(str(tmp_path / "data"), n_train=32, n_val=16, n_test=8)
  return {"vocab": vocab, "config": config, "data": str(tmp_path / "data"), "tmp": tmp_path}


def _config(workspace, output="out", **settings):
  settings.setdefault("max_seq_length", 16)
  settings.setdefault("train_batch_size", 8)
  settings.setdefault("num_train_epochs", 1.0)
  settings.setdefault("seed", 1)
  return RunConfig.from_flat(
    workspace["data"],
    workspace["config"],
    "emotion",
    workspace["vocab"],
    str(workspace["tmp"] / output),
    **settings,
  )


def test_plan_refuses_unknown_or_ignored_precisions(workspace):
  with pytest.raises(UsageError, match="--precision=bfloat8: choose one of"):
    plan_run(_config(workspace, do_train=True, precision="bfloat8"))
  pytest.importorskip("onnxruntime")
  ignored = _config(
    workspace, do_predict=True, predict_backend="onnxruntime", precision="mixed_bfloat16"
  )
  with pytest.raises(UsageError, match="does not apply to --predict_backend=onnxruntime"):
    plan_run(ignored)


@pytest.fixture
def runners(monkeypatch):
  """Every ClassifierRunner the engine builds, as it builds them."""
  from classifier import pipeline

  built = []

  class Recording(pipeline.ClassifierRunner):
    def __init__(self, *args, **kwargs):
      super().__init__(*args, **kwargs)
      built.append(self)

  monkeypatch.setattr(pipeline, "ClassifierRunner", Recording)
  return built


def _forward_matmul_dtypes(runner) -> set:
  """The dtypes of the encoder's MatMul ops in the eval/predict forward functions the runner
  traced (the classifier head's, logits = x W^T in float32 in every precision, left out)."""
  found = set()
  for _, forward in runner._forwards:
    for concrete in forward._list_all_concrete_functions():
      graphs = [concrete.graph] + [f.graph for f in concrete.graph._functions.values()]
      for graph in graphs:
        found |= {
          op.get_attr("T").name
          for op in graph.get_operations()
          if op.type == "MatMul" and not op.get_attr("transpose_b")
        }
  return found


@pytest.mark.slow
def test_precision_reaches_training_eval_and_predict(workspace, runners, caplog):
  caplog.set_level(logging.INFO)
  trained = run_workflow(
    _config(
      workspace,
      "bf16",
      do_train=True,
      do_eval=True,
      do_predict=True,
      precision="mixed_bfloat16",
    )
  )
  runner = runners[-1]
  assert runner.precision == "mixed_bfloat16"
  assert runner.model.bert.compute_dtype.name == "bfloat16"
  assert _forward_matmul_dtypes(runner) == {"bfloat16"}  # eval and predict ran in bf16
  assert "Precision mixed_bfloat16: float32 weights" in caplog.text

  # The checkpoint: float32, with the names a float32 model has.
  import tensorflow as tf

  from bert import modeling
  from bert.classifier_model import BertClassifier

  out = str(workspace["tmp"] / "bf16")
  saved = dict(tf.train.list_variables(out))
  dtypes = tf.train.load_checkpoint(tf.train.latest_checkpoint(out)).get_variable_to_dtype_map()
  reference = BertClassifier(modeling.BertConfig.from_json_file(workspace["config"]), 7)
  for name, variable in reference.variables_by_name.items():
    assert saved[name] == variable.shape.as_list() and dtypes[name] == tf.float32, name
  assert {dtypes[n] for n in dtypes} <= {tf.float32, tf.int64}  # global_step is int64

  # Eval and predict alone, on that folder, in float32: the same model, close results.
  runners.clear()
  again = run_workflow(_config(workspace, "bf16", do_eval=True, do_predict=True))
  assert runners[-1].precision == "float32"
  assert _forward_matmul_dtypes(runners[-1]) == {"float32"}
  bf16_eval, fp32_eval = trained["eval_results"], again["eval_results"]
  assert abs(bf16_eval["eval_loss"] - fp32_eval["eval_loss"]) < 2e-2
  bf16_probs = np.loadtxt(trained["test_results_file"], delimiter="\t")
  fp32_probs = np.loadtxt(again["test_results_file"], delimiter="\t")
  assert np.max(np.abs(bf16_probs - fp32_probs)) < PROBABILITY_ATOL


@pytest.mark.slow
def test_auto_precision_says_what_it_chose(workspace, runners, caplog):
  caplog.set_level(logging.INFO)
  run_workflow(_config(workspace, "auto", do_train=True, precision="auto"))
  runner = runners[-1]
  expected, reason = precisions.choose()
  assert runner.precision == expected
  assert "Precision auto: %s (%s)" % (expected, reason) in caplog.text


def test_bf16_predict_path_is_close_to_float32(tiny_config):
  """The eval/predict forward in bfloat16 against float32, same weights."""
  import tensorflow as tf

  from classifier.trainer import ClassifierRunner

  rng = np.random.default_rng(4)
  ids = rng.integers(1, tiny_config.vocab_size, size=(64, 24)).astype(np.int32)
  mask = np.ones_like(ids)
  mask[::3, 12:] = 0
  features = {
    "input_ids": ids * mask,
    "input_mask": mask,
    "segment_ids": np.zeros_like(ids),
    "label_ids": rng.integers(0, 3, size=64).astype(np.int32),
  }
  dataset = tf.data.Dataset.from_tensor_slices(features).batch(16)
  fp32 = ClassifierRunner(tiny_config, 3, "unused")
  bf16 = ClassifierRunner(tiny_config, 3, "unused", precision="mixed_bfloat16")
  for name, variable in fp32.model.variables_by_name.items():
    spread = np.random.default_rng(1).normal(size=variable.shape) * (0.5 if "output" in name else 0)
    value = variable.numpy() + spread.astype(np.float32)
    variable.assign(value)
    bf16.model.variables_by_name[name].assign(value)
  reference = np.array(list(fp32.predict(dataset, 64)))
  mixed = np.array(list(bf16.predict(dataset, 64)))
  gap = float(np.max(np.abs(mixed - reference)))
  print("bf16 vs float32 probabilities: max |dp| %.2g" % gap)
  assert reference.std() > 0.05  # Not all near uniform: the check means something.
  assert gap < PROBABILITY_ATOL
  assert np.mean(mixed.argmax(-1) == reference.argmax(-1)) >= 0.95


def _extract(workspace, tiny_bert_dir, precision):
  inputs = workspace["tmp"] / "in.txt"
  inputs.write_text("i feel happy today\nthe day was very sad ||| we love it\n")
  output = workspace["tmp"] / ("features_%s.jsonl" % precision)
  proc = subprocess.run(
    [
      sys.executable,
      "extract_features.py",
      "--input_file=%s" % inputs,
      "--output_file=%s" % output,
      "--vocab_file=" + tiny_bert_dir["vocab"],
      "--bert_config_file=" + tiny_bert_dir["config"],
      "--init_checkpoint=" + tiny_bert_dir["ckpt"],
      "--layers=-1",
      "--max_seq_length=16",
      "--precision=" + precision,
    ],
    cwd=ROOT,
    env=ENV,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = [json.loads(line) for line in output.read_text().splitlines()]
  values = [t["layers"][0]["values"] for line in lines for t in line["features"]]
  return np.array(values), proc.stderr


@pytest.mark.slow
def test_extract_features_computes_in_the_precision_asked(workspace, tiny_bert_dir):
  reference, _ = _extract(workspace, tiny_bert_dir, "float32")
  mixed, log = _extract(workspace, tiny_bert_dir, "mixed_bfloat16")
  assert mixed.shape == reference.shape
  gap = float(np.max(np.abs(mixed - reference)))
  print("extract_features bf16 vs float32: max |d| %.2g" % gap)
  assert 0 < gap < LAYER_ATOL  # bf16 ran (values differ), and stayed close
  _, auto_log = _extract(workspace, tiny_bert_dir, "auto")
  assert "Precision auto: %s" % precisions.choose()[0] in auto_log


def test_server_backend_computes_in_the_precision_asked(tiny_bert_dir):
  from serving import args as serving_args
  from serving import files as serving_files
  from serving.model import BertBackend

  model_dir = os.path.dirname(tiny_bert_dir["ckpt"])
  files = serving_files.resolve(model_dir)
  parser = serving_args.get_args_parser()
  ids = np.array([[2, 5, 9, 12, 3, 0], [2, 7, 8, 3, 0, 0]], np.int32)
  mask = (ids > 0).astype(np.int32)
  replies = {}
  for precision in ("float32", "mixed_bfloat16"):
    args = parser.parse_args(
      ["-model_dir", model_dir, "-max_seq_len", "6", "-cpu", "-precision", precision]
    )
    backend = BertBackend(args, files)
    assert backend.info["precision"] == precision
    replies[precision] = backend.encode(ids, mask, np.zeros_like(ids))
  gap = float(np.max(np.abs(replies["mixed_bfloat16"] - replies["float32"])))
  assert 0 < gap < LAYER_ATOL
