"""What is served is what was trained: `bert-serving-start -model_dir output
-pooling_strategy CLASSIFICATION`, with no other flag, answers the unmodified
bert-serving-client with the probabilities run_classifier.py itself wrote to
test_results.tsv for the same texts.

Three output folders made by run_classifier.py (subprocesses, as a user runs
it): a plain one trained at --max_seq_length 48 (longer than
bert-as-service's default 25, with texts that need it), one trained with
--doc_stride windows over texts longer than its sequence, and a multi-label
one. The server reads the length, windows and head from run_config.json, on
the TensorFlow and the ONNX Runtime backends; bert-export-savedmodel's
classify_text signature answers the same.
"""

import contextlib
import csv
import os
import random
import subprocess
import sys

import numpy as np
import pytest
from emotion_data import FILLER, KEYWORDS, write_model_dir

from bert import model_folder

bert_serving_client = pytest.importorskip("bert_serving.client")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
TOLERANCE = 1e-5
MULTI_LABELS = KEYWORDS[:4]


def _text(rng, keywords, num_words, after=0):
  """Filler words with each keyword inserted at a random place from word `after` on."""
  words = [rng.choice(FILLER) for _ in range(num_words)]
  for keyword in keywords:
    words.insert(rng.randint(min(after, len(words)), len(words)), keyword)
  return " ".join(words)


def _write_emotion(data_dir, seed, min_words, max_words):
  """fine_tuning_{train,val,test}_data.tsv with texts of min..max words; returns the test texts."""
  os.makedirs(data_dir)
  rng = random.Random(seed)
  tests = []
  for name, count in (("train", 160), ("val", 8), ("test", 12)):
    with open(os.path.join(data_dir, "fine_tuning_%s_data.tsv" % name), "w") as f:
      f.write("label\ttext\n")
      for _ in range(count):
        label = rng.randrange(len(KEYWORDS))
        # A test text's keyword lies past bert-as-service's 25-token cut, so that serving at
        # another length than the trained one visibly changes the answers.
        after = 24 if name == "test" else 0
        text = _text(rng, [KEYWORDS[label]], rng.randint(min_words, max_words), after)
        f.write("%d\t%s\n" % (label, text) if name != "test" else text + "\n")
        if name == "test":
          tests.append(text)
  return tests


def _write_multi_label(data_dir, seed):
  """train/dev/test.tsv for the tabular task, one or two of MULTI_LABELS a row."""
  os.makedirs(data_dir)
  rng = random.Random(seed)
  tests = []
  for name, count in (("train", 160), ("dev", 8), ("test", 12)):
    with open(os.path.join(data_dir, name + ".tsv"), "w") as f:
      f.write("text\tlabel\n")
      for _ in range(count):
        labels = rng.sample(MULTI_LABELS, rng.randint(1, 2))
        text = _text(rng, labels, rng.randint(24, 34))
        f.write("%s\t%s\n" % (text, ",".join(labels)))
        if name == "test":
          tests.append(text)
  return tests


def _run_classifier(base, name, data_dir, task, *flags):
  vocab, config = (
    os.path.join(base, "model", "vocab.txt"),
    os.path.join(base, "model", "bert_config.json"),
  )
  out = os.path.join(base, name)
  command = [
    sys.executable,
    "run_classifier.py",
    "--task_name=" + task,
    "--do_train=true",
    "--do_predict=true",
    "--data_dir=" + data_dir,
    "--vocab_file=" + vocab,
    "--bert_config_file=" + config,
    "--output_dir=" + out,
    "--train_batch_size=16",
    "--learning_rate=2e-3",
    "--num_train_epochs=10",
    "--seed=5",
  ] + list(flags)
  proc = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(os.path.join(out, "test_results.tsv")) as f:
    predicted = np.array([[float(v) for v in row] for row in csv.reader(f, delimiter="\t")])
  return out, predicted


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  base = str(tmp_path_factory.mktemp("served_equals_predicted"))
  write_model_dir(os.path.join(base, "model"))
  plain_texts = _write_emotion(os.path.join(base, "plain_data"), 1, 30, 44)
  window_texts = _write_emotion(os.path.join(base, "window_data"), 2, 14, 26)
  multi_texts = _write_multi_label(os.path.join(base, "multi_data"), 3)
  return {
    "plain": (
      plain_texts,
      *_run_classifier(
        base, "plain", os.path.join(base, "plain_data"), "emotion", "--max_seq_length=48"
      ),
    ),
    "windows": (
      window_texts,
      *_run_classifier(
        base,
        "windows",
        os.path.join(base, "window_data"),
        "emotion",
        "--max_seq_length=16",
        "--doc_stride=6",
        "--window_pooling=max",
      ),
    ),
    "multi": (
      multi_texts,
      *_run_classifier(
        base,
        "multi",
        os.path.join(base, "multi_data"),
        "tabular",
        "--max_seq_length=40",
        "--multi_label",
        "--multi_label_threshold=0.4",
      ),
    ),
  }


@contextlib.contextmanager
def _served(model_dir, *flags):
  """bert-serving-start -model_dir <model_dir> -pooling_strategy CLASSIFICATION [flags]."""
  from serving import args as args_mod
  from serving.server import BertServer

  argv = ["-model_dir", model_dir, "-pooling_strategy", "CLASSIFICATION", "-cpu"]
  argv += ["-port", "0", "-port_out", "0"] + list(flags)
  server = BertServer(args_mod.get_args_parser().parse_args(argv), worker_mode="thread")
  server.start()
  try:
    server.wait_until_ready(300)
    yield server
  finally:
    server.close()


def _encode(model_dir, texts, *flags):
  with _served(model_dir, *flags) as server:
    client = bert_serving_client.BertClient(
      port=server.port, port_out=server.port_out, timeout=120000, check_length=False
    )
    with client:
      return client.server_config, client.encode(texts)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["plain", "windows", "multi"])
def test_served_probabilities_are_the_runs_own_predictions(runs, kind):
  texts, folder, predicted = runs[kind]
  config, served = _encode(folder, texts)
  assert served.shape == predicted.shape
  np.testing.assert_allclose(served, predicted, atol=TOLERANCE)
  assert config["max_seq_len"] == {"plain": 48, "windows": 16, "multi": 40}[kind]
  if kind == "windows":
    assert (config["doc_stride"], config["window_pooling"]) == (6, "max")
  if kind == "multi":
    assert config["multi_label"] and config["multi_label_threshold"] == 0.4


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["plain", "windows", "multi"])
def test_onnx_runtime_backend_serves_the_runs_own_predictions(runs, kind):
  pytest.importorskip("onnxruntime")
  texts, folder, predicted = runs[kind]
  _, served = _encode(folder, texts, "-backend", "onnxruntime")
  np.testing.assert_allclose(served, predicted, atol=1e-4)  # ONNX Runtime's own kernels


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["windows", "multi"])  # test_savedmodel.py covers the plain head
def test_savedmodel_text_signature_gives_the_runs_own_predictions(runs, kind, tmp_path):
  pytest.importorskip("tensorflow_text")
  import tensorflow as tf

  from export.savedmodel_export import export_savedmodel

  texts, folder, predicted = runs[kind]
  target = export_savedmodel(folder, str(tmp_path / "exported"))
  classify = tf.saved_model.load(target).signatures["classify_text"]
  got = classify(text_a=tf.constant(texts))["probabilities"].numpy()
  np.testing.assert_allclose(got, predicted, atol=TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["windows", "multi"])
def test_hf_export_then_import_serves_the_runs_own_predictions(runs, kind, tmp_path):
  """bert-export-hf -> bert-import-hf gives back the head, its labels and the run's settings."""
  from export import hf_export, hf_import

  texts, folder, predicted = runs[kind]
  hf_export.export_to_hf(folder, str(tmp_path / "hf"))
  summary = hf_import.import_hf_bert(str(tmp_path / "hf"), str(tmp_path / "back"))
  assert summary["labels"] == model_folder.read_labels(folder)
  _, served = _encode(str(tmp_path / "back"), texts)
  np.testing.assert_allclose(served, predicted, atol=TOLERANCE)


@pytest.mark.slow
def test_bert_as_service_default_length_would_answer_otherwise(runs):
  """The check above has teeth: these texts, cut at 25 tokens, get other answers."""
  texts, folder, predicted = runs["plain"]
  _, served = _encode(folder, texts, "-max_seq_len", "25")
  assert np.abs(served - predicted).max() > 1e-3
