"""The server: bert-as-service 1.10.0's ZeroMQ protocol in front of workers.

Sockets (one thread, the "ventilator", owns them all):

  client PUSH  --tcp-->  PULL   :port       requests, 4 frames each
  client SUB  <--tcp--   XPUB   :port_out   replies; frame 0 = client identity
  worker DEALER <-ipc->  ROUTER             batches out, results back

Requests (frames `[identity, body, request id, number of texts]`):
  body SHOW_CONFIG / SHOW_STATUS  -> `[identity, json dict, request id]`
  body TERMINATION                -> stop (no reply; :port closes first,
                                     which bert-serving-terminate waits
                                     for); from loopback only unless
                                     -allow_remote_termination
  body = JSON list of texts       -> `[identity, json meta, array, request id]`
                                     meta = {"dtype", "shape", "tokens"}, plus
                                     "labels" (the predicted names of each
                                     text) for a multi-label CLASSIFICATION

Guarantees beyond the original server:
* Every accepted request gets exactly one reply. A reply is held until the
  XPUB socket has seen that client's subscription (`b"\\x01" + identity`), so
  a fresh client's first reply is never dropped (the slow-joiner problem the
  original papered over with a 0.1 s sleep). A reply nobody subscribes to
  within `HOLD_SECONDS` is dropped with a warning.
* Batching: rows of all queued requests (small ones first, see
  -priority_batch_size) are packed into batches of at most -max_batch_size
  rows; a batch goes to an idle worker, so concurrent small requests from
  different clients share one model call. Rows keep their order.
* Large requests take turns: each gets one batch of -max_batch_size rows
  in turn, so a long request delays others by about one batch.
* Requests over -max_batch_texts texts or -max_request_bytes bytes get an
  error reply naming the limit. A frame over `max_frame_bytes` (4 x
  -max_request_bytes, at least 1 MiB) is not read at all: ZeroMQ drops the
  sender's connection and the request gets no reply. Queued rows of a client
  whose SUB socket has disconnected (the XPUB sees its unsubscription) are
  dropped uncomputed.
* Workers are watched by `serving.supervisor`: one that dies, holds a batch
  longer than -worker_timeout, or takes too long to load the model is
  (killed and) restarted and its batch re-run; one that keeps failing to
  load is given up for a while and tried again; one that cannot be reached
  is probed until it can, or restarted. When no worker is left the server
  stops, and requests still pending at any stop get an error reply.
* The protocol has no error frame, so a request that cannot be encoded (its
  body is not a JSON list of strings or of token lists, or encoding it fails
  twice) is answered with meta `{"dtype": "error: <why>", "error": <why>,
  "shape": [0]}`: `BertClient` then raises `TypeError: data type 'error: ...'
  not understood` instead of waiting forever. Frames that are not 4, or a
  request id that is not a number, cannot be answered; they are logged and
  dropped, as in the original.

This module is the event loop (sockets, requests, SHOW_CONFIG replies,
shutdown); the queues are `serving.scheduler`'s, the workers
`serving.supervisor`'s, reply holding `serving.replies`' and reply arrays
`serving.results`'.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import ipaddress
import json
import os
import shutil
import sys
import tempfile
import threading
import time

import zmq

from serving import SERVER_VERSION, features, logs, results, worker
from serving import args as args_mod
from serving import files as files_mod
from serving.replies import HOLD_SECONDS, ReplyStore
from serving.results import error_meta
from serving.scheduler import MAX_FAILURES, Job, Scheduler
from serving.stats import ServerStatistic
from serving.supervisor import (
  MAX_RESTART_DELAY_SECONDS,
  MAX_START_FAILURES,
  RESTART_DELAY_SECONDS,
  Supervisor,
  restart_delay,
)
from serving.termination import TERMINATION, terminate

# Importable from here as before the server was split into modules.
__all__ = [
  "BertServer",
  "HOLD_SECONDS",
  "HOUSEKEEPING_SECONDS",
  "MAX_COUNT_DIGITS",
  "MAX_FAILURES",
  "MAX_RESTART_DELAY_SECONDS",
  "MAX_START_FAILURES",
  "RESTART_DELAY_SECONDS",
  "SHOW_CONFIG",
  "SHOW_STATUS",
  "TERMINATION",
  "error_meta",
  "max_frame_bytes",
  "restart_delay",
  "terminate",
]

SHOW_CONFIG = b"SHOW_CONFIG"
SHOW_STATUS = b"SHOW_STATUS"

MAX_COUNT_DIGITS = 18  # a longer "number of texts" frame is refused unparsed
HOUSEKEEPING_SECONDS = 0.2
FRAME_LIMIT_FACTOR = 4  # frames up to this many -max_request_bytes are read
MIN_FRAME_LIMIT = 1 << 20


def max_frame_bytes(max_request_bytes: int) -> int:
  """The largest request frame ZeroMQ reads (ZMQ_MAXMSGSIZE of -port).

  4 x -max_request_bytes, so that a request somewhat over the limit is read
  and gets the error reply naming it (the HTTP proxy's JSON escapes at most
  triple a body it accepted), and at least 1 MiB, so that no client identity
  or count frame is ever cut off.
  """
  return min(max(FRAME_LIMIT_FACTOR * max_request_bytes, MIN_FRAME_LIMIT), 2**63 - 1)


def _bind(sock, ip: str, port: int) -> int:
  """Binds tcp://ip:port (port 0: any free port); returns the port."""
  if ":" in ip:
    sock.setsockopt(zmq.IPV6, 1)
    ip = "[%s]" % ip
  sock.bind("tcp://%s:%s" % (ip, port or "*"))
  return int(sock.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1])


def _is_loopback(address: str | None) -> bool:
  try:
    ip = ipaddress.ip_address((address or "").split("%")[0])
  except ValueError:
    return False
  if ip.version == 6 and ip.ipv4_mapped is not None:
    ip = ip.ipv4_mapped
  return ip.is_loopback


def _tensorflow_version() -> list:
  for dist in ("tensorflow", "tensorflow-cpu", "tf-nightly"):
    try:
      return importlib.metadata.version(dist).split(".")
    except importlib.metadata.PackageNotFoundError:
      pass
  return []


class BertServer(threading.Thread):
  """A bert-as-service compatible server.

  `BertServer(args)` binds the ports at once; `start()` starts the workers
  and serves until TERMINATION or `close()`. `is_ready` is set when a worker
  has loaded the model, `stopped` when everything is shut down; `error` holds
  the reason of a fatal stop.

  Workers are spawned processes (multiprocessing "spawn"), which re-import
  the main script: a script that starts a server must do it under
  `if __name__ == "__main__":`.
  """

  def __init__(
    self,
    args: argparse.Namespace,
    backend: str | None = None,
    worker_mode: str = "process",
    model_files: files_mod.ModelFiles | None = None,
  ):
    """Checks the flags and files and binds the ports.

    Args:
      args: parsed `bert-serving-start` flags.
      backend: "module:callable" building a worker's model (see
        `worker.WorkerSettings`); tests pass a fake. Default: the one
        `-backend` names.
      worker_mode: "process" (spawned processes, restarted when they die) or
        "thread" (threads of this process, for embedding and tests).
      model_files: resolved files; found from `args` when None.

    Raises:
      args.UsageError: bad flags; bert.errors.InputError: missing or malformed model files.
      zmq.ZMQError: a port cannot be bound.
    """
    super().__init__(name="VENTILATOR", daemon=True)
    if worker_mode not in ("process", "thread"):
      raise ValueError("worker_mode must be 'process' or 'thread'")
    self.log = logs.get_logger("VENTILATOR")
    self.args = args = argparse.Namespace(**vars(args))
    args_mod.check_supported(args)
    self.files = model_files or files_mod.resolve(
      args.model_dir, args.tuned_model_dir, args.ckpt_name, args.config_name
    )
    args_mod.apply_trained_settings(args, self.files, self.log)
    args_mod.check_model(args, self.files.bert_config, self.files.multi_label)
    if args.tuned_model_dir:
      self.log.info("checkpoint (override by the fine-tuned model): %s", self.files.checkpoint)
    self._max_positions = self.files.bert_config.get("max_position_embeddings", 512)

    self.is_ready, self.stopped = threading.Event(), threading.Event()
    self.error = None
    self._stop_event = threading.Event()
    self._stopping = False
    self._shutdown_lock = threading.Lock()
    self.stats = ServerStatistic()
    self._worker_info = {}
    self._start_time = datetime.datetime.now()

    self.context = zmq.Context()
    self._tmp_dir = None
    try:
      self._bind_sockets()
      self.http = None
      if args.http_port is not None:
        from serving import http  # only with -http_port

        self.http = http.HttpProxy(args, self._stop_event)
        args.http_port = self.http.port
    except BaseException:
      self._close_sockets()
      raise

    in_process = worker_mode == "thread"
    template = worker.WorkerSettings(
      index=0,
      identity=b"",
      endpoint=self.worker_endpoint,
      args=self.args,
      files=self.files,
      backend=backend or worker.backend_for(args),
      parent_pid=os.getpid(),
      in_process=in_process,
      stop=self._stop_event if in_process else None,
    )
    self.supervisor = Supervisor(
      args.num_worker,
      template,
      self.workers,
      args.worker_timeout,
      self._stop_event,
      self.log,
      on_lost=lambda pieces, reason: self._retry_or_fail(pieces, reason, crashed=True),
      on_fatal=self._fatal,
    )
    self.scheduler = Scheduler(args.max_batch_size, args.priority_batch_size, self.log)
    self.replies = ReplyStore(self.sink, self.port_out, self.log)
    self._batch_count = 0
    self._awaiting_ready = []  # SHOW_* requests that came before READY

  @property
  def _slots(self) -> list:
    """The supervisor's worker slots (tests look at them)."""
    return self.supervisor.slots

  @property
  def _held(self) -> dict:
    """Replies held for clients not yet subscribed (tests look at them)."""
    return self.replies.held

  # ------------------------------------------------------------------ setup

  def _bind_sockets(self):
    args = self.args
    ip = {"localhost": "127.0.0.1", "*": "0.0.0.0"}.get(args.ip, args.ip)
    self.frontend = self.context.socket(zmq.PULL)
    self.frontend.setsockopt(zmq.LINGER, 0)
    self.frontend.setsockopt(zmq.MAXMSGSIZE, max_frame_bytes(args.max_request_bytes))
    self.port = args.port = _bind(self.frontend, ip, args.port)
    self.sink = self.context.socket(zmq.XPUB)
    self.sink.setsockopt(zmq.LINGER, 1000)
    self.sink.setsockopt(zmq.XPUB_VERBOSE, 1)  # see every (re)subscription
    self.sink.setsockopt(zmq.SNDHWM, 0)  # never drop a reply
    self.port_out = args.port_out = _bind(self.sink, ip, args.port_out)
    self.workers = self.context.socket(zmq.ROUTER)
    self.workers.setsockopt(zmq.LINGER, 0)
    self.workers.setsockopt(zmq.ROUTER_MANDATORY, 1)
    if zmq.has("ipc") and os.name != "nt":
      self._tmp_dir = tempfile.mkdtemp(
        prefix="bert-serving-", dir=os.environ.get("ZEROMQ_SOCK_TMP_DIR")
      )
      self.worker_endpoint = "ipc://%s/workers" % self._tmp_dir
      self.workers.bind(self.worker_endpoint)
    else:
      port = self.workers.bind_to_random_port("tcp://127.0.0.1")
      self.worker_endpoint = "tcp://127.0.0.1:%d" % port
    self.log.info("bind all sockets: in %s:%d, out %s:%d", ip, self.port, ip, self.port_out)

  # -------------------------------------------------------------- main loop

  def run(self):
    try:
      self.supervisor.start()
      if self.http is not None:
        self.http.start(self.port, self.port_out)
      self._loop()
    except Exception as e:  # never leave workers behind
      self.log.exception("server loop failed")
      self.error = self.error or "%s: %s" % (type(e).__name__, e)
    finally:
      self._shutdown()

  def _loop(self):
    # The sockets read here, each with its handler and whether its frames are
    # copied, in the order they are served on every turn.
    inboxes = (
      (self.workers, self._on_worker_message, True),
      (self.sink, self._on_subscription, True),
      (self.frontend, self._on_request, False),
    )
    poller = zmq.Poller()
    for inbox, _, _ in inboxes:
      poller.register(inbox, zmq.POLLIN)
    next_housekeeping = 0.0
    while not self._stop_event.is_set():
      events = dict(poller.poll(100))
      for inbox, handler, copy in inboxes:
        if inbox in events:
          self._drain(inbox, handler, copy=copy)
      self._dispatch()
      now = time.monotonic()
      if now >= next_housekeeping:
        next_housekeeping = now + HOUSEKEEPING_SECONDS
        self.supervisor.check(now)
        self.replies.expire(now)

  def _drain(self, sock, handler, copy=True, limit=1000):
    """Handles up to `limit` waiting messages of `sock`."""
    for _ in range(limit):
      try:
        frames = sock.recv_multipart(zmq.NOBLOCK, copy=copy)
      except zmq.Again:
        return
      try:
        handler(frames)
      except Exception:  # one bad message must not stop the server
        self.log.exception("failed to handle a message")

  # --------------------------------------------------------------- requests

  def _on_request(self, frames):
    if len(frames) != 4:
      self.log.warning("dropped a request of %d frames (expected 4)", len(frames))
      return
    client, body, req_id, msg_len = [f.bytes for f in frames]
    if not (req_id.isdigit() and msg_len.isdigit()):
      self.log.warning(
        "dropped a request with request id %r and length %r (both must be numbers)",
        req_id[:20],
        msg_len[:20],
      )
      return
    is_command = body in (TERMINATION, SHOW_CONFIG, SHOW_STATUS)
    if is_command:
      self.stats.update(client, True, 0)
    if body == TERMINATION:
      self._on_termination(frames[0])
    elif body in (SHOW_CONFIG, SHOW_STATUS):
      self.log.info(
        "new %s request\treq id: %s\tclient: %s", body.decode(), req_id.decode(), client[:40]
      )
      if self.is_ready.is_set():
        self._reply_config(client, body, req_id)
      else:
        self._awaiting_ready.append((client, body, req_id))
    else:
      self._on_encode(client, body, req_id, msg_len)

  def _on_termination(self, frame):
    try:
      peer = frame.get("Peer-Address")
    except zmq.ZMQError:
      peer = None
    if self.args.allow_remote_termination or _is_loopback(peer):
      self.log.info("TERMINATION from %s: shutting down", peer)
      self._stop_event.set()
    else:
      self.log.warning(
        "ignored TERMINATION from %s (only loopback may stop "
        "the server; see -allow_remote_termination)",
        peer,
      )

  def _refusal(self, num_bytes: int, num_texts: int | None) -> str | None:
    """Why -max_request_bytes / -max_batch_texts refuse a request, if they
    do; `num_texts` None stands for a count too long to read."""
    args = self.args
    if num_bytes > args.max_request_bytes:
      return "request of %d bytes exceeds -max_request_bytes %d" % (
        num_bytes,
        args.max_request_bytes,
      )
    if num_texts is None or num_texts > args.max_batch_texts:
      count = "over 10^%d" % MAX_COUNT_DIGITS if num_texts is None else num_texts
      return "request of %s texts exceeds -max_batch_texts %d" % (count, args.max_batch_texts)
    return None

  def _refuse(self, client, req_id, reason: str):
    """Answers an encode request with an error instead of encoding it."""
    self.log.warning(
      "refused encode request %s from %s: %s", req_id[:20].decode(), client[:40], reason
    )
    self.replies.publish(client, [client, json.dumps(error_meta(reason)).encode(), b"", req_id])

  def _on_encode(self, client, body, req_id, msg_len: bytes):
    texts = []
    try:  # the body's size first; its texts are counted once parsed
      refusal = self._refusal(len(body), None if len(msg_len) > MAX_COUNT_DIGITS else 0)
      if refusal is None:
        received = json.loads(body)
        features.check_texts(received)
        texts = received
        refusal = self._refusal(len(body), len(texts))
    except (ValueError, TypeError, RecursionError) as e:  # incl. JSON, UTF-8
      refusal = "bad request: %s" % e
    # Counted: the valid texts that arrived, whatever the request claimed.
    self.stats.update(client, False, len(texts))
    if refusal is not None:
      self._refuse(client, req_id, refusal)
      return
    if int(msg_len) != len(texts):
      self.log.warning(
        "request %s says %s texts but has %d",
        req_id[:20].decode(),
        msg_len[:20].decode(),
        len(texts),
      )
    self.log.debug(
      "new encode request\treq id: %s\tsize: %d\tclient: %s",
      req_id.decode(),
      len(texts),
      client[:40],
    )
    self.scheduler.add(Job(client, req_id, texts))

  def _config(self, client: bytes, with_status: bool) -> dict:
    runtime = {
      "client": client.decode("ascii", "replace"),
      "num_process": len(self._slots) + 1,
      "ventilator -> worker": [self.worker_endpoint],
      "worker -> sink": [self.worker_endpoint],
      "ventilator <-> sink": "in-process",
      "server_current_time": str(datetime.datetime.now()),
      "num_concurrent_socket": len(self._slots),
      "num_worker_ready": self.supervisor.num_ready(),
      "num_pending_job": self.scheduler.num_queued(),
      "checkpoint": self.files.checkpoint,
    }
    if with_status:
      runtime["statistic"] = self.stats.value()
    static = {
      "tensorflow_version": _tensorflow_version(),
      "python_version": sys.version,
      "server_version": SERVER_VERSION,
      "pyzmq_version": zmq.pyzmq_version(),
      "zmq_version": zmq.zmq_version(),
      "server_start_time": str(self._start_time),
    }
    static.update(self._worker_info)
    return {**runtime, **args_mod.args_to_json(self.args), **static}

  def _reply_config(self, client, body, req_id):
    config = self._config(client, with_status=body == SHOW_STATUS)
    self.replies.publish(client, [client, json.dumps(config).encode(), req_id])

  # ---------------------------------------------------------------- batches

  def _dispatch(self):
    """Sends queued rows to idle workers, one batch each."""
    while self.supervisor.idle and self.scheduler.has_work():
      slot = self.supervisor.take_idle()
      pieces = self.scheduler.take_batch()
      if not pieces:
        self.supervisor.set_idle(slot)
        return
      self._batch_count += 1
      batch_id = b"%d" % self._batch_count
      texts = [t for p in pieces for t in p.job.texts[p.start : p.stop]]
      if not self.supervisor.send_batch(slot, batch_id, pieces, json.dumps(texts).encode()):
        self.scheduler.requeue(pieces)

  def _retry_or_fail(self, pieces, reason: str, crashed: bool):
    """A batch failed: re-runs its requests one by one, or fails them (see
    `Scheduler.after_failure`)."""
    for job in self.scheduler.after_failure(pieces, crashed):
      self._fail(job, reason)

  # ---------------------------------------------------------------- workers

  def _on_worker_message(self, frames):
    identity, kind, rest = frames[0], frames[1], frames[2:]
    slot = self.supervisor.slot_of(identity)
    if slot is None:
      self.log.debug("message from a stopped worker %r ignored", identity)
      return
    if kind == worker.READY:
      self._worker_info.update(json.loads(rest[0]))
      self.supervisor.mark_ready(slot)
      if not self.is_ready.is_set():
        self.is_ready.set()
        for request in self._awaiting_ready:
          self._reply_config(*request)
        self._awaiting_ready = []
      if self.supervisor.all_ready():
        self.log.info("all set, ready to serve request!")
    elif kind in (worker.RESULT, worker.ERROR):
      pieces = self.supervisor.finish_batch(slot, rest[0])
      if pieces is None:
        return
      if kind == worker.RESULT:
        self._on_result(pieces, rest[1:])
      else:
        reason = rest[1].decode("utf-8", "replace")
        self.log.error("WORKER-%d failed a batch: %s", slot.index, reason)
        self._retry_or_fail(pieces, "encoding failed: " + reason, False)
    elif kind == worker.FATAL:
      self._fatal(
        "WORKER-%d cannot load the model: %s" % (slot.index, rest[0].decode("utf-8", "replace"))
      )

  def _fatal(self, message: str):
    self.log.critical(message)
    self.error = self.error or message
    self._stop_event.set()

  # ---------------------------------------------------------------- replies

  def _on_result(self, pieces, frames):
    """Files a batch's rows under their requests; answers complete ones."""
    try:
      chunks = results.read_result(pieces, frames)
    except (ValueError, KeyError, TypeError, IndexError) as e:
      self.log.error("bad answer from a worker: %s", e)
      self._retry_or_fail(pieces, "bad answer from a worker: %s" % e, False)
      return
    for piece, chunk in zip(pieces, chunks):
      job = piece.job
      if not job.done and job.add(chunk):
        try:
          self._finish(job)
        except Exception as e:  # still answer the request
          self.log.exception("cannot assemble a reply")
          self._fail(job, "cannot assemble the reply: %s" % e)

  def _finish(self, job: Job):
    job.done = True
    meta, out = results.encode_reply(job, self.args, self._max_positions)
    job.chunks = []
    self.replies.publish(job.client, [job.client, json.dumps(meta).encode(), out, job.req_id])

  def _fail(self, job: Job, reason: str, quiet: bool = False):
    job.drop()
    if not quiet:
      self.log.error("request %s of %s failed: %s", job.req_id.decode(), job.client[:40], reason)
    self.replies.publish(
      job.client, [job.client, json.dumps(error_meta(reason)).encode(), b"", job.req_id]
    )

  def _on_subscription(self, frames):
    gone = self.replies.on_subscription(frames)
    if gone is not None:
      self.scheduler.drop_client(gone, self.supervisor.in_flight())

  # --------------------------------------------------------------- shutdown

  def request_stop(self):
    """Asks the server to stop (safe from signal handlers and any thread)."""
    self._stop_event.set()

  def close(self, timeout: float | None = 30.0) -> bool:
    """Stops serving; returns whether the shutdown finished in `timeout`."""
    self._stop_event.set()
    if self.ident is None:  # never started
      self._shutdown()
    return self.stopped.wait(timeout)

  def wait_until_ready(self, timeout: float | None = None, all_workers: bool = False) -> None:
    """Blocks until a worker (or every worker) serves.

    Raises:
      RuntimeError: the server failed to start.
      TimeoutError: not ready within `timeout` seconds.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while not (self.is_ready.wait(0.1) and (not all_workers or self.supervisor.all_ready())):
      if self.error or self.stopped.is_set():
        raise RuntimeError(self.error or "the server stopped")
      if deadline is not None and time.monotonic() > deadline:
        raise TimeoutError("the server is not ready after %s s" % timeout)

  def _shutdown(self):
    with self._shutdown_lock:
      if self._stopping:
        return
      self._stopping = True
    try:
      self._stop_event.set()
      self.log.info("shutting down...")
      self._close_frontend()  # tells `terminate` that TERMINATION was taken
      self._answer_pending()
      self.supervisor.stop_all()
      if self.http is not None:
        self.http.stop()
      self._close_sockets()
      self.log.info("terminated!")
    finally:
      self.stopped.set()

  def _close_frontend(self):
    """Stops taking requests; clients see their connection close."""
    if getattr(self, "frontend", None) is not None:
      self.frontend.close()

  def _answer_pending(self):
    """Gives every unanswered encode request an error reply."""
    jobs = self.scheduler.pending_jobs(self.supervisor.in_flight())
    reason = "the server stopped before answering: %s" % (self.error or "it was asked to stop")
    for job in jobs:
      self._fail(job, reason, quiet=True)
    if jobs:
      self.log.warning("%d unanswered request(s) got an error reply (%s)", len(jobs), reason)

  def _close_sockets(self):
    for name in ("frontend", "sink", "workers"):
      sock = getattr(self, name, None)
      if sock is not None:
        sock.close()
    self.context.destroy(linger=0)  # anything else still open (a monitor): closed, not waited for
    if self._tmp_dir:
      shutil.rmtree(self._tmp_dir, ignore_errors=True)

  @staticmethod
  def shutdown(args) -> None:
    """Stops a server: `args` has ip, port and timeout (ms), as the CLI's."""
    terminate(args.ip, args.port, args.timeout)
