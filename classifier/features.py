"""Examples -> features -> `*.tf_record`, as Google's run_classifier.py.

Each record is a `tf.train.Example` with the int64 features `input_ids`,
`input_mask`, `segment_ids` (length max_seq_length), `label_ids` and
`is_real_example` (length 1), in that order. The records are encoded here
without TensorFlow (see `classifier.tfrecord`), deterministically.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from bert import model_folder, tokenization
from bert.console import format_seconds
from classifier import tfrecord
from processors import DataError, InputExample, InputFeatures, PaddingInputExample

logger = logging.getLogger(__name__)


def _truncate_seq_pair(tokens_a: list, tokens_b: list, max_length: int) -> None:
  """Shortens two token lists in place until together they hold at most `max_length` tokens.

  Each step drops the last token of whichever list is longer (of `tokens_b` when
  they are equally long), so a short text keeps its tokens while a long one gives
  up its tail.
  """
  while len(tokens_a) + len(tokens_b) > max_length:
    longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
    longer.pop()


def fit_pair(a: list, b: list | None, max_seq_length: int) -> list:
  """Google's truncation of a (pair of) token lists; returns `a`.

  With a non-empty `b` both are cut in place to `max_seq_length - 3` in all
  (room for [CLS], [SEP], [SEP]); otherwise `a` is cut to `max_seq_length - 2`.
  """
  if b:
    _truncate_seq_pair(a, b, max_seq_length - 3)
  elif len(a) > max_seq_length - 2:
    a = a[: max_seq_length - 2]
  return a


def lay_out(a: list, b: list | None, cls, sep) -> tuple[list, list]:
  """`[CLS] a [SEP]`, plus `b [SEP]` when `b` is non-empty, and its segment ids.

  Segment (token type) 0 covers [CLS], `a` and the first [SEP]; segment 1 covers
  `b` and the last [SEP]. For a = [how, old] and b = [ten, years]:

      sequence:    [CLS] how old [SEP] ten years [SEP]
      segment_ids:   0    0   0    0    1    1     1

  `cls` and `sep` are the marker tokens, or their ids when `a` and `b` hold ids.
  """
  sequence = [cls] + a + [sep]
  segment_ids = [0] * len(sequence)
  if b:
    sequence += b + [sep]
    segment_ids += [1] * (len(b) + 1)
  return sequence, segment_ids


def label_error(example, label_list) -> DataError:
  """The one-line error for an example whose label is not in `label_list`."""
  return DataError(
    "example %s: label %r is not one of get_labels() = %s (check the label "
    "column, or list every label in the processor's get_labels())"
    % (example.guid, example.label, list(label_list))
  )


@dataclasses.dataclass(frozen=True)
class RecordLayout:
  """What the records hold beyond Google's five features.

  multi_label: `label_ids` is a multi-hot vector over the label list (an
    example's label is a list of labels) instead of one index.
  doc_stride: texts longer than the sequence are split into overlapping
    windows starting every `doc_stride` tokens, one record each, with an
    `example_id` feature naming the example they came from (0: cut, as Google).
  """

  multi_label: bool = False
  doc_stride: int = 0

  @property
  def is_google(self) -> bool:
    """True when the records are exactly Google's."""
    return not self.multi_label and not self.doc_stride


GOOGLE_LAYOUT = RecordLayout()


def _label_values(example, label_map: dict, layout: RecordLayout, label_list) -> list[int]:
  """The `label_ids` values of a real example: [index], or a multi-hot vector."""
  if not layout.multi_label:
    if example.label not in label_map:
      raise label_error(example, label_list)
    return [label_map[example.label]]
  labels = example.label
  if isinstance(labels, str) or not isinstance(labels, (list, tuple, set, frozenset)):
    labels = [] if labels is None else [labels]
  hot = [0] * len(label_list)
  for label in labels:
    if label not in label_map:
      raise label_error(example, label_list)
    hot[label_map[label]] = 1
  return hot


def window_starts(length: int, room: int, stride: int) -> list[int]:
  """Where the windows of `room` tokens over `length` tokens start (run_squad's rule).

  Windows start every `stride` tokens until one reaches the end; a text that
  fits gives the single window [0].
  """
  starts = [0]
  while starts[-1] + room < length:
    starts.append(starts[-1] + min(room, stride))
  return starts


def _windows(ids_a: list, ids_b: list | None, max_seq_length: int, stride: int) -> list[tuple]:
  """(a, b) token or id lists of each window of an example.

  The second text is kept in every window (cut to half the sequence when it is
  longer); the first is split into windows over the room that is left.
  """
  if ids_b:
    ids_b = ids_b[: max(1, (max_seq_length - 3) // 2)]
    room = max_seq_length - 3 - len(ids_b)
  else:
    room = max_seq_length - 2
  if not stride or len(ids_a) <= room:
    return [(fit_pair(list(ids_a), list(ids_b) if ids_b else ids_b, max_seq_length), ids_b)]
  return [(ids_a[start : start + room], ids_b) for start in window_starts(len(ids_a), room, stride)]


def layout_records(
  ex_index: int,
  example,
  label_list: Sequence[str],
  max_seq_length: int,
  tokenizer: tokenization.FullTokenizer,
  layout: RecordLayout,
) -> list[bytes]:
  """The serialized records of one example under `layout` (several with windows)."""
  label_map = {label: i for i, label in enumerate(label_list)}
  markers = tuple(tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"]))
  return _layout_records(
    ex_index, example, label_list, label_map, markers, max_seq_length, tokenizer, layout
  )


def _layout_records(
  ex_index, example, label_list, label_map, markers, max_seq_length, tokenizer, layout
) -> list[bytes]:
  """`layout_records` with the label map and [CLS]/[SEP] ids made once by the caller."""
  width = len(label_list) if layout.multi_label else 1
  extra = [("example_id", [ex_index])] if layout.doc_stride else []
  if not _is_real(example):
    empty = _pad([], max_seq_length)
    names = ("input_ids", "input_mask", "segment_ids")
    return [
      tfrecord.encode_int64_example(
        [(name, empty) for name in names]
        + [("label_ids", [0] * width), ("is_real_example", [0])]
        + extra
      )
    ]
  labels = _label_values(example, label_map, layout, label_list)
  ids_a = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(example.text_a))
  ids_b = (
    tokenizer.convert_tokens_to_ids(tokenizer.tokenize(example.text_b)) if example.text_b else None
  )
  cls_id, sep_id = markers
  records = []
  for a, b in _windows(ids_a, ids_b, max_seq_length, layout.doc_stride):
    ids, segments = lay_out(a, b, cls_id, sep_id)
    records.append(
      tfrecord.encode_int64_example(
        [
          ("input_ids", _pad(ids, max_seq_length)),
          ("input_mask", _pad([1] * len(ids), max_seq_length)),
          ("segment_ids", _pad(segments, max_seq_length)),
          ("label_ids", labels),
          ("is_real_example", [1]),
        ]
        + extra
      )
    )
  return records


def _is_real(example) -> bool:
  """False for the `PaddingInputExample` fillers, True for examples that carry data."""
  return not isinstance(example, PaddingInputExample)


def _pad(values: list, length: int) -> list:
  """A copy of `values` with zeros appended up to `length` (ids, mask and segments pad with 0)."""
  return values + [0] * (length - len(values))


def _log_example(example, tokens: list, features: InputFeatures) -> None:
  """Google's INFO dump of a converted example; users' log scrapers read these lines."""
  spaced = lambda values: " ".join(str(value) for value in values)
  logger.info("*** Example ***")
  logger.info("guid: %s", example.guid)
  logger.info("tokens: %s", " ".join(tokenization.printable_text(token) for token in tokens))
  logger.info("input_ids: %s", spaced(features.input_ids))
  logger.info("input_mask: %s", spaced(features.input_mask))
  logger.info("segment_ids: %s", spaced(features.segment_ids))
  logger.info("label: %s (id = %d)", example.label, features.label_id)


def convert_single_example(
  ex_index: int,
  example: InputExample | PaddingInputExample,
  label_list: Sequence[str],
  max_seq_length: int,
  tokenizer: tokenization.FullTokenizer,
  log_example: bool | None = None,
) -> InputFeatures:
  """Tokenizes one example and lays it out as `max_seq_length`-long model inputs.

  Output and log lines are Google's. A label missing from `label_list` raises
  `DataError` naming the example, where Google's code raised a bare KeyError.
  `log_example` chooses whether the example is logged; by default the first five
  (`ex_index < 5`) are. A `PaddingInputExample` becomes all-zero features with
  `is_real_example=False`.
  """
  if not _is_real(example):
    empty = [_pad([], max_seq_length) for _ in range(3)]
    return InputFeatures(*empty, label_id=0, is_real_example=False)
  label_ids = {label: index for index, label in enumerate(label_list)}
  tokens_a = tokenizer.tokenize(example.text_a)
  tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
  tokens_a = fit_pair(tokens_a, tokens_b, max_seq_length)
  tokens, segments = lay_out(tokens_a, tokens_b, "[CLS]", "[SEP]")
  ids = tokenizer.convert_tokens_to_ids(tokens)
  input_ids = _pad(ids, max_seq_length)
  input_mask = _pad([1] * len(ids), max_seq_length)  # Attention skips the 0s.
  segment_ids = _pad(segments, max_seq_length)
  assert len(input_ids) == len(input_mask) == len(segment_ids) == max_seq_length
  if example.label not in label_ids:
    raise label_error(example, label_list)
  features = InputFeatures(input_ids, input_mask, segment_ids, label_ids[example.label])
  if log_example is None:
    log_example = ex_index < 5
  if log_example:
    _log_example(example, tokens, features)
  return features


# Google's "Writing example i of n" progress line comes every this many examples.
_LOG_EVERY = 10000


def convert_examples_to_features(
  examples: Sequence,
  label_list: Sequence[str],
  max_seq_length: int,
  tokenizer: tokenization.FullTokenizer,
) -> list[InputFeatures]:
  """`convert_single_example` over a whole list, kept in memory (for `input_fn_builder`)."""
  total = len(examples)
  converted = []
  for ex_index, example in enumerate(examples):
    if ex_index % _LOG_EVERY == 0:
      logger.info("Writing example %d of %d", ex_index, total)
    converted.append(
      convert_single_example(ex_index, example, label_list, max_seq_length, tokenizer)
    )
  return converted


def serialize_features(feature: InputFeatures) -> bytes:
  """The `tf.train.Example` bytes of one `InputFeatures`."""
  return tfrecord.encode_int64_example(
    [
      ("input_ids", feature.input_ids),
      ("input_mask", feature.input_mask),
      ("segment_ids", feature.segment_ids),
      ("label_ids", [feature.label_id]),
      ("is_real_example", [int(feature.is_real_example)]),
    ]
  )


class Progress:
  """Logs `what: i/n (x/s, ETA)` at most every `interval` seconds."""

  def __init__(self, what: str, total: int, unit: str = "examples", interval: float = 10.0):
    self.what, self.total, self.unit, self.interval = what, total, unit, interval
    self.start = self.last = time.time()

  def update(self, done: int, extra: str = "") -> None:
    """Logs the progress line if `interval` has passed since the last one, or at the end."""
    now = time.time()
    if now - self.last < self.interval and done < self.total:
      return
    self.last = now
    elapsed = max(now - self.start, 1e-9)
    rate = done / elapsed
    eta = (self.total - done) / rate if rate > 0 else float("inf")
    logger.info(
      "%s: %d/%d %s (%.1f %s/s, ETA %s)%s",
      self.what,
      done,
      self.total,
      self.unit,
      rate,
      self.unit,
      format_seconds(eta),
      extra,
    )


# Cap on the distinct (length, second-segment length, label) tails that one
# `record_encoder` keeps encoded.
_MAX_CACHED_TAILS = 1 << 14


def _padded_record(
  input_ids: list, segment_ids: list, max_seq_length: int, label_id: int, tails: dict
) -> bytes:
  """`serialize_features` of a real example's unpadded ids and segment ids.

  Padding, mask and segment ids each encode to one byte a value, and every
  feature after `input_ids` depends only on (length, number of second-segment
  tokens, label): those are encoded once and remembered in `tails`.
  """
  n = len(input_ids)
  assert n <= max_seq_length
  padding = b"\x00" * (max_seq_length - n)
  key = (n, sum(segment_ids), label_id)
  tail = tails.get(key)
  if tail is None:
    tail = b"".join(
      [
        tfrecord.int64_feature_entry("input_mask", b"\x01" * n + padding),
        tfrecord.int64_feature_entry("segment_ids", bytes(segment_ids) + padding),
        tfrecord.int64_feature_entry("label_ids", tfrecord.packed_varints([label_id])),
        tfrecord.int64_feature_entry("is_real_example", b"\x01"),
      ]
    )
    if len(tails) < _MAX_CACHED_TAILS:
      tails[key] = tail
  return tfrecord.example_from_entries(
    [tfrecord.int64_feature_entry("input_ids", tfrecord.packed_varints(input_ids) + padding), tail]
  )


def _has_fast_ids(tokenizer) -> bool:
  """Whether `tokenizer` is a stock FullTokenizer (so `tokenize_to_ids`
  equals `convert_tokens_to_ids(tokenize(...))`) whose vocab has [CLS]/[SEP]."""
  full = tokenization.FullTokenizer
  cls = type(tokenizer)
  return (
    isinstance(tokenizer, full)
    and cls.tokenize is full.tokenize
    and cls.convert_tokens_to_ids is full.convert_tokens_to_ids
    and type(tokenizer.wordpiece_tokenizer) is tokenization.WordpieceTokenizer
    and tokenizer.wordpiece_tokenizer.vocab is tokenizer.vocab
    and "[CLS]" in tokenizer.vocab
    and "[SEP]" in tokenizer.vocab
  )


def record_encoder(
  label_list: Sequence[str],
  max_seq_length: int,
  tokenizer: tokenization.FullTokenizer,
  layout: RecordLayout = GOOGLE_LAYOUT,
) -> Callable[[int, InputExample | PaddingInputExample], bytes | list[bytes]]:
  """`encode(ex_index, example) -> bytes`, equal byte for byte to
  `serialize_features(convert_single_example(...))` (without its log).

  For a stock `FullTokenizer` the ids are built directly, without token
  strings or padded lists; any other tokenizer takes Google's path. Under a
  layout other than Google's, `encode` returns the list of `layout_records`.
  """
  if not layout.is_google:  # Label map and marker ids made once, not per example.
    label_map = {label: i for i, label in enumerate(label_list)}
    markers = tuple(tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"]))
    return lambda ex_index, example: _layout_records(
      ex_index, example, label_list, label_map, markers, max_seq_length, tokenizer, layout
    )

  def google_path(ex_index, example):
    return serialize_features(
      convert_single_example(
        ex_index, example, label_list, max_seq_length, tokenizer, log_example=False
      )
    )

  if not _has_fast_ids(tokenizer):
    return google_path
  label_map = {label: i for i, label in enumerate(label_list)}
  cls_id, sep_id = tokenizer.vocab["[CLS]"], tokenizer.vocab["[SEP]"]
  to_ids = tokenizer.tokenize_to_ids
  tails: dict = {}

  def encode(ex_index, example):
    if not _is_real(example):
      return google_path(ex_index, example)
    ids_a = to_ids(example.text_a)
    ids_b = to_ids(example.text_b) if example.text_b else None
    ids_a = fit_pair(ids_a, ids_b, max_seq_length)
    input_ids, segment_ids = lay_out(ids_a, ids_b, cls_id, sep_id)
    label_id = label_map.get(example.label)
    if label_id is None:
      raise label_error(example, label_list)
    return _padded_record(input_ids, segment_ids, max_seq_length, label_id, tails)

  return encode


def _framed_records(examples, start_index, encode) -> tuple[bytes, int]:
  """TFRecord frames of a slice of examples (first index `start_index`),
  each encoded by a `record_encoder`, and how many records they are."""
  framed = []
  for i, example in enumerate(examples):
    records = encode(start_index + i, example)
    for record in [records] if isinstance(records, bytes) else records:
      framed.append(tfrecord.frame_record(record))
  return b"".join(framed), len(framed)


_WORKER_STATE: dict = {}


def _init_worker(label_list, max_seq_length, tokenizer, layout) -> None:
  _WORKER_STATE["encode"] = record_encoder(label_list, max_seq_length, tokenizer, layout)


def _convert_chunk(args) -> str:
  """Worker: converts one chunk into the file `path`, and returns `path`.

  (Handing megabytes back through the pool's pipe would keep the parent,
  which converts chunks too, waiting on the GIL.)
  """
  start_index, examples, path = args
  data, records = _framed_records(examples, start_index, _WORKER_STATE["encode"])
  with open(path, "wb") as f:
    f.write(data)
  return path, records


def default_num_workers(num_examples: int) -> int:
  """Worker processes worth starting for `num_examples` (1: convert inline)."""
  if num_examples < PARALLEL_MIN_EXAMPLES:
    return 1
  return max(1, min(os.cpu_count() or 1, 16))


PARALLEL_MIN_EXAMPLES = 20000
CHUNK_SIZE = 2000


def _chunks_in_order(
  examples, label_list, max_seq_length, tokenizer, num_workers, scratch_dir, layout
) -> Iterator[tuple[int, tuple[bytes, int]]]:
  """(examples done, (framed bytes, record count)) per chunk, in input order.

  `num_workers` processes convert: this one and `num_workers - 1` spawned
  ones, which write each chunk to a file in `scratch_dir`. This process keeps
  4 chunks per worker in flight and converts a chunk itself whenever they are
  all taken, so it works while the workers start up too. At most
  `4 * num_workers` chunks wait to be written, so memory stays flat however
  long the input is.
  """
  starts = range(0, len(examples), CHUNK_SIZE)
  encode = record_encoder(label_list, max_seq_length, tokenizer, layout)
  if num_workers <= 1:
    for start in starts:
      chunk = examples[start : start + CHUNK_SIZE]
      yield start + len(chunk), _framed_records(chunk, start, encode)
    return
  spawned = num_workers - 1
  context = multiprocessing.get_context("spawn")
  with context.Pool(
    spawned, initializer=_init_worker, initargs=(label_list, max_seq_length, tokenizer, layout)
  ) as pool:
    pending = collections.deque()  # (done, bytes or AsyncResult of a path)
    for start in starts:
      chunk = examples[start : start + CHUNK_SIZE]
      if sum(not _is_ready(r) for _, r in pending) < 4 * spawned:
        path = os.path.join(scratch_dir, "chunk-%d" % start)
        result = pool.apply_async(_convert_chunk, ((start, chunk, path),))
      else:
        result = _framed_records(chunk, start, encode)
      pending.append((start + len(chunk), result))
      while pending and (len(pending) > 4 * num_workers or _is_ready(pending[0][1])):
        yield _collect(*pending.popleft())
    while pending:
      yield _collect(*pending.popleft())


def _is_ready(result) -> bool:
  return isinstance(result, tuple) or result.ready()


def _collect(done: int, result) -> tuple[int, tuple[bytes, int]]:
  """(done, (bytes, records)) of a chunk converted here or by a worker (whose file goes)."""
  if isinstance(result, tuple):
    return done, result
  path, records = result.get()
  with open(path, "rb") as f:
    data = f.read()
  os.remove(path)
  return done, (data, records)


def file_based_convert_examples_to_features(
  examples: Sequence,
  label_list: Sequence[str],
  max_seq_length: int,
  tokenizer: tokenization.FullTokenizer,
  output_file: str,
  num_workers: int | None = None,
  layout: RecordLayout = GOOGLE_LAYOUT,
) -> int:
  """Writes the examples' features to the TFRecord file `output_file`, one record each
  (one per window under a `layout` with `doc_stride`).

  `num_workers` processes (this one included) tokenize in parallel (None:
  one per core for large inputs); the file is the same byte for byte whatever
  the number. The file appears only when complete (written under a temporary
  name, then renamed). Returns the number of records written.
  """
  if num_workers is None or num_workers <= 0:
    num_workers = default_num_workers(len(examples))
  if layout.is_google:
    for ex_index, example in enumerate(examples[:5]):
      # Google's log of the first 5 examples (workers log nothing).
      convert_single_example(ex_index, example, label_list, max_seq_length, tokenizer)
  logger.info(
    "Writing %d examples to %s (%d process%s)",
    len(examples),
    output_file,
    num_workers,
    "es" if num_workers > 1 else "",
  )
  progress = Progress("Converting to %s" % os.path.basename(output_file), len(examples))
  scratch_dir = (
    tempfile.mkdtemp(
      prefix="%s.chunks-%d-" % (os.path.basename(output_file), os.getpid()),
      dir=os.path.dirname(output_file) or None,
    )
    if num_workers > 1
    else None
  )
  written = 0
  try:
    with model_folder.atomic_write(output_file, "wb") as writer:
      for done, (framed, records) in _chunks_in_order(
        examples, label_list, max_seq_length, tokenizer, num_workers, scratch_dir, layout
      ):
        writer.write(framed)  # Whole TFRecord frames.
        written += records
        progress.update(done)
  finally:
    if scratch_dir:
      shutil.rmtree(scratch_dir, ignore_errors=True)
  if written != len(examples):
    logger.info("%d examples became %d windows (--doc_stride)", len(examples), written)
  return written


def first_unknown_label(
  examples: Iterable, label_list: Sequence[str], multi_label: bool = False
) -> tuple[object, object] | None:
  """The first real example with a label not in `label_list`, and that label (None: all known).

  With `multi_label`, an example's label is a list (or one label) whose every
  member must be known.
  """
  known = set(label_list)
  for example in filter(_is_real, examples):
    labels = example.label
    if multi_label and isinstance(labels, (list, tuple, set, frozenset)):
      unknown = [label for label in labels if label not in known]
    else:
      try:
        unknown = [] if labels in known else [labels]
      except TypeError:  # A list label in a single-label task.
        unknown = [labels]
    if unknown:
      return example, unknown[0]
  return None
