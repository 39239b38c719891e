"""export/hf_export.py: a model folder -> a HuggingFace BERT folder (bert-export-hf).

The source models are built here: a random HF model (test_hf_import's helper,
weights large enough for the GELU form to matter) imported into Google's
layout by bert-import-hf is the pre-trained folder; the same weights plus a
classifier head, optimizer slots, labels.json and run_config.json stand for
a fine-tuned output folder. A slow test fine-tunes with run_classifier.py.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from test_hf_import import HF_CONFIG, VOCAB, write_hf_model

from bert import checkpoint, classifier_model, model_config, model_folder, modeling
from export import hf_common, hf_export, hf_import, numpy_bert
from export import safetensors_io as st

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = ["positive", "negative", "中性"]
HF_FILES = [
  "config.json",
  "model.safetensors",
  "special_tokens_map.json",
  "tokenizer_config.json",
  "vocab.txt",
]


def _checkpoint_tensors(prefix):
  reader = tf.train.load_checkpoint(prefix)
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
  """The HF source model, its import (a pre-trained folder) and a fine-tuned folder."""
  root = tmp_path_factory.mktemp("hf_export")
  hf_source = str(root / "hf_source")
  hf_config, hf_weights = write_hf_model(hf_source, {"hidden_act": "gelu_new"}, seed=3)
  pretrained = str(root / "pretrained")
  hf_import.import_hf_bert(hf_source, pretrained)
  bert_values = _checkpoint_tensors(os.path.join(pretrained, "bert_model.ckpt"))

  finetuned = root / "finetuned"
  finetuned.mkdir()
  rng = np.random.RandomState(7)
  hidden = hf_config["hidden_size"]
  head = {
    "output_weights": rng.normal(0, 0.5, [len(LABELS), hidden]).astype(np.float32),
    "output_bias": rng.normal(0, 0.5, [len(LABELS)]).astype(np.float32),
  }
  slots = {"bert/pooler/dense/bias/adam_m": np.zeros([hidden], np.float32)}
  variables = dict(bert_values, **head, **slots, global_step=np.int64(9))
  for step in (0, 9):
    checkpoint.save_variables(variables, str(finetuned / ("model.ckpt-%d" % step)))
  checkpoint.write_checkpoint_state(str(finetuned), ["model.ckpt-0", "model.ckpt-9"])
  for name in ("vocab.txt", "bert_config.json"):
    (finetuned / name).write_bytes((root / "pretrained" / name).read_bytes())
  model_folder.write_labels(str(finetuned), LABELS)
  model_folder.write_json(
    str(finetuned / "run_config.json"), {"do_lower_case": False, "max_seq_length": 16}
  )
  return {
    "root": root,
    "hf_source": hf_source,
    "hf_config": hf_config,
    "hf_weights": hf_weights,
    "pretrained": pretrained,
    "finetuned": str(finetuned),
    "bert": bert_values,
    "head": head,
  }


def _read_json(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _inputs():
  ids = np.array([[2, 7, 9, 11, 3, 20, 21, 3, 0, 0], [2, 44, 45, 46, 47, 48, 49, 13, 14, 3]])
  mask = (ids != 0).astype(np.int32)
  types = np.array([[0, 0, 0, 0, 0, 1, 1, 1, 0, 0], [0] * 10])
  return ids.astype(np.int32), mask, types.astype(np.int32)


def _our_logits(folder, prefix, ids, mask, types):
  """Logits of our TF classifier loaded from the checkpoint `prefix`."""
  bert_config = modeling.BertConfig.from_json_file(os.path.join(folder, "bert_config.json"))
  model = classifier_model.BertClassifier(bert_config, len(LABELS))
  checkpoint.load_variables(model.variables_by_name, prefix)
  return model(ids, mask, types, np.zeros([len(ids)], np.int32))[2].numpy()


# -- names and activations ----------------------------------------------------


def test_activation_names_name_the_same_function():
  x = np.linspace(-6, 6, 241).astype(np.float32)
  for google, hf in hf_common.GOOGLE_TO_HF_ACT.items():
    ours = modeling.get_activation(google)
    # Importing the export gives back the same function of our model.
    assert modeling.get_activation(hf_common.HF_TO_GOOGLE_ACT[hf]) is ours
    expected = x if ours is None else ours(tf.constant(x)).numpy()
    np.testing.assert_allclose(
      numpy_bert.ACTIVATIONS[hf](x.astype(np.float64)), expected, atol=2e-6
    )
  assert hf_export.hf_activation("gelu") == "gelu_new"  # Google's tanh form
  assert hf_export.hf_activation("GELU_EXACT") == "gelu"
  assert hf_export.hf_activation(None) == "linear"
  with pytest.raises(hf_export.HFExportError, match="swish"):
    hf_export.hf_activation("swish")


def test_bert_name_pairs_are_hf_names_in_google_order():
  pairs = hf_common.bert_name_pairs(2)
  assert [google for google, _, _ in pairs] == hf_common.google_bert_names(2)
  by_google = {google: (hf, transpose) for google, hf, transpose in pairs}
  assert by_google["bert/encoder/layer_1/attention/self/query/kernel"] == (
    "encoder.layer.1.attention.self.query.weight",
    True,
  )
  assert by_google["bert/embeddings/LayerNorm/gamma"] == ("embeddings.LayerNorm.weight", False)
  assert by_google["bert/embeddings/word_embeddings"] == (
    "embeddings.word_embeddings.weight",
    False,
  )
  assert by_google["bert/pooler/dense/kernel"] == ("pooler.dense.weight", True)
  assert len({hf for hf, _ in by_google.values()}) == len(pairs)


def test_vocab_is_written_as_google_reads_it(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_bytes(b"[PAD]\r\n[UNK] \n\n##s\nlast")
  assert model_config.read_vocab_tokens(str(path)) == ["[PAD]", "[UNK]", "", "##s", "last"]


# -- pre-trained folder -> BertModel -------------------------------------------


def test_pretrained_folder_becomes_bert_model(source, tmp_path):
  hf_dir = str(tmp_path / "hf")
  summary = hf_export.export_to_hf(source["pretrained"], hf_dir)
  assert summary["files"] == HF_FILES
  assert summary["architecture"] == "BertModel" and summary["labels"] is None
  assert summary["check"]["passed"] and "logits_max_abs_diff" not in summary["check"]
  assert any("Google's default" in w for w in summary["warnings"])

  config = _read_json(os.path.join(hf_dir, "config.json"))
  assert config["architectures"] == ["BertModel"]
  assert config["hidden_act"] == "gelu_new"
  assert "id2label" not in config
  for key in model_config.CONFIG_KEYS:
    if key != "hidden_act":
      assert config[key] == source["hf_config"][key], key
  # The HF source went through Google's layout and back: the same tensors, bit for bit.
  written = st.read_safetensors(os.path.join(hf_dir, "model.safetensors"))
  assert sorted(written) == sorted(source["hf_weights"])
  for name, value in source["hf_weights"].items():
    assert written[name].dtype == np.float32
    np.testing.assert_array_equal(written[name], value)
  assert st.SafetensorsFile(os.path.join(hf_dir, "model.safetensors")).metadata == {"format": "pt"}
  tokenizer = _read_json(os.path.join(hf_dir, "tokenizer_config.json"))
  assert tokenizer["do_lower_case"] is True and tokenizer["tokenizer_class"] == "BertTokenizer"
  with open(os.path.join(hf_dir, "vocab.txt"), encoding="utf-8") as f:
    assert f.read().splitlines() == VOCAB


def test_pretrained_heads_are_left_out(source, tmp_path):
  folder = tmp_path / "with_heads"
  folder.mkdir()
  extra = {"cls/predictions/output_bias": np.zeros([HF_CONFIG["vocab_size"]], np.float32)}
  checkpoint.save_variables(dict(source["bert"], **extra), str(folder / "bert_model.ckpt"))
  for name in ("vocab.txt", "bert_config.json"):
    shutil.copyfile(os.path.join(source["pretrained"], name), str(folder / name))
  summary = hf_export.export_to_hf(str(folder), str(tmp_path / "hf"), do_lower_case=False)
  assert summary["left_out"] == ["cls/predictions/output_bias"]
  assert summary["do_lower_case_source"] == "--do_lower_case" and not summary["warnings"]


# -- fine-tuned folder -> BertForSequenceClassification -----------------------


def test_finetuned_folder_becomes_sequence_classifier(source, tmp_path):
  hf_dir = str(tmp_path / "hf")
  summary = hf_export.export_to_hf(source["finetuned"], hf_dir)
  assert summary["checkpoint"].endswith("model.ckpt-9")
  assert summary["labels"] == LABELS and not summary["warnings"]
  assert summary["left_out"] == ["bert/pooler/dense/bias/adam_m", "global_step"]
  check = summary["check"]
  assert check["passed"] and check["logits_max_abs_diff"] < 1e-4

  config = _read_json(os.path.join(hf_dir, "config.json"))
  assert config["architectures"] == ["BertForSequenceClassification"]
  assert config["id2label"] == {"0": "positive", "1": "negative", "2": "中性"}
  assert config["label2id"] == {"positive": 0, "negative": 1, "中性": 2}
  assert config["problem_type"] == "single_label_classification"
  assert config["classifier_dropout"] == classifier_model.HEAD_DROPOUT
  assert config["layer_norm_eps"] == 1e-12 and config["pad_token_id"] == 0
  assert _read_json(os.path.join(hf_dir, "tokenizer_config.json"))["do_lower_case"] is False
  assert _read_json(os.path.join(hf_dir, "special_tokens_map.json"))["cls_token"] == "[CLS]"

  written = st.read_safetensors(os.path.join(hf_dir, "model.safetensors"))
  assert written["bert.encoder.layer.0.attention.self.query.weight"].shape == (32, 32)
  np.testing.assert_array_equal(
    written["bert.encoder.layer.1.intermediate.dense.weight"],
    source["bert"]["bert/encoder/layer_1/intermediate/dense/kernel"].T,
  )
  np.testing.assert_array_equal(written["classifier.weight"], source["head"]["output_weights"])
  np.testing.assert_array_equal(written["classifier.bias"], source["head"]["output_bias"])
  assert not any(name.startswith("bert.bert") or "adam" in name for name in written)

  # Our classifier on the checkpoint and HF's rules on the written file agree on the logits.
  ids, mask, types = _inputs()
  ours = _our_logits(source["finetuned"], summary["checkpoint"], ids, mask, types)
  encoder = {n[len("bert.") :]: v for n, v in written.items() if n.startswith("bert.")}
  pooled = numpy_bert.bert_forward(encoder, config, ids, mask, types)["pooled_output"]
  theirs = pooled @ written["classifier.weight"].T.astype(np.float64) + written["classifier.bias"]
  np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_round_trip_through_bert_import_hf_is_bit_for_bit(source, tmp_path):
  hf_dir = str(tmp_path / "hf")
  hf_export.export_to_hf(source["finetuned"], hf_dir, checkpoint="model.ckpt-0")
  back = str(tmp_path / "back")
  summary = hf_import.import_hf_bert(hf_dir, back)
  # The classifier head comes back as run_classifier's output layer, with its labels.
  assert summary["unmapped"] == [] and summary["labels"] == LABELS
  assert summary["do_lower_case"] is False
  tensors = _checkpoint_tensors(os.path.join(back, "bert_model.ckpt"))
  assert sorted(tensors) == sorted(dict(source["bert"], **source["head"]))
  assert model_folder.read_labels(back) == LABELS
  run_config = model_folder.read_run_config(back)
  assert (run_config["label_list"], run_config["multi_label"]) == (LABELS, False)
  for name, value in dict(source["bert"], **source["head"]).items():
    assert tensors[name].dtype == value.dtype
    assert tensors[name].tobytes() == value.tobytes(), name
  original = _read_json(os.path.join(source["finetuned"], "bert_config.json"))
  assert _read_json(os.path.join(back, "bert_config.json")) == original
  with (
    open(os.path.join(back, "vocab.txt"), "rb") as f,
    open(os.path.join(source["finetuned"], "vocab.txt"), "rb") as g,
  ):
    assert f.read() == g.read()


def test_transformers_loads_the_export(source, tmp_path):
  """Only where torch and transformers are installed; the checks above need neither."""
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  from bert import tokenization

  hf_dir = str(tmp_path / "hf")
  summary = hf_export.export_to_hf(source["finetuned"], hf_dir)
  model = transformers.AutoModelForSequenceClassification.from_pretrained(hf_dir).eval()
  assert model.config.id2label == dict(enumerate(LABELS))
  ids, mask, types = _inputs()
  with torch.no_grad():
    theirs = model(
      input_ids=torch.tensor(ids, dtype=torch.long),
      attention_mask=torch.tensor(mask, dtype=torch.long),
      token_type_ids=torch.tensor(types, dtype=torch.long),
    ).logits.numpy()
  ours = _our_logits(source["finetuned"], summary["checkpoint"], ids, mask, types)
  np.testing.assert_allclose(theirs, ours, atol=1e-5)

  tokenizer = transformers.AutoTokenizer.from_pretrained(hf_dir)
  google = tokenization.FullTokenizer(os.path.join(hf_dir, "vocab.txt"), do_lower_case=False)
  for text in ("w3 w10, w7", "W3 w1w2 ?", "w44\tw0"):
    tokens = ["[CLS]"] + google.tokenize(text) + ["[SEP]"]
    assert tokenizer(text)["input_ids"] == google.convert_tokens_to_ids(tokens), text


@pytest.mark.parametrize("google_act, hf_act", [("gelu_exact", "gelu"), ("relu", "relu")])
def test_other_activations_round_trip(tmp_path, google_act, hf_act):
  hf_source = str(tmp_path / "src")
  write_hf_model(hf_source, {"hidden_act": hf_act})
  hf_import.import_hf_bert(hf_source, str(tmp_path / "google"))
  summary = hf_export.export_to_hf(str(tmp_path / "google"), str(tmp_path / "hf"))
  assert summary["hidden_act"] == google_act and summary["config"]["hidden_act"] == hf_act
  assert summary["check"]["passed"]


# -- refusals and failures ----------------------------------------------------


def test_label_count_must_fit_the_head(source, tmp_path):
  folder = tmp_path / "finetuned"
  shutil.copytree(source["finetuned"], str(folder))
  model_folder.write_labels(str(folder), ["a", "b"])
  with pytest.raises(hf_export.HFExportError, match="head for 3 labels but the label list has 2"):
    hf_export.export_to_hf(str(folder), str(tmp_path / "hf"))
  assert not os.path.exists(tmp_path / "hf")
  os.remove(folder / "labels.json")
  os.remove(folder / "run_config.json")
  summary = hf_export.export_to_hf(str(folder), str(tmp_path / "hf"))
  assert summary["labels"] == ["LABEL_0", "LABEL_1", "LABEL_2"]
  assert any("LABEL_0" in w for w in summary["warnings"])


def test_failed_check_leaves_nothing(source, tmp_path, monkeypatch):
  real = hf_export.hf_tensors

  def swapped(*args):  # query and key of layer 0 exchanged: a wrong mapping
    tensors = real(*args)
    query, key = (
      "bert.encoder.layer.0.attention.self.%s.weight" % part for part in ("query", "key")
    )
    tensors[query], tensors[key] = tensors[key], tensors[query]
    return tensors

  monkeypatch.setattr(hf_export, "hf_tensors", swapped)
  hf_dir = tmp_path / "hf"
  with pytest.raises(hf_export.HFExportError, match="check failed.*nothing was written"):
    hf_export.export_to_hf(source["finetuned"], str(hf_dir))
  assert os.listdir(tmp_path) == []


def test_overwrite_rules(source, tmp_path):
  hf_dir = tmp_path / "hf"
  hf_dir.mkdir()
  (hf_dir / "notes.txt").write_text("mine")
  with pytest.raises(hf_export.HFExportError, match="pass --overwrite"):
    hf_export.export_to_hf(source["pretrained"], str(hf_dir))
  with pytest.raises(hf_export.HFExportError, match="holds no HuggingFace model"):
    hf_export.export_to_hf(source["pretrained"], str(hf_dir), overwrite=True)
  (hf_dir / "config.json").write_text("{}")
  hf_export.export_to_hf(source["pretrained"], str(hf_dir), overwrite=True)
  assert sorted(os.listdir(hf_dir)) == HF_FILES
  with pytest.raises(hf_export.HFExportError, match="would replace --output_dir"):
    hf_export.export_to_hf(source["pretrained"], source["pretrained"], overwrite=True)
  with pytest.raises(hf_export.HFExportError, match="does not exist"):
    hf_export.export_to_hf(str(tmp_path / "nowhere"), str(tmp_path / "hf2"))


def _run_cli(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  return subprocess.run(
    [sys.executable, "-m", "export.hf_export"] + list(args),
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )


def test_cli_refused_overwrite_is_fast_and_one_line(source, tmp_path):
  hf_dir = tmp_path / "hf"
  hf_dir.mkdir()
  (hf_dir / "config.json").write_text("{}")
  start = time.monotonic()
  result = _run_cli("--output_dir", source["finetuned"], "--hf_dir", str(hf_dir))
  elapsed = time.monotonic() - start
  assert result.returncode == 1, result.stderr
  assert result.stderr.strip().splitlines() == [
    "bert-export-hf: error: --hf_dir %s exists and is not empty: pass --overwrite to replace it"
    % hf_dir
  ]
  assert elapsed < 2.0, elapsed  # TensorFlow was never imported
  assert os.listdir(hf_dir) == ["config.json"]


def test_cli(source, tmp_path, capsys):
  hf_dir = str(tmp_path / "hf")
  assert hf_export.main(["--output_dir", source["finetuned"], "--hf_dir", hf_dir]) == 0
  out = capsys.readouterr().out.splitlines()
  assert out[0] == "Wrote %s (%s)" % (hf_dir, ", ".join(HF_FILES))
  assert "BertForSequenceClassification with 3 labels" in out[1]
  assert "hidden_act gelu -> gelu_new, do_lower_case=false (run_config.json)" in out[1]
  assert out[2].startswith("  check: max |diff| sequence_output ")
  assert hf_export.main(["--output_dir", source["finetuned"], "--hf_dir", hf_dir]) == 1
  assert "pass --overwrite" in capsys.readouterr().err
  with pytest.raises(SystemExit) as exit_info:
    hf_export.main(["--output_dir", source["finetuned"], "--hf_dir", hf_dir, "--do_lower_case=x"])
  assert exit_info.value.code == 2
  assert hf_export.main(["--output_dir", "a", "--hf_dir", "b", "--tolerance=-1"]) == 2
  assert "--tolerance=-1.0: must be >= 0" in capsys.readouterr().err


# -- a real fine-tuning run ---------------------------------------------------


@pytest.mark.slow
def test_export_of_a_run_classifier_output_predicts_its_test_results(tmp_path):
  from emotion_data import write_emotion_data, write_model_dir

  vocab_file, config_file = write_model_dir(str(tmp_path / "model"))
  write_emotion_data(str(tmp_path / "data"), n_train=48, n_val=8, n_test=12)
  output_dir = tmp_path / "output"
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  run = subprocess.run(
    [
      sys.executable,
      os.path.join(ROOT, "run_classifier.py"),
      "--task_name=emotion",
      "--do_train=true",
      "--do_predict=true",
      "--data_dir=%s" % (tmp_path / "data"),
      "--vocab_file=%s" % vocab_file,
      "--bert_config_file=%s" % config_file,
      "--max_seq_length=16",
      "--train_batch_size=8",
      "--learning_rate=1e-2",
      "--num_train_epochs=1",
      "--output_dir=%s" % output_dir,
    ],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert run.returncode == 0, run.stderr[-3000:]
  hf_dir = str(tmp_path / "hf")
  result = _run_cli("--output_dir", str(output_dir), "--hf_dir", hf_dir)
  assert result.returncode == 0, result.stderr
  config = _read_json(os.path.join(hf_dir, "config.json"))
  assert config["id2label"] == {str(i): str(i) for i in range(7)}

  # The features run_classifier predicted on, through HF's rules on the export.
  spec = {name: tf.io.FixedLenFeature([16], tf.int64) for name in ("input_ids", "input_mask")}
  spec["segment_ids"] = tf.io.FixedLenFeature([16], tf.int64)
  records = tf.data.TFRecordDataset(str(output_dir / "predict.tf_record"))
  features = [tf.io.parse_single_example(r, spec) for r in records]
  ids, mask, types = (np.stack([f[k].numpy() for f in features]) for k in spec)
  written = st.read_safetensors(os.path.join(hf_dir, "model.safetensors"))
  encoder = {n[len("bert.") :]: v for n, v in written.items() if n.startswith("bert.")}
  pooled = numpy_bert.bert_forward(encoder, config, ids, mask, types)["pooled_output"]
  logits = pooled @ written["classifier.weight"].T + written["classifier.bias"]
  probabilities = np.exp(logits - logits.max(-1, keepdims=True))
  probabilities /= probabilities.sum(-1, keepdims=True)
  expected = np.loadtxt(str(output_dir / "test_results.tsv"), delimiter="\t", ndmin=2)
  assert expected.shape == probabilities.shape == (12, 7)
  np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_multi_label_runs_get_hfs_multi_label_problem_type():
  from emotion_data import tiny_config

  config = hf_export.hf_config(tiny_config(40), ["a", "b"], multi_label=True)
  assert config["problem_type"] == "multi_label_classification"
  single = hf_export.hf_config(tiny_config(40), ["a", "b"])
  assert single["problem_type"] == "single_label_classification"
