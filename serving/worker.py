"""A worker: owns one model, encodes the batches the server hands it.

A worker runs `main` in its own (spawned) process, or in a thread when the
server is embedded with `worker_mode="thread"`. It talks to the server over a
DEALER socket; the server sends one batch at a time and waits for its answer
before sending the next, so a worker is never given more than it can do.

Messages (ZeroMQ multipart frames):

  worker -> server   [READY, json info]        model loaded
                     [RESULT, batch id, json meta, array bytes]
                     [ERROR, batch id, message]  this batch failed
                     [FATAL, message]           cannot load the model
  server -> worker   [BATCH, batch id, json list of texts]
                     [PING]                     ignored: the server's check
                                                that it can reach the worker
                     [STOP]

`meta` holds the array's dtype and shape, each row's `features.Row.length`
(for dynamic sequence lengths), with -show_tokens_to_client the tokens and,
when the backend's `info` says `multi_label`, each row's predicted label
names (`labels`).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import signal
import threading
import traceback

import numpy as np
import zmq

from bert import windows
from serving import features, logs, pooling

READY, RESULT, ERROR, FATAL = b"READY", b"RESULT", b"ERROR", b"FATAL"
BATCH, PING, STOP = b"BATCH", b"PING", b"STOP"
DEFAULT_BACKEND = "serving.model:BertBackend"
ONNX_BACKEND = "serving.onnx_model:OnnxBackend"


def backend_for(args) -> str:
  """The "module:callable" of the model that `-backend` names."""
  return DEFAULT_BACKEND if getattr(args, "backend", "tensorflow") == "tensorflow" else ONNX_BACKEND


@dataclasses.dataclass
class WorkerSettings:
  """Everything a worker needs; picklable, as spawn sends it to the child.

  Attributes:
    index: the worker's slot (WORKER-<index>; picks the GPU).
    identity: the DEALER routing id, unique per (slot, restart).
    endpoint: the server's ROUTER address.
    args: the parsed `bert-serving-start` flags.
    files: `serving.files.ModelFiles`.
    backend: "module:callable" building the model: `callable(args, files,
      index)` -> object with `tokenizer`, `max_position_embeddings`, `info`
      (JSON-able dict; when its `multi_label` is true it also holds `labels`
      and `multi_label_threshold`) and `encode(ids, mask, type_ids) ->
      np.ndarray`; for CLASSIFICATION of a model trained in windows
      (`args.doc_stride` > 0) `classifier_logits(ids, mask, type_ids)`.
    parent_pid: the server's pid; a process worker exits when it is gone.
    in_process: True when running as a thread of the server's process.
    stop: (threads only) the server's stop event; the worker exits once set.
  """

  index: int
  identity: bytes
  endpoint: str
  args: object
  files: object
  backend: str = DEFAULT_BACKEND
  parent_pid: int = 0
  in_process: bool = False
  stop: threading.Event | None = None

  def server_gone(self) -> bool:
    if self.in_process:
      return self.stop is not None and self.stop.is_set()
    return os.getppid() != self.parent_pid


def encode_batch(backend, texts, args):
  """Texts -> (meta dict, C-contiguous reply array) with the server's flags."""
  if getattr(args, "doc_stride", 0):
    batch, encoded = _classify_in_windows(backend, texts, args)
  else:
    batch = features.convert_texts(
      texts,
      backend.tokenizer,
      args.max_seq_len,
      backend.max_position_embeddings,
      args.mask_cls_sep,
      args.no_special_token,
    )
    encoded = backend.encode(*_arrays(batch))
  out = np.ascontiguousarray(encoded, np.float16 if args.fp16 else np.float32)
  meta = {"dtype": str(out.dtype), "shape": list(out.shape), "lengths": batch.lengths}
  if args.show_tokens_to_client:
    meta["tokens"] = batch.tokens
  info = backend.info
  if info.get("multi_label"):
    # From the model's own probabilities, before any -fp16 rounding.
    meta["labels"] = pooling.labels_above(encoded, info["labels"], info["multi_label_threshold"])
  return meta, out


def _arrays(batch: features.Batch) -> tuple:
  """The batch's ids, mask and type ids as int32 [B, T] arrays."""
  return tuple(
    np.asarray(x, np.int32) for x in (batch.input_ids, batch.input_mask, batch.input_type_ids)
  )


def _classify_in_windows(backend, texts, args) -> tuple[features.Batch, np.ndarray]:
  """CLASSIFICATION of a model trained with --doc_stride, as run_classifier.py predicts.

  Each text becomes its windows; their logits are pooled per text
  (`args.window_pooling`) and only then turned into probabilities. Returns
  (a Batch holding each text's first window, probabilities [len(texts), L]).
  """
  windowed, groups = features.convert_windows(
    texts, backend.tokenizer, args.max_seq_len, args.doc_stride
  )
  logits = backend.classifier_logits(*_arrays(windowed))
  pooled = windows.pool_logits(logits, groups, args.window_pooling)
  first = [groups.index(i) for i in range(len(texts))]
  batch = features.Batch(
    *(
      [rows[i] for i in first]
      for rows in (
        windowed.tokens,
        windowed.input_ids,
        windowed.input_mask,
        windowed.input_type_ids,
        windowed.lengths,
      )
    )
  )
  return batch, pooling.probabilities(pooled, bool(backend.info.get("multi_label")))


def _prepare_process(settings: WorkerSettings) -> None:
  """Environment of a worker process, set before TensorFlow is imported."""
  args = settings.args
  if args.cpu:
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
  elif args.device_map:
    device = args.device_map[settings.index % len(args.device_map)]
    os.environ["CUDA_VISIBLE_DEVICES"] = str(device)
  if args.verbose:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
  # Ctrl-C reaches the whole process group; the server stops workers itself.
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  logs.configure(args.verbose)


def load_backend(settings: WorkerSettings):
  module, _, name = settings.backend.partition(":")
  factory = getattr(importlib.import_module(module), name)
  backend = factory(settings.args, settings.files, settings.index)
  features.check_vocab(backend.tokenizer.vocab)
  return backend


def main(settings: WorkerSettings) -> None:
  """Runs a worker until STOP (or, in a process, until the server is gone)."""
  if not settings.in_process:
    _prepare_process(settings)
  log = logs.get_logger("WORKER-%d" % settings.index)
  context = zmq.Context()
  sock = context.socket(zmq.DEALER)
  sock.setsockopt(zmq.LINGER, 2000)
  sock.setsockopt(zmq.IDENTITY, settings.identity)
  sock.connect(settings.endpoint)
  try:
    try:
      backend = load_backend(settings)
    except Exception as e:  # reported to the server, which shuts down
      log.error("cannot load the model: %s", e, exc_info=settings.args.verbose)
      sock.send_multipart([FATAL, ("%s: %s" % (type(e).__name__, e)).encode()])
      return
    if settings.server_gone():
      return
    sock.send_multipart([READY, json.dumps(backend.info).encode()])
    log.info("ready and listening!")
    _serve(sock, backend, settings, log)
  finally:
    sock.close()
    context.term()


def _serve(sock, backend, settings: WorkerSettings, log) -> None:
  args = settings.args
  while True:
    if not sock.poll(1000):
      if settings.server_gone():
        log.warning("the server is gone, exiting")
        return
      continue
    frames = sock.recv_multipart()
    if frames[0] == STOP:
      log.info("terminated!")
      return
    if frames[0] == PING:
      continue
    if frames[0] != BATCH or len(frames) != 3:
      log.error("unexpected message from the server: %r", frames[:1])
      continue
    batch_id = frames[1]
    try:
      texts = json.loads(frames[2])
      meta, out = encode_batch(backend, texts, args)
    except Exception as e:  # the server retries or fails the requests
      log.error("batch %s failed: %s\n%s", batch_id.decode(), e, traceback.format_exc())
      sock.send_multipart([ERROR, batch_id, ("%s: %s" % (type(e).__name__, e)).encode()])
      continue
    log.debug("job %s: %d sequences, shape %s", batch_id.decode(), len(texts), meta["shape"])
    if args.verbose and "tokens" in meta:
      for tokens in meta["tokens"]:
        log.debug("tokens: %s", " ".join(tokens))
    sock.send_multipart([RESULT, batch_id, json.dumps(meta).encode(), out], copy=False)


def start_thread(settings: WorkerSettings) -> threading.Thread:
  """Runs `main` in a daemon thread of this process."""
  thread = threading.Thread(
    target=main, args=(settings,), daemon=True, name="WORKER-%d" % settings.index
  )
  thread.start()
  return thread
