"""Per-token hidden states of a pre-trained BERT, as JSON lines (TF 2.20).

The flags, the input format and the output format are those of Google's
`extract_features.py` (google-research/bert):

    python extract_features.py --input_file=in.txt --output_file=out.jsonl \
      --vocab_file=$BERT_DIR/vocab.txt \
      --bert_config_file=$BERT_DIR/bert_config.json \
      --init_checkpoint=$BERT_DIR/bert_model.ckpt \
      --layers=-1,-2,-3,-4 --max_seq_length=128 --batch_size=8

Each input line is one example: a sentence, or a pair written `A ||| B`.
Each output line is `{"linex_index": i, "features": [{"token": ..., "layers":
[{"index": layer, "values": [...]}, ...]}, ...]}` for the i-th input line,
one entry per real token ([CLS] and [SEP] included, padding never).

The model is the TF2 face `bert.modeling.BertEncoder`, loaded strictly by
Google's variable names. Each batch is padded only to its own longest example
(the attention mask makes the values the same as with padding to
--max_seq_length), through one `tf.function` that is traced once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Sequence

from absl import app, flags
from absl import logging as absl_logging

from bert import errors
from bert import precision as precisions

FLAGS = flags.FLAGS

PROGRAM = "extract_features.py"

logger = logging.getLogger(__name__)


def _define(define, name: str, default, help_text: str) -> None:
  """Defines a flag unless an earlier import did (run_classifier.py shares
  eight of them, with the same types and defaults). `allow_override` lets a
  later run_classifier import replace ours instead of failing."""
  if name not in FLAGS:
    define(name, default, help_text, allow_override=True)


_define(
  flags.DEFINE_string,
  "input_file",
  None,
  "Text file to encode, one example per line; a line `A ||| B` is a sentence pair.",
)

_define(
  flags.DEFINE_string,
  "output_file",
  None,
  "Where to write the JSON lines (one object per input line).",
)

_define(
  flags.DEFINE_string,
  "layers",
  "-1,-2,-3,-4",
  "Comma-separated encoder layers to output; negative numbers count "
  "from the top (-1 is the last layer).",
)

_define(
  flags.DEFINE_string,
  "bert_config_file",
  None,
  "bert_config.json of the pre-trained model (its architecture).",
)

_define(
  flags.DEFINE_integer,
  "max_seq_length",
  128,
  "Longest input in WordPiece tokens, [CLS] and [SEP] included; longer "
  "examples are cut. Batches are padded only to their longest example.",
)

_define(
  flags.DEFINE_string,
  "init_checkpoint",
  None,
  "Checkpoint prefix of the pre-trained model, e.g. uncased_L-12_H-768_A-12/bert_model.ckpt.",
)

_define(flags.DEFINE_string, "vocab_file", None, "vocab.txt the model was pre-trained with.")

_define(
  flags.DEFINE_bool,
  "do_lower_case",
  True,
  "Lower-case (and strip accents from) the input: True for uncased models, False for cased ones.",
)

_define(flags.DEFINE_integer, "batch_size", 32, "Examples per forward pass.")

_define(
  flags.DEFINE_bool,
  "use_tpu",
  False,
  "Run on a Cloud TPU (named by --master) instead of the local GPU/CPU.",
)

_define(flags.DEFINE_string, "master", None, "[Optional] Address of the TPU to use with --use_tpu.")

_define(
  flags.DEFINE_integer,
  "num_tpu_cores",
  8,
  "With --use_tpu: the number of TPU cores expected (checked against the TPU found).",
)

_define(
  flags.DEFINE_bool,
  "use_one_hot_embeddings",
  False,
  "Look up word embeddings by a one-hot matmul instead of a gather "
  "(faster on TPUs, slower elsewhere).",
)


_define(
  lambda name, default, help_text, **kwargs: flags.DEFINE_enum(
    name, default, list(precisions.CHOICES), help_text, **kwargs
  ),
  "precision",
  "float32",
  "[Extra] What the encoder computes in: float32, or mixed_bfloat16 / mixed_float16 (the "
  "float32 weights, matmuls in 16 bits; values within about 1e-2 of float32's); auto picks "
  "mixed_bfloat16 where the matmuls have a bf16 unit (run_classifier.py's --precision).",
)


class InputError(errors.InputError):
  """A problem with an input file or the model; the message names the file (and line)."""


@dataclasses.dataclass
class InputExample:
  """One input line: `text_a`, and `text_b` for a `A ||| B` pair."""

  unique_id: int
  text_a: str
  text_b: str | None


@dataclasses.dataclass
class InputFeatures:
  """The model inputs of one example, unpadded (`input_mask` is all ones)."""

  unique_id: int
  tokens: list[str]
  input_ids: list[int]
  input_mask: list[int]
  input_type_ids: list[int]


_PAIR = re.compile(r"^(.*) \|\|\| (.*)$")


def _open(path: str, mode: str):
  """`open` (UTF-8, "\\n" kept as is in text mode), or `tf.io.gfile.GFile`
  for paths such as gs://bucket/file."""
  if "://" in path:
    import tensorflow as tf

    return tf.io.gfile.GFile(path, mode)
  if "b" in mode:
    return open(path, mode)
  return open(path, mode, encoding="utf-8", newline="")


def read_examples(input_file: str) -> list[InputExample]:
  """Reads one `InputExample` per line of `input_file` (UTF-8).

  The line is stripped; if it matches `^(.*) \\|\\|\\| (.*)$` the two groups
  are text_a and text_b (the last ` ||| ` splits), otherwise the whole line
  is text_a. unique_id is the 0-based line number. Lines end at "\\n" only.

  Raises:
    InputError: the file cannot be read, or a line is not valid UTF-8.
  """
  examples = []
  try:
    with _open(input_file, "rb") as reader:
      for line_number, raw in enumerate(reader, start=1):
        try:
          line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
          raise InputError(
            "%s:%d: not valid UTF-8 (byte 0x%02x at column %d)"
            % (input_file, line_number, raw[e.start], e.start + 1)
          ) from None
        line = line.strip()
        m = _PAIR.match(line)
        if m is None:
          text_a, text_b = line, None
        else:
          text_a, text_b = m.group(1), m.group(2)
        examples.append(InputExample(len(examples), text_a, text_b))
  except _file_errors() as e:
    raise InputError("%s: cannot read: %s" % (input_file, errors.os_reason(e))) from None
  return examples


def convert_example(example: InputExample, seq_length: int, tokenizer) -> InputFeatures:
  """Tokenizes `example` into `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`.

  Segment (input type) ids are 0 up to the first [SEP] and 1 after it. Too
  long inputs are cut to `seq_length` tokens as in run_classifier: a pair
  loses tokens from its longer side (from b when equal).
  """
  from classifier.features import fit_pair, lay_out

  tokens_a = tokenizer.tokenize(example.text_a)
  tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
  tokens_a = fit_pair(tokens_a, tokens_b, seq_length)
  tokens, input_type_ids = lay_out(tokens_a, tokens_b, "[CLS]", "[SEP]")
  input_ids = tokenizer.convert_tokens_to_ids(tokens)
  return InputFeatures(
    unique_id=example.unique_id,
    tokens=tokens,
    input_ids=input_ids,
    input_mask=[1] * len(input_ids),
    input_type_ids=input_type_ids,
  )


def log_features(feature: InputFeatures, seq_length: int) -> None:
  """Logs one example's inputs as Google's script did (padded for display)."""
  from bert import tokenization

  padding = [0] * (seq_length - len(feature.input_ids))
  logger.info("*** Example ***")
  logger.info("unique_id: %s", feature.unique_id)
  logger.info("tokens: %s", " ".join(tokenization.printable_text(x) for x in feature.tokens))
  for name in ("input_ids", "input_mask", "input_type_ids"):
    logger.info("%s: %s", name, " ".join(str(x) for x in getattr(feature, name) + padding))


def parse_layers(layers: str, num_hidden_layers: int) -> list[int]:
  """`"-1,-2"` -> `[-1, -2]`, each checked against the model's depth.

  Raises bert.errors.UsageError (a ValueError) for anything else.
  """
  try:
    indexes = [int(x) for x in layers.split(",")]
  except ValueError:
    raise errors.UsageError(
      "--layers=%s: expected comma-separated integers such as -1,-2,-3,-4" % layers
    ) from None
  for index in indexes:
    if not -num_hidden_layers <= index < num_hidden_layers:
      raise errors.UsageError(
        "--layers=%s: layer %d does not exist in a model with %d layers "
        "(use 0..%d, or -1..-%d from the top)"
        % (layers, index, num_hidden_layers, num_hidden_layers - 1, num_hidden_layers)
      )
  return indexes


def pad_batch(
  features: Sequence[InputFeatures], seq_length: int | None = None, batch_size: int | None = None
):
  """int32 arrays (input_ids, input_mask, input_type_ids), each [B, T].

  T is the longest example of the batch unless `seq_length` is given, and B
  is len(features) unless `batch_size` is given; the rest is zeros.
  """
  import numpy as np

  rows = batch_size or len(features)
  length = seq_length or max(len(f.input_ids) for f in features)
  arrays = [np.zeros([rows, length], np.int32) for _ in range(3)]
  for i, f in enumerate(features):
    n = len(f.input_ids)
    for array, values in zip(arrays, (f.input_ids, f.input_mask, f.input_type_ids)):
      array[i, :n] = values
  return tuple(arrays)


class LayerExtractor:
  """A `BertEncoder` with its checkpoint, returning the chosen layers.

  Call it on a list of `InputFeatures` to get a float32 array
  [B, K, T, H]: K = len(layer_indexes) in that order, T = the batch's longest
  example (or `static_shape`'s length), H = hidden size.
  """

  def __init__(
    self,
    bert_config,
    init_checkpoint: str,
    layer_indexes: Sequence[int],
    use_one_hot_embeddings: bool = False,
    strategy=None,
    static_shape: tuple[int, int] | None = None,
    precision: str = "float32",
  ):
    """Builds the encoder and loads `init_checkpoint` into it.

    Args:
      bert_config: `bert.modeling.BertConfig`.
      init_checkpoint: checkpoint prefix (or directory) in Google's names.
      layer_indexes: encoder layers to return (negative: from the top).
      use_one_hot_embeddings: see `bert.modeling.BertEncoder`.
      strategy: a `tf.distribute` strategy (TPU); None runs on the default
        device.
      static_shape: (batch size, sequence length) every batch is padded to
        (needed on TPUs); None pads each batch to its longest example.
      precision: what the encoder computes in (`bert.precision.COMPUTE_DTYPES`'
        names; the layers come back float32 whatever it is).

    Raises:
      bert.checkpoint.CheckpointError: the checkpoint is missing or does not
        fit the config (the pooler, which no output uses, may be absent).
      bert.errors.UsageError: with a strategy, a batch size that is not fixed
        or not a multiple of its replicas.
    """
    import tensorflow as tf

    from bert import checkpoint, modeling

    self.layer_indexes = list(layer_indexes)
    self.hidden_size = bert_config.hidden_size
    self.static_shape = static_shape
    scope = strategy.scope() if strategy is not None else (contextlib.nullcontext())
    with scope:
      self.encoder = modeling.BertEncoder(
        bert_config,
        use_one_hot_embeddings=use_one_hot_embeddings,
        compute_dtype=precisions.compute_dtype(precision),
      )
    variables = self.encoder.variables_by_name
    # Features from random weights would be worthless: no partial loading.
    loaded = checkpoint.load_variables(
      variables,
      init_checkpoint,
      required_prefixes=("bert/embeddings/", "bert/encoder/"),
      partial_hint="Is --init_checkpoint a BERT checkpoint of this --bert_config_file?",
    )
    logger.info("**** Trainable Variables ****")
    checkpoint.log_variables(variables.values(), loaded, log=logger.info)

    encoder, indexes = self.encoder, self.layer_indexes

    def layers(input_ids, input_mask, input_type_ids):
      out = encoder(input_ids, input_mask=input_mask, token_type_ids=input_type_ids, training=False)
      chosen = [out["all_encoder_layers"][i] for i in indexes]
      return tf.stack(chosen, axis=1)  # [B, K, T, H]

    spec = tf.TensorSpec([None, None], tf.int32)
    if strategy is None:
      self.forward = tf.function(layers, input_signature=[spec] * 3)
    else:
      replicas = strategy.num_replicas_in_sync
      if static_shape is None or static_shape[0] % replicas:
        raise errors.UsageError(
          "the batch size (%s) must be fixed and a multiple of "
          "the %d replicas" % (static_shape and static_shape[0], replicas)
        )
      per_replica = static_shape[0] // replicas

      def replica_layers(input_ids, input_mask, input_type_ids):
        # Every replica gets the whole batch and keeps its own rows.
        context = tf.distribute.get_replica_context()
        start = context.replica_id_in_sync_group * per_replica
        return layers(
          *[
            tf.slice(t, [start, 0], [per_replica, -1])
            for t in (input_ids, input_mask, input_type_ids)
          ]
        )

      def distributed(input_ids, input_mask, input_type_ids):
        out = strategy.run(replica_layers, args=(input_ids, input_mask, input_type_ids))
        return tf.concat(strategy.experimental_local_results(out), axis=0)

      # One static shape: traced once, and XLA sees no unknown dimension.
      self.forward = tf.function(distributed)

  def __call__(self, features: Sequence[InputFeatures]):
    """float32 numpy array [B, K, T, H] of the layers for `features`."""
    seq_length, batch_size = None, None
    if self.static_shape is not None:
      batch_size, seq_length = self.static_shape
      if len(features) > batch_size:
        raise ValueError(
          "%d examples do not fit the fixed batch size %d" % (len(features), batch_size)
        )
    arrays = pad_batch(features, seq_length, batch_size)
    return self.forward(*arrays).numpy()[: len(features)]


def round6(values) -> list:
  """`values` (any float array) as nested lists of `round(float(x), 6)`.

  Vectorised: rint(x * 1e6) / 1e6 is the double nearest to the rounded
  decimal, as Python's `round` returns. Where the product's own rounding
  error could pick the other integer (within 1e-6 of a tie, |x| >= 1e3, or
  not finite) Python's `round` decides, so the result is identical.
  """
  import numpy as np

  x = np.asarray(values, dtype=np.float64)
  scaled = x * 1e6
  rounded = np.rint(scaled) / 1e6
  with np.errstate(invalid="ignore"):  # inf and nan go to `round` below
    doubtful = (
      ~np.isfinite(x) | (np.abs(x) >= 1e3) | (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)
    )
  for index in zip(*np.nonzero(doubtful)):
    rounded[index] = round(float(x[index]), 6)
  return rounded.tolist()


def feature_json(feature: InputFeatures, layer_indexes: Sequence[int], values) -> str:
  """One output line (without "\\n") in Google's format.

  `values` is the example's [K, T, H] array; only its first
  len(feature.tokens) positions are written, each value rounded to 6 decimal
  places (as `round(float(x), 6)`), keys in Google's order.
  """
  rows = round6(values[:, : len(feature.tokens)])  # [K][T][H]
  tokens = []
  for position, token in enumerate(feature.tokens):
    layers = [
      {"index": layer_index, "values": rows[k][position]}
      for k, layer_index in enumerate(layer_indexes)
    ]
    tokens.append({"token": token, "layers": layers})
  return json.dumps({"linex_index": feature.unique_id, "features": tokens})


def _batches(items: Sequence, size: int) -> Iterable[Sequence]:
  for start in range(0, len(items), size):
    yield items[start : start + size]


def extract(
  examples: Sequence[InputExample],
  extractor: LayerExtractor,
  tokenizer,
  output_file: str,
  max_seq_length: int,
  batch_size: int,
) -> int:
  """Writes one JSON line per example to `output_file`; returns the count.

  The model runs on the next batch (in a helper thread) while this thread
  formats the current one. The file appears only when complete: it is
  written under a temporary name next to it and renamed at the end.
  """
  from concurrent import futures

  from bert import model_folder
  from classifier.features import Progress

  directory = os.path.dirname(output_file)
  if directory and "://" not in output_file:
    try:
      os.makedirs(directory, exist_ok=True)
    except OSError as e:
      raise errors.WriteError(errors.cannot("write", output_file, e)) from None
  progress = Progress("Extracting features", len(examples))
  done = written = 0
  with model_folder.atomic_write(output_file) as writer:

    def write(features, result) -> None:
      nonlocal done, written
      text = "".join(
        feature_json(f, extractor.layer_indexes, v) + "\n"
        for f, v in zip(features, result.result())
      )
      writer.write(text)
      if not done:
        _log_size(len(text.encode("utf-8")), len(features), len(examples), extractor)
      done += len(features)
      written += len(text.encode("utf-8"))
      progress.update(done)

    with futures.ThreadPoolExecutor(max_workers=1) as model_thread:
      pending = None  # (features, future of their layers)
      for batch in _batches(examples, batch_size):
        features = [convert_example(e, max_seq_length, tokenizer) for e in batch]
        for feature in features:
          if feature.unique_id < 5:
            log_features(feature, max_seq_length)
        running = (features, model_thread.submit(extractor, features))
        if pending is not None:
          write(*pending)
        pending = running
      if pending is not None:
        write(*pending)
  logger.info("Wrote %d lines, %s, to %s", done, _megabytes(written), output_file)
  return done


def _log_size(batch_bytes: int, batch_lines: int, total_lines: int, extractor) -> None:
  """Says how large the output will be, from the first batch, and how to make it smaller."""
  layers = len(extractor.layer_indexes)
  logger.info(
    "Each line holds every token's %d layer(s) of %d values as 6-decimal JSON numbers: "
    "%s a line here, about %s for all %d lines%s",
    layers,
    extractor.hidden_size,
    _kilobytes(batch_bytes / batch_lines),
    _megabytes(batch_bytes / batch_lines * total_lines),
    total_lines,
    (
      "; --layers=-1 writes 1/%d of it (the top layer), a smaller --max_seq_length fewer tokens"
      % layers
    )
    if layers > 1
    else "; a smaller --max_seq_length writes fewer tokens",
  )


def _kilobytes(num_bytes: float) -> str:
  return "%.1f KB" % (num_bytes / 1e3)


def _megabytes(num_bytes: float) -> str:
  return "%.1f MB" % (num_bytes / 1e6)


def _tpu_strategy(master: str | None, num_tpu_cores: int):
  from classifier.strategy import make_strategy

  strategy = make_strategy(use_tpu=True, master=master)
  if strategy.num_replicas_in_sync != num_tpu_cores:
    logger.warning(
      "--num_tpu_cores=%d but the TPU has %d cores; using %d.",
      num_tpu_cores,
      strategy.num_replicas_in_sync,
      strategy.num_replicas_in_sync,
    )
  return strategy


def _load_tokenizer(vocab_file: str, do_lower_case: bool):
  """`FullTokenizer` of `vocab_file`; a missing or unreadable file is an InputError."""
  from bert import tokenization

  try:
    return tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
  except _file_errors() as e:
    reason = errors.os_reason(e)
    raise InputError("%s: cannot read: %s" % (vocab_file, reason)) from None
  except UnicodeDecodeError as e:
    raise InputError("%s: not valid UTF-8: %s" % (vocab_file, e.reason)) from None


def _run() -> int:
  """Checks the flags, reads the input, loads the model, writes the output."""
  absl_logging.set_verbosity(max(absl_logging.INFO, absl_logging.get_verbosity()))
  if FLAGS.max_seq_length < 3:
    raise errors.UsageError(
      "--max_seq_length=%d: need at least 3 ([CLS] a [SEP])" % FLAGS.max_seq_length
    )
  if FLAGS.batch_size < 1:
    raise errors.UsageError("--batch_size=%d: must be positive" % FLAGS.batch_size)
  # The input first: its errors need no model (nor TensorFlow).
  examples = read_examples(FLAGS.input_file)
  logger.info("Read %d examples from %s", len(examples), FLAGS.input_file)

  from bert import tf_startup

  tf_startup.import_tensorflow()
  from bert import model_config, modeling

  bert_config = modeling.BertConfig.from_dict(model_config.read_bert_config(FLAGS.bert_config_file))
  layer_indexes = parse_layers(FLAGS.layers, bert_config.num_hidden_layers)
  positions = bert_config.max_position_embeddings
  if FLAGS.max_seq_length > positions:
    raise errors.UsageError(
      "--max_seq_length=%d: the model only has position "
      "embeddings for %d tokens" % (FLAGS.max_seq_length, positions)
    )
  tokenizer = _load_tokenizer(FLAGS.vocab_file, FLAGS.do_lower_case)

  strategy, static_shape = None, None
  if FLAGS.use_tpu:
    strategy = _tpu_strategy(FLAGS.master, FLAGS.num_tpu_cores)
    # XLA compiles one program per shape: pad every batch alike.
    static_shape = (FLAGS.batch_size, FLAGS.max_seq_length)
  precision, reason = precisions.resolve(FLAGS.precision, tpu=FLAGS.use_tpu)
  if reason:
    logger.info("Precision auto: %s (%s)", precision, reason)
  extractor = LayerExtractor(  # A bad checkpoint raises CheckpointError, an InputError.
    bert_config,
    FLAGS.init_checkpoint,
    layer_indexes,
    use_one_hot_embeddings=FLAGS.use_one_hot_embeddings,
    strategy=strategy,
    static_shape=static_shape,
    precision=precision,
  )
  count = extract(
    examples, extractor, tokenizer, FLAGS.output_file, FLAGS.max_seq_length, FLAGS.batch_size
  )
  logger.info("Wrote %d lines to %s", count, FLAGS.output_file)
  return 0


def _file_errors() -> tuple:
  """What opening, reading or writing a file raises: OSError, and TensorFlow's
  errors (gs:// paths go through tf.io.gfile) once TensorFlow is loaded."""
  found = (OSError,)
  if "tensorflow" in sys.modules:
    found += (sys.modules["tensorflow"].errors.OpError,)
  return found


def _one_line(error: BaseException) -> str:
  """The error's message on one line (tf's OpError: without the op trace)."""
  if isinstance(error, KeyError):
    return "KeyError: %s" % error
  text = " ".join(str(getattr(error, "message", None) or error).split())
  return text or type(error).__name__


def main(_) -> int:
  """Runs the extraction; returns the exit status.

  A mistake is one line on stderr: exit status 2 for a flag, 1 for a file or
  the model (the traceback is logged with --verbosity=1). Anything else is a
  bug and keeps its traceback.
  """
  try:
    return _run()
  except errors.ProjectError as e:
    logger.debug("Traceback:", exc_info=True)
    return errors.report(PROGRAM, e)


if __name__ == "__main__":
  flags.mark_flags_as_required(
    ["input_file", "vocab_file", "bert_config_file", "init_checkpoint", "output_file"]
  )
  app.run(main, flags_parser=errors.absl_flags_parser(PROGRAM))
