"""Runs the server (`python -m serving`) in a child process, e.g. for a
script or a test that queries it with `bert_serving.client.BertClient`:

    with BackgroundServer(model_dir, ["-num_worker", "1"]) as server:
      with BertClient(port=server.port, port_out=server.port_out) as bc:
        vectors = bc.encode(["hello world"])

On exit the server is asked to stop as `bert-serving-terminate` does, and
killed if it has not stopped within `stop_timeout` seconds.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_ports(n: int) -> list[int]:
  """`n` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
  socks = [socket.socket() for _ in range(n)]
  try:
    for s in socks:
      s.bind(("127.0.0.1", 0))
    return [s.getsockname()[1] for s in socks]
  finally:
    for s in socks:
      s.close()


class BackgroundServer:
  """`python -m serving -model_dir ... -port P -port_out Q [args]`, started
  on `__enter__` (on free ports unless given) and stopped on `__exit__`.

  The server's output goes to `log_path` (default: discarded).
  """

  def __init__(
    self,
    model_dir: str,
    args: Sequence[str] = (),
    port: int | None = None,
    port_out: int | None = None,
    log_path: str | None = None,
    stop_timeout: float = 60.0,
  ):
    if port is None or port_out is None:
      port, port_out = free_ports(2)
    self.port, self.port_out = port, port_out
    self.command = [
      sys.executable,
      "-m",
      "serving",
      "-model_dir",
      model_dir,
      "-port",
      str(port),
      "-port_out",
      str(port_out),
    ] + list(args)
    self.log_path = log_path
    self.stop_timeout = stop_timeout
    self.process: subprocess.Popen | None = None
    self._log = None

  def start(self) -> BackgroundServer:
    """Starts the child process (it takes a while to accept requests)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    self._log = open(self.log_path, "w") if self.log_path else open(os.devnull, "w")
    self.process = subprocess.Popen(
      self.command, env=env, stdout=self._log, stderr=subprocess.STDOUT
    )
    return self

  def stop(self) -> int | None:
    """Asks the server to stop, waits, kills it if need be; its exit code."""
    if self.process is None:
      return None
    from serving.server import terminate

    if self.process.poll() is None:
      try:
        terminate("127.0.0.1", self.port, timeout_ms=5000)
      except TimeoutError:
        self.process.terminate()
      try:
        self.process.wait(timeout=self.stop_timeout)
      except subprocess.TimeoutExpired:
        self.process.kill()
        self.process.wait()
    self._log.close()
    return self.process.returncode

  def __enter__(self) -> BackgroundServer:
    return self.start()

  def __exit__(self, *exc) -> None:
    self.stop()
