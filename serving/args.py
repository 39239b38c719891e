"""Flags of `bert-serving-start` and `bert-serving-terminate`.

The flags, their single-dash spelling, defaults and `dest`s are those of
bert-as-service 1.10.0, so existing command lines keep working. Additions:
`-ip` (bind address, 127.0.0.1 by default), `-allow_remote_termination`, the
CLASSIFICATION pooling strategy (with `-multi_label_threshold` for
multi-label models), and limits that keep one client from
exhausting the server (`-max_batch_texts`, `-max_request_bytes`,
`-worker_timeout`, `-http_max_clients`, `-http_timeout`), `-backend`, `-onnx_dir` and
`-precision` (what the TensorFlow model computes in). Flags this server
cannot honour are refused by `check_supported`, never silently ignored. A
command line argparse cannot parse is reported in one line, exit status 2.

No TensorFlow here: `bert-serving-start --help` must be fast.
"""

from __future__ import annotations

import argparse
import sys

from bert import errors
from bert import precision as precisions
from serving import SERVER_VERSION
from serving.pooling import PoolingStrategy

# -backend values; the ONNX Runtime ones are listed in onnx_bert.runtime.BACKENDS too.
BACKENDS = ("tensorflow", "onnxruntime", "onnxruntime_int8")

# Flags that exist in bert-as-service 1.10.0 but that this server refuses.
UNSUPPORTED = {
  "no_position_embeddings": "-no_position_embeddings is not supported: bert.modeling.BertEncoder "
  "always uses position embeddings",
}


class UsageError(errors.UsageError):
  """A flag value this server cannot work with (exit status 2); the message is one line."""


DEFAULT_MAX_SEQ_LEN = 25


class _LengthNotGiven(int):
  """bert-as-service's default -max_seq_len (25), told apart from a 25 that was typed."""


# -max_seq_len not given: the trained model's length, else 25 (see `apply_trained_settings`).
FROM_MODEL = _LengthNotGiven(DEFAULT_MAX_SEQ_LEN)


def check_max_seq_len(value: str):
  """`-max_seq_len`: an int > 3, or NONE/None for a per-batch length."""
  if value.lower() == "none":
    return None
  try:
    n = int(value)
  except ValueError:
    raise argparse.ArgumentTypeError("%r is not an int or NONE" % value) from None
  if n <= 3:
    raise argparse.ArgumentTypeError("%d must be > 3 to fit [CLS], [SEP] and a token" % n)
  return n


def _strategy(value: str) -> PoolingStrategy:
  try:
    return PoolingStrategy.from_string(value)
  except ValueError as e:
    raise argparse.ArgumentTypeError(str(e)) from None


def get_args_parser() -> argparse.ArgumentParser:
  """The `bert-serving-start` parser."""
  parser = errors.ArgumentParser(
    prog="bert-serving-start",
    description="Start a BertServer for serving (bert-as-service 1.10.0 protocol, TensorFlow 2)",
    add_help=False,
  )
  _add_help(parser)

  group = parser.add_argument_group(
    "File Paths", "config the path, checkpoint and filename of a pretrained/fine-tuned BERT model"
  )
  group.add_argument(
    "-model_dir",
    type=str,
    required=True,
    help="directory of a pretrained BERT model; vocab.txt and the config are always read from here",
  )
  group.add_argument(
    "-tuned_model_dir",
    type=str,
    help="directory of a fine-tuned BERT model (e.g. a "
    "run_classifier output_dir); the checkpoint is read "
    "from here instead",
  )
  group.add_argument(
    "-ckpt_name",
    type=str,
    default="bert_model.ckpt",
    help="checkpoint prefix; when absent, the newest "
    "<prefix>-N (or, for the default, the newest "
    "model.ckpt-N) is used",
  )
  group.add_argument(
    "-config_name",
    type=str,
    default="bert_config.json",
    help="filename of the JSON config file for BERT model",
  )
  group.add_argument(
    "-graph_tmp_dir",
    type=str,
    default=None,
    help="accepted for compatibility; no graph file is written",
  )

  group = parser.add_argument_group("BERT Parameters", "config how BERT model and pooling works")
  group.add_argument(
    "-max_seq_len",
    type=check_max_seq_len,
    default=FROM_MODEL,
    help="maximum length of a sequence, [CLS]/[SEP] "
    "included; longer ones are cut on the right. NONE: "
    "the longest sequence of each batch. Default: the max_seq_length the "
    "model folder's run_config.json records (what it was trained with), else "
    "%d" % DEFAULT_MAX_SEQ_LEN,
  )
  group.add_argument(
    "-cased_tokenization",
    dest="do_lower_case",
    action="store_false",
    default=True,
    help="do not lowercase or strip accents (cased models; the default too for a model "
    "folder whose run_config.json records do_lower_case false)",
  )
  group.add_argument(
    "-pooling_layer",
    type=int,
    nargs="+",
    default=[-2],
    help="encoder layer(s) to pool: -1 is the last, -2 the "
    "second-to-last; several are concatenated",
  )
  group.add_argument(
    "-pooling_strategy",
    type=_strategy,
    default=PoolingStrategy.REDUCE_MEAN,
    choices=list(PoolingStrategy),
    help="the pooling strategy for generating encoding "
    "vectors; CLASSIFICATION returns the fine-tuned "
    "classifier's probabilities",
  )
  group.add_argument(
    "-multi_label_threshold",
    type=float,
    default=None,
    help="CLASSIFICATION on a multi-label model: a label is predicted when its "
    "probability is at least this (default: the threshold the model folder "
    "records, else 0.5)",
  )
  group.add_argument(
    "-mask_cls_sep",
    action="store_true",
    default=False,
    help="masking the embedding on [CLS] and [SEP] with zero (they are also hidden from attention)",
  )
  group.add_argument(
    "-no_special_token",
    action="store_true",
    default=False,
    help="tokenized single-sequence input gets no [CLS]/[SEP]",
  )
  group.add_argument(
    "-show_tokens_to_client",
    action="store_true",
    default=False,
    help="sending tokenization results to client",
  )
  group.add_argument(
    "-no_position_embeddings", action="store_true", default=False, help="not supported (refused)"
  )

  group = parser.add_argument_group(
    "Serving Configs", "config how server utilizes GPU/CPU resources"
  )
  group.add_argument(
    "-ip",
    "-bind",
    dest="ip",
    type=str,
    default="127.0.0.1",
    help="address to bind the ports to; 0.0.0.0 (or ::) serves other hosts",
  )
  group.add_argument(
    "-port",
    "-port_in",
    "-port_data",
    dest="port",
    type=int,
    default=5555,
    help="server port for receiving data from client (0: a free port)",
  )
  group.add_argument(
    "-port_out",
    "-port_result",
    dest="port_out",
    type=int,
    default=5556,
    help="server port for sending result to client (0: a free port)",
  )
  group.add_argument(
    "-http_port", type=int, default=None, help="server port for receiving HTTP requests"
  )
  group.add_argument(
    "-http_max_connect", type=int, default=10, help="maximum number of concurrent HTTP requests"
  )
  group.add_argument(
    "-http_max_clients",
    type=int,
    default=128,
    help="HTTP connections kept open at once, idle ones "
    "included; further ones are answered 503. Never more "
    "than a quarter of the open-file limit, so that the "
    "ZeroMQ ports keep working (default %(default)s)",
  )
  group.add_argument(
    "-http_timeout",
    type=float,
    default=30.0,
    help="seconds an HTTP connection may stay silent (idle, "
    "or in the middle of a request) before it is closed (default "
    "%(default)s)",
  )
  group.add_argument(
    "-cors", type=str, default="*", help='setting "Access-Control-Allow-Origin" for HTTP requests'
  )
  group.add_argument(
    "-num_worker", type=int, default=1, help="number of server instances (worker processes)"
  )
  group.add_argument(
    "-max_batch_size",
    type=int,
    default=256,
    help="maximum number of sequences handled by each worker at once",
  )
  group.add_argument(
    "-priority_batch_size",
    type=int,
    default=16,
    help="requests of at most this many sequences are scheduled before larger ones",
  )
  group.add_argument(
    "-max_batch_texts",
    type=int,
    default=10000,
    help="largest number of texts one request may hold; "
    "larger requests get an error reply (default %(default)s)",
  )
  group.add_argument(
    "-max_request_bytes",
    type=int,
    default=64 << 20,
    help="largest request body in bytes (ZeroMQ and HTTP); "
    "larger requests get an error reply (default "
    "%(default)s)",
  )
  group.add_argument(
    "-worker_timeout",
    type=float,
    default=600.0,
    help="seconds a worker may spend on one batch; a worker "
    "that takes longer is killed, restarted and its batch "
    "re-run; loading the model may take as long, but at least 600 s "
    "(default %(default)s; 0: wait forever)",
  )
  group.add_argument(
    "-cpu", action="store_true", default=False, help="running on CPU (default on GPU)"
  )
  group.add_argument(
    "-xla", action="store_true", default=False, help="compile the model with XLA (jit_compile)"
  )
  group.add_argument(
    "-backend",
    choices=BACKENDS,
    default="tensorflow",
    help="what runs the model: TensorFlow, or ONNX Runtime on the bert-export-onnx model "
    "(float32, or int8 weights), exported on first use when -onnx_dir has none",
  )
  group.add_argument(
    "-precision",
    choices=precisions.CHOICES,
    default="float32",
    help="what -backend tensorflow computes in: float32, or mixed_bfloat16 / mixed_float16 "
    "(float32 weights, 16-bit matmuls; replies within about 1e-2 of float32's); auto: "
    "mixed_bfloat16 where the matmuls have a bf16 unit (AMX-BF16 or AVX512-BF16 CPUs, GPUs "
    "of compute capability 8.0+), else float32",
  )
  group.add_argument(
    "-onnx_dir",
    type=str,
    default=None,
    help="the ONNX export for -backend onnxruntime* (default: onnx/ beside the checkpoint)",
  )
  group.add_argument("-fp16", action="store_true", default=False, help="reply with float16 arrays")
  group.add_argument(
    "-gpu_memory_fraction",
    type=float,
    default=0.5,
    help="accepted for compatibility; GPU memory grows on demand",
  )
  group.add_argument(
    "-device_map",
    type=int,
    nargs="+",
    default=[],
    help="specify the list of GPU device ids that will be used (id starts from 0)",
  )
  group.add_argument(
    "-prefetch_size",
    type=int,
    default=10,
    help="accepted for compatibility; batches are dispatched to idle workers",
  )
  group.add_argument(
    "-fixed_embed_length",
    action="store_true",
    default=False,
    help="with -max_seq_len NONE and -pooling_strategy NONE, reply T = max_position_embeddings",
  )
  group.add_argument(
    "-allow_remote_termination",
    action="store_true",
    default=False,
    help="accept TERMINATION from any host (default: only from loopback)",
  )

  parser.add_argument("-verbose", action="store_true", default=False, help="turn on debug logging")
  parser.add_argument("-version", action="version", version="%(prog)s " + SERVER_VERSION)
  return parser


def get_shutdown_parser() -> argparse.ArgumentParser:
  """The `bert-serving-terminate` parser."""
  parser = errors.ArgumentParser(
    prog="bert-serving-terminate",
    description="Shutting down a BertServer instance running on a specific port",
    add_help=False,
  )
  _add_help(parser)
  parser.add_argument(
    "-ip", type=str, default="localhost", help="the ip address that a BertServer is running on"
  )
  parser.add_argument(
    "-port",
    "-port_in",
    "-port_data",
    dest="port",
    type=int,
    required=True,
    help="the port that a BertServer is running on",
  )
  parser.add_argument(
    "-timeout",
    type=int,
    default=5000,
    help="milliseconds to wait for the server to take the request (it then closes its port)",
  )
  return parser


def _add_help(parser: argparse.ArgumentParser) -> None:
  """-h, --help and bert-as-service's single-dash -help."""
  parser.add_argument(
    "-h", "-help", "--help", action="help", help="show this help message and exit"
  )


def apply_trained_settings(args: argparse.Namespace, files, log) -> None:
  """Fills the flags left to the model folder from what it records, and logs why.

  A run_classifier.py output folder records in run_config.json how its
  texts became inputs; serving them the same way gives the answers the run
  itself gave (test_results.tsv). `-max_seq_len` and `-cased_tokenization`
  not given take the recorded max_seq_length and do_lower_case (else
  bert-as-service's 25 and lower casing); CLASSIFICATION on a model trained
  with --doc_stride cuts long texts into the same windows and pools their
  logits as --window_pooling did. Sets `args.doc_stride` and
  `args.window_pooling` (0 and "mean" when there are no windows).

  Args:
    args: parsed flags, changed in place; a second call changes nothing.
    files: `serving.files.ModelFiles` (its `trained` and `settings_file`).
    log: where to say which values came from the folder.

  Raises:
    UsageError: windows with -max_seq_len NONE, -mask_cls_sep or
      -no_special_token (inputs the classifier was not trained on).
  """
  if getattr(args, "doc_stride", None) is not None:
    return  # applied already (the CLI before the server)
  trained, source = files.trained, files.settings_file
  recorded_length = trained.get("max_seq_length")
  if args.max_seq_len is FROM_MODEL:
    if recorded_length is not None:
      args.max_seq_len = recorded_length
      log.info(
        "max_seq_len %d: the max_seq_length the model was trained with (%s); "
        "-max_seq_len overrides it",
        recorded_length,
        source,
      )
    else:
      args.max_seq_len = DEFAULT_MAX_SEQ_LEN
  elif recorded_length is not None and args.max_seq_len != recorded_length:
    log.warning(
      "-max_seq_len %s but the model was trained with max_seq_length %d (%s): "
      "answers can differ from the run's own predictions",
      args.max_seq_len,
      recorded_length,
      source,
    )
  recorded_case = trained.get("do_lower_case")
  if recorded_case is False and args.do_lower_case:  # there is no flag to force lower case
    args.do_lower_case = False
    log.info("cased tokenization: the model was trained with do_lower_case false (%s)", source)
  elif recorded_case and not args.do_lower_case:
    log.warning(
      "-cased_tokenization but the model was trained with do_lower_case true (%s): "
      "answers can differ from the run's own predictions",
      source,
    )
  stride = trained.get("doc_stride", 0)
  args.doc_stride, args.window_pooling = 0, "mean"
  if not stride:
    return
  if args.pooling_strategy != PoolingStrategy.CLASSIFICATION:
    log.info(
      "the model was trained with --doc_stride %d: -pooling_strategy %s encodes "
      "each text's first %s tokens only",
      stride,
      args.pooling_strategy,
      args.max_seq_len,
    )
    return
  for flag, refused in (
    ("-max_seq_len NONE", args.max_seq_len is None),
    ("-mask_cls_sep", args.mask_cls_sep),
    ("-no_special_token", args.no_special_token),
  ):
    if refused:
      raise UsageError(
        "%s cannot be used with CLASSIFICATION on a model trained with --doc_stride "
        "%d (%s): its texts are cut into the windows it was trained on" % (flag, stride, source)
      )
  args.doc_stride = stride
  args.window_pooling = trained.get("window_pooling", "mean")
  log.info(
    "CLASSIFICATION in windows, as the model was trained (%s): texts longer than "
    "max_seq_len %d are cut every %d tokens and the windows' logits pooled by %s",
    source,
    args.max_seq_len,
    stride,
    args.window_pooling,
  )


def check_supported(args: argparse.Namespace) -> None:
  """Raises UsageError for refused flags and values that cannot work."""
  for name, message in UNSUPPORTED.items():
    if getattr(args, name):
      raise UsageError(message)
  for name in (
    "num_worker",
    "max_batch_size",
    "http_max_connect",
    "http_max_clients",
    "max_batch_texts",
    "max_request_bytes",
  ):
    if getattr(args, name) < 1:
      raise UsageError("-%s must be >= 1" % name)
  if args.worker_timeout < 0:
    raise UsageError("-worker_timeout must be >= 0 (0: no limit)")
  if args.http_timeout <= 0:
    raise UsageError("-http_timeout must be > 0")
  if args.priority_batch_size < 0:
    raise UsageError("-priority_batch_size must be >= 0")
  ports = [("-port", args.port), ("-port_out", args.port_out)]
  if args.http_port is not None:
    ports.append(("-http_port", args.http_port))
  for flag, port in ports:
    if not 0 <= port <= 65535:
      raise UsageError("%s %d is not a TCP port" % (flag, port))
  used = [p for _, p in ports if p]
  if len(used) != len(set(used)):
    raise UsageError("-port, -port_out and -http_port must differ")
  if not 0.0 < args.gpu_memory_fraction <= 1.0:
    raise UsageError("-gpu_memory_fraction must be in (0, 1]")
  backend = getattr(args, "backend", "tensorflow")
  if backend != "tensorflow":
    if args.xla:
      raise UsageError(
        "-xla compiles the TensorFlow model: it does not apply to -backend %s" % backend
      )
    precision = getattr(args, "precision", "float32")
    if precision != "float32":
      raise UsageError(
        "-precision %s is the TensorFlow model's: -backend %s computes in the precision "
        "its name gives" % (precision, backend)
      )
    from onnx_bert import runtime as onnx_runtime

    onnx_runtime.check_installed("-backend %s" % backend)
  if args.multi_label_threshold is not None:
    if args.pooling_strategy != PoolingStrategy.CLASSIFICATION:
      raise UsageError("-multi_label_threshold needs -pooling_strategy CLASSIFICATION")
    if not 0.0 <= args.multi_label_threshold <= 1.0:
      raise UsageError("-multi_label_threshold must be in [0, 1]")


def check_model(args: argparse.Namespace, bert_config: dict, multi_label: bool = False) -> None:
  """Raises UsageError when flags do not fit the model's config.

  `multi_label` says whether the model folder records a multi-label head.
  """
  if args.multi_label_threshold is not None and not multi_label:
    raise UsageError(
      "-multi_label_threshold needs a multi-label model: the model folder's "
      'run_config.json (or export_info.json) has no "multi_label": true'
    )
  max_positions = bert_config.get("max_position_embeddings", 512)
  if args.max_seq_len is not None and args.max_seq_len > max_positions:
    raise UsageError(
      "-max_seq_len %d exceeds the model's "
      "max_position_embeddings %d" % (args.max_seq_len, max_positions)
    )
  num_layers = bert_config.get("num_hidden_layers", 12)
  if args.pooling_strategy.uses_encoder_layers:
    for layer in args.pooling_layer:
      if not -num_layers <= layer < num_layers:
        raise UsageError(
          "-pooling_layer %d is out of range: the model has "
          "%d layers (use -%d..%d)" % (layer, num_layers, num_layers, num_layers - 1)
        )


def args_table(args: argparse.Namespace, argv=None) -> str:
  """The `ARG = VALUE` table bert-serving-start prints at start."""
  argv = ["bert-serving-start"] + list(sys.argv[1:] if argv is None else argv)
  rows = "\n".join("%20s = %s" % (k, v) for k, v in sorted(vars(args).items()))
  return "usage: %s\n%20s   %s\n%s\n%s\n" % (" ".join(argv), "ARG", "VALUE", "_" * 50, rows)


def args_to_json(args: argparse.Namespace) -> dict:
  """Flags as SHOW_CONFIG reports them (pooling_strategy as its int)."""
  out = {}
  for key, value in vars(args).items():
    if isinstance(value, PoolingStrategy):
      value = int(value)
    out[key] = value
  return out
