"""The HTTP proxy of `-http_port` (standard library only, no Flask).

Like bert-as-service's, it is just a ZeroMQ client of the server (a pool of
at most -http_max_connect connections), serving:

  POST /encode          {"id": any, "texts": [...], "is_tokenized": bool}
                        -> 200 {"id": id, "result": [[float, ...], ...],
                                "status": 200}; a multi-label CLASSIFICATION
                           server adds "labels": [[name, ...], ...], the
                           label names predicted for each text
  GET  /status/server   -> the SHOW_STATUS dict plus "status": 200
  GET  /status/client   -> one pooled connection's status

Any error gives 400 {"description": str(error), "type": error class name,
"status": 400}. Bodies are JSON (form-encoded bodies are not accepted) with
a Content-Length of at most -max_request_bytes (no length or a chunked body:
411; a length that is not a number or too large: 400, connection closed).
`Access-Control-Allow-Origin` is -cors. It binds to the server's -ip.

Bounds: a connection silent for -http_timeout seconds is closed; at most
-http_max_clients connections are open at once (and never more than a
quarter of the open-file limit, leaving descriptors to the ZeroMQ side);
further ones get 503 and are closed. A client that leaves before its reply
costs one log line.
"""

from __future__ import annotations

import http.server
import json
import queue
import socket
import threading
import time
import uuid

import numpy as np
import zmq

from serving import SERVER_VERSION, logs

POOL_WAIT_SECONDS = 30.0  # how long a request waits for a free connection
FD_SHARE = 4  # HTTP connections take at most 1/FD_SHARE of the fd limit
WARN_EVERY_SECONDS = 60.0  # "connections all taken" is logged this seldom

log = logs.get_logger("HTTP")


def check_texts(texts, is_tokenized: bool) -> None:
  """The checks `BertClient.encode` makes before sending."""
  if not isinstance(texts, list):
    raise TypeError('"texts" must be a list, but received %s' % type(texts).__name__)
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
        raise ValueError("element %d: empty or blank strings are not allowed" % i)


class _Connection:
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
    self.receiver.subscribe(self.identity)  # replies are published under it
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
    return {
      "identity": self.identity.decode(),
      "num_request": self.request_id,
      "num_pending_request": 0,
      "pending_request": [],
      "output_fmt": "list",
      "port": port,
      "port_out": port_out,
      "server_ip": host.strip("[]"),
      "client_version": SERVER_VERSION,
      "timeout": -1,
    }

  def close(self):
    self.sender.close()
    self.receiver.close()


def open_file_share() -> int | None:
  """The most connections the fd limit leaves to HTTP (None: no limit)."""
  try:
    import resource
  except ImportError:  # Windows
    return None
  soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
  return None if soft == resource.RLIM_INFINITY else max(1, soft // FD_SHARE)


class _BoundedServer(http.server.ThreadingHTTPServer):
  """A thread per connection, at most `max_open` of them; more get 503."""

  request_queue_size = 128  # the listen backlog

  def __init__(self, address, handler, max_open: int, read_timeout: float):
    super().__init__(address, handler)
    self.read_timeout = read_timeout
    self.max_open = max_open
    self._open = threading.BoundedSemaphore(max_open)
    self._warned_at = None  # when the last "all taken" warning was logged

  def process_request(self, request, client_address):
    if not self._open.acquire(blocking=False):
      self._turn_away(request)
      return
    try:
      super().process_request(request, client_address)
    except BaseException:  # no thread started; the caller closes `request`
      self._open.release()
      raise

  def process_request_thread(self, request, client_address):
    try:
      super().process_request_thread(request, client_address)
    finally:
      self._open.release()

  def _turn_away(self, request):
    """Answers 503 and closes: every connection slot is taken."""
    now = time.monotonic()
    if self._warned_at is None or now - self._warned_at > WARN_EVERY_SECONDS:
      self._warned_at = now
      log.warning(
        "%d HTTP connections are open (-http_max_clients): new ones get 503 until some close",
        self.max_open,
      )
    body = json.dumps(
      {"description": "too many open connections", "type": "ServiceUnavailable", "status": 503}
    ).encode()
    head = (
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
      "application/json\r\nContent-Length: %d\r\nRetry-After: 1\r\n"
      "Connection: close\r\n\r\n" % len(body)
    ).encode()
    try:
      request.settimeout(1.0)
      request.sendall(head + body)
    except OSError:
      pass
    self.shutdown_request(request)

  def handle_error(self, request, client_address):
    """A bug, not a client leaving (see `_Handler.handle`): a traceback."""
    log.exception("HTTP request from %s failed", client_address[0])


ENCODE_BODY_HELP = (
  'POST /encode takes a JSON object {"id": <any, echoed>, "texts": ["a text", ...], '
  '"is_tokenized": false}'
)


class HttpProxy:
  """A ThreadingHTTPServer on (-ip, -http_port) relaying to the server."""

  def __init__(self, args, stop: threading.Event):
    """Binds the HTTP port (0: a free one, see `port`)."""
    self.args = args
    self.stop_event = stop
    ip = {"localhost": "127.0.0.1", "*": "0.0.0.0"}.get(args.ip, args.ip)
    server_class = _BoundedServer
    if ":" in ip:
      server_class = type("BoundedServer6", (server_class,), {"address_family": socket.AF_INET6})
    max_open = args.http_max_clients
    share = open_file_share()
    if share is not None and share < max_open:
      log.warning(
        "-http_max_clients %d lowered to %d, a quarter of the open-file limit", max_open, share
      )
      max_open = share
    self._httpd = server_class((ip, args.http_port), _Handler, max_open, args.http_timeout)
    self._httpd.proxy = self
    self.port = self._httpd.server_address[1]
    # The ZeroMQ ports are reached over loopback when bound to all addresses.
    self._connect_host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(ip, ip)
    self._pool = queue.LifoQueue()
    self._created = 0
    self._lock = threading.Lock()
    self._context = zmq.Context()
    self._thread = None
    self._ports = None

  def start(self, port: int, port_out: int) -> None:
    """Serves in a daemon thread, relaying to the server's ZeroMQ ports."""
    self._ports = (port, port_out)
    self._thread = threading.Thread(target=self._httpd.serve_forever, name="HTTP", daemon=True)
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
        log.warning("%d HTTP request(s) still running at shutdown", self._created - closed)
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
      raise RuntimeError(
        "Too many concurrent connections! Try to increase the value of \"-http_max_connect\""
      ) from None

  def call(self, fn):
    """Runs fn(connection) with a pooled connection."""
    conn = self._borrow()
    try:
      return fn(conn)
    finally:
      self._pool.put(conn)

  def encode(self, texts, is_tokenized: bool = False) -> dict:
    """The reply fields of POST /encode: `result`, and `labels` when the server sends them."""
    check_texts(texts, is_tokenized)
    frames = self.call(lambda c: c.request(json.dumps(texts).encode(), len(texts), self.stop_event))
    meta = json.loads(frames[1])
    if "error" in meta:
      raise ValueError(meta["error"])
    array = np.frombuffer(frames[2], dtype=meta["dtype"])
    fields = {"result": array.reshape(meta["shape"]).tolist()}
    if "labels" in meta:
      fields["labels"] = meta["labels"]
    return fields

  def server_status(self) -> dict:
    frames = self.call(lambda c: c.request(b"SHOW_STATUS", 0, self.stop_event))
    return json.loads(frames[1])

  def client_status(self) -> dict:
    return self.call(lambda c: c.status())


class _Handler(http.server.BaseHTTPRequestHandler):
  server_version = "bert-serving-http/" + SERVER_VERSION
  protocol_version = "HTTP/1.1"

  def setup(self):
    self.timeout = self.server.read_timeout  # applies to every read
    self.replied = False  # a reply was delivered on this connection
    super().setup()

  def handle(self):
    """Serves the connection; a client that leaves costs one log line (none
    when it already had its reply)."""
    try:
      super().handle()
    except ConnectionError as e:
      if not self.replied:
        log.info("HTTP client %s went away: %s", self.client_address[0], type(e).__name__)

  def _send_json(self, code: int, payload: dict, close: bool = False) -> bool:
    """Sends a reply; False (and one log line) if the client is gone."""
    body = json.dumps(payload).encode()
    try:
      self.send_response(code)
      self.send_header("Content-Type", "application/json")
      self.send_header("Content-Length", str(len(body)))
      self.send_header("Access-Control-Allow-Origin", self.server.proxy.args.cors)
      if close:
        self.send_header("Connection", "close")
      self.end_headers()
      self.wfile.write(body)
      self.wfile.flush()
      self.replied = True
    except OSError as e:
      self.close_connection = True
      log.info(
        "%s %s -> %d not delivered: client %s went away (%s)",
        self.command,
        self.path[:100],
        code,
        self.client_address[0],
        type(e).__name__,
      )
      return False
    return True

  def _send_error(self, code: int, e: Exception, close: bool = False) -> None:
    # A KeyError's str() is its key in quotes; the message says what the body lacks.
    description = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    payload = {"description": description, "type": type(e).__name__, "status": code}
    if self._send_json(code, payload, close):
      log.warning(
        "%s %s -> %d %s: %s", self.command, self.path[:100], code, type(e).__name__, str(e)[:300]
      )

  def _read_body(self) -> bytes | None:
    """The request body, or None once a 4xx reply has closed the request."""
    limit = self.server.proxy.args.max_request_bytes
    lengths = self.headers.get_all("Content-Length") or []
    if "Transfer-Encoding" in self.headers or not lengths:
      self._send_error(
        411,
        ValueError("a body with a Content-Length is required (chunked bodies are not accepted)"),
        close=True,
      )
      return None
    length = lengths[0].strip()
    if len(set(lengths)) > 1 or not (length.isascii() and length.isdigit()):
      self._send_error(
        400, ValueError("Content-Length %r is not a number of bytes" % lengths[0][:40]), close=True
      )
      return None
    if len(length) > 18 or int(length) > limit:
      self._send_error(
        400,
        ValueError(
          "a body of %s bytes exceeds -max_request_bytes %d"
          % (length if len(length) <= 18 else "over 10^18", limit)
        ),
        close=True,
      )
      return None
    body = self.rfile.read(int(length))
    if len(body) < int(length):  # the client closed mid-body
      self.close_connection = True
      log.info(
        "POST %s: client %s left after %d of %s bytes",
        self.path[:100],
        self.client_address[0],
        len(body),
        length,
      )
      return None
    return body

  def do_POST(self):
    raw = self._read_body()
    if raw is None:
      return
    if self.path.rstrip("/") != "/encode":
      self._send_error(404, LookupError("no such endpoint: %s" % self.path))
      return
    try:
      data = json.loads(raw)
      if not isinstance(data, dict):
        raise TypeError(ENCODE_BODY_HELP)
      if "texts" not in data:
        raise KeyError(
          'the body has no "texts" (keys: %s); %s' % (", ".join(sorted(data)), ENCODE_BODY_HELP)
        )
      fields = self.server.proxy.encode(data["texts"], bool(data.get("is_tokenized", False)))
    except Exception as e:  # reported to the caller as in bert-as-service
      self._send_error(400, e)
      return
    self._send_json(200, {"id": data.get("id"), **fields, "status": 200})

  def do_GET(self):
    proxy = self.server.proxy
    routes = {"/status/server": proxy.server_status, "/status/client": proxy.client_status}
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

  def log_error(self, fmt, *args):  # bad request lines, read timeouts
    log.info("HTTP %s: %s", self.client_address[0], fmt % args)

  def log_message(self, fmt, *args):
    log.debug("%s %s", self.address_string(), fmt % args)
