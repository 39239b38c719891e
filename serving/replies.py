"""Replies on the XPUB socket (-port_out), each held until its client subscribes.

A client's SUB socket subscribes to its identity; the XPUB socket (with
XPUB_VERBOSE) hands the server every subscription (`b"\\x01" + identity`) and
the unsubscription when the client's last SUB socket leaves (`b"\\x00" +
identity`). A reply to a client not (yet) subscribed is held, so a fresh
client's first reply is never dropped; one nobody subscribes to within
HOLD_SECONDS is dropped with a warning.
"""

from __future__ import annotations

import collections
import logging
import time

HOLD_SECONDS = 60.0  # how long a reply waits for its client's subscription


class ReplyStore:
  """Sends replies on `sink` (the XPUB socket) or holds them for their client."""

  def __init__(self, sink, port_out: int, log: logging.Logger):
    self.sink = sink
    self.port_out = port_out
    self.log = log
    self.subscribers = set()
    self.held = collections.defaultdict(collections.deque)  # client -> (expiry, frames)

  def publish(self, client: bytes, frames: list) -> None:
    """Sends a reply now if its client has subscribed, else holds it."""
    if client in self.subscribers:
      self.sink.send_multipart(frames, copy=False)
    else:
      self.log.debug("holding a reply until %s subscribes", client[:40])
      self.held[client].append((time.monotonic() + HOLD_SECONDS, frames))

  def on_subscription(self, frames: list) -> bytes | None:
    """Handles an XPUB (un)subscription; returns the client that left, if one did."""
    message = frames[0]
    topic = message[1:]
    if message[:1] == b"\x01":
      self.subscribers.add(topic)
      for _, held in self.held.pop(topic, ()):
        self.sink.send_multipart(held, copy=False)
    elif message[:1] == b"\x00":  # its last subscriber disconnected
      self.subscribers.discard(topic)
      return topic
    return None

  def expire(self, now: float) -> None:
    """Drops held replies whose client has not subscribed in time."""
    for client in list(self.held):
      held = self.held[client]
      while held and held[0][0] <= now:
        _, frames = held.popleft()
        self.log.warning(
          "dropped reply %s: client %s never subscribed to port %d",
          frames[-1].decode(),
          client[:40],
          self.port_out,
        )
      if not held:
        del self.held[client]
