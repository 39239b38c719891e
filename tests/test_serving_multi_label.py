"""CLASSIFICATION on a multi-label model folder, queried with the real bert-serving-client.

The folder is built here the way run_classifier.py leaves a multi-label run:
model.ckpt-N with the head, vocab.txt, bert_config.json, labels.json and a
run_config.json saying `"multi_label": true`. Expected probabilities come from
`bert.modeling.BertEncoder` and a NumPy sigmoid, independently of serving/.
"""

import contextlib
import json
import os
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from emotion_data import VOCAB, tiny_config, write_model_dir

from bert import checkpoint, model_folder, modeling, tokenization
from export.serving_export import export_for_serving
from serving import args as args_mod
from serving.server import BertServer

bert_serving_client = pytest.importorskip("bert_serving.client")
BertClient = bert_serving_client.BertClient

LABELS = ["joy", "anger", "sports", "politics"]
THRESHOLD = 0.4  # what the folder records
SEQ_LEN = 16
TEXTS = ["i feel happy today", "so angry and sad", "the day was calm", "love , fear !"]


class MultiLabelFolder:
  """A run_classifier-style output folder with a 4-label sigmoid head."""

  def __init__(self, root, multi_label=True):
    self.dir = os.path.join(root, "multi_label_output")
    vocab_file, config_file = write_model_dir(self.dir)
    config = modeling.BertConfig.from_dict(tiny_config(len(VOCAB)))
    tf.random.set_seed(11)
    self.encoder = modeling.BertEncoder(config)
    rng = np.random.RandomState(3)
    # Biases far apart so that each text has labels well above and below the threshold.
    self.head = {
      "output_weights": (0.3 * rng.randn(len(LABELS), config.hidden_size)).astype(np.float32),
      "output_bias": np.array([3.0, -3.0, 0.2, -0.6], np.float32),
    }
    weights = {n: v.numpy() for n, v in self.encoder.variables_by_name.items()}
    checkpoint.save_variables(dict(weights, **self.head), os.path.join(self.dir, "model.ckpt-5"))
    with open(os.path.join(self.dir, "checkpoint"), "w") as f:
      f.write(model_folder.format_checkpoint_state(["model.ckpt-5"]))
    model_folder.write_labels(self.dir, LABELS)
    run_config = {
      "task_name": "tabular",
      "label_list": LABELS,
      "vocab_file": vocab_file,
      "bert_config_file": config_file,
      "do_lower_case": True,
      "max_seq_length": SEQ_LEN,
      "multi_label": multi_label,
      "multi_label_threshold": THRESHOLD,
    }
    model_folder.write_json(os.path.join(self.dir, model_folder.RUN_CONFIG_FILENAME), run_config)
    self.tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)

  def expected_logits(self, texts):
    """The head's logits [B, L] for texts laid out as the server does (no truncation)."""
    ids, mask = [], []
    for text in texts:
      tokens = ["[CLS]"] + self.tokenizer.tokenize(text) + ["[SEP]"]
      pad = [0] * (SEQ_LEN - len(tokens))
      ids.append(self.tokenizer.convert_tokens_to_ids(tokens) + pad)
      mask.append([1] * len(tokens) + pad)
    ids, mask = np.array(ids, np.int32), np.array(mask, np.int32)
    out = self.encoder(ids, input_mask=mask, token_type_ids=np.zeros_like(ids))
    pooled = out["pooled_output"].numpy().astype(np.float64)
    return pooled @ self.head["output_weights"].T + self.head["output_bias"]

  def expected_sigmoid(self, texts):
    return 1.0 / (1.0 + np.exp(-self.expected_logits(texts)))


def names_at_or_above(probs, threshold):
  # The test's texts keep clear of the threshold, so float32 rounding cannot flip a name.
  assert np.abs(probs - threshold).min() > 1e-3
  return [[LABELS[j] for j in range(len(LABELS)) if row[j] >= threshold] for row in probs]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  return MultiLabelFolder(str(tmp_path_factory.mktemp("serving_multi_label")))


@contextlib.contextmanager
def serving(model_dir, *flags):
  argv = ["-model_dir", model_dir, "-port", "0", "-port_out", "0", "-http_port", "0"]
  argv += ["-max_seq_len", str(SEQ_LEN), "-pooling_strategy", "CLASSIFICATION", "-cpu"]
  server = BertServer(
    args_mod.get_args_parser().parse_args(argv + list(flags)), worker_mode="thread"
  )
  server.start()
  try:
    server.wait_until_ready(120)
    yield server
  finally:
    server.close()


def query(server, texts):
  """(probabilities from BertClient, server_config, HTTP /encode reply)."""
  with BertClient(port=server.port, port_out=server.port_out, timeout=30000) as c:
    probs = c.encode(texts)
    config = c.server_config
  request = urllib.request.Request(
    "http://127.0.0.1:%d/encode" % server.http.port,
    data=json.dumps({"id": 1, "texts": texts}).encode(),
    headers={"content-type": "application/json"},
  )
  with urllib.request.urlopen(request, timeout=30) as r:
    reply = json.loads(r.read())
  return probs, config, reply


def test_client_gets_a_sigmoid_per_label_and_the_names_above_the_threshold(folder):
  with serving(folder.dir) as server:
    probs, config, reply = query(server, TEXTS)
  expected = folder.expected_sigmoid(TEXTS)
  assert probs.dtype == np.float32 and probs.shape == (len(TEXTS), len(LABELS))
  np.testing.assert_allclose(probs, expected, atol=1e-5)
  assert np.abs(probs.sum(1) - 1.0).max() > 0.1  # not a softmax
  assert config["labels"] == LABELS and config["num_labels"] == len(LABELS)
  assert config["multi_label"] is True and config["multi_label_threshold"] == THRESHOLD
  names = names_at_or_above(expected, THRESHOLD)
  assert reply["labels"] == names and any(len(n) > 1 for n in names)
  np.testing.assert_allclose(reply["result"], expected, atol=1e-5)


def test_threshold_flag_overrides_the_folder(folder):
  with serving(folder.dir, "-multi_label_threshold", "0.9") as server:
    probs, config, reply = query(server, TEXTS)
  assert config["multi_label_threshold"] == 0.9
  assert reply["labels"] == names_at_or_above(folder.expected_sigmoid(TEXTS), 0.9)
  np.testing.assert_allclose(probs, folder.expected_sigmoid(TEXTS), atol=1e-5)


def test_exported_folder_keeps_multi_label(folder, tmp_path):
  served = export_for_serving(folder.dir, str(tmp_path / "served"), strip_optimizer=True)
  with open(os.path.join(served, "export_info.json")) as f:
    info = json.load(f)
  assert info["multi_label"] is True and info["multi_label_threshold"] == THRESHOLD
  with serving(served) as server:
    probs, config, reply = query(server, TEXTS[:2])
  expected = folder.expected_sigmoid(TEXTS[:2])
  np.testing.assert_allclose(probs, expected, atol=1e-5)
  assert config["multi_label"] is True
  assert reply["labels"] == names_at_or_above(expected, THRESHOLD)


def test_single_label_folder_is_served_as_before(tmp_path):
  single = MultiLabelFolder(str(tmp_path), multi_label=False)
  with pytest.raises(args_mod.UsageError, match="needs a multi-label model"):
    with serving(single.dir, "-multi_label_threshold", "0.9"):
      pass
  with serving(single.dir) as server:
    probs, config, reply = query(server, TEXTS)
  logits = single.expected_logits(TEXTS)
  softmax = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  np.testing.assert_allclose(probs, softmax, atol=1e-5)
  assert "multi_label" not in config and config["multi_label_threshold"] is None
  assert "labels" not in reply and sorted(reply) == ["id", "result", "status"]
