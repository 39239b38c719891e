"""Multi-label heads, --doc_stride windows and --class_weights."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from emotion_data import VOCAB, tiny_config, write_emotion_data, write_model_dir

from bert import tokenization
from bert.errors import UsageError
from classifier import RunConfig, TrainingSettings, run_workflow
from classifier import features as feature_lib
from classifier.inference_outputs import combine_windows, example_losses, head_probabilities
from processors import InputExample

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_window_starts_follow_run_squads_rule():
  assert feature_lib.window_starts(10, 4, 2) == [0, 2, 4, 6]
  assert feature_lib.window_starts(10, 4, 3) == [0, 3, 6]
  assert feature_lib.window_starts(4, 4, 2) == [0]
  assert feature_lib.window_starts(9, 4, 10) == [0, 4, 8]  # Never a gap between windows.


def test_windows_keep_the_second_text_and_cover_the_first():
  a = list(range(10))
  windows = feature_lib._windows(a, [100, 101], max_seq_length=8, stride=2)
  # Room for the first text: 8 - 3 markers - 2 tokens of the second = 3.
  assert [w[0] for w in windows] == [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8], [8, 9]]
  assert [w[1] for w in windows] == [[100, 101]] * 5
  single = feature_lib._windows(a, None, max_seq_length=8, stride=4)
  assert [w[0] for w in single] == [a[0:6], a[4:10]]
  assert feature_lib._windows(a, None, max_seq_length=8, stride=0) == [(a[:6], None)]


def _tokenizer(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_text("\n".join(VOCAB) + "\n")
  return tokenization.FullTokenizer(str(path), do_lower_case=True)


def _parse(records, seq_length, num_labels=0, with_example_id=False):
  import tensorflow as tf

  from classifier import input_pipeline

  spec = input_pipeline.name_to_features(seq_length, num_labels, with_example_id)
  return [
    {k: v.numpy().tolist() for k, v in tf.io.parse_single_example(r, spec).items()} for r in records
  ]


def test_multi_hot_labels_and_example_ids(tmp_path):
  tokenizer = _tokenizer(tmp_path)
  words = [w for w in VOCAB if w.isalpha()][:12]
  example = InputExample("x-1", " ".join(words), None, ["c", "a"])
  layout = feature_lib.RecordLayout(multi_label=True, doc_stride=3)
  records = feature_lib.layout_records(7, example, ["a", "b", "c"], 8, tokenizer, layout)
  rows = _parse(records, 8, num_labels=3, with_example_id=True)
  assert len(rows) == len(feature_lib.window_starts(len(tokenizer.tokenize(example.text_a)), 6, 3))
  assert len(rows) > 1
  for row in rows:
    assert row["label_ids"] == [1, 0, 1]
    assert row["example_id"] == 7
    assert row["input_ids"][0] == tokenizer.vocab["[CLS]"]
  with pytest.raises(feature_lib.DataError, match="label"):
    feature_lib.layout_records(
      0, InputExample("x-2", "a", None, ["zzz"]), ["a"], 8, tokenizer, layout
    )


def test_plain_layout_is_googles_records(tmp_path):
  tokenizer = _tokenizer(tmp_path)
  example = InputExample("x-1", "happy sad day", "the day", "1")
  google = feature_lib.serialize_features(
    feature_lib.convert_single_example(0, example, ["0", "1"], 16, tokenizer)
  )
  encode = feature_lib.record_encoder(["0", "1"], 16, tokenizer)
  assert encode(0, example) == google


def test_windows_are_combined_per_example():
  rows = {
    "example_id": np.array([1, 0, 1, 0, 2]),
    "logits": np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, 4.0], [5.0, 5.0]], np.float32),
    "label_ids": np.array([0, 1, 0, 1, 1]),
  }
  mean = combine_windows(rows, "mean")
  np.testing.assert_allclose(mean["logits"], [[0, 3], [2, 0], [5, 5]])
  assert mean["label_ids"].tolist() == [1, 0, 1]
  np.testing.assert_allclose(combine_windows(rows, "max")["logits"], [[0, 4], [3, 0], [5, 5]])


def test_numpy_losses_match_tensorflow():
  import tensorflow as tf

  logits = np.array([[0.5, -1.0, 2.0], [3.0, 0.1, -0.2]], np.float32)
  labels = np.array([2, 0])
  expected = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits).numpy()
  np.testing.assert_allclose(example_losses(logits, labels, False), expected, rtol=1e-6)
  hot = np.array([[1, 0, 1], [0, 0, 1]])
  expected = tf.reduce_mean(
    tf.nn.sigmoid_cross_entropy_with_logits(labels=hot.astype(np.float32), logits=logits), -1
  ).numpy()
  np.testing.assert_allclose(example_losses(logits, hot, True), expected, rtol=1e-6)
  np.testing.assert_allclose(head_probabilities(logits, True), tf.sigmoid(logits).numpy(), 1e-6)


def test_class_weights_weigh_the_loss_as_the_formula_says():
  from bert import modeling
  from bert.classifier_model import BertClassifier

  config = modeling.BertConfig.from_dict(tiny_config(40))
  weights = [0.5, 2.0, 1.0]
  model = BertClassifier(config, 3, class_weights=weights)
  rng = np.random.RandomState(0)
  # A head far from its near-zero start, so that the examples' losses differ.
  model.output_weights.assign(rng.normal(0.0, 1.0, (3, 32)).astype(np.float32))
  ids = rng.randint(1, 40, size=(4, 6)).astype(np.int32)
  labels = np.array([0, 1, 1, 2], np.int32)
  loss, per_example, _, _ = model(ids, np.ones_like(ids), np.zeros_like(ids), labels)
  w = np.array(weights)[labels]
  expected = np.sum(w * per_example.numpy()) / np.sum(w)
  np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
  assert abs(float(loss) - float(np.mean(per_example.numpy()))) > 1e-4


def test_balanced_and_listed_weights():
  from classifier import checks

  config = TrainingSettings(class_weights="balanced")
  train = [InputExample(str(i), "x", None, label) for i, label in enumerate("aaab")]
  assert checks.class_weights(config, ["a", "b", "c"], train) == [4 / 9, 4 / 3, 1.0]
  config.class_weights = "1,2"
  with pytest.raises(UsageError, match="expected 3 positive weights"):
    checks.class_weights(config, ["a", "b", "c"], train)
  config.class_weights = "1,x,2"
  with pytest.raises(UsageError, match="'balanced' or comma-separated numbers"):
    checks.class_weights(config, ["a", "b", "c"], train)


def _multi_label_data(data_dir, rng):
  """Tab-separated rows whose labels are the keywords present: known answers."""
  os.makedirs(data_dir, exist_ok=True)
  keywords = {"happy": "joy", "sad": "sorrow", "angry": "anger"}
  filler = ["the", "day", "was", "a", "very", "and", "it"]
  for names, count in ((["train.tsv"], 96), (["dev.tsv", "test.tsv"], 24)):
    lines = ["label\ttext"]
    for _ in range(count):
      present = [k for k in keywords if rng.rand() < 0.4]
      words = [filler[i] for i in rng.randint(0, len(filler), size=5)] + present
      rng.shuffle(words)
      lines.append("%s\t%s" % (",".join(keywords[k] for k in present), " ".join(words)))
    for name in names:  # The test set is the dev set: its probabilities check the metrics.
      with open(os.path.join(data_dir, name), "w") as f:
        f.write("\n".join(lines) + "\n")


@pytest.mark.slow
def test_multi_label_through_run_classifier(tmp_path):
  vocab, bert_config = write_model_dir(str(tmp_path / "model"))
  _multi_label_data(str(tmp_path / "data"), np.random.RandomState(0))
  out = tmp_path / "out"
  args = [
    sys.executable,
    "run_classifier.py",
    "--task_name=tabular",
    "--multi_label",
    "--do_train=true",
    "--do_eval=true",
    "--do_predict=true",
    "--data_dir=%s" % (tmp_path / "data"),
    "--vocab_file=" + vocab,
    "--bert_config_file=" + bert_config,
    "--output_dir=%s" % out,
    "--max_seq_length=16",
    "--train_batch_size=16",
    "--num_train_epochs=20",
    "--learning_rate=2e-3",
    "--seed=2",
  ]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  labels = json.loads((out / "labels.json").read_text())
  assert labels == ["anger", "joy", "sorrow"]
  run_config = json.loads((out / "run_config.json").read_text())
  assert run_config["multi_label"] is True
  results = dict(line.split(" = ") for line in (out / "eval_results.txt").read_text().splitlines())
  assert {"eval_exact_match", "eval_micro_f1", "eval_macro_f1", "eval_loss"} <= set(results)
  metrics = json.loads((out / "eval_metrics.json").read_text())
  assert metrics["micro_f1"] > 0.5  # Keywords decide the labels: it learns (0.70 here).
  assert float(results["eval_micro_f1"]) == pytest.approx(metrics["micro_f1"], abs=1e-6)

  # test_results.tsv: one sigmoid column per label; test_predictions.tsv: labels >= 0.5.
  probabilities = np.array(
    [
      [float(x) for x in line.split("\t")]
      for line in (out / "test_results.tsv").read_text().splitlines()
    ]
  )
  assert probabilities.shape == (24, 3)
  predicted = probabilities >= 0.5
  lines = (out / "test_predictions.tsv").read_text().splitlines()[1:]
  for row, line in zip(predicted, lines):
    assert line.split("\t")[3] == ",".join(label for label, on in zip(labels, row) if on)

  # The known answer: the metrics recomputed here from the dev labels and those predictions.
  dev = (tmp_path / "data" / "dev.tsv").read_text().splitlines()[1:]
  truth = np.array([[label in line.split("\t")[0].split(",") for label in labels] for line in dev])
  tp = np.sum(truth & predicted)
  fp, fn = np.sum(~truth & predicted), np.sum(truth & ~predicted)
  assert metrics["micro_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-5)
  assert metrics["exact_match"] == pytest.approx(np.mean(np.all(truth == predicted, 1)), abs=1e-5)
  for i, name in enumerate(labels):
    tp_i = np.sum(truth[:, i] & predicted[:, i])
    wrong = np.sum(truth[:, i] != predicted[:, i])
    f1 = 2 * tp_i / (2 * tp_i + wrong) if tp_i + wrong else 0.0
    assert metrics["per_class"][name]["f1"] == pytest.approx(f1, abs=1e-5)
    assert metrics["per_class"][name]["support"] == int(truth[:, i].sum())

  # A threshold no probability reaches: every prediction empty, and a warning says why.
  again = [a for a in args if a.split("=")[0] not in ("--do_train", "--multi_label")]
  proc = subprocess.run(
    again + ["--multi_label_threshold=0.9999"],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  for what in ("dev", "test"):
    assert (
      "no %s example has a label at or above --multi_label_threshold=0.9999 (the largest "
      "probability is %.4f)" % (what, probabilities.max())
    ) in proc.stderr


def test_long_texts_give_one_prediction_per_example(tmp_path):
  vocab, bert_config = write_model_dir(str(tmp_path / "model"))
  write_emotion_data(str(tmp_path / "data"), n_train=32, n_val=8, n_test=6)
  test_file = tmp_path / "data" / "fine_tuning_test_data.tsv"
  lines = test_file.read_text().splitlines()
  long_text = " ".join(["the day was very long and it was"] * 6)
  lines[1] = "0\t" + long_text
  test_file.write_text("\n".join(lines) + "\n")
  config = RunConfig.from_flat(
    data_dir=str(tmp_path / "data"),
    bert_config_file=bert_config,
    task_name="emotion",
    vocab_file=vocab,
    output_dir=str(tmp_path / "out"),
    do_train=True,
    do_eval=True,
    do_predict=True,
    max_seq_length=16,
    train_batch_size=8,
    num_train_epochs=1.0,
    doc_stride=5,
    window_pooling="max",
    seed=3,
  )
  results = run_workflow(config)
  with open(results["test_results_file"]) as f:
    rows = f.read().splitlines()
  assert len(rows) == 6  # One row per example, though the first had several windows.
  assert all(abs(sum(float(x) for x in row.split("\t")) - 1) < 1e-5 for row in rows)
  recorded = json.loads((tmp_path / "out" / "run_config.json").read_text())
  assert recorded["doc_stride"] == 5 and recorded["window_pooling"] == "max"


def test_doc_stride_and_threshold_are_checked(tmp_path):
  vocab, bert_config = write_model_dir(str(tmp_path / "model"))
  base = dict(
    data_dir=str(tmp_path),
    bert_config_file=bert_config,
    task_name="emotion",
    vocab_file=vocab,
    output_dir=str(tmp_path / "out"),
    do_train=True,
    max_seq_length=16,
  )
  with pytest.raises(UsageError, match="--doc_stride=15"):
    run_workflow(RunConfig.from_flat(**base, doc_stride=15))
  with pytest.raises(UsageError, match="--multi_label_threshold"):
    run_workflow(RunConfig.from_flat(**base, multi_label_threshold=1.5))
  with pytest.raises(UsageError, match="single-label"):
    run_workflow(RunConfig.from_flat(**base, multi_label=True, class_weights="balanced"))
