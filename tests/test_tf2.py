"""bert-import-tf2 and bert-export-tf2: TF Model Garden checkpoints and TF Hub encoders in and out.

Every model is built here: a Google-layout folder with random weights (pre-trained, and
fine-tuned with a head, optimizer slots and labels), an object-based checkpoint written with
plain `tf.Variable`s under Model Garden's names (no tf-models-official needed), and, where
tf-models-official is installed (`pip install 'bert-classic[tfm]'`), its own BertEncoder,
BertClassifier and TF Hub export.
"""

import importlib.util
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY_CONFIG

from bert import checkpoint, model_folder, modeling
from export import hf_common, tf2_common, tf2_export, tf2_import, tf2_source
from export.hf_check import check_inputs
from export.serving_export import expected_bert_shapes

HAS_TFM = importlib.util.find_spec("official") is not None
needs_tfm = pytest.mark.skipif(
  not HAS_TFM, reason="tf-models-official is not installed (pip install 'bert-classic[tfm]')"
)
LABELS = ["joy", "anger", "中性"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIAL + ["w%d" % i for i in range(TINY_CONFIG["vocab_size"] - len(SPECIAL))]


def _random_values(config: dict, seed: int) -> dict:
  """Every bert/* tensor of `config`, random and large enough for the GELU form to matter."""
  rng = np.random.RandomState(seed)
  shapes = expected_bert_shapes(modeling.BertConfig.from_dict(config))
  return {name: rng.normal(0, 0.4, shape).astype(np.float32) for name, shape in shapes.items()}


def _write_folder(folder, values: dict, config: dict, prefix_name="bert_model.ckpt") -> str:
  os.makedirs(folder, exist_ok=True)
  prefix = os.path.join(folder, prefix_name)
  checkpoint.save_variables(values, prefix)
  with open(os.path.join(folder, "bert_config.json"), "w") as f:
    json.dump(config, f)
  with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
    f.write("".join(t + "\n" for t in VOCAB))
  return prefix


def _tensors(prefix: str) -> dict:
  reader = tf.train.load_checkpoint(prefix)
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
  """A pre-trained Google folder (with an MLM bias left to leave out) and a fine-tuned one."""
  root = tmp_path_factory.mktemp("tf2")
  bert = _random_values(TINY_CONFIG, seed=5)
  mlm = {"cls/predictions/output_bias": np.zeros([TINY_CONFIG["vocab_size"]], np.float32)}
  _write_folder(str(root / "pretrained"), dict(bert, **mlm), TINY_CONFIG)
  rng = np.random.RandomState(6)
  head = {
    "output_weights": rng.normal(0, 0.5, [len(LABELS), 32]).astype(np.float32),
    "output_bias": rng.normal(0, 0.5, [len(LABELS)]).astype(np.float32),
  }
  slots = {"bert/pooler/dense/bias/adam_m": np.zeros([32], np.float32)}
  finetuned = str(root / "finetuned")
  values = dict(bert, **head, **slots, global_step=np.int64(9))
  _write_folder(finetuned, values, TINY_CONFIG, "model.ckpt-9")
  checkpoint.write_checkpoint_state(finetuned, ["model.ckpt-9"])
  model_folder.write_labels(finetuned, LABELS)
  model_folder.write_json(
    os.path.join(finetuned, "run_config.json"), {"do_lower_case": False, "max_seq_length": 16}
  )
  return {
    "root": root,
    "pretrained": str(root / "pretrained"),
    "finetuned": finetuned,
    "bert": bert,
    "head": head,
  }


def _garden_checkpoint(path: str, bert: dict, config: dict, name_prefix: str, extra=None) -> str:
  """An object-based checkpoint of plain tf.Variables under Model Garden's names and layouts.

  They sit two objects down (`model/encoder/...`) beside a counter and an optimizer, as a
  trainer's checkpoint has them; `extra` adds variables by name.
  """
  heads = config["num_attention_heads"]
  encoder = tf.Module()
  encoder.weights = [
    tf.Variable(
      bert[google].reshape(tf2_common.garden_shape(google, bert[google].shape, heads)),
      name=name_prefix + garden,
    )
    for google, garden in tf2_common.name_pairs(config["num_hidden_layers"])
  ]
  encoder.others = [tf.Variable(value, name=name) for name, value in (extra or {}).items()]
  model, optimizer = tf.Module(), tf.Module()
  model.encoder = encoder
  optimizer.slot = tf.Variable(np.zeros([3], np.float32), name="Adam/m/pooler_transform/bias")
  ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer)
  ckpt.global_step = tf.Variable(42, name="global_step", dtype=tf.int64)
  return ckpt.write(path)


# ---------------------------------------------------------------------------
# The name table and the mapping, without tf-models-official.
# ---------------------------------------------------------------------------


def test_name_table_covers_every_google_variable_once():
  pairs = tf2_common.name_pairs(2)
  assert [g for g, _ in pairs] == hf_common.google_bert_names(2)
  assert len({m for _, m in pairs}) == len(pairs)
  garden = dict(pairs)
  assert garden["bert/embeddings/position_embeddings"] == "position_embedding/embeddings"
  assert garden["bert/encoder/layer_1/attention/output/dense/kernel"] == (
    "transformer/layer_1/self_attention/attention_output/kernel"
  )
  assert garden["bert/encoder/layer_0/attention/output/LayerNorm/gamma"] == (
    "transformer/layer_0/self_attention_layer_norm/gamma"
  )
  assert garden["bert/pooler/dense/kernel"] == "pooler_transform/kernel"
  for part in ("query", "key", "value"):
    assert garden["bert/encoder/layer_1/attention/self/%s/bias" % part] == (
      "transformer/layer_1/self_attention/%s/bias" % part
    )
  shape = tf2_common.garden_shape
  assert shape("bert/encoder/layer_0/attention/self/key/kernel", (32, 32), 4) == (32, 4, 8)
  assert shape("bert/encoder/layer_0/attention/self/value/bias", (32,), 4) == (4, 8)
  assert shape("bert/encoder/layer_0/attention/output/dense/kernel", (32, 32), 4) == (4, 8, 32)
  assert shape("bert/encoder/layer_0/attention/output/dense/bias", (32,), 4) == (32,)
  assert shape("bert/encoder/layer_0/intermediate/dense/kernel", (32, 37), 4) == (32, 37)


def test_garden_checkpoint_written_by_the_test_imports_bit_exact(folders, tmp_path):
  """The mapping alone (--no_check): no tf-models-official involved."""
  extra = {"bert_encoder/some_adapter/kernel": np.ones([2, 2], np.float32)}
  prefix = _garden_checkpoint(
    str(tmp_path / "garden" / "ckpt-1"), folders["bert"], TINY_CONFIG, "bert_encoder/", extra
  )
  config_file = tmp_path / "encoder.json"
  config_file.write_text(
    json.dumps(
      {
        "type": "bert",
        "bert": {
          "num_layers": 2,
          "hidden_size": 32,
          "hidden_activation": "relu",
          "dropout_rate": 0.2,
        },
      }
    )
  )
  out = str(tmp_path / "imported")
  source = tf2_import.read_garden(
    prefix, str(config_file), os.path.join(folders["pretrained"], "vocab.txt")
  )
  summary = tf2_import.import_tf2_bert(source, out, check=False)
  written = _tensors(os.path.join(out, "bert_model.ckpt"))
  assert set(written) == set(folders["bert"])
  for name, value in folders["bert"].items():
    assert np.array_equal(written[name], value), name
  config = json.load(open(os.path.join(out, "bert_config.json")))
  assert config == dict(TINY_CONFIG, hidden_act="relu", hidden_dropout_prob=0.2)
  assert summary["unmapped"] == ["bert_encoder/some_adapter/kernel"]
  assert any("some_adapter" in w for w in summary["warnings"])
  reasons = dict(summary["set_aside"])
  assert reasons == {
    "global_step/.ATTRIBUTES/VARIABLE_VALUE": "counter",
    "optimizer/slot/.ATTRIBUTES/VARIABLE_VALUE": "optimizer state",
  }
  assert summary["mapped"]["bert/encoder/layer_1/output/LayerNorm/beta"] == (
    "bert_encoder/transformer/layer_1/output_layer_norm/beta"
  )
  assert summary["check"] is None
  with open(os.path.join(out, "vocab.txt"), "rb") as f:
    assert f.read() == open(os.path.join(folders["pretrained"], "vocab.txt"), "rb").read()


def test_config_file_that_disagrees_with_the_shapes_is_refused(folders, tmp_path, capsys):
  prefix = _garden_checkpoint(str(tmp_path / "g" / "ckpt-1"), folders["bert"], TINY_CONFIG, "")
  config_file = tmp_path / "encoder_config.json"
  config_file.write_text(
    json.dumps({"encoder": {"type": "bert", "bert": {"num_layers": 2, "hidden_size": 64}}})
  )
  vocab = os.path.join(folders["pretrained"], "vocab.txt")
  out = tmp_path / "out"
  argv = ["--checkpoint", prefix, "--encoder_config", str(config_file), "--vocab_file", vocab]
  assert tf2_import.main(argv + ["--output_dir", str(out), "--no_check"]) == 1
  err = capsys.readouterr().err
  assert err.strip().count("\n") == 0
  assert (
    "bert-import-tf2: error: %s says hidden_size 64 but the checkpoint's tensors have 32"
    % (config_file)
    in err
  )
  assert not out.exists()


@pytest.mark.parametrize(
  "section, message",
  [
    ({"type": "albert", "albert": {}}, "encoder type 'albert' is not BERT"),
    ({"task": {"model": {"encoder": {"type": "teams"}}}}, "encoder type 'teams' is not BERT"),
    ({"task": {"model": 3}}, "has no BERT encoder config"),
    ({"type": "bert", "bert": {"num_layers": 2, "norm_first": True}}, "norm_first is true"),
    ({"bert": {"num_layers": 2, "hidden_size": 32, "embedding_size": 8}}, "factorized"),
    ({"bert": {"num_layers": 2, "hidden_activation": "swish"}}, "hidden_activation 'swish'"),
  ],
)
def test_config_files_google_bert_cannot_take(tmp_path, section, message):
  path = tmp_path / "c.json"
  path.write_text(json.dumps(section))
  with pytest.raises(tf2_source.TF2ImportError, match=message):
    tf2_source.read_config_file(str(path))


def test_google_checkpoint_is_not_taken_for_a_tf2_one(folders, tmp_path, capsys):
  prefix = os.path.join(folders["pretrained"], "bert_model.ckpt")
  out = tmp_path / "out"
  assert tf2_import.main(["--checkpoint", prefix, "--output_dir", str(out), "--no_check"]) == 1
  err = capsys.readouterr().err
  assert (
    "is name-based, not an object-based TF2 checkpoint: it is in Google's layout already" in err
  )
  assert not out.exists()


def test_usage_errors_come_before_tensorflow_work(folders, tmp_path, capsys, monkeypatch):
  out = str(tmp_path / "out")
  hub = ["--hub_dir", str(tmp_path), "--output_dir", out]
  assert tf2_import.main(hub + ["--vocab_file", "v.txt"]) == 2
  assert "--vocab_file would be ignored with --hub_dir" in capsys.readouterr().err
  with pytest.raises(SystemExit) as exit_info:
    tf2_import.main(["--output_dir", out])
  assert exit_info.value.code == 2
  assert "one of the arguments --hub_dir --checkpoint is required" in capsys.readouterr().err
  # Without tf-models-official: the Model Garden check and the export name the extra, exit 2.
  monkeypatch.setattr(tf2_common, "TFM_MODULES", ("no_such_package_for_tfm",))
  assert tf2_import.main(["--checkpoint", str(tmp_path), "--output_dir", out]) == 2
  err = capsys.readouterr().err
  assert err == (
    "bert-import-tf2: error: checking a Model Garden import (--no_check skips it) needs "
    "tf-models-official: pip install 'bert-classic[tfm]'\n"
  )
  assert tf2_export.main(["--output_dir", folders["pretrained"], "--tfm_dir", out]) == 2
  assert capsys.readouterr().err == (
    "bert-export-tf2: error: bert-export-tf2 needs tf-models-official: "
    "pip install 'bert-classic[tfm]'\n"
  )
  assert not os.path.exists(out)


def _savedmodel_without_bert_signature(path: str, bert: dict, config: dict) -> None:
  """A SavedModel folder with a Hub encoder's variables, vocab and do_lower_case, whose
  __call__ takes one tensor instead of the three named inputs."""
  heads = config["num_attention_heads"]
  module = tf.Module()
  module.weights = [
    tf.Variable(
      bert[google].reshape(tf2_common.garden_shape(google, bert[google].shape, heads)), name=garden
    )
    for google, garden in tf2_common.name_pairs(config["num_hidden_layers"])
  ]
  module.do_lower_case = tf.Variable(False, trainable=False)
  module.__call__ = tf.function(
    lambda ids: {"pooled_output": tf.zeros([1])},
    input_signature=[tf.TensorSpec([None, None], tf.int32)],
  )
  tf.saved_model.save(module, path)
  os.makedirs(os.path.join(path, "assets"), exist_ok=True)
  with open(os.path.join(path, "assets", "vocab.txt"), "w", encoding="utf-8") as f:
    f.write("".join(t + "\n" for t in VOCAB))


def test_hub_savedmodel_variables_map_without_tfm(folders, tmp_path, capsys):
  hub = str(tmp_path / "hub")
  _savedmodel_without_bert_signature(hub, folders["bert"], TINY_CONFIG)
  out = str(tmp_path / "imported")
  summary = tf2_import.import_tf2_bert(tf2_import.read_hub(hub), out, check=False)
  written = _tensors(os.path.join(out, "bert_model.ckpt"))
  assert {n: v.tobytes() for n, v in written.items()} == {
    n: v.tobytes() for n, v in folders["bert"].items()
  }
  assert summary["do_lower_case"] is False and summary["unmapped"] == []
  assert summary["set_aside"] == [["do_lower_case/.ATTRIBUTES/VARIABLE_VALUE", "tokenizer setting"]]
  assert json.load(open(os.path.join(out, "bert_config.json"))) == TINY_CONFIG
  # The check runs the SavedModel itself; one that cannot take the three inputs is one line.
  again = str(tmp_path / "again")
  assert tf2_import.main(["--hub_dir", hub, "--output_dir", again]) == 1
  err = capsys.readouterr().err
  assert err.startswith(
    "bert-import-tf2: error: cannot run the SavedModel %s on input_word_ids, input_mask and "
    "input_type_ids (" % hub
  )
  assert err.count("\n") == 1 and not os.path.exists(again)


def test_hub_folder_that_is_no_savedmodel(tmp_path, capsys):
  assert tf2_import.main(["--hub_dir", str(tmp_path), "--output_dir", str(tmp_path / "o")]) == 1
  assert "has no saved_model.pb: not a SavedModel folder" in capsys.readouterr().err


def test_export_refuses_exact_gelu_before_tensorflow(folders, tmp_path):
  folder = tmp_path / "exact"
  _write_folder(str(folder), folders["bert"], dict(TINY_CONFIG, hidden_act="gelu_exact"))
  with pytest.raises(
    tf2_export.TF2ExportError, match="hidden_act 'gelu_exact' has no Model Garden"
  ):
    tf2_export.plan_export(str(folder), str(tmp_path / "tfm"))


# ---------------------------------------------------------------------------
# With tf-models-official: its own models on both sides.
# ---------------------------------------------------------------------------


def _garden_encoder(seed: int):
  """tf-models-official's BertEncoder of TINY_CONFIG's sizes, its weights random and large."""
  encoder = tf2_export.tf2_check.build_encoder(tf2_common.garden_encoder_config(TINY_CONFIG))
  rng = np.random.RandomState(seed)
  for variable in encoder.variables:
    variable.assign(rng.normal(0, 0.4, variable.shape.as_list()).astype(np.float32))
  return encoder


def _our_outputs(folder: str, inputs) -> dict:
  config = modeling.BertConfig.from_json_file(os.path.join(folder, "bert_config.json"))
  encoder = modeling.BertEncoder(config)
  checkpoint.load_variables(encoder.variables_by_name, os.path.join(folder, "bert_model.ckpt"))
  return {
    k: v.numpy() for k, v in encoder(*inputs).items() if k in ("sequence_output", "pooled_output")
  }


def _max_diff(a, b) -> float:
  return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


@needs_tfm
def test_garden_encoder_saved_by_the_test_imports_within_1e5(tmp_path):
  encoder = _garden_encoder(seed=11)
  prefix = tf.train.Checkpoint(encoder=encoder).save(str(tmp_path / "garden" / "ckpt"))
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
  out = str(tmp_path / "imported")
  summary = tf2_import.import_tf2_bert(tf2_import.read_garden(prefix), out)
  assert summary["check"]["passed"] and summary["config_source"] == "Model Garden's default"
  inputs = check_inputs(TINY_CONFIG, VOCAB)
  theirs = encoder(
    dict(input_word_ids=inputs[0], input_mask=inputs[1], input_type_ids=inputs[2]), training=False
  )
  ours = _our_outputs(out, inputs)
  for key in ("sequence_output", "pooled_output"):
    assert _max_diff(ours[key], theirs[key]) < 1e-5, key
  assert json.load(open(os.path.join(out, "bert_config.json"))) == TINY_CONFIG


@needs_tfm
def test_hub_savedmodel_from_tfm_export_imports_within_1e5(tmp_path, capsys):
  from official.nlp.tools import export_tfhub_lib

  encoder = _garden_encoder(seed=12)
  prefix = tf.train.Checkpoint(encoder=encoder).save(str(tmp_path / "garden" / "ckpt"))
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
  encoders = tf2_common.import_tfm("test")
  config = encoders.EncoderConfig(
    type="bert", bert=encoders.BertEncoderConfig(**tf2_common.garden_encoder_config(TINY_CONFIG))
  )
  hub = str(tmp_path / "hub")
  export_tfhub_lib.export_model(
    hub,
    encoder_config=config,
    model_checkpoint_path=prefix,
    with_mlm=False,
    vocab_file=str(vocab),
    do_lower_case=False,
  )
  out = str(tmp_path / "imported")
  assert tf2_import.main(["--hub_dir", hub, "--output_dir", out]) == 0
  printed = capsys.readouterr().out
  assert "hidden_act gelu (keras_metadata.pb)" in printed
  assert "tokenizer: --do_lower_case=false" in printed
  inputs = check_inputs(TINY_CONFIG, VOCAB)
  loaded = tf.saved_model.load(hub)
  theirs = loaded(
    dict(input_word_ids=inputs[0], input_mask=inputs[1], input_type_ids=inputs[2]), training=False
  )
  ours = _our_outputs(out, inputs)
  for key in ("sequence_output", "pooled_output"):
    assert _max_diff(ours[key], theirs[key]) < 1e-5, key
  assert open(os.path.join(out, "vocab.txt"), "rb").read() == vocab.read_bytes()

  # The check compares with the SavedModel itself: a wrong activation does not get through.
  wrong = str(tmp_path / "wrong")
  source = tf2_import.read_hub(hub)
  source.config["hidden_act"] = "relu"
  with pytest.raises(tf2_source.TF2ImportError, match="check failed: the imported model's outputs"):
    tf2_import.import_tf2_bert(source, wrong)
  assert not os.path.exists(wrong)


@needs_tfm
def test_google_to_garden_to_google_is_bit_exact(folders, tmp_path, capsys):
  tfm_dir = str(tmp_path / "tfm")
  assert tf2_export.main(["--output_dir", folders["pretrained"], "--tfm_dir", tfm_dir]) == 0
  printed = capsys.readouterr().out
  assert "check: max |diff| sequence_output" in printed
  assert sorted(os.listdir(tfm_dir)) == [
    "bert_config.json",
    "encoder",
    "encoder_config.yaml",
    "vocab.txt",
  ]
  back = str(tmp_path / "back")
  assert (
    tf2_import.main(["--checkpoint", os.path.join(tfm_dir, "encoder"), "--output_dir", back]) == 0
  )
  assert (
    "hidden_act gelu (%s)" % os.path.join(tfm_dir, "encoder_config.yaml") in capsys.readouterr().out
  )
  written = _tensors(os.path.join(back, "bert_model.ckpt"))
  assert set(written) == set(folders["bert"])
  for name, value in folders["bert"].items():
    assert written[name].tobytes() == value.tobytes(), name
  assert json.load(open(os.path.join(back, "bert_config.json"))) == TINY_CONFIG

  # Model Garden's own loading of the export: build_encoder from the YAML, restore the checkpoint.
  encoders = tf2_common.import_tfm("test")
  encoder = encoders.build_encoder(
    encoders.EncoderConfig.from_yaml(os.path.join(tfm_dir, "encoder_config.yaml"))
  )
  path = tf.train.latest_checkpoint(os.path.join(tfm_dir, "encoder"))
  tf.train.Checkpoint(encoder=encoder).read(path).assert_existing_objects_matched()
  inputs = check_inputs(TINY_CONFIG, VOCAB)
  theirs = encoder(dict(input_word_ids=inputs[0], input_mask=inputs[1], input_type_ids=inputs[2]))
  ours = _our_outputs(folders["pretrained"], inputs)
  for key in ("sequence_output", "pooled_output"):
    assert _max_diff(ours[key], theirs[key]) < 1e-5, key


@needs_tfm
def test_finetuned_folder_exports_its_head_as_a_bert_classifier(folders, tmp_path):
  from bert import classifier_model

  tfm_dir = str(tmp_path / "tfm")
  summary = tf2_export.export_to_tfm(folders["finetuned"], tfm_dir)
  assert summary["labels"] == LABELS
  assert summary["left_out"] == ["bert/pooler/dense/bias/adam_m", "global_step"]
  assert summary["check"]["logits_max_abs_diff"] < 1e-5
  assert model_folder.read_labels(tfm_dir) == LABELS

  encoders = tf2_common.import_tfm("test")
  config = encoders.EncoderConfig.from_yaml(os.path.join(tfm_dir, "encoder_config.yaml"))
  classifier = tf2_export.tf2_check.build_classifier(encoders.build_encoder(config), 3, 0.1)
  path = tf.train.latest_checkpoint(os.path.join(tfm_dir, "classifier"))
  tf.train.Checkpoint(model=classifier).read(path).assert_existing_objects_matched()
  inputs = check_inputs(TINY_CONFIG, VOCAB)
  logits = classifier(
    dict(input_word_ids=inputs[0], input_mask=inputs[1], input_type_ids=inputs[2])
  )
  ours = classifier_model.BertClassifier(modeling.BertConfig.from_dict(TINY_CONFIG), 3)
  checkpoint.load_variables(
    ours.variables_by_name, os.path.join(folders["finetuned"], "model.ckpt-9")
  )
  expected = ours(*inputs, np.zeros([3], np.int32))[2]
  assert _max_diff(logits, expected) < 1e-5

  back = str(tmp_path / "back")
  summary = tf2_import.import_tf2_bert(
    tf2_import.read_garden(os.path.join(tfm_dir, "classifier")), back
  )
  assert summary["labels"] == LABELS and summary["check"]["logits_max_abs_diff"] < 1e-5
  written = _tensors(os.path.join(back, "bert_model.ckpt"))
  for name, value in dict(folders["bert"], **folders["head"]).items():
    assert written[name].tobytes() == value.tobytes(), name
  run_config = model_folder.read_run_config(back)
  assert run_config["label_list"] == LABELS
  assert run_config["do_lower_case"] is False and run_config["max_seq_length"] == 16
