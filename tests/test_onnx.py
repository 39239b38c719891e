"""The ONNX export and the ONNX Runtime backends (onnx_bert/, export/onnx_export.py,
serving/onnx_model.py, classifier/onnx_predict.py) against our TensorFlow model, on tiny
models built here."""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import tensorflow as tf  # noqa: E402
from emotion_data import tiny_config  # noqa: E402

from bert import checkpoint, classifier_model, model_folder, modeling  # noqa: E402
from classifier import tfrecord  # noqa: E402
from export import onnx_export  # noqa: E402
from onnx_bert import build as onnx_build  # noqa: E402
from onnx_bert import graph as onnx_graph  # noqa: E402
from onnx_bert import runtime as onnx_runtime  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = ["neg", "neutral", "pos"]
WORDS = "the a is was good bad day night hello world movie film great terrible i you it".split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
VOCAB += ["w%d" % i for i in range(60 - len(VOCAB))]
CONFIG = tiny_config(len(VOCAB), initializer_range=0.2)
SEQ = 16
TOLERANCE = 1e-4


def _write_folder(folder, config, head=None, run_config=None, seed=0):
  """A model folder: model.ckpt-5 (+ `head`, an Adam slot, global_step) with its state file,
  vocab.txt, bert_config.json, labels.json and run_config.json."""
  os.makedirs(folder)
  tf.random.set_seed(seed)
  encoder = modeling.BertEncoder(modeling.BertConfig.from_dict(dict(config)))
  values = {name: v.numpy() for name, v in encoder.variables_by_name.items()}
  values.update(head or {})
  values["global_step"] = np.int64(5)
  values["bert/pooler/dense/bias/adam_m"] = np.zeros([config["hidden_size"]], np.float32)
  checkpoint.save_variables(values, os.path.join(folder, "model.ckpt-5"))
  checkpoint.write_checkpoint_state(folder, ["model.ckpt-5"])
  with open(os.path.join(folder, "vocab.txt"), "w") as f:
    f.write("\n".join(VOCAB) + "\n")
  with open(os.path.join(folder, "bert_config.json"), "w") as f:
    json.dump(config, f)
  if head:
    model_folder.write_labels(folder, LABELS)
  model_folder.write_json(
    os.path.join(folder, "run_config.json"), dict({"max_seq_length": SEQ}, **(run_config or {}))
  )
  return os.path.join(folder, "model.ckpt-5")


def _head(seed, hidden=32, scale=3.0):
  rng = np.random.RandomState(seed)
  return {
    "output_weights": rng.normal(0, scale, [len(LABELS), hidden]).astype(np.float32),
    "output_bias": rng.normal(0, 0.5, [len(LABELS)]).astype(np.float32),
  }


def _inputs(seed=11, batch=5, seq=SEQ):
  """Padded two-segment rows; row 1 has holes in its mask, as -mask_cls_sep makes."""
  rng = np.random.RandomState(seed)
  ids = rng.randint(5, len(VOCAB), size=(batch, seq)).astype(np.int32)
  lengths = np.array([seq] + list(rng.randint(3, seq, size=batch - 1)))
  mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int32)
  mask[1, 0] = 0
  types = ((np.arange(seq)[None, :] >= (lengths // 2)[:, None]) * mask).astype(np.int32)
  return ids * mask, mask, types


def _write_eval_records(path, prefix, multi_label=False, n=40):
  """An eval.tf_record as run_classifier writes it; the gold labels are the TF model's own."""
  ids, mask, types = _inputs(seed=5, batch=n)
  outputs = _tf_classifier(prefix, multi_label, ids, mask, types)
  with tfrecord.TFRecordFileWriter(path) as writer:
    for i in range(n):
      label = outputs["probabilities"][i].argmax()
      writer.write(
        tfrecord.encode_int64_example(
          [
            ("input_ids", ids[i].tolist()),
            ("input_mask", mask[i].tolist()),
            ("segment_ids", types[i].tolist()),
            ("label_ids", [int(label)]),
            ("is_real_example", [1]),
          ]
        )
      )


def _tf_classifier(prefix, multi_label, ids, mask, types):
  config = modeling.BertConfig.from_dict(dict(CONFIG))
  model = classifier_model.BertClassifier(config, len(LABELS), multi_label=multi_label)
  checkpoint.load_variables(model.variables_by_name, prefix, required_prefixes=("",))
  out = model.bert(ids, mask, types)
  labels = np.zeros([len(ids), len(LABELS)] if multi_label else [len(ids)], np.int32)
  _, _, logits, probabilities = model(ids, mask, types, labels)
  values = {"pooled_output": out["pooled_output"].numpy()}
  values.update({"logits": logits.numpy(), "probabilities": probabilities.numpy()})
  for i, layer in enumerate(out["all_encoder_layers"]):
    values[onnx_graph.layer_output(i)] = layer.numpy()
  return values


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("onnx"))
  tuned = os.path.join(root, "tuned")
  prefix = _write_folder(tuned, CONFIG, head=_head(1))
  _write_eval_records(os.path.join(tuned, "eval.tf_record"), prefix)
  multi = os.path.join(root, "multi")
  _write_folder(multi, CONFIG, head=_head(2), run_config={"multi_label": True}, seed=1)
  erf = dict(CONFIG, hidden_act="gelu_exact")
  pretrained = os.path.join(root, "pretrained")
  _write_folder(pretrained, erf, seed=2)
  return {"root": root, "tuned": tuned, "multi": multi, "pretrained": pretrained}


@pytest.fixture(scope="module")
def tuned_export(folders):
  onnx_dir = os.path.join(folders["root"], "tuned_onnx")
  plan = onnx_export.plan_export(folders["tuned"], onnx_dir, quantize=True)
  info = onnx_export.write_onnx_folder(plan)
  return onnx_dir, info


def _run_all(path, ids, mask, types):
  model = onnx_runtime.OnnxBert(path)
  return dict(zip(model.outputs, model.run(model.outputs, ids, mask, types)))


def test_onnx_outputs_match_tensorflow(folders, tuned_export):
  onnx_dir, info = tuned_export
  assert sorted(os.listdir(onnx_dir)) == [
    "bert_config.json",
    "labels.json",
    "model.int8.onnx",
    "model.onnx",
    "onnx_info.json",
    "vocab.txt",
  ]
  assert info["fused_ops"]["Attention"] == CONFIG["num_hidden_layers"]
  assert info["labels"] == LABELS and info["has_classifier_head"]
  prefix = os.path.join(folders["tuned"], "model.ckpt-5")
  for seq in (SEQ, 5, 40):  # dynamic sequence axis, longer than any check batch too
    ids, mask, types = _inputs(seq=seq)
    want = _tf_classifier(prefix, False, ids, mask, types)
    got = _run_all(os.path.join(onnx_dir, "model.onnx"), ids, mask, types)
    assert set(got) == set(want)
    for name in want:
      np.testing.assert_allclose(got[name], want[name], atol=TOLERANCE, rtol=0, err_msg=name)


def test_int8_report_and_label_agreement(tuned_export):
  _, info = tuned_export
  report = info["int8"]
  assert report["check_label_agreement"] >= 0.8
  dev = report["dev"]
  assert dev["examples"] == 40
  assert dev["fp32_accuracy"] == pytest.approx(1.0)  # the gold labels are TF's predictions
  assert dev["label_agreement"] >= 0.9
  delta = 100 * (dev["int8_accuracy"] - dev["fp32_accuracy"])
  assert dev["accuracy_delta_points"] == pytest.approx(delta)


def test_multi_label_head_is_a_sigmoid_per_label(folders, tmp_path):
  plan = onnx_export.plan_export(folders["multi"], str(tmp_path / "onnx"))
  assert plan.model.multi_label
  info = onnx_export.write_onnx_folder(plan)
  assert info["multi_label"]
  ids, mask, types = _inputs()
  want = _tf_classifier(os.path.join(folders["multi"], "model.ckpt-5"), True, ids, mask, types)
  got = _run_all(str(tmp_path / "onnx" / "model.onnx"), ids, mask, types)
  np.testing.assert_allclose(got["probabilities"], want["probabilities"], atol=TOLERANCE)
  assert not np.allclose(got["probabilities"].sum(-1), 1.0)


def test_encoder_only_folder_with_erf_gelu(folders, tmp_path):
  info = onnx_export.write_onnx_folder(
    onnx_export.plan_export(folders["pretrained"], str(tmp_path / "onnx"))
  )
  assert not info["has_classifier_head"] and info["labels"] is None
  ids, mask, types = _inputs()
  encoder = modeling.BertEncoder(
    modeling.BertConfig.from_dict(dict(CONFIG, hidden_act="gelu_exact"))
  )
  checkpoint.load_variables(
    encoder.variables_by_name, os.path.join(folders["pretrained"], "model.ckpt-5")
  )
  want = encoder(ids, mask, types)
  got = _run_all(str(tmp_path / "onnx" / "model.onnx"), ids, mask, types)
  assert "logits" not in got
  np.testing.assert_allclose(got["pooled_output"], want["pooled_output"].numpy(), atol=TOLERANCE)
  for i, layer in enumerate(want["all_encoder_layers"]):
    np.testing.assert_allclose(got[onnx_graph.layer_output(i)], layer.numpy(), atol=TOLERANCE)


def _bias_set_to(model, value):
  """`model` with bert/pooler/dense/bias replaced by `value` everywhere (a wrong weight)."""
  from onnx import numpy_helper

  for tensor in model.graph.initializer:
    if tensor.name == "bert/pooler/dense/bias":
      wrong = np.full(numpy_helper.to_array(tensor).shape, value, np.float32)
      tensor.CopyFrom(numpy_helper.from_array(wrong, tensor.name))
  return model


def test_a_failed_check_falls_back_to_the_plain_graph_or_stops(folders, tmp_path, monkeypatch):
  fuse = onnx_build._fuse
  monkeypatch.setattr(
    onnx_build, "_fuse", lambda model, config: (_bias_set_to(fuse(model, config)[0], 3.0), {})
  )
  info = onnx_export.write_onnx_folder(
    onnx_export.plan_export(folders["pretrained"], str(tmp_path / "plain"))
  )
  assert info["fused_ops"] == {} and max(info["check"]["max_difference"].values()) < TOLERANCE

  build = onnx_graph.build_model
  monkeypatch.setattr(onnx_graph, "build_model", lambda *a, **k: _bias_set_to(build(*a, **k), 3.0))
  target = tmp_path / "never"
  with pytest.raises(onnx_export.OnnxExportError, match="does not reproduce TensorFlow"):
    onnx_export.write_onnx_folder(onnx_export.plan_export(folders["pretrained"], str(target)))
  assert not target.exists() and os.listdir(tmp_path) == ["plain"]


def test_ensure_export_reuses_a_current_export_and_refreshes_a_stale_one(folders, tmp_path):
  folder = str(tmp_path / "run")
  shutil.copytree(folders["tuned"], folder)
  prefix = os.path.join(folder, "model.ckpt-5")
  arguments = (prefix, os.path.join(folder, "bert_config.json"), os.path.join(folder, "vocab.txt"))
  path = onnx_build.ensure_export(*arguments, LABELS, False)
  assert path == os.path.join(folder, "onnx", "model.onnx")
  made = os.path.getmtime(path)
  assert onnx_build.ensure_export(*arguments, LABELS, False) == path
  assert os.path.getmtime(path) == made
  assert onnx_runtime.current_model(os.path.dirname(path), prefix, False, "int8") is None

  reader = tf.train.load_checkpoint(prefix)
  values = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
  values["output_bias"] = values["output_bias"] + 1.0
  checkpoint.save_variables(values, prefix)  # the same name, other weights
  assert onnx_runtime.current_model(os.path.dirname(path), prefix, False, "fp32") is None
  onnx_build.ensure_export(*arguments, LABELS, False)
  info = onnx_runtime.read_info(os.path.dirname(path))
  assert info["checkpoint_fingerprint"] == onnx_runtime.checkpoint_fingerprint(prefix)


def _exported_copy(folders, tmp_path):
  """A copy of the tuned folder with its float32 export in onnx/: (export path, arguments)."""
  folder = str(tmp_path / "run")
  shutil.copytree(folders["tuned"], folder)
  prefix = os.path.join(folder, "model.ckpt-5")
  arguments = (prefix, os.path.join(folder, "bert_config.json"), os.path.join(folder, "vocab.txt"))
  return onnx_build.ensure_export(*arguments, LABELS, False), arguments


def test_a_damaged_export_is_made_again(folders, tmp_path, caplog):
  path, arguments = _exported_copy(folders, tmp_path)
  size = os.path.getsize(path)
  with open(path, "r+b") as f:
    f.truncate(size // 2)  # Cut short, as by a full disk.
  assert onnx_runtime.current_model(os.path.dirname(path), arguments[0], False, "fp32") is None
  with caplog.at_level("WARNING"):
    assert onnx_build.ensure_export(*arguments, LABELS, False) == path
  assert (
    "The ONNX export is damaged (%s has %d bytes, onnx_info.json records %d): exporting it again"
    % (path, size // 2, size)
  ) in caplog.text
  assert os.path.getsize(path) == size
  assert onnx_graph.PROBABILITIES in onnx_runtime.OnnxBert(path).outputs


def test_an_export_that_does_not_load_is_named(folders, tmp_path):
  from bert.errors import InputError

  path, _ = _exported_copy(folders, tmp_path)
  with open(path, "r+b") as f:
    f.write(b"\xff" * 64)  # Same size as recorded, not a model any more.
  message = "cannot load the ONNX model %s (" % path
  with pytest.raises(InputError) as loading:
    onnx_runtime.OnnxBert(path)
  assert str(loading.value).startswith(message) and len(str(loading.value).splitlines()) == 1
  with pytest.raises(RuntimeError) as serving:
    _serve(os.path.dirname(os.path.dirname(path)), "-backend", "onnxruntime")
  assert message in str(serving.value)


def test_a_broken_onnxruntime_install_is_one_line(tmp_path):
  from emotion_data import write_emotion_data, write_model_dir

  broken = tmp_path / "site" / "onnxruntime"
  broken.mkdir(parents=True)
  (broken / "__init__.py").write_text(
    "raise ImportError('libonnxruntime.so.1: cannot open shared object file')\n"
  )
  vocab_file, config_file = write_model_dir(str(tmp_path / "model"))
  write_emotion_data(str(tmp_path / "data"), n_train=8, n_val=4, n_test=4)
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), ROOT]))
  run = subprocess.run(
    [
      sys.executable,
      os.path.join(ROOT, "run_classifier.py"),
      "--task_name=emotion",
      "--data_dir=%s" % (tmp_path / "data"),
      "--vocab_file=%s" % vocab_file,
      "--bert_config_file=%s" % config_file,
      "--output_dir=%s" % (tmp_path / "output"),
      "--max_seq_length=16",
      "--do_predict",
      "--predict_backend=onnxruntime",
    ],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert run.returncode == 1, run.stderr[-3000:]
  assert run.stderr.strip().splitlines()[-1] == (
    "run_classifier.py: error: --predict_backend=onnxruntime needs onnxruntime, which is "
    "installed but does not import (ImportError: libonnxruntime.so.1: cannot open shared object "
    "file): reinstall it, e.g. pip install --force-reinstall onnxruntime"
  )
  assert "Traceback" not in run.stderr
  assert not (tmp_path / "output").exists()


def _cli(*args):
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run(
    [sys.executable, "-m", "export.onnx_export"] + list(args),
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )


def test_cli_refuses_a_folder_that_is_no_export(folders, tmp_path):
  taken = tmp_path / "taken"
  taken.mkdir()
  (taken / "notes.txt").write_text("mine")
  result = _cli("--output_dir", folders["tuned"], "--onnx_dir", str(taken))
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
    "bert-export-onnx: error: --onnx_dir %s is not empty and holds no ONNX export (no "
    "onnx_info.json): remove it yourself" % taken
  ]
  assert (taken / "notes.txt").read_text() == "mine"
  result = _cli("--output_dir", folders["tuned"], "--onnx_dir", str(tmp_path / "x"), "--quantize")
  assert result.returncode == 2


def test_cli_writes_and_overwrites(folders, tmp_path):
  onnx_dir = str(tmp_path / "onnx")
  result = _cli("--output_dir", folders["pretrained"], "--onnx_dir", onnx_dir)
  assert result.returncode == 0, result.stderr
  assert "check against TensorFlow: max difference" in result.stdout
  result = _cli("--output_dir", folders["pretrained"], "--onnx_dir", onnx_dir)
  assert result.returncode == 1 and "pass --overwrite" in result.stderr
  result = _cli("--output_dir", folders["pretrained"], "--onnx_dir", onnx_dir, "--overwrite")
  assert result.returncode == 0, result.stderr


def test_missing_onnxruntime_is_a_usage_error(monkeypatch):
  import importlib.util

  from bert.errors import UsageError
  from classifier import RunConfig, checks

  real = importlib.util.find_spec
  monkeypatch.setattr(
    importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a)
  )
  predict = RunConfig.from_flat("d", "c.json", "t", "v.txt", "o", do_predict=True)
  predict.prediction.predict_backend = "onnxruntime"
  with pytest.raises(UsageError, match="pip install 'bert-classic\\[onnx\\]'"):
    checks.check_flag_values(predict)
  predict.prediction.do_predict, predict.training.do_train = (
    False,
    True,
  )  # No prediction: no ONNX Runtime needed.
  checks.check_flag_values(predict)


# -- serving ----------------------------------------------------------------------------


def _serve(model_dir, *flags):
  from serving import args as args_mod
  from serving.server import BertServer

  args = args_mod.get_args_parser().parse_args(
    ["-model_dir", model_dir, "-port", "0", "-port_out", "0", "-max_seq_len", str(SEQ)]
    + list(flags)
  )
  server = BertServer(args, worker_mode="thread")
  server.start()
  try:
    server.wait_until_ready(300)
  except BaseException:
    server.close()
    raise
  return server


def test_serving_protocol_on_the_onnxruntime_backend(folders, tmp_path):
  client_module = pytest.importorskip("bert_serving.client")
  from bert import tokenization
  from serving import features, pooling

  folder = str(tmp_path / "served")
  shutil.copytree(folders["tuned"], folder)
  texts = ["hello world", "the movie was good", "a very terrible film ||| i you it"]
  tokenizer = tokenization.FullTokenizer(os.path.join(folder, "vocab.txt"), do_lower_case=True)
  batch = features.convert_texts(texts, tokenizer, SEQ, CONFIG["max_position_embeddings"])
  ids, mask, types = (
    np.array(x, np.int32) for x in (batch.input_ids, batch.input_mask, batch.input_type_ids)
  )
  want = _tf_classifier(os.path.join(folder, "model.ckpt-5"), False, ids, mask, types)

  server = _serve(folder, "-backend", "onnxruntime")
  try:
    with client_module.BertClient(port=server.port, port_out=server.port_out, timeout=60000) as bc:
      assert bc.server_config["backend"] == "onnxruntime"
      vectors = bc.encode(texts)
      expected = pooling.reduce_mean(want[onnx_graph.layer_output(0)], mask)  # layer -2 of 2
      np.testing.assert_allclose(vectors, expected, atol=TOLERANCE)
      np.testing.assert_allclose(bc.encode([texts[2]]), expected[2:], atol=TOLERANCE)
  finally:
    server.close()
  assert os.path.isfile(os.path.join(folder, "onnx", "model.onnx"))  # exported on the fly

  server = _serve(folder, "-backend", "onnxruntime_int8", "-pooling_strategy", "CLASSIFICATION")
  try:
    with client_module.BertClient(port=server.port, port_out=server.port_out, timeout=60000) as bc:
      config = bc.server_config
      assert config["backend"] == "onnxruntime_int8" and config["labels"] == LABELS
      probabilities = bc.encode(texts)
      assert probabilities.shape == (len(texts), len(LABELS))
      np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
      agree = probabilities.argmax(-1) == want["probabilities"].argmax(-1)
      assert agree.mean() >= 2 / 3
  finally:
    server.close()


def test_serving_a_multi_label_model_on_onnxruntime(folders, tmp_path):
  client_module = pytest.importorskip("bert_serving.client")
  from bert import tokenization
  from serving import features

  folder = str(tmp_path / "multi")
  shutil.copytree(folders["multi"], folder)
  texts = ["hello world", "a very terrible film ||| i you it"]
  tokenizer = tokenization.FullTokenizer(os.path.join(folder, "vocab.txt"), do_lower_case=True)
  batch = features.convert_texts(texts, tokenizer, SEQ, CONFIG["max_position_embeddings"])
  inputs = (
    np.array(x, np.int32) for x in (batch.input_ids, batch.input_mask, batch.input_type_ids)
  )
  want = _tf_classifier(os.path.join(folder, "model.ckpt-5"), True, *inputs)["probabilities"]

  server = _serve(folder, "-backend", "onnxruntime", "-pooling_strategy", "CLASSIFICATION")
  try:
    with client_module.BertClient(port=server.port, port_out=server.port_out, timeout=60000) as bc:
      config = bc.server_config
      assert config["multi_label"] and config["multi_label_threshold"] == 0.5
      np.testing.assert_allclose(bc.encode(texts), want, atol=TOLERANCE)
  finally:
    server.close()


@pytest.mark.slow
def test_two_worker_processes_share_one_export_made_on_the_fly(folders, tmp_path):
  client_module = pytest.importorskip("bert_serving.client")
  from serving.background import BackgroundServer

  folder = str(tmp_path / "served")
  shutil.copytree(folders["tuned"], folder)
  log_path = str(tmp_path / "server.log")
  flags = ["-backend", "onnxruntime", "-num_worker", "2", "-max_seq_len", str(SEQ), "-cpu"]
  with BackgroundServer(folder, flags, log_path=log_path) as server:
    with client_module.BertClient(port=server.port, port_out=server.port_out, timeout=180000) as bc:
      assert bc.encode(["hello world", "the movie"]).shape == (2, CONFIG["hidden_size"])
      deadline = time.time() + 120
      while bc.server_status["num_worker_ready"] < 2 and time.time() < deadline:
        time.sleep(0.5)
      assert bc.server_status["num_worker_ready"] == 2
  with open(log_path) as f:
    assert f.read().count("Exporting %s" % os.path.join(folder, "model.ckpt-5")) == 1
  assert onnx_runtime.read_info(os.path.join(folder, "onnx"))["format"] == 1


def test_serving_backend_flags_are_checked():
  from serving import args as args_mod

  parser = args_mod.get_args_parser()
  args = parser.parse_args(["-model_dir", "m", "-backend", "onnxruntime", "-xla"])
  with pytest.raises(args_mod.UsageError, match="-xla"):
    args_mod.check_supported(args)
  assert parser.parse_args(["-model_dir", "m"]).backend == "tensorflow"


# -- run_classifier.py --predict_backend --------------------------------------------------


def _run_classifier(tmp_path, *flags, output="output"):
  from emotion_data import write_model_dir

  vocab_file, config_file = write_model_dir(str(tmp_path / "model"))
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  # Training runs default to 16 tokens; the others take the trained folder's length.
  given = any(flag.startswith("--max_seq_length") for flag in flags)
  training = any(flag.startswith("--do_train") for flag in flags)
  length = ["--max_seq_length=16"] if training and not given else []
  run = subprocess.run(
    [
      sys.executable,
      os.path.join(ROOT, "run_classifier.py"),
      "--task_name=emotion",
      "--data_dir=%s" % (tmp_path / "data"),
      "--vocab_file=%s" % vocab_file,
      "--bert_config_file=%s" % config_file,
      "--output_dir=%s" % (tmp_path / output),
    ]
    + length
    + list(flags),
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert run.returncode == 0, run.stderr[-3000:]
  return np.loadtxt(str(tmp_path / output / "test_results.tsv"), delimiter="\t", ndmin=2)


@pytest.mark.slow
def test_predict_backend_onnxruntime_reproduces_test_results(tmp_path):
  from emotion_data import write_emotion_data

  write_emotion_data(str(tmp_path / "data"), n_train=48, n_val=8, n_test=20)
  train = ["--do_train=true", "--train_batch_size=8", "--learning_rate=1e-2"]
  tensorflow = _run_classifier(tmp_path, *train, "--num_train_epochs=1", "--do_predict=true")
  # Predict again from the trained checkpoint on ONNX Runtime, with length-sorted batches.
  onnx = _run_classifier(
    tmp_path, "--do_predict=true", "--predict_backend=onnxruntime", "--dynamic_padding=true"
  )
  assert onnx.shape == tensorflow.shape == (20, 7)
  np.testing.assert_allclose(onnx, tensorflow, atol=TOLERANCE, rtol=0)
  assert os.path.isfile(str(tmp_path / "output" / "onnx" / "model.onnx"))

  # A model trained on --doc_stride windows (texts of up to 11 words in windows of 6 tokens):
  # one row per text. Predicting again, the folder gives the windows.
  windows = ["--max_seq_length=8", "--doc_stride=3", "--num_train_epochs=1", "--do_predict=true"]
  tensorflow = _run_classifier(tmp_path, *train, *windows, output="windows")
  onnx = _run_classifier(
    tmp_path, "--do_predict=true", "--predict_backend=onnxruntime", output="windows"
  )
  assert onnx.shape == tensorflow.shape == (20, 7)
  np.testing.assert_allclose(onnx, tensorflow, atol=TOLERANCE, rtol=0)
