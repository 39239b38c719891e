"""Parallel feature conversion: the same bytes as one process, in order."""
import os
import random

from bert import tokenization
from classifier import features
from emotion_data import VOCAB, make_row
from processors import InputExample


def test_parallel_conversion_is_byte_identical(tmp_path, monkeypatch):
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("\n".join(VOCAB) + "\n")
  tokenizer = tokenization.FullTokenizer(str(vocab), True)
  rng = random.Random(3)
  examples = [InputExample("t-%d" % i, make_row(rng)[1], None, str(i % 7))
              for i in range(5000)]
  monkeypatch.setattr(features, "CHUNK_SIZE", 300)
  labels = [str(i) for i in range(7)]
  one = tmp_path / "one.tf_record"
  two = tmp_path / "two.tf_record"
  assert features.file_based_convert_examples_to_features(
      examples, labels, 32, tokenizer, str(one), num_workers=1) == 5000
  features.file_based_convert_examples_to_features(
      examples, labels, 32, tokenizer, str(two), num_workers=2)
  assert one.read_bytes() == two.read_bytes()
  assert sorted(os.listdir(tmp_path)) == ["one.tf_record", "two.tf_record", "vocab.txt"]


def test_default_workers():
  assert features.default_num_workers(100) == 1
  assert features.default_num_workers(10 ** 6) >= 1
