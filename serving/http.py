"""The HTTP proxy of `-http_port` (standard library only, no Flask).

Like bert-as-service's, it is just a ZeroMQ client of the server (a pool of
at most -http_max_connect connections), serving:

  POST /encode          {"id": any, "texts": [...], "is_tokenized": bool}
                        -> 200 {"id": id, "result": [[float, ...], ...],
                                "status": 200}
  GET  /status/server   -> the SHOW_STATUS dict plus "status": 200
  GET  /status/client   -> one pooled connection's status

Any error gives 400 {"description": str(error), "type": error class name,
"status": 400}. Bodies are JSON (form-encoded bodies are not accepted).
`Access-Control-Allow-Origin` is -cors. It binds to the server's -ip.
"""

from __future__ import annotations

import http.server
import json
import queue
import socket
import threading
import uuid

import numpy as np
import zmq

from serving import SERVER_VERSION, logs

POOL_WAIT_SECONDS = 30.0  # how long a request waits for a free connection

log = logs.get_logger("HTTP")


def check_texts(texts, is_tokenized: bool) -> None:
  """The checks `BertClient.encode` makes before sending."""
  if not isinstance(texts, list):
    raise TypeError('"texts" must be a list, but received %s' %
                    type(texts).__name__)
  if not texts:
    raise ValueError('"texts" must be a non-empty list')
  for i, item in enumerate(texts):
    if is_tokenized:
      if not isinstance(item, list) or not item:
        raise TypeError("element %d must be a non-empty list of strings" % i)
      words = item
    else:
      words = [item]
    for word in words:
      if not isinstance(word, str):
        raise TypeError("element %d: %r is not a string" % (i, word))
      if not word.strip():
        raise ValueError("element %d: empty or blank strings are not "
                         "allowed" % i)


class _Connection(object):
  """One PUSH + SUB pair speaking the bert-serving-client protocol."""

  def __init__(self, context, host: str, port: int, port_out: int):
    self.identity = str(uuid.uuid4()).encode("ascii")
    self.request_id = 0
    if ":" in host:
      host = "[%s]" % host
    self.sender = context.socket(zmq.PUSH)
    self.receiver = context.socket(zmq.SUB)
    for sock in (self.sender, self.receiver):
      sock.setsockopt(zmq.LINGER, 0)
      sock.setsockopt(zmq.IPV6, int(host.startswith("[")))
    self.receiver.setsockopt(zmq.SUBSCRIBE, self.identity)
    self.sender.connect("tcp://%s:%d" % (host, port))
    self.receiver.connect("tcp://%s:%d" % (host, port_out))
    self.address = (host, port, port_out)

  def request(self, body: bytes, msg_len: int, stop: threading.Event) -> list:
    """Sends one request; returns its reply frames."""
    self.request_id += 1
    req_id = b"%d" % self.request_id
    self.sender.send_multipart([self.identity, body, req_id, b"%d" % msg_len])
    while not stop.is_set():
      if self.receiver.poll(200):
        frames = self.receiver.recv_multipart()
        if frames[-1] == req_id:
          return frames  # else: the answer of an abandoned request
    raise RuntimeError("the server is shutting down")

  def status(self) -> dict:
    host, port, port_out = self.address
    return {"identity": self.identity.decode(), "num_request": self.request_id,
            "num_pending_request": 0, "pending_request": [],
            "output_fmt": "list", "port": port, "port_out": port_out,
            "server_ip": host.strip("[]"), "client_version": SERVER_VERSION,
            "timeout": -1}

  def close(self):
    self.sender.close()
    self.receiver.close()


class HttpProxy(object):
  """A ThreadingHTTPServer on (-ip, -http_port) relaying to the server."""

  def __init__(self, args, stop: threading.Event):
    """Binds the HTTP port (0: a free one, see `port`)."""
    self.args = args
    self.stop_event = stop
    ip = {"localhost": "127.0.0.1", "*": "0.0.0.0"}.get(args.ip, args.ip)
    server_class = http.server.ThreadingHTTPServer
    if ":" in ip:
      server_class = type("ThreadingHTTPServer6", (server_class,),
                          {"address_family": socket.AF_INET6})
    self._httpd = server_class((ip, args.http_port), _Handler)
    self._httpd.proxy = self
    self.port = self._httpd.server_address[1]
    # The ZeroMQ ports are reached over loopback when bound to all addresses.
    self._connect_host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1",
                          "::": "::1"}.get(ip, ip)
    self._pool = queue.LifoQueue()
    self._created = 0
    self._lock = threading.Lock()
    self._context = zmq.Context()
    self._thread = None
    self._ports = None

  def start(self, port: int, port_out: int) -> None:
    """Serves in a daemon thread, relaying to the server's ZeroMQ ports."""
    self._ports = (port, port_out)
    self._thread = threading.Thread(target=self._httpd.serve_forever,
                                    name="HTTP", daemon=True)
    self._thread.start()
    log.info("HTTP proxy listening on %s:%d", self.args.ip, self.port)

  def stop(self) -> None:
    if self._thread is not None:
      self._httpd.shutdown()
      self._thread.join()
    self._httpd.server_close()
    # Requests in flight see the stop event within 0.2 s and give back
    # their connection; only then are the sockets closed (not thread-safe).
    closed = 0
    while closed < self._created:
      try:
        self._pool.get(timeout=2.0).close()
      except queue.Empty:
        log.warning("%d HTTP request(s) still running at shutdown",
                    self._created - closed)
        return
      closed += 1
    self._context.term()

  def _borrow(self) -> _Connection:
    with self._lock:
      if self._pool.empty() and self._created < self.args.http_max_connect:
        self._created += 1
        return _Connection(self._context, self._connect_host, *self._ports)
    try:
      return self._pool.get(timeout=POOL_WAIT_SECONDS)
    except queue.Empty:
      raise RuntimeError("Too many concurrent connections! Try to increase "
                         "the value of \"-http_max_connect\"") from None

  def call(self, fn):
    """Runs fn(connection) with a pooled connection."""
    conn = self._borrow()
    try:
      return fn(conn)
    finally:
      self._pool.put(conn)

  def encode(self, texts, is_tokenized: bool = False) -> list:
    check_texts(texts, is_tokenized)
    frames = self.call(lambda c: c.request(json.dumps(texts).encode(),
                                           len(texts), self.stop_event))
    meta = json.loads(frames[1])
    if "error" in meta:
      raise ValueError(meta["error"])
    array = np.frombuffer(frames[2], dtype=meta["dtype"])
    return array.reshape(meta["shape"]).tolist()

  def server_status(self) -> dict:
    frames = self.call(lambda c: c.request(b"SHOW_STATUS", 0, self.stop_event))
    return json.loads(frames[1])

  def client_status(self) -> dict:
    return self.call(lambda c: c.status())


class _Handler(http.server.BaseHTTPRequestHandler):
  server_version = "bert-serving-http/" + SERVER_VERSION
  protocol_version = "HTTP/1.1"

  def _send_json(self, code: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    self.send_response(code)
    self.send_header("Content-Type", "application/json")
    self.send_header("Content-Length", str(len(body)))
    self.send_header("Access-Control-Allow-Origin", self.server.proxy.args.cors)
    self.end_headers()
    self.wfile.write(body)

  def _send_error(self, code: int, e: Exception) -> None:
    self._send_json(code, {"description": str(e), "type": type(e).__name__,
                           "status": code})

  def do_POST(self):
    length = int(self.headers.get("Content-Length") or 0)
    raw = self.rfile.read(length)
    if self.path.rstrip("/") != "/encode":
      self._send_error(404, LookupError("no such endpoint: %s" % self.path))
      return
    try:
      data = json.loads(raw)
      if not isinstance(data, dict):
        raise TypeError("the body must be a JSON object")
      result = self.server.proxy.encode(data["texts"],
                                        bool(data.get("is_tokenized", False)))
    except Exception as e:  # reported to the caller as in bert-as-service
      log.warning("/encode failed: %s: %s", type(e).__name__, e)
      self._send_error(400, e)
      return
    self._send_json(200, {"id": data.get("id"), "result": result,
                          "status": 200})

  def do_GET(self):
    proxy = self.server.proxy
    routes = {"/status/server": proxy.server_status,
              "/status/client": proxy.client_status}
    route = routes.get(self.path.rstrip("/"))
    if route is None:
      self._send_error(404, LookupError("no such endpoint: %s" % self.path))
      return
    try:
      payload = route()
    except Exception as e:
      self._send_error(400, e)
      return
    payload["status"] = 200
    self._send_json(200, payload)

  def do_OPTIONS(self):  # CORS preflight
    self.send_response(204)
    self.send_header("Access-Control-Allow-Origin", self.server.proxy.args.cors)
    self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
    self.send_header("Access-Control-Allow-Headers", "Content-Type")
    self.send_header("Content-Length", "0")
    self.end_headers()

  def log_message(self, fmt, *args):
    log.debug("%s %s", self.address_string(), fmt % args)
