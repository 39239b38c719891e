"""Console scripts: `bert-serving-start` and `bert-serving-terminate`.

Also `python -m serving ...` (= bert-serving-start).
"""

from __future__ import annotations

import signal
import sys

from serving import args as args_mod
from serving import logs


def _error(prog: str, message) -> int:
  print("%s: error: %s" % (prog, message), file=sys.stderr)
  return 2


def main(argv=None) -> int:
  """bert-serving-start: serve until TERMINATION, Ctrl-C or SIGTERM."""
  args = args_mod.get_args_parser().parse_args(argv)
  try:
    args_mod.check_supported(args)
  except args_mod.UsageError as e:
    return _error("bert-serving-start", e)
  print(args_mod.args_table(args, argv), flush=True)
  logs.configure(args.verbose)

  import zmq  # pylint: disable=g-import-not-at-top
  from serving.server import BertServer  # pylint: disable=g-import-not-at-top

  try:
    server = BertServer(args)
  except (args_mod.UsageError, FileNotFoundError, ValueError) as e:
    return _error("bert-serving-start", e)
  except zmq.ZMQError as e:
    return _error(
      "bert-serving-start", "cannot bind %s:%s/%s: %s" % (args.ip, args.port, args.port_out, e)
    )
  signal.signal(signal.SIGTERM, lambda *_: server.request_stop())
  server.start()
  try:
    while not server.stopped.wait(0.5):
      pass
  except KeyboardInterrupt:
    server.close()
  if server.error:
    print("bert-serving-start: error: %s" % server.error, file=sys.stderr)
    return 1
  return 0


def terminate(argv=None) -> int:
  """bert-serving-terminate: ask the server on -ip:-port to stop.

  Exits 0 once the server has taken the request (it closes its port), 1 when
  no server answered or it did not stop within -timeout.
  """
  args = args_mod.get_shutdown_parser().parse_args(argv)
  from serving.server import terminate as send_termination  # pylint: disable=g-import-not-at-top

  try:
    send_termination(args.ip, args.port, args.timeout)
  except TimeoutError as e:
    print("bert-serving-terminate: error: %s" % e, file=sys.stderr)
    return 1
  print("shutdown signal sent to %d and acknowledged" % args.port)
  return 0
