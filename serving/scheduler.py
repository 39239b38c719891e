"""Encode requests waiting for a worker: jobs, their pieces and two queues.

Each accepted encode request is a `Job`; its rows wait as `Piece`s (rows
[start, stop) of the job) in one of two queues: requests of at most
-priority_batch_size texts in the priority queue, larger ones in the bulk
queue. `take_batch` packs pieces, priority queue first and in order, into one
batch of at most -max_batch_size rows. A piece too large for the room left is
cut; in the bulk queue the rest then moves to the back, so large requests take
turns batch by batch. A piece that failed once is re-run alone (`isolate`).
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

MAX_FAILURES = 2  # a request whose batch failed this often gets an error reply


class Chunk(NamedTuple):
  """Rows of a job that one batch encoded, with what the worker said of them."""

  start: int  # the first row's index in the request
  rows: np.ndarray  # [n, ...]
  lengths: list
  tokens: list | None
  labels: list | None  # multi-label CLASSIFICATION: each row's predicted names


class Job:
  """One encode request and the rows encoded so far."""

  def __init__(self, client: bytes, req_id: bytes, texts: list):
    self.client = client
    self.req_id = req_id
    self.texts = texts
    self.chunks = []  # Chunk, in the order the batches came back
    self.rows_done = 0
    self.failures = 0
    self.done = False

  def add(self, chunk: Chunk) -> bool:
    """Files encoded rows; whether every row of the request is now encoded."""
    self.chunks.append(chunk)
    self.rows_done += len(chunk.rows)
    return self.rows_done == len(self.texts)

  def drop(self) -> None:
    """Marks the job answered (or abandoned): its queued rows are skipped."""
    self.done = True
    self.chunks = []


class Piece:
  """Rows [start, stop) of a job; `isolate` keeps it out of shared batches."""

  __slots__ = ("job", "start", "stop", "isolate")

  def __init__(self, job: Job, start: int, stop: int, isolate: bool = False):
    self.job, self.start, self.stop, self.isolate = job, start, stop, isolate


class Scheduler:
  """The priority and bulk queues of pieces waiting for a worker."""

  def __init__(self, max_batch_size: int, priority_batch_size: int, log: logging.Logger):
    self.max_batch_size = max_batch_size
    self.priority_batch_size = priority_batch_size
    self.log = log
    self.priority = collections.deque()  # pieces of small requests
    self.bulk = collections.deque()

  def _queue_of(self, job: Job) -> collections.deque:
    return self.priority if len(job.texts) <= self.priority_batch_size else self.bulk

  def add(self, job: Job) -> None:
    """Queues all rows of a new request."""
    self._queue_of(job).append(Piece(job, 0, len(job.texts)))

  def has_work(self) -> bool:
    return bool(self.priority or self.bulk)

  def num_queued(self) -> int:
    """Pieces waiting (SHOW_STATUS's num_pending_job)."""
    return len(self.priority) + len(self.bulk)

  def take_batch(self) -> list:
    """Pops pieces totalling at most -max_batch_size rows, in order."""
    room = self.max_batch_size
    pieces = []
    for queue in (self.priority, self.bulk):
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
          pieces.append(Piece(piece.job, piece.start, piece.start + room))
          piece.start += room
          n = room
          if queue is self.bulk:  # large requests take turns
            queue.rotate(-1)
        room -= n
    return pieces

  def requeue(self, pieces: list, isolate: bool = False) -> None:
    """Puts pieces back at the front of their queues, order kept."""
    for piece in reversed(pieces):
      piece.isolate = piece.isolate or isolate
      self._queue_of(piece.job).appendleft(piece)

  def after_failure(self, pieces: list, crashed: bool) -> list:
    """A batch failed: re-queues its requests to run alone; returns those that
    fail for good.

    A request fails after MAX_FAILURES failed batches, or at once when an
    exception (not a crash) hit a batch holding nothing else.
    """
    live = [p for p in pieces if not p.job.done]
    retry, failed = [], []
    for piece in live:
      piece.job.failures += 1
      if piece.job.failures >= MAX_FAILURES or (not crashed and len(live) == 1):
        failed.append(piece.job)
      else:
        retry.append(piece)
    self.requeue(retry, isolate=True)
    return failed

  def pending_jobs(self, in_flight: Iterable[Piece]) -> list:
    """Unanswered encode requests: queued, or in `in_flight` (workers' batches)."""
    pieces = list(self.priority) + list(self.bulk) + list(in_flight)
    jobs = {id(p.job): p.job for p in pieces if not p.job.done}
    return list(jobs.values())

  def drop_client(self, client: bytes, in_flight: Iterable[Piece]) -> None:
    """Stops work for a client that left; its queued rows are skipped."""
    jobs = [j for j in self.pending_jobs(in_flight) if j.client == client]
    for job in jobs:
      job.drop()
    if jobs:
      self.log.info(
        "client %s disconnected: dropped %d unanswered request(s), %d rows not yet encoded",
        client[:40],
        len(jobs),
        sum(len(j.texts) - j.rows_done for j in jobs),
      )
