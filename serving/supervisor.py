"""Worker supervision: -num_worker slots, each holding one worker at a time.

A worker is a spawned process (or a thread of the server's process) running
`serving.worker.main`, known to the ROUTER socket by an identity that is new
at each (re)start. The supervisor starts one per slot, knows which is ready,
idle or encoding which batch, and on each housekeeping turn (`check`):

* A worker that died, or that holds one batch longer than -worker_timeout, is
  (killed and) restarted; its batch goes to `on_lost` to be re-run.
* A worker not ready within `load_limit` of its start (-worker_timeout, but
  at least MIN_LOAD_SECONDS; no limit with -worker_timeout 0) is killed.
* A worker that dies (or is killed) before it is ready has failed to start:
  it is restarted after `restart_delay` (growing with each failure in a row).
  After MAX_START_FAILURES in a row its slot is given up while the others
  serve, and tried again after COOL_DOWN_SECONDS (one more failure gives it
  up again). When no slot is left, `on_fatal` stops the server.
* A worker that a send could not reach gets no batches; each turn it is
  probed (PING, which it ignores): once reachable it gets batches again, and
  after UNREACHABLE_SECONDS unreachable it is killed and restarted.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable

import zmq

from serving import worker

MAX_START_FAILURES = 3  # a worker failing to start this often in a row is given up
RESTART_DELAY_SECONDS = 0.5  # after a failed start; doubles each time
MAX_RESTART_DELAY_SECONDS = 30.0
MIN_LOAD_SECONDS = 600.0  # loading the model may always take this long
COOL_DOWN_SECONDS = 300.0  # a given-up worker is tried again after this
UNREACHABLE_SECONDS = 10.0  # a worker that cannot be reached this long is restarted


def restart_delay(start_failures: int) -> float:
  """Seconds to wait before restarting a worker that died this often while
  loading (0 after a death once loaded)."""
  if start_failures == 0:
    return 0.0
  return min(MAX_RESTART_DELAY_SECONDS, RESTART_DELAY_SECONDS * 2 ** (start_failures - 1))


def load_limit(worker_timeout: float) -> float:
  """Seconds a worker may take to load the model; 0 means no limit."""
  return max(worker_timeout, MIN_LOAD_SECONDS) if worker_timeout else 0.0


class Slot:
  """A worker position; `handle` is its current process (or thread)."""

  def __init__(self, index: int):
    self.index = index
    self.generation = 0
    self.identity = b""
    self.handle = None  # None while waiting to be restarted
    self.started_at = 0.0  # when `handle` was started
    self.ready = False  # may be sent batches
    self.loaded = False  # said READY since it was (re)started
    self.idle = False
    self.batch = None  # (batch id, [pieces]) while the worker encodes
    self.busy_since = 0.0  # when `batch` was sent
    self.unreachable_since = None  # when a send to it first failed
    self.start_failures = 0  # deaths before READY, in a row
    self.restart_at = 0.0  # when to (re)start it, also after a cool-down
    self.given_up = False


class Supervisor:
  """Starts, watches and restarts the workers; hands out idle ones."""

  def __init__(
    self,
    num_workers: int,
    template: worker.WorkerSettings,
    sock: zmq.Socket,
    worker_timeout: float,
    stop_event: threading.Event,
    log: logging.Logger,
    on_lost: Callable[[list, str], None],
    on_fatal: Callable[[str], None],
  ):
    """`template`: every worker's settings but `index` and `identity`; `sock`:
    the ROUTER socket; `on_lost(pieces, reason)` re-runs or fails a lost
    worker's batch; `on_fatal(message)` stops the server."""
    self.slots = [Slot(i) for i in range(num_workers)]
    self.template = template
    self.sock = sock
    self.worker_timeout = worker_timeout
    self.stop_event = stop_event
    self.log = log
    self.on_lost = on_lost
    self.on_fatal = on_fatal
    self.idle = collections.deque()
    self._by_identity = {}

  # ------------------------------------------------------------- starting

  def start(self) -> None:
    """Starts a worker in every slot."""
    for slot in self.slots:
      self.spawn(slot)

  def spawn(self, slot: Slot) -> None:
    """Starts a new worker (with a new identity) in `slot`."""
    slot.generation += 1
    self._by_identity.pop(slot.identity, None)
    slot.identity = b"worker-%d-%d" % (slot.index, slot.generation)
    self._by_identity[slot.identity] = slot
    slot.ready = slot.loaded = slot.idle = False
    slot.batch = slot.unreachable_since = None
    settings = dataclasses.replace(self.template, index=slot.index, identity=slot.identity)
    if settings.in_process:
      slot.handle = worker.start_thread(settings)
    else:
      process = multiprocessing.get_context("spawn").Process(
        target=worker.main, args=(settings,), daemon=True, name="WORKER-%d" % slot.index
      )
      process.start()
      slot.handle = process
    slot.started_at = time.monotonic()
    self.log.info("started WORKER-%d (%s)", slot.index, slot.identity.decode())

  # ---------------------------------------------------------------- state

  def slot_of(self, identity: bytes) -> Slot | None:
    """The slot whose current worker has this identity (None: a stopped one)."""
    return self._by_identity.get(identity)

  def mark_ready(self, slot: Slot) -> None:
    """The worker has loaded the model (said READY)."""
    slot.ready = slot.loaded = True
    slot.start_failures = 0
    self.set_idle(slot)
    self.log.info("WORKER-%d is ready", slot.index)

  def num_ready(self) -> int:
    return sum(s.ready for s in self.slots)

  def all_ready(self) -> bool:
    return all(s.ready for s in self.slots)

  def set_idle(self, slot: Slot) -> None:
    """Queues a ready worker without a batch for the next batch."""
    if slot.ready and not slot.idle and slot.batch is None:
      slot.idle = True
      self.idle.append(slot)

  def take_idle(self) -> Slot:
    """The worker idle the longest (there must be one)."""
    slot = self.idle.popleft()
    slot.idle = False
    return slot

  def in_flight(self) -> list:
    """Pieces of the batches workers are encoding."""
    return [p for s in self.slots if s.batch is not None for p in s.batch[1]]

  # -------------------------------------------------------------- batches

  def send_batch(self, slot: Slot, batch_id: bytes, pieces: list, texts: bytes) -> bool:
    """Sends a batch to a worker taken with `take_idle`; False when the
    socket cannot reach it (it gets no batch until a probe reaches it)."""
    try:
      self.sock.send_multipart([slot.identity, worker.BATCH, batch_id, texts])
    except zmq.ZMQError as e:
      slot.ready = False
      if slot.unreachable_since is None:
        slot.unreachable_since = time.monotonic()
        self.log.warning("cannot reach WORKER-%d: %s", slot.index, e)
      return False
    slot.batch = (batch_id, pieces)
    slot.busy_since = time.monotonic()
    return True

  def finish_batch(self, slot: Slot, batch_id: bytes) -> list | None:
    """The pieces of the batch a worker answered; None for a stale answer."""
    if slot.batch is None or slot.batch[0] != batch_id:
      self.log.warning("stale answer from WORKER-%d ignored", slot.index)
      return None
    pieces = slot.batch[1]
    slot.batch = None
    self.set_idle(slot)
    return pieces

  # --------------------------------------------------------- housekeeping

  def check(self, now: float) -> None:
    """Restarts dead, overdue, hung or unreachable workers (as their back-off
    allows) and probes those a send could not reach."""
    limit = load_limit(self.worker_timeout)
    for slot in self.slots:
      if self.stop_event.is_set():
        return
      if slot.handle is None:
        if now >= slot.restart_at:
          if slot.given_up:
            slot.given_up = False
            self.log.warning(
              "WORKER-%d: trying it again after a %g s cool-down", slot.index, COOL_DOWN_SECONDS
            )
          self.spawn(slot)
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
          % (slot.batch[0].decode(), self.worker_timeout),
          "a worker hung while encoding this request",
        )
      elif limit and not slot.loaded and now - slot.started_at > limit:
        self._kill(slot)
        self._on_worker_lost(slot, now, "hung for over %g s" % limit)
      elif slot.unreachable_since is not None:
        self._probe(slot, now)

  def _overdue(self, slot: Slot, now: float) -> bool:
    limit = self.worker_timeout
    return bool(limit and slot.batch and now - slot.busy_since > limit)

  def _probe(self, slot: Slot, now: float) -> None:
    """Gives an unreachable worker batches again once a PING reaches it;
    restarts it when it stays unreachable too long."""
    try:
      self.sock.send_multipart([slot.identity, worker.PING], zmq.NOBLOCK)
    except zmq.ZMQError:
      if now - slot.unreachable_since > UNREACHABLE_SECONDS:
        self._kill(slot)
        self._on_worker_lost(slot, now, "could not be reached for over %g s" % UNREACHABLE_SECONDS)
      return
    slot.unreachable_since = None
    slot.ready = True
    self.set_idle(slot)
    self.log.info("WORKER-%d can be reached again", slot.index)

  def _kill(self, slot: Slot) -> None:
    """Kills a worker process (a stopped one too); a thread is abandoned."""
    if hasattr(slot.handle, "kill"):
      slot.handle.kill()
      slot.handle.join(5.0)

  def _on_worker_lost(self, slot: Slot, now: float, what: str, job_reason: str = "") -> None:
    """Re-runs a lost worker's batch; restarts it, or gives it up.

    `what` says what happened to the worker (for the log), `job_reason`
    what a request that cannot be re-run is told.
    """
    pieces = slot.batch[1] if slot.batch else []
    if slot.idle:
      self.idle.remove(slot)
    self._by_identity.pop(slot.identity, None)
    slot.handle, slot.batch, slot.unreachable_since = None, None, None
    slot.ready = slot.idle = False
    if pieces:
      self.on_lost(pieces, job_reason)
    if not slot.loaded:
      slot.start_failures += 1
    if slot.start_failures >= MAX_START_FAILURES:
      slot.given_up = True
      self._give_up(slot, now, what)
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

  def _give_up(self, slot: Slot, now: float, what: str) -> None:
    """Gives a worker up for a cool-down; stops the server when none is left."""
    message = "WORKER-%d died %d times while loading the model (last: %s)" % (
      slot.index,
      slot.start_failures,
      what,
    )
    left = sum(not s.given_up for s in self.slots)
    if left:
      slot.restart_at = now + COOL_DOWN_SECONDS
      self.log.error(
        "%s; giving up on it for %g s, %d of %d workers left",
        message,
        COOL_DOWN_SECONDS,
        left,
        len(self.slots),
      )
      return
    if not self.template.in_process:
      message += (
        "; see its log above. Workers are spawned processes: a "
        "script that starts a BertServer must do so under "
        "`if __name__ == '__main__':`"
      )
    self.on_fatal("no worker left: " + message)

  # ------------------------------------------------------------- stopping

  def stop_all(self) -> None:
    """Asks every worker to stop; kills those still running after 10 s."""
    for slot in self.slots:
      if slot.handle is not None and slot.handle.is_alive():
        try:
          self.sock.send_multipart([slot.identity, worker.STOP], zmq.NOBLOCK)
        except zmq.ZMQError:  # not connected yet: still loading the model
          if hasattr(slot.handle, "terminate"):
            slot.handle.terminate()
    deadline = time.monotonic() + 10.0
    for slot in self.slots:
      if slot.handle is not None:
        slot.handle.join(max(0.0, deadline - time.monotonic()))
        if slot.handle.is_alive() and hasattr(slot.handle, "kill"):
          slot.handle.kill()  # SIGKILL: a stopped process ignores SIGTERM
          slot.handle.join(2.0)
