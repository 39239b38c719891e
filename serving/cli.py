"""Console scripts: `bert-serving-start` and `bert-serving-terminate`.

Also `python -m serving ...` (= bert-serving-start). Mistakes are reported as
one line, `<program>: error: <message>` (see `bert.errors`): exit status 2 for
a wrong command line, 1 for a bad model folder, a port in use or a server
that cannot be reached.
"""

from __future__ import annotations

import argparse
import signal

from bert import errors, machine
from serving import args as args_mod
from serving import files as files_mod
from serving import logs

START = "bert-serving-start"
TERMINATE = "bert-serving-terminate"


class ServerError(errors.ProjectError):
  """The server cannot bind its ports, failed while serving, or did not answer."""


def _bind_server(args: argparse.Namespace, model_files):
  """A `BertServer` for `args` with its ports bound; a port in use is a ServerError."""
  import zmq

  from serving.server import BertServer

  try:
    return BertServer(args, model_files=model_files)
  except zmq.ZMQError as e:
    raise ServerError("cannot bind %s:%s/%s: %s" % (args.ip, args.port, args.port_out, e)) from None
  except OSError as e:
    # A socket error names no file: the HTTP port. Else the workers' socket folder.
    if e.filename is None and args.http_port is not None:
      raise ServerError(
        "cannot bind %s:%s (-http_port): %s" % (args.ip, args.http_port, e)
      ) from None
    raise ServerError("cannot start: %s" % e) from None


def _serve(args: argparse.Namespace, argv) -> None:
  """Checks the flags, prints them, serves until stopped; raises ProjectError subclasses."""
  args_mod.check_supported(args)  # Before TensorFlow or ZeroMQ load: refusals are instant.
  logs.configure(args.verbose)
  model_files = files_mod.resolve(
    args.model_dir, args.tuned_model_dir, args.ckpt_name, args.config_name
  )
  # The table shows the values served with, the model folder's included.
  args_mod.apply_trained_settings(args, model_files, logs.get_logger("VENTILATOR"))
  print(args_mod.args_table(args, argv), flush=True)
  server = _bind_server(args, model_files)
  logs.get_logger("VENTILATOR").info("%s", machine.summary())  # what its speed depends on
  signal.signal(signal.SIGTERM, lambda *_: server.request_stop())
  server.start()
  try:
    while not server.stopped.wait(0.5):
      pass
  except KeyboardInterrupt:
    server.close()
  if server.error:
    raise ServerError(server.error)


def main(argv=None) -> int:
  """bert-serving-start: serve until TERMINATION, Ctrl-C or SIGTERM; returns the exit status."""
  args = args_mod.get_args_parser().parse_args(argv)
  try:
    _serve(args, argv)
  except errors.ProjectError as e:
    return errors.report(START, e)
  return 0


def _request_stop(args: argparse.Namespace) -> None:
  """Sends TERMINATION to -ip:-port; no answer in time is a ServerError."""
  import zmq

  from serving.server import terminate as send_termination

  try:
    send_termination(args.ip, args.port, args.timeout)
  except TimeoutError as e:
    raise ServerError(str(e)) from None
  except zmq.ZMQError as e:  # An -ip that is no address, a -port out of range.
    raise ServerError("cannot reach %s:%s: %s" % (args.ip, args.port, e)) from None


def terminate(argv=None) -> int:
  """bert-serving-terminate: ask the server on -ip:-port to stop.

  Exits 0 once the server has taken the request (it closes its port), 1 when
  no server answered or it did not stop within -timeout.
  """
  args = args_mod.get_shutdown_parser().parse_args(argv)
  try:
    _request_stop(args)
  except errors.ProjectError as e:
    return errors.report(TERMINATE, e)
  print("shutdown signal sent to %d and acknowledged" % args.port)
  return 0
