"""bert-export-savedmodel: the in-graph tokenizer, the SavedModel and its signatures.

The tokenizer is held to `bert.tokenization.FullTokenizer` and `convert_single_example`
on edge cases and a small mixed-language sample (the measurement on real corpora is
`bench/tokenizer_parity.py`). A tiny fine-tuned folder (random weights, a 3-label head)
is exported once for the module; the slow tests load it in a fresh process and compare
an export with run_classifier.py's own predictions.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import write_google_checkpoint
from emotion_data import VOCAB, tiny_config, write_emotion_data, write_model_dir

from bert import checkpoint, errors, model_folder, modeling, tokenization
from bert.classifier_model import BertClassifier
from classifier.features import convert_single_example, fit_pair
from export import savedmodel_export
from export.savedmodel_export import ExportError, export_savedmodel, plan_export
from export.text_graph import TextEncoder, character_classes, truncated_lengths
from processors import InputExample
from serving import pooling

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = ["neg", "neu", "pos"]
SIGNATURES = {"serving_default", "classify_text", "classify_text_pair", "encode"}

# Inputs where a careless port of Google's rules would go wrong, one rule or two each.
EDGE_CASES = [
  "",
  "  \t\n  ",
  "Hello, World!",
  "HeLLo wORLD... 'quoted' \"double\" (paren) [bracket] {brace}",
  "unwanted running jumped",
  "Café naïve résumé ÉCOLE Ångström",
  "İstanbul ΣΑΣ ΟΔΥΣΣΕΥΣ ς σ",
  "straße ﬁne ǅ ǈ Ⅻ Ⓐ K Å",
  "今天天气很好，我们去公园。",
  "日本語のテキスト、カタカナ and 한국어",
  "𠀋𪚲 compatibility 﨑 ideographs",
  "a\u00a0b\u3000c\u2028d\u2029e\u1680f\u202fg",
  "zero\u200bwidth\u200djoiner\ufeffbom\u00adsoft\u2066isolate",
  "ctrl\x00nul\x07bell\x1besc\x7fdel\x85nel\x0bvt\x0cff\x1cfs",
  "replacement \ufffd char",
  "combining e\u0301 a\u0308 n\u0303 \u0301alone",
  "math $5+3=8 <tag> a|b ~x ^y `z` #hash @at \\slash",
  "emoji 😀👍🏽 and ☃ symbols ©®™ °C ½",
  "x" * 201,
  "y" * 200,
  "word" + "s" * 250 + " short",
  "Ελληνικά Русский текст עִבְרִית العربية हिन्दी ไทย",
  "tab\tseparated\r\nlines\n",
  "[CLS] [SEP] [UNK] [MASK] literal",
  "##suffix ## # unaffable",
  "\u0130\u0307 \u03a3\u0301 \u1e9e",
  "ﾊﾝｶｸ ＦＵＬＬ－ＷＩＤＴＨ １２３",
]
# A small mixed sample in the spirit of the corpora the bench measures.
SAMPLE = [
  "The council said on Tuesday that the bridge would reopen after repairs costing $4.2 million.",
  "Fire crews in New South Wales fought 60 blazes overnight; no homes were lost.",
  "\"We're not done yet,\" the coach told reporters after the 3-2 win.",
  "U.S. shares rose 1.5% — the biggest gain since March.",
  "Dr. Müller's team at ETH Zürich published the results in Nature.",
  "这本书写得很好，推荐大家都去看看！",
  "酒店的服务太差了，房间也不干净，不会再来了。",
  "价格便宜，质量不错，物流也很快，五星好评。",
  "iPhone的电池续航一般，但是屏幕很清楚。",
  "（新华社北京１２月３１日电）国家主席发表新年讲话。",
  "Je pense, donc je suis. Ça va très bien, merci!",
  "¿Dónde está la biblioteca? ¡Aquí!",
  "Mixed 中文 and English in one line, with 标点。",
  "e-mail: someone@example.com, web: https://example.org/path?q=1&r=2",
  "C++ and C# are languages; so is F*.",
]


def _write_vocab(path, tokens):
  path.write_text("".join(token + "\n" for token in tokens), encoding="utf-8")
  return str(path)


@pytest.fixture(scope="module")
def unit_vocab(tmp_path_factory):
  """A vocab with pieces, cased and uncased forms, CJK characters and punctuation."""
  words = (
    "hello world Hello World un ##want ##ed running run ##ning jump ##ed cafe Café naive "
    "resume ecole the council said on tuesday that bridge would , . ! ? ; : ' \" ( ) [ ] "
    "$ % - — 4 2 1 3 5 ##s ##y y x ##x σ ς straße fine 今 天 气 很 好 ， 。 书 写 得 "
    "推 荐 中 文 and English in one line with we are not done yet"
  ).split()
  tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(dict.fromkeys(words))
  return _write_vocab(tmp_path_factory.mktemp("vocab") / "vocab.txt", tokens)


@pytest.fixture(scope="module", params=[True, False], ids=["uncased", "cased"])
def tokenizers(request, unit_vocab):
  """(FullTokenizer, TextEncoder) with the same vocab and case setting."""
  full = tokenization.FullTokenizer(unit_vocab, do_lower_case=request.param)
  return full, TextEncoder(full.vocab, request.param, max_seq_length=24)


# -- the in-graph tokenizer ---------------------------------------------------


def test_basic_tokens_follow_google(tokenizers):
  full, encoder = tokenizers
  texts = EDGE_CASES + SAMPLE
  got = [
    [w.decode("utf-8") for w in row] for row in encoder.basic_tokens(tf.constant(texts)).to_list()
  ]
  assert got == [full.basic_tokenizer.tokenize(text) for text in texts]


def test_token_ids_follow_full_tokenizer(tokenizers):
  full, encoder = tokenizers
  texts = EDGE_CASES + SAMPLE
  got = encoder.token_ids(tf.constant(texts)).to_list()
  assert got == [full.convert_tokens_to_ids(full.tokenize(text)) for text in texts]


def test_word_length_limit_counts_characters(tokenizers):
  full, encoder = tokenizers
  unk = full.vocab["[UNK]"]
  ids = encoder.token_ids(tf.constant(["y" * 200, "y" * 201, "é" * 201])).to_list()
  assert len(ids[0]) == 200 and ids[1] == [unk] and ids[2] == [unk]


def test_invalid_utf8_is_dropped_as_google_decodes_it(tokenizers):
  full, encoder = tokenizers
  raw = [b"bad \xff\xfe utf8 \xe4\xb8 end", b"\xc3\x28 \xe2\x82 hello"]
  got = encoder.token_ids(tf.constant(raw)).to_list()
  assert got == [full.convert_tokens_to_ids(full.tokenize(text)) for text in raw]


def test_cjk_class_is_googles():
  ranges = [
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
  ]
  edges = sorted({cp + d for low, high in ranges for cp in (low, high) for d in (-1, 0, 1)})
  full = tokenization.BasicTokenizer(do_lower_case=False)
  encoder = TextEncoder({"[UNK]": 0, "[CLS]": 1, "[SEP]": 2}, False, 8)
  texts = ["a%sb" % chr(cp) for cp in edges]
  got = [
    [w.decode("utf-8") for w in row] for row in encoder.basic_tokens(tf.constant(texts)).to_list()
  ]
  assert got == [full.tokenize(text) for text in texts]


def test_character_classes_are_cached_and_complete():
  classes = character_classes()
  assert classes is character_classes()
  assert set(classes) == {"deleted", "separator", "punctuation", "mark"}
  assert r"\x{3000}" in classes["separator"] and r"\x{2028}-\x{2029}" in classes["separator"]


def test_truncated_lengths_is_truncate_seq_pair():
  pairs = [(a, b) for a in range(13) for b in range(13)]
  lengths_a = tf.constant([a for a, _ in pairs], tf.int64)
  lengths_b = tf.constant([b for _, b in pairs], tf.int64)
  for n in range(3, 12):
    kept_a, kept_b = truncated_lengths(lengths_a, lengths_b, n)
    for (a, b), got_a, got_b in zip(pairs, kept_a.numpy(), kept_b.numpy()):
      tokens_b = list(range(b))
      tokens_a = fit_pair(list(range(a)), tokens_b, n)
      assert (got_a, got_b) == (len(tokens_a), len(tokens_b)), (a, b, n)


@pytest.mark.parametrize("max_seq_length", [5, 12, 24])
def test_encode_lays_out_as_convert_single_example(tokenizers, max_seq_length):
  full, _ = tokenizers
  encoder = TextEncoder(full.vocab, full.basic_tokenizer.do_lower_case, max_seq_length)
  texts_a = SAMPLE + ["", "Hello"]
  texts_b = list(reversed(SAMPLE)) + ["Hello", ""]
  texts_b[3] = ""  # a single text among pairs
  got = encoder.encode(tf.constant(texts_a), tf.constant(texts_b))
  for i, (a, b) in enumerate(zip(texts_a, texts_b)):
    features = convert_single_example(
      i, InputExample("t-%d" % i, a, b or None, "x"), ["x"], max_seq_length, full, False
    )
    n = sum(features.input_mask)
    for name in ("input_ids", "input_mask", "segment_ids"):
      row = got[name][i].numpy().tolist()
      assert row[:n] == getattr(features, name)[:n] and not any(row[n:]), (name, a, b)
  assert got["input_ids"].shape[1] <= max_seq_length


def test_encode_without_text_b_is_single_texts(tokenizers):
  _, encoder = tokenizers
  single = encoder.encode(tf.constant(SAMPLE))
  empty_b = encoder.encode(tf.constant(SAMPLE), tf.constant([""] * len(SAMPLE)))
  for name in single:
    np.testing.assert_array_equal(single[name].numpy(), empty_b[name].numpy())


def test_vocab_needs_the_special_tokens():
  with pytest.raises(ValueError, match=r"no \[CLS\]"):
    TextEncoder({"[UNK]": 0, "[SEP]": 1}, True, 8)


# -- the export ---------------------------------------------------------------


def _finetuned_folder(root, max_seq_length=16):
  """A run_classifier-like output folder: checkpoint with a 3-label head, labels, run config."""
  write_model_dir(str(root))
  rng = np.random.RandomState(0)
  head = {
    "output_weights": rng.normal(0, 0.5, (len(LABELS), 32)).astype(np.float32),
    "output_bias": np.array([0.1, -0.2, 0.3], np.float32),
  }
  write_google_checkpoint(str(root / "model.ckpt-7"), tiny_config(len(VOCAB)), extra=head)
  (root / "checkpoint").write_text(model_folder.format_checkpoint_state(["model.ckpt-7"]))
  model_folder.write_labels(str(root), LABELS)
  model_folder.write_json(
    str(root / "run_config.json"),
    {"do_lower_case": True, "max_seq_length": max_seq_length, "label_list": LABELS},
  )
  return str(root)


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
  return _finetuned_folder(tmp_path_factory.mktemp("finetuned") / "output")


@pytest.fixture(scope="module")
def exported(finetuned, tmp_path_factory):
  """(version folder, loaded SavedModel) of the fine-tuned folder."""
  version_dir = export_savedmodel(finetuned, str(tmp_path_factory.mktemp("exp") / "exported"))
  return version_dir, tf.saved_model.load(version_dir)


@pytest.fixture(scope="module")
def reference(finetuned):
  """The same model built directly: BertClassifier with the checkpoint's weights."""
  config = modeling.BertConfig.from_json_file(os.path.join(finetuned, "bert_config.json"))
  model = BertClassifier(config, len(LABELS))
  checkpoint.load_variables(
    model.variables_by_name, os.path.join(finetuned, "model.ckpt-7"), ("bert/", "output_")
  )
  return model


def _features(finetuned, texts_a, texts_b=None, max_seq_length=16):
  """convert_single_example's ids for the texts, as int32 arrays [batch, max_seq_length]."""
  tokenizer = tokenization.FullTokenizer(os.path.join(finetuned, "vocab.txt"), True)
  rows = [
    convert_single_example(
      i, InputExample(str(i), a, b, "neg"), LABELS, max_seq_length, tokenizer, False
    )
    for i, (a, b) in enumerate(zip(texts_a, texts_b or [None] * len(texts_a)))
  ]
  return {
    name: tf.constant([getattr(row, name) for row in rows], tf.int32)
    for name in ("input_ids", "input_mask", "segment_ids")
  }


TEXTS = ["happy day!", "The SAD, angry day...", "i feel calm today", "", "fear " * 20]


def test_layout_and_export_info(exported, finetuned):
  version_dir, _ = exported
  assert os.path.basename(version_dir) == "1"
  for name in ("saved_model.pb", "variables/variables.index", "assets/vocab.txt"):
    assert os.path.isfile(os.path.join(version_dir, name)), name
  with open(os.path.join(version_dir, "assets", "vocab.txt"), "rb") as f:
    assert f.read() == open(os.path.join(finetuned, "vocab.txt"), "rb").read()
  with open(os.path.join(version_dir, "assets.extra", "export_info.json")) as f:
    info = json.load(f)
  assert info["labels"] == LABELS and info["global_step"] == 7
  assert info["do_lower_case"] is True and info["max_seq_length"] == 16
  assert set(info["signatures"]) == SIGNATURES
  assert not [name for name in os.listdir(os.path.dirname(version_dir)) if name.startswith(".")]


def test_signatures_and_their_tensors(exported):
  _, loaded = exported
  assert set(loaded.signatures) == SIGNATURES
  inputs = loaded.signatures["serving_default"].structured_input_signature[1]
  assert {name: spec.dtype for name, spec in inputs.items()} == {
    "input_ids": tf.int32,
    "input_mask": tf.int32,
    "segment_ids": tf.int32,
  }
  assert set(loaded.signatures["classify_text_pair"].structured_input_signature[1]) == {
    "text_a",
    "text_b",
  }
  outputs = loaded.signatures["classify_text"].structured_outputs
  assert {name: spec.dtype for name, spec in outputs.items()} == {
    "probabilities": tf.float32,
    "label_ids": tf.int32,
    "labels": tf.string,
  }


def test_ids_signature_is_the_classifier(exported, reference, finetuned):
  _, loaded = exported
  features = _features(finetuned, TEXTS)
  got = loaded.signatures["serving_default"](**features)
  want = reference(
    features["input_ids"], features["input_mask"], features["segment_ids"], tf.zeros([5], tf.int32)
  )[3].numpy()
  np.testing.assert_allclose(got["probabilities"].numpy(), want, rtol=0, atol=1e-6)
  label_ids = got["label_ids"].numpy()
  assert label_ids.tolist() == np.argmax(want, axis=1).tolist()
  assert [label.decode() for label in got["labels"].numpy()] == [LABELS[i] for i in label_ids]


def test_text_signatures_equal_the_ids_signature(exported, finetuned):
  _, loaded = exported
  pairs_b = ["calm", "", "happy happy joy", "sad", "love " * 30]
  for texts_b in (None, pairs_b):
    by_ids = loaded.signatures["serving_default"](**_features(finetuned, TEXTS, texts_b))
    if texts_b is None:
      by_text = loaded.signatures["classify_text"](text_a=tf.constant(TEXTS))
    else:
      by_text = loaded.signatures["classify_text_pair"](
        text_a=tf.constant(TEXTS), text_b=tf.constant(pairs_b)
      )
    np.testing.assert_allclose(
      by_text["probabilities"].numpy(), by_ids["probabilities"].numpy(), rtol=0, atol=1e-6
    )
    assert by_text["labels"].numpy().tolist() == by_ids["labels"].numpy().tolist()


def test_encode_is_bert_as_service_reduce_mean(exported, reference, finetuned):
  _, loaded = exported
  features = _features(finetuned, TEXTS)
  layers = reference.bert(features["input_ids"], features["input_mask"], features["segment_ids"])
  want = pooling.reduce_mean(
    layers["all_encoder_layers"][-2].numpy(), features["input_mask"].numpy()
  )
  got = loaded.signatures["encode"](text=tf.constant(TEXTS))["embeddings"].numpy()
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_ids_longer_than_the_positions_are_refused(exported):
  _, loaded = exported
  ids = tf.ones([1, 65], tf.int32)  # the tiny model has 64 positions
  with pytest.raises(tf.errors.InvalidArgumentError, match="max_position_embeddings = 64"):
    loaded.signatures["serving_default"](input_ids=ids, input_mask=ids, segment_ids=ids * 0)


# -- versions, refusals and failures (no export needed) ----------------------


def test_versions_and_overwrite(finetuned, tmp_path):
  export_dir = tmp_path / "exported"
  assert plan_export(finetuned, str(export_dir)).target == str(export_dir / "1")
  (export_dir / "3").mkdir(parents=True)
  (export_dir / "3" / "saved_model.pb").write_bytes(b"")
  (export_dir / "notes").mkdir()
  assert plan_export(finetuned, str(export_dir)).target == str(export_dir / "4")
  with pytest.raises(ExportError, match="exists and is not empty .pass --overwrite"):
    plan_export(finetuned, str(export_dir), version=3)
  assert plan_export(finetuned, str(export_dir), version=3, overwrite=True).target.endswith("3")
  (export_dir / "5").mkdir()
  (export_dir / "5" / "mine.txt").write_text("keep")
  with pytest.raises(ExportError, match="holds no saved_model.pb"):
    plan_export(finetuned, str(export_dir), version=5, overwrite=True)


def test_settings_are_checked(finetuned, tmp_path):
  target = str(tmp_path / "exported")
  plan = plan_export(finetuned, target)
  assert (plan.do_lower_case, plan.max_seq_length, list(plan.model.labels)) == (True, 16, LABELS)
  assert plan.model.checkpoint == os.path.join(finetuned, "model.ckpt-7")
  with pytest.raises(errors.UsageError, match="max_seq_length 65 is out of range"):
    plan_export(finetuned, target, max_seq_length=65)
  with pytest.raises(errors.UsageError, match="pooling_layer 2 is out of range"):
    plan_export(finetuned, target, pooling_layer=2)
  with pytest.raises(ExportError, match="no checkpoint model.ckpt-9"):
    plan_export(finetuned, target, ckpt_name="model.ckpt-9")
  inside = tmp_path / "exp" / "2" / "output"
  shutil.copytree(finetuned, inside)
  with pytest.raises(ExportError, match="would replace output_dir"):
    plan_export(str(inside), str(tmp_path / "exp"), version=2, overwrite=True)
  released = tmp_path / "cased_L-12_H-768_A-12"
  write_model_dir(str(released))
  write_google_checkpoint(str(released / "bert_model.ckpt"), tiny_config(len(VOCAB)))
  with pytest.raises(errors.UsageError, match="cased model"):
    plan_export(str(released), target)
  assert plan_export(str(released), target, do_lower_case=False).model.labels is None


def test_label_count_must_fit_the_head(finetuned, tmp_path):
  broken = tmp_path / "output"
  shutil.copytree(finetuned, broken)
  model_folder.write_labels(str(broken), ["a", "b"])
  with pytest.raises(ExportError, match="head for 3 labels but the label list has 2"):
    export_savedmodel(str(broken), str(tmp_path / "exported"))
  assert not os.path.exists(tmp_path / "exported")


def test_failed_write_leaves_nothing(finetuned, tmp_path, monkeypatch):
  def full_disk(*args, **kwargs):
    raise OSError(28, "No space left on device")

  monkeypatch.setattr(tf.saved_model, "save", full_disk)
  target = tmp_path / "new" / "exported"
  with pytest.raises(errors.WriteError, match="No space left on device"):
    export_savedmodel(finetuned, str(target))
  assert not os.path.exists(tmp_path / "new")


def _run_cli(*args, timeout=120):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
  return subprocess.run(
    [sys.executable, "-m", "export.savedmodel_export"] + list(args),
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
  )


def test_refused_overwrite_ends_before_tensorflow(finetuned, tmp_path):
  (tmp_path / "exported" / "1").mkdir(parents=True)
  (tmp_path / "exported" / "1" / "saved_model.pb").write_bytes(b"")
  start = time.monotonic()
  result = _run_cli(
    "--output_dir", finetuned, "--export_dir", str(tmp_path / "exported"), "--version", "1"
  )
  elapsed = time.monotonic() - start
  assert result.returncode == 1
  assert result.stderr.strip() == (
    "bert-export-savedmodel: error: %s exists and is not empty (pass --overwrite to replace "
    "it, or another --version)" % (tmp_path / "exported" / "1")
  )
  assert elapsed < 2.0


def test_bad_command_line_exits_2(capsys):
  with pytest.raises(SystemExit) as stopped:
    savedmodel_export.main(["--output_dir", "x", "--export_dir", "y", "--version", "-1"])
  assert stopped.value.code == 2
  assert "bert-export-savedmodel: error: argument --version" in capsys.readouterr().err


# -- slow: fresh processes, a pre-trained folder, run_classifier.py ----------

_FRESH_PROCESS = """
import json, sys
import tensorflow as tf
import tensorflow_text  # the text signatures' ops
model = tf.saved_model.load(sys.argv[1])
texts = tf.constant(json.loads(sys.argv[2]))
classified = model.signatures["classify_text"](text_a=texts)["probabilities"]
out = {
  "classify_text": classified.numpy().tolist(),
  "encode": model.signatures["encode"](text=texts)["embeddings"].numpy().tolist(),
  "ours": sorted(m for m in sys.modules if m.split(".")[0] in ("bert", "export", "classifier")),
}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_loads_in_a_fresh_process_with_tensorflow_only(exported, tmp_path):
  version_dir, loaded = exported
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("PYTHONPATH", None)
  result = subprocess.run(
    [sys.executable, "-c", _FRESH_PROCESS, version_dir, json.dumps(TEXTS)],
    cwd=str(tmp_path),
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert out["ours"] == []
  texts = tf.constant(TEXTS)
  np.testing.assert_array_equal(
    out["classify_text"], loaded.signatures["classify_text"](text_a=texts)["probabilities"]
  )
  np.testing.assert_array_equal(
    out["encode"], loaded.signatures["encode"](text=texts)["embeddings"]
  )
  shown = subprocess.run(
    [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--all"]
    + ["--dir", version_dir],
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert shown.returncode == 0, shown.stderr[-3000:]
  for name in SIGNATURES:
    assert "signature_def['%s']" % name in shown.stdout


@pytest.mark.slow
def test_pretrained_folder_gets_encode_only(tiny_bert_dir, tmp_path):
  model_dir = os.path.dirname(tiny_bert_dir["ckpt"])
  version_dir = export_savedmodel(model_dir, str(tmp_path / "exported"), max_seq_length=12)
  loaded = tf.saved_model.load(version_dir)
  assert set(loaded.signatures) == {"encode"}
  texts = ["happy day", "the sad, angry day!", ""]
  features = _features(model_dir, texts, max_seq_length=12)
  encoder = modeling.BertEncoder(modeling.BertConfig.from_json_file(tiny_bert_dir["config"]))
  checkpoint.load_variables(encoder.variables_by_name, tiny_bert_dir["ckpt"])
  layer = encoder(features["input_ids"], features["input_mask"], features["segment_ids"])
  want = pooling.reduce_mean(
    layer["all_encoder_layers"][-2].numpy(), features["input_mask"].numpy()
  )
  got = loaded.signatures["encode"](text=tf.constant(texts))["embeddings"].numpy()
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_probabilities_equal_run_classifiers_test_results(tiny_bert_dir, tmp_path):
  data_dir = tmp_path / "data"
  test_rows = write_emotion_data(
    str(data_dir), n_train=40, n_val=8, n_test=12, seed=3, test_with_labels=True
  )
  output_dir = tmp_path / "output"
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
  result = subprocess.run(
    [
      sys.executable,
      os.path.join(ROOT, "run_classifier.py"),
      "--task_name=emotion",
      "--do_train=true",
      "--do_predict=true",
      "--data_dir=%s" % data_dir,
      "--vocab_file=%s" % tiny_bert_dir["vocab"],
      "--bert_config_file=%s" % tiny_bert_dir["config"],
      "--init_checkpoint=%s" % tiny_bert_dir["ckpt"],
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
    timeout=600,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  with open(output_dir / "test_results.tsv") as f:
    expected = np.array([[float(v) for v in line.split("\t")] for line in f if line.strip()])
  texts = [text for _, text in test_rows]
  version_dir = export_savedmodel(str(output_dir), str(tmp_path / "exported"))
  loaded = tf.saved_model.load(version_dir)
  by_text = loaded.signatures["classify_text"](text_a=tf.constant(texts))["probabilities"]
  np.testing.assert_allclose(by_text.numpy(), expected, rtol=0, atol=1e-5)
  labels = model_folder.read_labels(str(output_dir))
  tokenizer = tokenization.FullTokenizer(tiny_bert_dir["vocab"], True)
  rows = [
    convert_single_example(
      i, InputExample(str(i), t, None, labels[0]), labels, 16, tokenizer, False
    )
    for i, t in enumerate(texts)
  ]
  by_ids = loaded.signatures["serving_default"](
    **{
      name: tf.constant([getattr(row, name) for row in rows], tf.int32)
      for name in ("input_ids", "input_mask", "segment_ids")
    }
  )["probabilities"]
  np.testing.assert_allclose(by_ids.numpy(), expected, rtol=0, atol=1e-5)


def test_multi_label_folder_exports_sigmoids_and_names(tmp_path, reference):
  folder = _finetuned_folder(tmp_path / "multi")
  model_folder.write_json(
    os.path.join(folder, "run_config.json"),
    {
      "do_lower_case": True,
      "max_seq_length": 16,
      "label_list": LABELS,
      "multi_label": True,
      "multi_label_threshold": 0.5,
    },
  )
  loaded = tf.saved_model.load(export_savedmodel(folder, str(tmp_path / "exported")))
  features = _features(folder, ["happy day", "the sad end"])
  out = loaded.signatures["serving_default"](**features)
  logits = reference(*features.values(), tf.zeros([2], tf.int32))[2].numpy()
  expected = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
  np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
  predicted = expected >= 0.5
  np.testing.assert_array_equal(out["label_ids"].numpy(), predicted.astype(np.int32))
  names = [[n.decode() for n in row] for row in out["labels"].numpy()]
  assert names == [[LABELS[j] if on else "" for j, on in enumerate(row)] for row in predicted]


def test_text_encoding_prints_no_alarming_onednn_line():
  """Ragged concatenation transposed int64 row partitions, and oneDNN printed
  'E ... oneDNN supports DT_INT64 only on platforms with AVX-512' on every export."""
  script = (
    "import tensorflow as tf\n"
    "from export.text_graph import TextEncoder\n"
    "vocab = {t: i for i, t in enumerate('[PAD] [UNK] [CLS] [SEP] a b'.split())}\n"
    "encoder = TextEncoder(vocab, True, 8)\n"
    "encoder.encode(tf.constant(['a b a']), tf.constant(['b']))\n"
    "encoder.encode_windows(tf.constant(['a b a b a b a']), None, 2)\n"
  )
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0")
  env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
  result = subprocess.run(
    [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
  )
  assert result.returncode == 0, result.stderr[-3000:]
  assert "DT_INT64" not in result.stderr


@pytest.mark.parametrize("max_seq_length,stride", [(5, 1), (8, 3), (12, 4), (12, 20)])
def test_windows_in_the_graph_are_bert_windows_split(max_seq_length, stride):
  from bert import windows
  from export.text_graph import TextEncoder

  words = "a b c d e f g h".split()
  vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + words)}
  rng = random.Random(max_seq_length * 100 + stride)
  texts_a = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 30))) for _ in range(20)]
  texts_b = [
    " ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) if rng.random() < 0.5 else ""
    for _ in range(20)
  ]
  got = TextEncoder(vocab, True, max_seq_length).encode_windows(
    tf.constant(texts_a), tf.constant(texts_b), stride
  )
  want_ids, want_segments, want_index = [], [], []
  for i, (a, b) in enumerate(zip(texts_a, texts_b)):
    ids_a, ids_b = ([vocab[w] for w in t.split()] for t in (a, b))
    for piece_a, piece_b in windows.split(ids_a, ids_b or None, max_seq_length, stride):
      second = piece_b + [3] if piece_b else []
      want_ids.append([2] + piece_a + [3] + second)
      want_segments.append([0] * (len(piece_a) + 2) + [1] * len(second))
      want_index.append(i)
  mask = got["input_mask"].numpy()
  assert got["example_index"].numpy().tolist() == want_index
  assert [list(r[m == 1]) for r, m in zip(got["input_ids"].numpy(), mask)] == want_ids
  assert [list(r[m == 1]) for r, m in zip(got["segment_ids"].numpy(), mask)] == want_segments
  assert mask.shape[1] == max(len(ids) for ids in want_ids)
