"""Stopping a server from outside: what `bert-serving-terminate` sends.

TERMINATION goes to the server's request port (-port) as an ordinary
4-frame request. The server shows that it took it by closing that port, so
`terminate` waits for its connection to drop rather than for a reply.
"""

from __future__ import annotations

import time

import zmq

TERMINATION = b"TERMINATION"


def _wait_for_disconnect(monitor, deadline: float) -> bool:
  """Whether the monitored socket loses its connection before `deadline`."""
  from zmq.utils.monitor import recv_monitor_message

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
