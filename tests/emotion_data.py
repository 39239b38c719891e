"""Generated emotion-layout data with a learnable rule, and a tiny vocab/config."""

import json
import os
import random

KEYWORDS = ["happy", "sad", "angry", "fear", "love", "surprise", "calm"]
FILLER = [
  "the",
  "a",
  "day",
  "was",
  "very",
  "and",
  "it",
  "i",
  "feel",
  "today",
  "so",
  "really",
  "this",
  "that",
  "is",
  "we",
  "you",
  "they",
  "here",
]
VOCAB = (
  ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + KEYWORDS + FILLER + ["##s", ".", ",", "!", "?"]
)


def tiny_config(vocab_size, **overrides):
  config = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 37,
    "max_position_embeddings": 64,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "type_vocab_size": 2,
    "vocab_size": vocab_size,
  }
  config.update(overrides)
  return config


def write_model_dir(model_dir):
  """vocab.txt + bert_config.json of a tiny model; returns (vocab, config) paths."""
  os.makedirs(model_dir, exist_ok=True)
  vocab_file = os.path.join(model_dir, "vocab.txt")
  config_file = os.path.join(model_dir, "bert_config.json")
  with open(vocab_file, "w", encoding="utf-8") as f:
    f.write("\n".join(VOCAB) + "\n")
  with open(config_file, "w", encoding="utf-8") as f:
    json.dump(tiny_config(len(VOCAB)), f)
  return vocab_file, config_file


def make_row(rng):
  """(label, text): the label is the index of the one keyword in the text."""
  label = rng.randrange(len(KEYWORDS))
  words = [rng.choice(FILLER) for _ in range(rng.randint(3, 10))]
  words.insert(rng.randint(0, len(words)), KEYWORDS[label])
  return str(label), " ".join(words)


def write_emotion_data(data_dir, n_train=600, n_val=120, n_test=40, seed=0, test_with_labels=False):
  """The users' layout: fine_tuning_{train,val,test}_data.tsv with a header."""
  os.makedirs(data_dir, exist_ok=True)
  rng = random.Random(seed)
  test_rows = []
  for name, n in [("train", n_train), ("val", n_val), ("test", n_test)]:
    path = os.path.join(data_dir, "fine_tuning_%s_data.tsv" % name)
    with open(path, "w", encoding="utf-8") as f:
      f.write("label\ttext\n")
      for _ in range(n):
        label, text = make_row(rng)
        if name == "test":
          test_rows.append((label, text))
          f.write("%s\t%s\n" % (label, text) if test_with_labels else text + "\n")
        else:
          f.write("%s\t%s\n" % (label, text))
  return test_rows
