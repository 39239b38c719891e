"""Parallel feature conversion: the same bytes as one process, in order."""

import os
import random

import pytest
from emotion_data import VOCAB, make_row

from bert import tokenization
from classifier import features
from processors import DataError, InputExample, PaddingInputExample


def test_parallel_conversion_is_byte_identical(tmp_path, monkeypatch):
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("\n".join(VOCAB) + "\n")
  tokenizer = tokenization.FullTokenizer(str(vocab), True)
  rng = random.Random(3)
  examples = [InputExample("t-%d" % i, make_row(rng)[1], None, str(i % 7)) for i in range(5000)]
  monkeypatch.setattr(features, "CHUNK_SIZE", 300)
  labels = [str(i) for i in range(7)]
  one = tmp_path / "one.tf_record"
  two = tmp_path / "two.tf_record"
  assert (
    features.file_based_convert_examples_to_features(
      examples, labels, 32, tokenizer, str(one), num_workers=1
    )
    == 5000
  )
  features.file_based_convert_examples_to_features(
    examples, labels, 32, tokenizer, str(two), num_workers=2
  )
  assert one.read_bytes() == two.read_bytes()
  assert sorted(os.listdir(tmp_path)) == ["one.tf_record", "two.tf_record", "vocab.txt"]


def test_default_workers():
  assert features.default_num_workers(100) == 1
  assert features.default_num_workers(10**6) >= 1


def _google_record(ex_index, example, labels, max_seq_length, tokenizer):
  return features.serialize_features(
    features.convert_single_example(
      ex_index, example, labels, max_seq_length, tokenizer, log_example=False
    )
  )


def test_record_encoder_matches_google_path(tmp_path):
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("\n".join(VOCAB + ["##ing", "##s", "ab"]) + "\n")
  tokenizer = tokenization.FullTokenizer(str(vocab), True)
  rng = random.Random(11)
  labels = [str(i) for i in range(7)]
  examples = [PaddingInputExample()]
  for i in range(600):
    text_a = make_row(rng)[1]
    if i % 5 == 0:
      text_a += " Runnings ABs xyzzy " * rng.randint(0, 8)  # OOV, truncation
    text_b = (None, "", make_row(rng)[1], "?!")[i % 4]
    examples.append(InputExample("t-%d" % i, text_a, text_b, str(i % 7)))
  for max_seq_length in (3, 8, 32, 128):
    encode = features.record_encoder(labels, max_seq_length, tokenizer)
    for i, example in enumerate(examples):
      assert encode(i, example) == _google_record(i, example, labels, max_seq_length, tokenizer), (
        max_seq_length,
        i,
      )


def test_record_encoder_unknown_label(tmp_path):
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("\n".join(VOCAB) + "\n")
  tokenizer = tokenization.FullTokenizer(str(vocab), True)
  encode = features.record_encoder(["0", "1"], 16, tokenizer)
  with pytest.raises(DataError, match=r"example t-9: label '7' is not one of"):
    encode(0, InputExample("t-9", "hello", None, "7"))


def test_record_encoder_uses_a_custom_tokenize(tmp_path):
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("\n".join(VOCAB) + "\n")

  class Shouting(tokenization.FullTokenizer):
    def tokenize(self, text):
      return super().tokenize(text) + ["[UNK]"]

  tokenizer = Shouting(str(vocab), True)
  example = InputExample("t-1", VOCAB[5], None, "0")
  assert features.record_encoder(["0"], 16, tokenizer)(0, example) == (
    _google_record(0, example, ["0"], 16, tokenizer)
  )
  plain = tokenization.FullTokenizer(str(vocab), True)
  assert features.record_encoder(["0"], 16, plain)(0, example) != (
    _google_record(0, example, ["0"], 16, tokenizer)
  )
