"""serving/ under the faults of issue #18: nothing silent, nothing stuck.

Exhausted HTTP connections (under a low open-file limit), bad HTTP framing,
oversized and abandoned requests, a stopped (SIGSTOP) worker, a worker killed
while it reloads, and bert-serving-terminate's acknowledgement. The servers
use the fake backend of test_serving_robustness (no TensorFlow), on loopback.
"""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import test_serving_robustness as rb
import zmq

from serving import cli, supervisor, worker
from serving import server as server_mod
from serving.background import free_ports

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FD_LIMIT = 300

# A server in a child process whose open-file limit is FD_LIMIT; it prints
# its ports as JSON, logs to stderr and stops when its stdin closes.
CHILD = """
import json, os, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE,
                   (%d, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
sys.path[:0] = [%r, %r]
from serving import logs
logs.configure(False)
import test_serving_robustness as rb
server = rb.start(*sys.argv[1:])
print(json.dumps({"port": server.port, "port_out": server.port_out,
                  "http_port": server.args.http_port, "pid": os.getpid()}),
      flush=True)
sys.stdin.read()
server.close()
""" % (FD_LIMIT, ROOT, HERE)


class ChildServer:
  """The CHILD server; `new_log()` is what it logged since the last call."""

  def __init__(self, log_path, *flags):
    self.log_path = log_path
    self.proc = subprocess.Popen(
      [sys.executable, "-c", CHILD] + list(flags),
      stdin=subprocess.PIPE,
      stdout=subprocess.PIPE,
      stderr=open(log_path, "w"),
      text=True,
    )
    self.__dict__.update(json.loads(self.proc.stdout.readline()))
    self._seen = 0

  def new_log(self) -> str:
    with open(self.log_path) as f:
      text = f.read()
    out, self._seen = text[self._seen :], len(text)
    return out

  def open_fds(self) -> int:
    return len(os.listdir("/proc/%d/fd" % self.pid))

  def stop(self):
    self.proc.stdin.close()
    try:
      self.proc.wait(30)
    except subprocess.TimeoutExpired:
      self.proc.kill()
      self.proc.wait()


@pytest.fixture(scope="module")
def child(tmp_path_factory):
  server = ChildServer(
    str(tmp_path_factory.mktemp("faults") / "server.log"), "-http_port", "0", "-http_timeout", "2"
  )
  yield server
  server.stop()


def raw_http(port, request: bytes, timeout=10.0) -> bytes:
  """Sends `request` on a fresh connection; all bytes until the server
  closes it."""
  with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
    s.sendall(request)
    chunks = []
    while True:
      chunk = s.recv(65536)
      if not chunk:
        return b"".join(chunks)
      chunks.append(chunk)


def status_code(response: bytes) -> int:
  return int(response.split(b" ", 2)[1])


def http_json(port, method, path, payload=None):
  body = b"" if payload is None else json.dumps(payload).encode()
  request = (
    "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
    "Connection: close\r\n\r\n" % (method, path, len(body))
  ).encode()
  response = raw_http(port, request + body)
  return status_code(response), json.loads(response.split(b"\r\n\r\n", 1)[1])


def zmq_encode_works(server) -> bool:
  with rb.client(server, timeout=5000) as bc:
    return bc.encode(["w1 w2"])[0, :2].tolist() == rb.expected("w1 w2")


def reset_close(sock):
  """Closes with a TCP reset, as a client that crashed or gave up."""
  sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
  sock.close()


# ------------------------------------------------------------- HTTP proxy


def test_idle_http_connections_starve_neither_api(child):
  held = []
  try:
    for i in range(FD_LIMIT - 10):  # idle, and every 10th half-sent
      s = socket.create_connection(("127.0.0.1", child.http_port), timeout=5)
      if i % 10 == 0:
        s.sendall(b"POST /encode HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
      held.append(s)
    assert child.open_fds() < FD_LIMIT - 100  # at most a quarter are HTTP's
    assert zmq_encode_works(child)
    start = time.monotonic()
    code, _ = http_json(child.http_port, "GET", "/status/server")
    assert code in (200, 503) and time.monotonic() - start < 3
    for s in held:  # -http_timeout 2: the server closes the silent ones
      s.settimeout(10)
      data = s.recv(4096)
      assert data == b"" or status_code(data) == 503
  finally:
    for s in held:
      reset_close(s)
  code, body = http_json(child.http_port, "POST", "/encode", {"id": 5, "texts": ["w3"]})
  assert (code, body["id"], body["result"][0][:2]) == (200, 5, rb.expected("w3"))
  log = child.new_log()
  assert "Traceback" not in log and "new ones get 503" in log


def test_http_clients_that_leave_early_cost_one_log_line_each(child):
  child.new_log()
  for _ in range(100):
    s = socket.create_connection(("127.0.0.1", child.http_port), timeout=5)
    s.sendall(b"POST /encode HTTP/1.1\r\nContent-Length: 5\r\n\r\n{bad}")
    reset_close(s)
  time.sleep(1.0)
  code, _ = http_json(child.http_port, "GET", "/status/server")
  assert code == 200
  lines = child.new_log().splitlines()
  assert not [line for line in lines if "Traceback" in line or line.startswith(" ")]
  assert 1 <= len([line for line in lines if ":HTTP:" in line]) <= 100


@pytest.mark.parametrize(
  "header, code, words",
  [
    (b"Content-Length: abc", 400, b"not a number"),
    (b"Content-Length: -5", 400, b"not a number"),
    (b"Content-Length: 1000000000000", 400, b"-max_request_bytes"),
    (b"Transfer-Encoding: chunked", 411, b"chunked"),
    (b"X-No-Length: 1", 411, b"Content-Length"),
  ],
)
def test_bad_http_body_framing_gets_one_4xx_reply(child, header, code, words):
  child.new_log()
  response = raw_http(
    child.http_port,
    b"POST /encode HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n5\r\n[\"w1\"]\r\n0\r\n\r\n",
  )
  assert status_code(response) == code and words in response
  assert response.count(b"HTTP/1.1 ") == 1  # the body is never read as a request
  assert "Traceback" not in child.new_log()


# ------------------------------------------------------------- work limits


@pytest.fixture(scope="module")
def small_server():
  server = rb.start(
    "-num_worker",
    "1",
    "-max_batch_size",
    "4",
    "-max_batch_texts",
    "50",
    "-max_request_bytes",
    "2000",
  )
  yield server
  server.close()


def raw_request(server, frames):
  """Sends raw request frames as a client would; the reply frames."""
  context = zmq.Context()
  push, sub = context.socket(zmq.PUSH), context.socket(zmq.SUB)
  sub.setsockopt(zmq.SUBSCRIBE, frames[0])
  push.connect("tcp://127.0.0.1:%d" % server.port)
  sub.connect("tcp://127.0.0.1:%d" % server.port_out)
  try:
    push.send_multipart(frames)
    assert sub.poll(10000)
    return sub.recv_multipart()
  finally:
    push.close(0)
    sub.close(0)
    context.term()


def test_requests_over_the_limits_get_an_error_reply_naming_it(small_server, caplog):
  with rb.client(small_server, check_length=False) as bc:
    seen = bc.server_status["statistic"]["num_total_seq"]
    with pytest.raises(TypeError, match="51 texts exceeds -max_batch_texts 50"):
      bc.encode(["w1"] * 51)
    with pytest.raises(TypeError, match="exceeds -max_request_bytes 2000"):
      bc.encode(["w1 " * 60] * 20)
    assert bc.encode(["w2"] * 50).shape == (50, 3)
    huge_count = raw_request(small_server, [b"digits", b'["w1"]', b"7", b"9" * 5000])
    assert b"exceeds -max_batch_texts 50" in huge_count[1] and huge_count[-1] == b"7"
    wrong_count = raw_request(small_server, [b"liar", b'["w1", "w2"]', b"8", b"40"])
    assert json.loads(wrong_count[1])["shape"] == [2, 3]
    # Counted: 51 + 50 + 2 texts that arrived, not the 20 refused unread
    # nor the counts the requests claimed.
    assert bc.server_status["statistic"]["num_total_seq"] - seen == 103
  assert "Traceback" not in caplog.text and "failed to handle" not in caplog.text


def test_a_request_far_over_the_limit_is_cut_off_unread(small_server):
  assert small_server.frontend.getsockopt(zmq.MAXMSGSIZE) == server_mod.max_frame_bytes(2000)
  assert server_mod.max_frame_bytes(2000) == 1 << 20  # at least 1 MiB
  assert server_mod.max_frame_bytes(64 << 20) == 256 << 20  # else 4 x -max_request_bytes
  with rb.client(small_server) as bc:
    seen = bc.server_status["statistic"]["num_data_request"]
  context = zmq.Context()
  push, sub = context.socket(zmq.PUSH), context.socket(zmq.SUB)
  sub.setsockopt(zmq.SUBSCRIBE, b"huge")
  push.connect("tcp://127.0.0.1:%d" % small_server.port)
  sub.connect("tcp://127.0.0.1:%d" % small_server.port_out)
  try:
    push.send_multipart([b"huge", b'["' + b"w" * (2 << 20) + b'"]', b"1", b"1"])
    assert not sub.poll(1500)  # ZeroMQ dropped the connection, nothing was read
  finally:
    push.close(0)
    sub.close(0)
    context.term()
  # 450 times the limit, under the cut-off: read, and refused with the reply naming the limit.
  moderate = raw_request(small_server, [b"moderate", b'["' + b"w" * 900000 + b'"]', b"2", b"1"])
  assert b"of 900004 bytes exceeds -max_request_bytes 2000" in moderate[1]
  with rb.client(small_server) as bc:
    assert bc.server_status["statistic"]["num_data_request"] == seen + 1
    assert bc.encode(["w1"])[0, :2].tolist() == rb.expected("w1")


def first_words(calls):
  return [{rb.WORDS[i] for i in row} for row in calls]


def test_a_large_request_does_not_hold_up_others(small_server):
  rb.CALLS.clear()
  with rb.client(small_server) as big, rb.client(small_server) as other:
    big.encode(["nap w1"] * 48, blocking=False)  # 12 batches of 4
    rb._wait_until_busy(small_server)
    other.encode(["w2"] * 20)  # > -priority_batch_size: queued as large too
    assert big.fetch_all()[0].shape == (48, 3)
  batches = first_words(rb.CALLS)
  last_other = max(i for i, w in enumerate(batches) if "w2" in w)
  last_big = max(i for i, w in enumerate(batches) if "nap" in w)
  assert last_other < last_big - 4, batches  # they took turns


def test_rows_of_a_client_that_left_are_not_encoded(small_server, caplog):
  caplog.set_level(logging.INFO, logger="serving")
  rb.CALLS.clear()
  with rb.client(small_server) as gone:
    gone.encode(["nap w4"] * 40, blocking=False)  # 10 batches of 4
    rb._wait_until_busy(small_server)
  time.sleep(0.5)
  done = len(rb.CALLS)
  assert done < 10 and "dropped 1 unanswered request(s)" in caplog.text
  with rb.client(small_server) as bc:
    assert bc.encode(["w5"])[0, :2].tolist() == rb.expected("w5")
  assert len(rb.CALLS) == done + 1


# ---------------------------------------------------------------- workers


def encode_in_thread(server, texts):
  """Starts a blocking encode; returns (thread, result dict)."""
  result = {}

  def run():
    try:
      with rb.client(server, timeout=20000) as bc:
        result["value"] = bc.encode(texts)
    except Exception as e:  # checked by the test
      result["value"] = e

  thread = threading.Thread(target=run)
  thread.start()
  return thread, result


def wait_for(condition, timeout=20.0):
  deadline = time.monotonic() + timeout
  while not condition():
    assert time.monotonic() < deadline, "timed out"
    time.sleep(0.02)


def test_a_stopped_worker_is_killed_restarted_and_its_batch_rerun():
  server = rb.start("-num_worker", "1", "-worker_timeout", "1", mode="process")
  slot = server._slots[0]
  pid = slot.handle.pid
  try:
    os.kill(pid, signal.SIGSTOP)
    start = time.monotonic()
    thread, result = encode_in_thread(server, ["w6 w7"])
    thread.join(30)
    assert result["value"][0, :2].tolist() == rb.expected("w6 w7")
    assert slot.generation == 2 and time.monotonic() - start < 15
  finally:
    server.close()
    if os.path.exists("/proc/%d" % pid):
      os.kill(pid, signal.SIGKILL)


def die_at_load(tmp_path, monkeypatch, index):
  """From now on, WORKER-<index> is killed while it loads the model."""
  monkeypatch.setenv("SERVING_TEST_DIE_AT_LOAD", str(tmp_path / "die"))
  (tmp_path / ("die-%d" % index)).touch()


def busy_slot(server, exclude=None):
  wait_for(lambda: any(s.batch and s is not exclude for s in server._slots))
  return next(s for s in server._slots if s.batch and s is not exclude)


def test_a_worker_that_cannot_come_back_leaves_the_others_serving(tmp_path, monkeypatch, caplog):
  monkeypatch.setenv("SERVING_TEST_DIE_AT_LOAD", str(tmp_path / "die"))
  server = rb.start("-num_worker", "2", mode="process", backend="flaky_backend")
  try:
    first = encode_in_thread(server, ["sleep w1"])
    healthy = busy_slot(server)
    second = encode_in_thread(server, ["sleep w2"])
    doomed = busy_slot(server, exclude=healthy)
    die_at_load(tmp_path, monkeypatch, doomed.index)
    os.kill(doomed.handle.pid, signal.SIGKILL)  # then killed at each reload
    for (thread, result), text in ((first, "sleep w1"), (second, "sleep w2")):
      thread.join(30)
      assert result["value"][0, :2].tolist() == rb.expected(text)
    wait_for(lambda: doomed.given_up)
    assert server.is_alive() and zmq_encode_works(server)
  finally:
    server.close()
  given_up = [r for r in caplog.records if "giving up" in r.getMessage()]
  assert len(given_up) == 1
  assert "WORKER-%d died 3 times while loading the model" % doomed.index in given_up[0].getMessage()
  assert "1 of 2 workers left" in given_up[0].getMessage()


def test_when_no_worker_can_come_back_pending_requests_get_an_error(tmp_path, monkeypatch):
  monkeypatch.setenv("SERVING_TEST_DIE_AT_LOAD", str(tmp_path / "die"))
  server = rb.start("-num_worker", "1", mode="process", backend="flaky_backend")
  try:
    thread, result = encode_in_thread(server, ["sleep w3"])
    slot = busy_slot(server)
    die_at_load(tmp_path, monkeypatch, 0)
    os.kill(slot.handle.pid, signal.SIGKILL)
    thread.join(30)
    assert isinstance(result["value"], TypeError)
    assert "no worker left: WORKER-0 died 3 times" in str(result["value"])
    server.join(15)
    assert not server.is_alive() and "no worker left" in server.error
  finally:
    server.close()


def test_a_worker_hanging_while_it_loads_is_restarted(monkeypatch, caplog):
  monkeypatch.setattr(supervisor, "MIN_LOAD_SECONDS", 0.0)  # the limit: -worker_timeout
  monkeypatch.setitem(rb.LOAD_TROUBLE, 1, "hang")
  server = rb.start(
    "-num_worker", "2", "-worker_timeout", "0.5", backend="troubled_backend", ready=False
  )
  try:
    slot = server._slots[1]
    wait_for(lambda: slot.generation == 2)  # killed (a thread: abandoned), started anew
    assert slot.start_failures == 1
    del rb.LOAD_TROUBLE[1]
    server.wait_until_ready(20, all_workers=True)
    assert zmq_encode_works(server)
  finally:
    server.close()
  assert "WORKER-1 hung for over 0.5 s while loading the model; restarting it in 0.5 s" in (
    caplog.text
  )


# troubled_backend ends a thread worker with SystemExit, which pytest reports.
QUIET_THREAD_EXIT = pytest.mark.filterwarnings(
  "ignore::pytest.PytestUnhandledThreadExceptionWarning"
)


@QUIET_THREAD_EXIT
def test_a_given_up_worker_is_tried_again_after_a_cool_down(monkeypatch, caplog):
  monkeypatch.setattr(supervisor, "COOL_DOWN_SECONDS", 1.0)
  monkeypatch.setitem(rb.LOAD_TROUBLE, 1, "die")
  server = rb.start("-num_worker", "2", backend="troubled_backend", ready=False)
  try:
    slot = server._slots[1]
    wait_for(lambda: slot.given_up)
    del rb.LOAD_TROUBLE[1]
    assert zmq_encode_works(server)  # the other worker serves meanwhile
    wait_for(lambda: slot.ready)
    assert server.is_alive() and slot.generation >= 4
  finally:
    server.close()
  messages = [r.getMessage() for r in caplog.records]
  assert (
    "WORKER-1 died 3 times while loading the model (last: died (exit code None)); "
    "giving up on it for 1 s, 1 of 2 workers left" in messages
  )
  assert "WORKER-1: trying it again after a 1 s cool-down" in messages


@QUIET_THREAD_EXIT
def test_the_server_stops_when_every_worker_is_given_up(monkeypatch):
  monkeypatch.setattr(supervisor, "COOL_DOWN_SECONDS", 60.0)
  monkeypatch.setitem(rb.LOAD_TROUBLE, 0, "die")
  monkeypatch.setitem(rb.LOAD_TROUBLE, 1, "die")
  server = rb.start("-num_worker", "2", backend="troubled_backend", ready=False)
  try:
    with pytest.raises(RuntimeError, match="no worker left: WORKER-. died 3 times"):
      server.wait_until_ready(30)
    server.join(15)
    assert not server.is_alive()
  finally:
    server.close()


def fail_sends(server, monkeypatch, fails):
  """From now on the server's BATCH and PING sends for which `fails(identity)`
  is true raise EHOSTUNREACH, as for a worker the ROUTER socket cannot reach."""
  send = server.workers.send_multipart

  def send_or_fail(frames, *args, **kwargs):
    if frames[1] in (worker.BATCH, worker.PING) and fails(frames[0]):
      raise zmq.ZMQError(zmq.EHOSTUNREACH)
    return send(frames, *args, **kwargs)

  monkeypatch.setattr(server.workers, "send_multipart", send_or_fail)


def test_a_worker_unreachable_for_a_moment_gets_batches_again(monkeypatch, caplog):
  caplog.set_level(logging.INFO, logger="serving")
  server = rb.start("-num_worker", "1")
  unreachable = threading.Event()
  unreachable.set()
  fail_sends(server, monkeypatch, lambda identity: unreachable.is_set())
  try:
    thread, result = encode_in_thread(server, ["w1 w2"])
    wait_for(lambda: "cannot reach WORKER-0" in caplog.text)
    time.sleep(0.5)  # probed meanwhile, in vain
    unreachable.clear()
    thread.join(30)
    assert result["value"][0, :2].tolist() == rb.expected("w1 w2")
    assert zmq_encode_works(server) and server._slots[0].generation == 1
  finally:
    server.close()
  assert caplog.text.count("cannot reach WORKER-0") == 1
  assert "WORKER-0 can be reached again" in caplog.text


def test_a_worker_unreachable_too_long_is_restarted(monkeypatch, caplog):
  monkeypatch.setattr(supervisor, "UNREACHABLE_SECONDS", 0.5)
  server = rb.start("-num_worker", "1")
  fail_sends(server, monkeypatch, lambda identity: identity == b"worker-0-1")
  try:
    with rb.client(server, timeout=10000) as bc:
      assert bc.encode(["w1 w2"])[0, :2].tolist() == rb.expected("w1 w2")
    assert server._slots[0].generation == 2
  finally:
    server.close()
  assert "WORKER-0 could not be reached for over 0.5 s; restarting it" in caplog.text


# ---------------------------------------------------------------- terminate


def test_terminate_succeeds_only_when_the_server_takes_it(capsys):
  context = zmq.Context()
  deaf = context.socket(zmq.PULL)  # takes TERMINATION, never stops
  port = deaf.bind_to_random_port("tcp://127.0.0.1")
  try:
    assert cli.terminate(["-port", str(port), "-timeout", "1000"]) == 1
    assert "did not stop within 1000 ms" in capsys.readouterr().err
    assert deaf.poll(1000) and deaf.recv_multipart()[1] == b"TERMINATION"
  finally:
    deaf.close(0)
    context.term()
  assert cli.terminate(["-port", str(port), "-timeout", "500"]) == 1
  err = capsys.readouterr().err
  assert err.startswith("bert-serving-terminate: error: no server at localhost:%d" % port)
  assert err.count("\n") == 1
  server = rb.start()
  assert cli.terminate(["-port", str(server.port)]) == 0
  assert "acknowledged" in capsys.readouterr().out
  server.join(10)
  assert not server.is_alive() and server.error is None


def test_a_client_that_never_reached_a_server_is_collected_without_hanging():
  """The unmodified client's constructor times out against a dead port and
  leaves its sockets open; collecting them must not hang the test process
  (tests/conftest.py closes them when the constructor raises)."""
  import gc

  from bert_serving.client import BertClient

  port, port_out = free_ports(2)
  with pytest.raises(TimeoutError):
    BertClient(port=port, port_out=port_out, timeout=200)
  collector = threading.Thread(target=gc.collect, daemon=True)
  collector.start()
  collector.join(20)
  assert not collector.is_alive(), "garbage-collecting the client's context hung"
