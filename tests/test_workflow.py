"""The users' whole recipe: run_classifier.py -> serve -> bert-serving-client.

`bert-serving-start -model_dir output -num_worker=3` on the training output
folder as it is, and on an exported folder; embeddings equal the model's own.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from emotion_data import write_emotion_data, write_model_dir

from serving.background import BackgroundServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory):
  base = tmp_path_factory.mktemp("workflow")
  vocab, config = write_model_dir(str(base / "model"))
  write_emotion_data(str(base / "data"), n_train=64, n_val=16, n_test=8)
  out = str(base / "output")
  proc = subprocess.run(
    [
      sys.executable,
      "run_classifier.py",
      "--task_name=emotion",
      "--do_train=true",
      "--data_dir=%s" % (base / "data"),
      "--vocab_file=" + vocab,
      "--bert_config_file=" + config,
      "--output_dir=" + out,
      "--max_seq_length=16",
      "--train_batch_size=8",
      "--num_train_epochs=1",
      "--seed=3",
    ],
    cwd=ROOT,
    env=ENV,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  return out


def expected_mean_of_layer(model_dir_ckpt, config_file, vocab_file, texts, seq_len):
  from bert import checkpoint, modeling, tokenization

  tok = tokenization.FullTokenizer(vocab_file, True)
  encoder = modeling.BertEncoder(modeling.BertConfig.from_json_file(config_file))
  checkpoint.load_variables(encoder.variables_by_name, model_dir_ckpt)
  rows = []
  for text in texts:
    tokens = ["[CLS]"] + tok.tokenize(text)[: seq_len - 2] + ["[SEP]"]
    ids = tok.convert_tokens_to_ids(tokens)
    out = encoder([ids], [[1] * len(ids)], [[0] * len(ids)])
    rows.append(out["all_encoder_layers"][-2].numpy()[0].mean(axis=0))
  return np.array(rows)


def serve_and_encode(model_dir, texts, *extra):
  from bert_serving.client import BertClient

  with BackgroundServer(model_dir, ["-num_worker=3", "-max_seq_len", "16"] + list(extra)) as server:
    bc = BertClient(port=server.port, port_out=server.port_out, timeout=120000)
    config = bc.server_config
    result = bc.encode(texts)
    bc.close()
    return config, result


@pytest.mark.slow
def test_output_folder_serves_as_is(output_dir):
  assert os.path.exists(os.path.join(output_dir, "vocab.txt"))
  assert os.path.exists(os.path.join(output_dir, "bert_config.json"))
  texts = ["今天天气很好", "hello", "i feel happy today"]
  config, vectors = serve_and_encode(output_dir, texts)
  assert config["server_version"] == "1.10.0"
  assert vectors.shape == (3, 32)
  newest = os.path.join(output_dir, "model.ckpt-8")
  expected = expected_mean_of_layer(
    newest,
    os.path.join(output_dir, "bert_config.json"),
    os.path.join(output_dir, "vocab.txt"),
    texts,
    16,
  )
  np.testing.assert_allclose(vectors, expected, atol=1e-5)


@pytest.mark.slow
def test_export_then_classify(output_dir, tmp_path):
  served = str(tmp_path / "served")
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "export.serving_export",
      "--output_dir",
      output_dir,
      "--export_dir",
      served,
      "--strip_optimizer",
    ],
    cwd=ROOT,
    env=ENV,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  config, probs = serve_and_encode(
    served, ["i feel happy", "so sad"], "-pooling_strategy", "CLASSIFICATION"
  )
  assert config["labels"] == [str(i) for i in range(7)]
  assert probs.shape == (2, 7)
  np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
