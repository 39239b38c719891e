"""`*.tf_record` -> batched `tf.data.Dataset`, as Google's input_fn builder."""

from __future__ import annotations

import tensorflow as tf


def name_to_features(seq_length: int) -> dict:
  """The parse spec of the 5 int64 features."""
  return {
      "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
      "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
      "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
      "label_ids": tf.io.FixedLenFeature([], tf.int64),
      "is_real_example": tf.io.FixedLenFeature([], tf.int64),
  }


def decode_record(record, spec):
  """Decodes a record to a dict of int32 tensors (tf.Example holds int64)."""
  example = tf.io.parse_single_example(record, spec)
  return {name: tf.cast(t, tf.int32) for name, t in example.items()}


def file_based_dataset(input_file: str, seq_length: int, is_training: bool,
                       drop_remainder: bool, batch_size: int,
                       shuffle_buffer_size: int = 100,
                       seed: int | None = None) -> tf.data.Dataset:
  """Google's pipeline: repeat -> shuffle(100) -> decode+batch when training.

  Eval/predict read the file once, in order. `shuffle_buffer_size` defaults
  to Google's 100 (a known weak shuffle for sorted files; raise it with
  --shuffle_buffer_size). A prefetch is added, which changes no order.
  """
  spec = name_to_features(seq_length)
  d = tf.data.TFRecordDataset(input_file)
  if is_training:
    d = d.repeat()
    d = d.shuffle(buffer_size=shuffle_buffer_size, seed=seed)
  d = d.map(lambda record: decode_record(record, spec),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  d = d.batch(batch_size, drop_remainder=drop_remainder)
  return d.prefetch(tf.data.AUTOTUNE)
