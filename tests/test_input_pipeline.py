"""--dynamic_padding for eval/predict: length buckets, input order restored,
one forward trace for every batch shape."""

import random

import numpy as np
import pytest

from classifier import features as feature_lib
from processors import InputExample

SEQ = 40


@pytest.fixture
def records(tmp_path, tiny_config_dict):
  """A tf_record of 83 examples of random lengths 1..SEQ-2 words."""
  from bert import tokenization

  words = ["w%d" % i for i in range(tiny_config_dict["vocab_size"] - 5)]
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words) + "\n")
  tokenizer = tokenization.FullTokenizer(str(vocab), True)
  rng = random.Random(5)
  examples = [
    InputExample(
      "e-%d" % i,
      " ".join(rng.choice(words) for _ in range(rng.randint(1, SEQ - 2))),
      None,
      str(i % 3),
    )
    for i in range(83)
  ]
  path = str(tmp_path / "eval.tf_record")
  feature_lib.file_based_convert_examples_to_features(
    examples, ["0", "1", "2"], SEQ, tokenizer, path
  )
  return path


def _dataset(path, dynamic, drop_remainder=False):
  from classifier import input_pipeline

  return input_pipeline.file_based_dataset(
    path,
    SEQ,
    is_training=False,
    drop_remainder=drop_remainder,
    batch_size=8,
    dynamic_padding=dynamic,
  )


def test_eval_batches_are_sorted_by_length_and_cover_every_example(records, monkeypatch):
  from classifier import input_pipeline

  monkeypatch.setattr(input_pipeline, "SORT_WINDOW_BATCHES", 4)  # 32 examples
  seen, lengths, sizes = [], [], []
  for batch in _dataset(records, True):
    mask = batch["input_mask"].numpy()
    assert mask.shape[1] == mask.sum(axis=1).max()  # Cut to its longest.
    lengths.extend(mask.sum(axis=1).tolist())
    seen.extend(batch["example_index"].numpy().tolist())
    sizes.append(len(mask))
  assert sorted(seen) == list(range(83))
  assert sizes == [8] * 10 + [3]
  for start in range(0, 83, 32):  # Each window is in length order.
    window = lengths[start : start + 32]
    assert window == sorted(window)
  assert seen != sorted(seen)


def test_training_batches_take_only_the_bucket_lengths(records):
  from classifier import input_pipeline

  expected = input_pipeline.bucket_lengths(SEQ)
  assert expected == [8, 16, 24, 32, 40]
  dataset = input_pipeline.file_based_dataset(
    records, SEQ, is_training=True, drop_remainder=True, batch_size=4, seed=1, dynamic_padding=True
  )
  for batch in dataset.take(40):
    mask = batch["input_mask"].numpy()
    length = mask.shape[1]
    assert length in expected
    # The bucket below this length would have held the batch's longest example otherwise.
    assert mask.sum(axis=1).max() > length - input_pipeline.BUCKET_WIDTH


def test_tpu_style_eval_keeps_order_and_only_trims(records):
  batches = list(_dataset(records, True, drop_remainder=True))
  assert len(batches) == 83 // 8
  assert all("example_index" not in b for b in batches)


def test_dynamic_predict_and_evaluate_equal_fixed(records, tmp_path, tiny_config):
  from classifier.trainer import ClassifierRunner

  runner = ClassifierRunner(tiny_config, 3, str(tmp_path / "out"))
  fixed = np.array(list(runner.predict(_dataset(records, False), 83)))
  dynamic = np.array(list(runner.predict(_dataset(records, True), 83)))
  assert fixed.shape == dynamic.shape == (83, 3)
  np.testing.assert_allclose(dynamic, fixed, atol=1e-5)

  result_fixed = runner.evaluate(_dataset(records, False), 83)
  result_dynamic = runner.evaluate(_dataset(records, True), 83)
  assert result_dynamic["eval_accuracy"] == result_fixed["eval_accuracy"]
  np.testing.assert_allclose(result_dynamic["eval_loss"], result_fixed["eval_loss"], rtol=1e-5)
  # One trace per dataset spec (fixed, dynamic), whatever the batch shapes.
  assert [f.experimental_get_tracing_count() for _, f in runner._forwards] == [1, 1]
