"""`*.tf_record` -> batched `tf.data.Dataset`, as Google's input_fn builder."""

from __future__ import annotations

import tensorflow as tf


def name_to_features(seq_length: int, num_labels: int = 0, with_example_id: bool = False) -> dict:
  """The parse spec of the 5 int64 features (Google's records).

  `num_labels` > 0 reads multi-label records (`label_ids` a multi-hot vector of
  that length); `with_example_id` adds the `example_id` of --doc_stride windows.
  """
  spec = {
    "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
    "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
    "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
    "label_ids": tf.io.FixedLenFeature([num_labels] if num_labels else [], tf.int64),
    "is_real_example": tf.io.FixedLenFeature([], tf.int64),
  }
  if with_example_id:
    spec["example_id"] = tf.io.FixedLenFeature([], tf.int64)
  return spec


def decode_record(record, spec):
  """Decodes a record to a dict of int32 tensors (tf.Example holds int64)."""
  example = tf.io.parse_single_example(record, spec)
  return {name: tf.cast(t, tf.int32) for name, t in example.items()}


SEQUENCE_FEATURES = ("input_ids", "input_mask", "segment_ids")
BUCKET_WIDTH = 8  # Training: tokens per length bucket.
SORT_WINDOW_BATCHES = 32  # Eval/predict: batches sorted by length together.


def _real_length(features):
  return tf.reduce_sum(features["input_mask"], axis=-1)


def _trim_example(features):
  """Drops an example's padding (its ids/mask/segments past the last real token)."""
  length = _real_length(features)
  return {name: (t[:length] if name in SEQUENCE_FEATURES else t) for name, t in features.items()}


def _trim_batch(features):
  """Cuts a batch's columns past its longest real sequence."""
  length = tf.reduce_max(_real_length(features))
  return {name: (t[:, :length] if name in SEQUENCE_FEATURES else t) for name, t in features.items()}


def bucket_boundaries(seq_length: int, width: int = BUCKET_WIDTH) -> list[int]:
  """Length-bucket boundaries every `width` tokens, the last one past `seq_length`:
  bucket [b, b + width) is padded to b + width - 1 tokens (at most seq_length)."""
  inner = list(range(width + 1, seq_length + 1, width))
  return inner + [seq_length + 1]


def bucket_lengths(seq_length: int, width: int = BUCKET_WIDTH) -> list[int]:
  """The padded lengths training batches take with dynamic padding, one per bucket."""
  return [boundary - 1 for boundary in bucket_boundaries(seq_length, width)]


def file_based_dataset(
  input_file: str,
  seq_length: int,
  is_training: bool,
  drop_remainder: bool,
  batch_size: int,
  shuffle_buffer_size: int = 100,
  seed: int | None = None,
  dynamic_padding: bool = False,
  num_labels: int = 0,
  with_example_id: bool = False,
) -> tf.data.Dataset:
  """Google's pipeline: repeat -> shuffle(100) -> decode+batch when training.

  Eval/predict read the file once, in order. `shuffle_buffer_size` defaults
  to Google's 100 (a known weak shuffle for sorted files; raise it with
  --shuffle_buffer_size). A prefetch is added, which changes no order.

  With `dynamic_padding` the records are the same, but each batch holds
  examples of similar length and is cut to its longest real sequence:
  training batches come from length buckets `BUCKET_WIDTH` tokens wide
  (after the shuffle), padded to their bucket's top length; eval/predict sort each window of
  `SORT_WINDOW_BATCHES` batches by length, and give every example an
  `example_index` feature, its position in the file, so that predictions can
  be put back in input order (with `drop_remainder`, i.e. on TPU, the input
  order is kept and each batch only trimmed). The model's outputs for real
  tokens do not depend on the amount of padding (masked positions get -10000
  before the softmax), so only the compute changes.

  `num_labels` and `with_example_id` describe the records of a
  `features.RecordLayout` (see `name_to_features`).
  """
  spec = name_to_features(seq_length, num_labels, with_example_id)
  d = tf.data.TFRecordDataset(input_file)
  if is_training:
    d = d.repeat()
    d = d.shuffle(buffer_size=shuffle_buffer_size, seed=seed)
  d = d.map(
    lambda record: decode_record(record, spec),
    num_parallel_calls=tf.data.AUTOTUNE,
    deterministic=True,
  )
  if dynamic_padding and is_training:
    boundaries = bucket_boundaries(seq_length)
    d = d.map(_trim_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    d = d.bucket_by_sequence_length(
      element_length_func=lambda f: tf.shape(f["input_ids"])[0],
      bucket_boundaries=boundaries,
      bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
      # A few padded lengths only, so that the fused kernels compile a few times.
      pad_to_bucket_boundary=True,
      drop_remainder=drop_remainder,
    )
  elif dynamic_padding and not drop_remainder:
    # A finite set: sort each window of SORT_WINDOW_BATCHES batches by
    # length, then batch and trim. Only the batch that straddles two windows
    # mixes lengths, and only the very last batch is partial.
    d = d.enumerate().map(_with_index)
    d = d.batch(batch_size * SORT_WINDOW_BATCHES).map(_sorted_by_length)
    d = d.unbatch().batch(batch_size).map(_trim_batch)
  else:
    d = d.batch(batch_size, drop_remainder=drop_remainder)
    if dynamic_padding:
      d = d.map(_trim_batch)
  return d.prefetch(tf.data.AUTOTUNE)


def _with_index(index, features):
  return dict(features, example_index=tf.cast(index, tf.int32))


def _sorted_by_length(features):
  order = tf.argsort(_real_length(features), stable=True)
  return {name: tf.gather(t, order) for name, t in features.items()}


def file_based_input_fn_builder(
  input_file: str, seq_length: int, is_training: bool, drop_remainder: bool
):
  """Google's `input_fn` factory over a tf_record file, for old callers.

  The returned `input_fn(params)` reads `params["batch_size"]` (what the
  Estimator passed) and returns `file_based_dataset` with Google's settings:
  repeat and a 100-record shuffle when training, int32 features.
  """

  def input_fn(params):
    return file_based_dataset(
      input_file, seq_length, is_training, drop_remainder, batch_size=params["batch_size"]
    )

  return input_fn


def input_fn_builder(features, seq_length: int, is_training: bool, drop_remainder: bool):
  """Google's in-memory `input_fn` factory over a list of `InputFeatures`.

  `input_fn(params)` gives batches of `params["batch_size"]` dicts with
  int32 `input_ids`, `input_mask`, `segment_ids` [batch, seq_length] and
  `label_ids` [batch] (no `is_real_example`, as Google's); training repeats
  and shuffles 100 examples at a time.
  """
  columns = {
    "input_ids": [f.input_ids for f in features],
    "input_mask": [f.input_mask for f in features],
    "segment_ids": [f.segment_ids for f in features],
    "label_ids": [f.label_id for f in features],
  }

  def input_fn(params):
    tensors = {
      name: tf.constant(
        values,
        dtype=tf.int32,
        shape=[len(features)] + ([] if name == "label_ids" else [seq_length]),
      )
      for name, values in columns.items()
    }
    d = tf.data.Dataset.from_tensor_slices(tensors)
    if is_training:
      d = d.repeat().shuffle(buffer_size=100)
    return d.batch(params["batch_size"], drop_remainder=drop_remainder)

  return input_fn
