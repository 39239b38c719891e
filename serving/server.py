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
  error reply naming the limit. Queued rows of a client whose SUB socket has
  disconnected (the XPUB sees its unsubscription) are dropped uncomputed.
* A worker process that dies, or that holds one batch longer than
  -worker_timeout, is (killed and) restarted and its batch is re-run.
  Restarts of a worker that keeps dying while loading the model back off;
  after MAX_START_FAILURES such deaths in a row it is given up while the
  other workers keep serving. When no worker is left the server stops, and
  requests still pending at any stop get an error reply.
* The protocol has no error frame, so a request that cannot be encoded (its
  body is not a JSON list of strings or of token lists, or encoding it fails
  twice) is answered with meta `{"dtype": "error: <why>", "error": <why>,
  "shape": [0]}`: `BertClient` then raises `TypeError: data type 'error: ...'
  not understood` instead of waiting forever. Frames that are not 4, or a
  request id that is not a number, cannot be answered; they are logged and
  dropped, as in the original.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import importlib.metadata
import ipaddress
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from typing import NamedTuple

import numpy as np
import zmq

from serving import SERVER_VERSION, args as args_mod, features, logs, worker
from serving import files as files_mod
from serving.stats import ServerStatistic

TERMINATION = b"TERMINATION"
SHOW_CONFIG = b"SHOW_CONFIG"
SHOW_STATUS = b"SHOW_STATUS"

HOLD_SECONDS = 60.0  # how long a reply waits for its client's subscription
MAX_FAILURES = 2  # a request whose batch failed this often gets an error reply
MAX_START_FAILURES = 3  # a worker dying this often before READY is given up
RESTART_DELAY_SECONDS = 0.5  # after a death while loading; doubles each time
MAX_RESTART_DELAY_SECONDS = 30.0
MAX_COUNT_DIGITS = 18  # a longer "number of texts" frame is refused unparsed
HOUSEKEEPING_SECONDS = 0.2


class _Chunk(NamedTuple):
  """Rows of a job that one batch encoded, with what the worker said of them."""

  start: int  # the first row's index in the request
  rows: np.ndarray  # [n, ...]
  lengths: list
  tokens: list | None
  labels: list | None  # multi-label CLASSIFICATION: each row's predicted names


class _Job(object):
  """One encode request and the rows encoded so far."""

  def __init__(self, client: bytes, req_id: bytes, texts: list):
    self.client = client
    self.req_id = req_id
    self.texts = texts
    self.chunks = []  # _Chunk, in the order the batches came back
    self.rows_done = 0
    self.failures = 0
    self.done = False


class _Piece(object):
  """Rows [start, stop) of a job; `isolate` keeps it out of shared batches."""

  __slots__ = ("job", "start", "stop", "isolate")

  def __init__(self, job: _Job, start: int, stop: int, isolate: bool = False):
    self.job, self.start, self.stop, self.isolate = job, start, stop, isolate


class _Slot(object):
  """A worker position; `handle` is its current process (or thread)."""

  def __init__(self, index: int):
    self.index = index
    self.generation = 0
    self.identity = b""
    self.handle = None  # None while waiting to be restarted
    self.ready = False  # may be sent batches
    self.loaded = False  # said READY since it was (re)started
    self.idle = False
    self.batch = None  # (batch id, [pieces]) while the worker encodes
    self.busy_since = 0.0  # when `batch` was sent
    self.start_failures = 0  # deaths before READY, in a row
    self.restart_at = 0.0
    self.given_up = False


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


def restart_delay(start_failures: int) -> float:
  """Seconds to wait before restarting a worker that died this often while
  loading (0 after a death once loaded)."""
  if start_failures == 0:
    return 0.0
  return min(MAX_RESTART_DELAY_SECONDS, RESTART_DELAY_SECONDS * 2 ** (start_failures - 1))


def error_meta(reason: str) -> dict:
  """Meta of an error reply; its dtype makes BertClient raise TypeError.

  numpy reads a dtype string holding a comma as a record format (and raises
  ValueError instead), so commas become semicolons there.
  """
  reason = " ".join(reason.split())[:500]
  return {
    "dtype": "error: " + reason.replace(",", ";"),
    "shape": [0],
    "tokens": "",
    "error": reason,
  }


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
    self._backend_spec = backend or worker.backend_for(args)
    self._worker_mode = worker_mode
    self._max_positions = self.files.bert_config.get("max_position_embeddings", 512)

    self.is_ready = threading.Event()
    self.stopped = threading.Event()  # set once everything is shut down
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

    self._slots = [_Slot(i) for i in range(args.num_worker)]
    self._by_identity = {}
    self._idle = collections.deque()
    self._priority = collections.deque()  # pieces of small requests
    self._bulk = collections.deque()
    self._batch_count = 0
    self._subscribers = set()
    self._held = collections.defaultdict(collections.deque)
    self._awaiting_ready = []  # SHOW_* requests that came before READY

  # ------------------------------------------------------------------ setup

  def _bind_sockets(self):
    args = self.args
    ip = {"localhost": "127.0.0.1", "*": "0.0.0.0"}.get(args.ip, args.ip)
    self.frontend = self.context.socket(zmq.PULL)
    self.frontend.setsockopt(zmq.LINGER, 0)
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

  def _spawn(self, slot: _Slot):
    slot.generation += 1
    self._by_identity.pop(slot.identity, None)
    slot.identity = b"worker-%d-%d" % (slot.index, slot.generation)
    self._by_identity[slot.identity] = slot
    slot.ready = slot.loaded = slot.idle = False
    slot.batch = None
    settings = worker.WorkerSettings(
      index=slot.index,
      identity=slot.identity,
      endpoint=self.worker_endpoint,
      args=self.args,
      files=self.files,
      backend=self._backend_spec,
      parent_pid=os.getpid(),
    )
    if self._worker_mode == "thread":
      settings.in_process = True
      settings.stop = self._stop_event
      slot.handle = worker.start_thread(settings)
    else:
      process = multiprocessing.get_context("spawn").Process(
        target=worker.main, args=(settings,), daemon=True, name="WORKER-%d" % slot.index
      )
      process.start()
      slot.handle = process
    self.log.info("started WORKER-%d (%s)", slot.index, slot.identity.decode())

  # -------------------------------------------------------------- main loop

  def run(self):
    try:
      for slot in self._slots:
        self._spawn(slot)
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
        self._check_workers(now)
        self._expire_held(now)

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
    self._publish(client, [client, json.dumps(error_meta(reason)).encode(), b"", req_id])

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
    job = _Job(client, req_id, texts)
    queue = self._priority if len(texts) <= self.args.priority_batch_size else self._bulk
    queue.append(_Piece(job, 0, len(texts)))

  def _config(self, client: bytes, with_status: bool) -> dict:
    runtime = {
      "client": client.decode("ascii", "replace"),
      "num_process": len(self._slots) + 1,
      "ventilator -> worker": [self.worker_endpoint],
      "worker -> sink": [self.worker_endpoint],
      "ventilator <-> sink": "in-process",
      "server_current_time": str(datetime.datetime.now()),
      "num_concurrent_socket": len(self._slots),
      "num_worker_ready": sum(s.ready for s in self._slots),
      "num_pending_job": len(self._priority) + len(self._bulk),
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
    self._publish(client, [client, json.dumps(config).encode(), req_id])

  # ---------------------------------------------------------------- batches

  def _take_batch(self) -> list:
    """Pops pieces totalling at most -max_batch_size rows, in order."""
    room = self.args.max_batch_size
    pieces = []
    for queue in (self._priority, self._bulk):
      while queue and room:
        piece = queue[0]
        if piece.job.done:  # failed meanwhile
          queue.popleft()
          continue
        if piece.isolate:
          if not pieces:
            pieces.append(queue.popleft())
          return pieces
        n = piece.stop - piece.start
        if n <= room:
          pieces.append(queue.popleft())
        else:
          pieces.append(_Piece(piece.job, piece.start, piece.start + room))
          piece.start += room
          n = room
          if queue is self._bulk:  # large requests take turns
            queue.rotate(-1)
        room -= n
    return pieces

  def _dispatch(self):
    while self._idle and (self._priority or self._bulk):
      slot = self._idle.popleft()
      slot.idle = False
      pieces = self._take_batch()
      if not pieces:
        self._set_idle(slot)
        return
      self._batch_count += 1
      batch_id = b"%d" % self._batch_count
      texts = [t for p in pieces for t in p.job.texts[p.start : p.stop]]
      try:
        self.workers.send_multipart(
          [slot.identity, worker.BATCH, batch_id, json.dumps(texts).encode()]
        )
      except zmq.ZMQError as e:  # the worker is gone; housekeeping restarts it
        self.log.warning("cannot reach WORKER-%d: %s", slot.index, e)
        slot.ready = False
        self._requeue(pieces)
        continue
      slot.batch = (batch_id, pieces)
      slot.busy_since = time.monotonic()

  def _set_idle(self, slot):
    if slot.ready and not slot.idle and slot.batch is None:
      slot.idle = True
      self._idle.append(slot)

  def _requeue(self, pieces, isolate=False):
    """Puts pieces back at the front of their queues, order kept."""
    for piece in reversed(pieces):
      piece.isolate = piece.isolate or isolate
      queue = (
        self._priority if len(piece.job.texts) <= self.args.priority_batch_size else self._bulk
      )
      queue.appendleft(piece)

  def _pending_jobs(self) -> list:
    """Unanswered encode requests: queued or in a worker's batch."""
    pieces = list(self._priority) + list(self._bulk)
    for slot in self._slots:
      if slot.batch is not None:
        pieces.extend(slot.batch[1])
    jobs = {id(p.job): p.job for p in pieces if not p.job.done}
    return list(jobs.values())

  def _drop_jobs_of(self, client: bytes):
    """Stops work for a client that left; its queued rows are skipped."""
    jobs = [j for j in self._pending_jobs() if j.client == client]
    for job in jobs:
      job.done = True
      job.chunks = []
    if jobs:
      self.log.info(
        "client %s disconnected: dropped %d unanswered request(s), %d rows not yet encoded",
        client[:40],
        len(jobs),
        sum(len(j.texts) - j.rows_done for j in jobs),
      )

  def _retry_or_fail(self, pieces, reason: str, crashed: bool):
    """A batch failed: re-run its requests one by one, or give up on them.

    A request fails after MAX_FAILURES failed batches, or at once when an
    exception (not a crash) hit a batch holding nothing else.
    """
    live = [p for p in pieces if not p.job.done]
    retry = []
    for piece in live:
      piece.job.failures += 1
      if piece.job.failures >= MAX_FAILURES or (not crashed and len(live) == 1):
        self._fail(piece.job, reason)
      else:
        retry.append(piece)
    self._requeue(retry, isolate=True)

  # ---------------------------------------------------------------- workers

  def _on_worker_message(self, frames):
    identity, kind, rest = frames[0], frames[1], frames[2:]
    slot = self._by_identity.get(identity)
    if slot is None:
      self.log.debug("message from a stopped worker %r ignored", identity)
      return
    if kind == worker.READY:
      self._worker_info.update(json.loads(rest[0]))
      slot.ready = slot.loaded = True
      slot.start_failures = 0
      self._set_idle(slot)
      self.log.info("WORKER-%d is ready", slot.index)
      if not self.is_ready.is_set():
        self.is_ready.set()
        for request in self._awaiting_ready:
          self._reply_config(*request)
        self._awaiting_ready = []
      if all(s.ready for s in self._slots):
        self.log.info("all set, ready to serve request!")
    elif kind in (worker.RESULT, worker.ERROR):
      if slot.batch is None or slot.batch[0] != rest[0]:
        self.log.warning("stale answer from WORKER-%d ignored", slot.index)
        return
      pieces = slot.batch[1]
      slot.batch = None
      self._set_idle(slot)
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

  def _check_workers(self, now: float):
    """Restarts dead or overdue workers (as their back-off allows)."""
    for slot in self._slots:
      if self._stop_event.is_set() or slot.given_up:
        continue
      if slot.handle is None:
        if now >= slot.restart_at:
          self._spawn(slot)
        continue
      if not slot.handle.is_alive():
        code = getattr(slot.handle, "exitcode", None)
        self._on_worker_lost(
          slot, now, "died (exit code %s)" % code, "a worker crashed while encoding this request"
        )
      elif self._overdue(slot, now):
        self._kill(slot)
        self._on_worker_lost(
          slot,
          now,
          "held batch %s for over %g s (-worker_timeout)"
          % (slot.batch[0].decode(), self.args.worker_timeout),
          "a worker hung while encoding this request",
        )

  def _overdue(self, slot: _Slot, now: float) -> bool:
    limit = self.args.worker_timeout
    return bool(limit and slot.batch and now - slot.busy_since > limit)

  def _kill(self, slot: _Slot):
    """Kills a worker process (a stopped one too); a thread is abandoned."""
    if hasattr(slot.handle, "kill"):
      slot.handle.kill()
      slot.handle.join(5.0)

  def _on_worker_lost(self, slot: _Slot, now: float, what: str, job_reason: str):
    """Re-runs a lost worker's batch; restarts it, or gives it up.

    `what` says what happened to the worker (for the log), `job_reason`
    what a request that cannot be re-run is told.
    """
    pieces = slot.batch[1] if slot.batch else []
    if slot.idle:
      self._idle.remove(slot)
    self._by_identity.pop(slot.identity, None)
    slot.handle, slot.batch = None, None
    slot.ready = slot.idle = False
    if pieces:
      self._retry_or_fail(pieces, job_reason, crashed=True)
    if not slot.loaded:
      slot.start_failures += 1
    if slot.start_failures >= MAX_START_FAILURES:
      slot.given_up = True
      self._give_up(slot, what)
      return
    delay = restart_delay(slot.start_failures)
    slot.restart_at = now + delay
    self.log.error(
      "WORKER-%d %s%s; restarting it%s%s",
      slot.index,
      what,
      "" if slot.loaded else " while loading the model",
      " in %g s" % delay if delay else "",
      " and re-running its batch" if pieces else "",
    )

  def _give_up(self, slot: _Slot, what: str):
    """Logs a worker given up; stops the server when none is left."""
    message = "WORKER-%d died %d times while loading the model (last: %s)" % (
      slot.index,
      slot.start_failures,
      what,
    )
    left = sum(not s.given_up for s in self._slots)
    if left:
      self.log.error("%s; giving up on it, %d of %d workers left", message, left, len(self._slots))
      return
    if self._worker_mode == "process":
      message += (
        "; see its log above. Workers are spawned processes: a "
        "script that starts a BertServer must do so under "
        "`if __name__ == '__main__':`"
      )
    self._fatal("no worker left: " + message)

  def _fatal(self, message: str):
    self.log.critical(message)
    self.error = self.error or message
    self._stop_event.set()

  # ---------------------------------------------------------------- replies

  def _on_result(self, pieces, frames):
    """Files a batch's rows under their requests; answers complete ones."""
    try:
      meta = json.loads(frames[0])
      array = np.frombuffer(frames[1], dtype=meta["dtype"])
      array = array.reshape(meta["shape"])
      lengths, tokens, labels = meta["lengths"], meta.get("tokens"), meta.get("labels")
      if len(array) != sum(p.stop - p.start for p in pieces):
        raise ValueError(
          "%d rows for %d texts" % (len(array), sum(p.stop - p.start for p in pieces))
        )
      if labels is not None and len(labels) != len(array):
        raise ValueError("%d label lists for %d rows" % (len(labels), len(array)))
    except (ValueError, KeyError, TypeError, IndexError) as e:
      self.log.error("bad answer from a worker: %s", e)
      self._retry_or_fail(pieces, "bad answer from a worker: %s" % e, False)
      return
    offset = 0
    for piece in pieces:
      n = piece.stop - piece.start
      job = piece.job
      if not job.done:
        job.chunks.append(
          _Chunk(
            piece.start,
            array[offset : offset + n],
            lengths[offset : offset + n],
            tokens[offset : offset + n] if tokens else None,
            labels[offset : offset + n] if labels is not None else None,
          )
        )
        job.rows_done += n
        if job.rows_done == len(job.texts):
          try:
            self._finish(job)
          except Exception as e:  # still answer the request
            self.log.exception("cannot assemble a reply")
            self._fail(job, "cannot assemble the reply: %s" % e)
      offset += n

  def _assemble(self, job: _Job) -> np.ndarray:
    """The job's rows in request order, T made uniform for 3-D outputs."""
    chunks = sorted(job.chunks, key=lambda c: c.start)
    first = chunks[0].rows
    if first.ndim != 3:
      return np.concatenate([c.rows for c in chunks]) if len(chunks) > 1 else first
    if self.args.max_seq_len is not None:
      seq_len = self.args.max_seq_len
    elif self.args.fixed_embed_length:
      seq_len = self._max_positions
    else:
      seq_len = features.sequence_length(
        [tuple(row) for c in chunks for row in c.lengths], None, self._max_positions
      )
    out = np.zeros((len(job.texts), seq_len, first.shape[2]), first.dtype)
    for chunk in chunks:
      t = min(seq_len, chunk.rows.shape[1])
      out[chunk.start : chunk.start + chunk.rows.shape[0], :t] = chunk.rows[:, :t]
    return out

  def _finish(self, job: _Job):
    job.done = True
    out = np.ascontiguousarray(self._assemble(job))
    chunks = sorted(job.chunks, key=lambda c: c.start)
    tokens = ""
    if self.args.show_tokens_to_client:
      tokens = [t for c in chunks for t in c.tokens]
    job.chunks = []
    meta = {"dtype": str(out.dtype), "shape": list(out.shape), "tokens": tokens}
    if all(c.labels is not None for c in chunks):
      meta["labels"] = [names for c in chunks for names in c.labels]
    self._publish(job.client, [job.client, json.dumps(meta).encode(), out, job.req_id])

  def _fail(self, job: _Job, reason: str, quiet: bool = False):
    job.done = True
    job.chunks = []
    if not quiet:
      self.log.error("request %s of %s failed: %s", job.req_id.decode(), job.client[:40], reason)
    self._publish(
      job.client, [job.client, json.dumps(error_meta(reason)).encode(), b"", job.req_id]
    )

  def _publish(self, client: bytes, frames: list):
    """Sends a reply now if its client has subscribed, else holds it."""
    if client in self._subscribers:
      self.sink.send_multipart(frames, copy=False)
    else:
      self.log.debug("holding a reply until %s subscribes", client[:40])
      self._held[client].append((time.monotonic() + HOLD_SECONDS, frames))

  def _on_subscription(self, frames):
    message = frames[0]
    topic = message[1:]
    if message[:1] == b"\x01":
      self._subscribers.add(topic)
      for _, held in self._held.pop(topic, ()):
        self.sink.send_multipart(held, copy=False)
    elif message[:1] == b"\x00":  # its last subscriber disconnected
      self._subscribers.discard(topic)
      self._drop_jobs_of(topic)

  def _expire_held(self, now: float):
    for client in list(self._held):
      held = self._held[client]
      while held and held[0][0] <= now:
        _, frames = held.popleft()
        self.log.warning(
          "dropped reply %s: client %s never subscribed to port %d",
          frames[-1].decode(),
          client[:40],
          self.port_out,
        )
      if not held:
        del self._held[client]

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
    while not (self.is_ready.wait(0.1) and (not all_workers or all(s.ready for s in self._slots))):
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
      for slot in self._slots:
        if slot.handle is not None and slot.handle.is_alive():
          try:
            self.workers.send_multipart([slot.identity, worker.STOP], zmq.NOBLOCK)
          except zmq.ZMQError:  # not connected yet: still loading the model
            if hasattr(slot.handle, "terminate"):
              slot.handle.terminate()
      deadline = time.monotonic() + 10.0
      for slot in self._slots:
        if slot.handle is not None:
          slot.handle.join(max(0.0, deadline - time.monotonic()))
          if slot.handle.is_alive() and hasattr(slot.handle, "kill"):
            slot.handle.kill()  # SIGKILL: a stopped process ignores SIGTERM
            slot.handle.join(2.0)
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
    jobs = self._pending_jobs()
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


def _wait_for_disconnect(monitor, deadline: float) -> bool:
  """Whether the monitored socket loses its connection before `deadline`."""
  from zmq.utils.monitor import recv_monitor_message  # pylint: disable=import-outside-toplevel

  while True:
    left_ms = int((deadline - time.monotonic()) * 1000)
    if left_ms <= 0 or not monitor.poll(left_ms):
      return False
    if recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED:
      return True


def terminate(ip: str, port: int, timeout_ms: int = 5000) -> None:
  """Sends TERMINATION to the server at ip:port (what the CLI runs) and
  waits for the server to take it, which it shows by closing its port.

  Raises:
    TimeoutError: no server accepted a connection, or the server did not
      close its port, within `timeout_ms`.
  """
  deadline = time.monotonic() + timeout_ms / 1000.0
  context = zmq.Context()
  sock = context.socket(zmq.PUSH)
  monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
  try:
    sock.setsockopt(zmq.IMMEDIATE, 1)  # do not queue for an absent server
    sock.setsockopt(zmq.SNDTIMEO, timeout_ms)
    sock.setsockopt(zmq.LINGER, timeout_ms)
    where = "[%s]:%d" % (ip, port) if ":" in ip else "%s:%d" % (ip, port)
    sock.setsockopt(zmq.IPV6, int(":" in ip))
    sock.connect("tcp://" + where)
    try:
      sock.send_multipart([b"0", TERMINATION, b"0", b"0"])
    except zmq.Again:
      raise TimeoutError(
        "no server at %s accepted a connection within %d ms" % (where, timeout_ms)
      ) from None
    if not _wait_for_disconnect(monitor, deadline):
      raise TimeoutError(
        "the server at %s did not stop within %d ms: it refuses "
        "TERMINATION from other hosts unless started with "
        "-allow_remote_termination, or it is not a bert-serving server" % (where, timeout_ms)
      )
  finally:
    sock.disable_monitor()
    monitor.close()
    sock.close()
    context.term()
