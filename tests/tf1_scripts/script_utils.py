# coding=utf-8
"""Helpers the TF1 test scripts share, the way forks kept a utils module beside
their scripts (it is imported as `import script_utils`, so it gets the same TF1
view as the scripts themselves)."""

import collections
import csv

import tensorflow as tf

import tokenization


def define_model_flags(max_seq_length):
  """The flags every script here takes: data, model files, output folder, length."""
  flags = tf.flags
  flags.DEFINE_string("data_dir", None, "Folder with fine_tuning_*_data.tsv.")
  flags.DEFINE_string("bert_config_file", None, "bert_config.json.")
  flags.DEFINE_string("vocab_file", None, "vocab.txt.")
  flags.DEFINE_string("init_checkpoint", None, "Checkpoint to start from.")
  flags.DEFINE_string("output_dir", None, "Model and results folder.")
  flags.DEFINE_integer("max_seq_length", max_seq_length, "Tokens per example.")


def read_tsv(path, skip_header=True):
  with tf.gfile.Open(path, "r") as f:
    rows = list(csv.reader(f, delimiter="\t", quotechar=None))
  return rows[1:] if skip_header else rows


def encode_pair(tokenizer, text_a, text_b, max_seq_length):
  """[CLS] a [SEP] (b [SEP]) as ids, mask and segment ids, padded."""
  tokens_a = tokenizer.tokenize(text_a)
  tokens_b = tokenizer.tokenize(text_b) if text_b else []
  budget = max_seq_length - (3 if tokens_b else 2)
  while len(tokens_a) + len(tokens_b) > budget:
    (tokens_a if len(tokens_a) >= len(tokens_b) else tokens_b).pop()
  tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
  segment_ids = [0] * len(tokens)
  if tokens_b:
    tokens += tokens_b + ["[SEP]"]
    segment_ids += [1] * (len(tokens_b) + 1)
  input_ids = tokenizer.convert_tokens_to_ids(tokens)
  pad = max_seq_length - len(input_ids)
  return input_ids + [0] * pad, [1] * len(input_ids) + [0] * pad, segment_ids + [0] * pad


def write_records(features, path):
  """Each item an OrderedDict name -> list of ints, as tf.train.Examples."""
  writer = tf.python_io.TFRecordWriter(path)
  for feature in features:
    example = tf.train.Example(
      features=tf.train.Features(
        feature=collections.OrderedDict(
          (name, tf.train.Feature(int64_list=tf.train.Int64List(value=list(values))))
          for name, values in feature.items()
        )
      )
    )
    writer.write(example.SerializeToString())
  writer.close()


def record_input_fn_builder(input_file, name_to_features, is_training, drop_remainder):
  """An input_fn(params) reading `input_file` in batches of params["batch_size"]."""

  def decode(record):
    example = tf.parse_single_example(record, name_to_features)
    for name in list(example.keys()):
      if example[name].dtype == tf.int64:
        example[name] = tf.to_int32(example[name])
    return example

  def input_fn(params):
    d = tf.data.TFRecordDataset(input_file)
    if is_training:
      d = d.repeat()
      d = d.shuffle(buffer_size=100, seed=12345)
    return d.apply(
      tf.contrib.data.map_and_batch(
        decode, batch_size=params["batch_size"], drop_remainder=drop_remainder
      )
    )

  return input_fn


def tokenizer_from(vocab_file):
  tokenization.validate_case_matches_checkpoint(True, None)
  return tokenization.FullTokenizer(vocab_file=vocab_file, do_lower_case=True)


def restore_from(init_checkpoint, in_scaffold_fn=False):
  """Maps the trainable variables found in `init_checkpoint` onto it, now or
  in the scaffold_fn it returns (as Google's scripts did on a TPU)."""
  import modeling

  tvars = tf.trainable_variables()
  if not init_checkpoint:
    return None
  assignment_map, initialized = modeling.get_assignment_map_from_checkpoint(tvars, init_checkpoint)
  for var in tvars:
    tf.logging.info(
      "  name = %s, shape = %s%s",
      var.name,
      var.shape,
      ", *INIT_FROM_CKPT*" if var.name in initialized else "",
    )

  def scaffold_fn():
    tf.train.init_from_checkpoint(init_checkpoint, assignment_map)
    return tf.train.Scaffold()

  if in_scaffold_fn:
    return scaffold_fn
  scaffold_fn()
  return None


def write_probabilities(path, rows):
  with tf.gfile.GFile(path, "w") as writer:
    for probabilities in rows:
      writer.write("\t".join(str(p) for p in probabilities) + "\n")
