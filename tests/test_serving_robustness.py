"""serving/ under failure: dying workers, bad batches, late subscribers, batching.

A fake numpy backend stands in for BERT so that worker processes start in a
fraction of a second (no TensorFlow import). Its reply for a text is
[sum of token ids, number of tokens, rows in the model call], so a test can
check each row and see which requests shared a batch.
"""

import json
import os
import signal
import socket
import sys
import threading
import time

import numpy as np
import pytest
import zmq

from serving import args as args_mod
from serving import replies as replies_mod
from serving import server as server_mod
from serving.files import ModelFiles

bert_serving_client = pytest.importorskip("bert_serving.client")
BertClient = bert_serving_client.BertClient

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = os.path.splitext(os.path.basename(__file__))[0]
if HERE not in sys.path:  # spawned workers import MODULE to find FakeBackend
  sys.path.insert(0, HERE)

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["w%d" % i for i in range(60)]
WORDS += ["sleep", "crash", "boom", "short", "nap"]
CALLS = []  # thread workers: the first word id of each row, per model call


class FakeTokenizer:
  vocab = {w: i for i, w in enumerate(WORDS)}

  def tokenize(self, text):
    return [w if w in self.vocab else "[UNK]" for w in text.split()]

  def convert_tokens_to_ids(self, tokens):
    return [self.vocab[t] for t in tokens]


class FakeBackend:
  """sleep: 1 s in the model; nap: 0.05 s; crash: the process dies; boom:
  raises; short: one row too few."""

  def __init__(self, args, files, index):
    self.tokenizer = FakeTokenizer()
    self.max_position_embeddings = 64
    self.info = {"fake_backend": True}

  def encode(self, ids, mask, types):
    present = set(ids.ravel().tolist())
    if self.tokenizer.vocab["crash"] in present:
      os._exit(3)
    if self.tokenizer.vocab["boom"] in present:
      raise RuntimeError("boom")
    if self.tokenizer.vocab["sleep"] in present:
      time.sleep(1.0)
    if self.tokenizer.vocab["nap"] in present:
      time.sleep(0.05)
    CALLS.append(ids[:, 1].tolist())
    out = np.stack([(ids * mask).sum(1), mask.sum(1), np.full(len(ids), len(ids))], 1).astype(
      np.float32
    )
    return out[1:] if self.tokenizer.vocab["short"] in present else out


def dying_backend(args, files, index):
  os._exit(5)


def flaky_backend(args, files, index):
  """FakeBackend, but the process is killed while loading once the file
  $SERVING_TEST_DIE_AT_LOAD-<index> exists."""
  marker = os.environ.get("SERVING_TEST_DIE_AT_LOAD")
  if marker and os.path.exists("%s-%d" % (marker, index)):
    os.kill(os.getpid(), signal.SIGKILL)
  return FakeBackend(args, files, index)


LOAD_TROUBLE = {}  # thread workers: slot index -> "hang" or "die" while loading


def troubled_backend(args, files, index):
  """FakeBackend, but a thread worker whose index LOAD_TROUBLE names hangs
  while loading ("hang", until no longer named) or ends ("die")."""
  while LOAD_TROUBLE.get(index) == "hang":
    time.sleep(0.02)
  if LOAD_TROUBLE.get(index) == "die":
    raise SystemExit  # ends the worker thread, no FATAL message
  return FakeBackend(args, files, index)


def expected(text):
  ids = FakeTokenizer().convert_tokens_to_ids(["[CLS]"] + text.split() + ["[SEP]"])
  return [sum(ids), len(ids)]


FILES = ModelFiles(
  "vocab.txt",
  "bert_config.json",
  "fake.ckpt",
  {"vocab_size": len(WORDS), "max_position_embeddings": 64, "num_hidden_layers": 2},
)


def start(*flags, mode="thread", backend="FakeBackend", ready=True):
  args = args_mod.get_args_parser().parse_args(
    ["-model_dir", "fake", "-port", "0", "-port_out", "0"] + list(flags)
  )
  server = server_mod.BertServer(
    args, backend="%s:%s" % (MODULE, backend), worker_mode=mode, model_files=FILES
  )
  server.start()
  if ready:
    try:
      server.wait_until_ready(60, all_workers=True)
    except BaseException:
      server.close()
      raise
  return server


def client(server, **kw):
  kw.setdefault("timeout", 20000)
  return BertClient(port=server.port, port_out=server.port_out, **kw)


@pytest.fixture(scope="module")
def process_server():
  server = start("-num_worker", "1", mode="process")
  yield server
  server.close()


def test_killed_worker_is_restarted_and_its_batch_rerun(process_server):
  slot = process_server._slots[0]
  first_pid = slot.handle.pid
  with client(process_server) as bc:
    bc.encode(["sleep w1 w2"], blocking=False)
    _wait_until_busy(process_server)
    os.kill(first_pid, signal.SIGKILL)
    (got,) = bc.fetch_all()
    assert got[0, :2].tolist() == expected("sleep w1 w2")
    assert slot.handle.pid != first_pid and slot.generation == 2
    assert bc.encode(["w3"])[0, :2].tolist() == expected("w3")


def test_request_that_kills_workers_gets_an_error_reply(process_server):
  with client(process_server) as bc:
    with pytest.raises(TypeError, match="a worker crashed while encoding"):
      bc.encode(["crash w1"])
    assert bc.encode(["w4"])[0, :2].tolist() == expected("w4")
    status = bc.server_status
  assert status["num_worker_ready"] == 1


def test_workers_dying_at_start_are_fatal():
  server = start("-num_worker", "1", mode="process", backend="dying_backend", ready=False)
  with pytest.raises(RuntimeError, match="died 3 times while loading the model"):
    server.wait_until_ready(60)
  server.join(30)
  assert not server.is_alive()


@pytest.fixture(scope="module")
def thread_server():
  server = start("-num_worker", "1", "-max_batch_size", "16")
  yield server
  server.close()


def _wait_until_busy(server):
  deadline = time.monotonic() + 10
  while server._slots[0].batch is None and time.monotonic() < deadline:
    time.sleep(0.01)


def _encode_concurrently(server, texts):
  """Encodes each text from its own client while the worker is busy."""
  results = {}
  clients = {t: client(server) for t in ["sleep w9"] + texts}
  go = threading.Event()

  def run(text):
    if text != "sleep w9":
      go.wait()
    try:
      results[text] = clients[text].encode([text])[0].tolist()
    except TypeError as e:
      results[text] = e

  threads = {t: threading.Thread(target=run, args=(t,)) for t in clients}
  threads["sleep w9"].start()
  _wait_until_busy(server)  # for 1 s: the others queue up meanwhile
  for t in texts:
    threads[t].start()
  go.set()
  for t in threads.values():
    t.join(30)
  for c in clients.values():
    c.close()
  assert results["sleep w9"] == expected("sleep w9") + [1]
  return results


def test_small_requests_from_different_clients_share_a_batch(thread_server):
  texts = ["w1 w2", "w3", "w4 w5 w6"]
  results = _encode_concurrently(thread_server, texts)
  for text in texts:
    assert results[text] == expected(text) + [3]


def test_a_failing_request_fails_alone(thread_server):
  results = _encode_concurrently(thread_server, ["w1 w2", "boom w3", "w4"])
  assert "encoding failed: RuntimeError: boom" in str(results["boom w3"])
  # The shared batch failed; each request was re-run alone.
  assert results["w1 w2"] == expected("w1 w2") + [1]
  assert results["w4"] == expected("w4") + [1]


def test_a_bad_worker_answer_fails_the_request_not_the_server(thread_server):
  with client(thread_server) as bc:
    with pytest.raises(TypeError, match="bad answer from a worker: 0 rows for 1 texts"):
      bc.encode(["short"])
    assert bc.encode(["w7"])[0].tolist() == expected("w7") + [1]


def test_rows_of_queued_requests_are_packed_up_to_max_batch_size(thread_server):
  with client(thread_server) as bc:
    bc.encode(["sleep"], blocking=False)
    _wait_until_busy(thread_server)
    texts = [" ".join(["w%d" % i] * (1 + i % 3)) for i in range(6)]
    for text in texts:
      bc.encode([text] * 5, blocking=False)  # 6 requests x 5 rows
    results = bc.fetch_all(sort=True)
  assert results[0][0, 2] == 1
  # 30 queued rows: one batch of 16 (requests 1-3 and 1 row of request 4),
  # then 14; request 4 is split across them and its rows stay in order.
  assert [r[:, 2].tolist() for r in results[1:]] == (
    [[16] * 5] * 3 + [[16] + [14] * 4] + [[14] * 5] * 2
  )
  for text, r in zip(texts, results[1:]):
    assert r[:, :2].tolist() == [expected(text)] * 5


def test_reply_waits_for_a_late_subscriber(thread_server):
  context = zmq.Context()
  push = context.socket(zmq.PUSH)
  push.connect("tcp://127.0.0.1:%d" % thread_server.port)
  push.send_multipart([b"late-sub", json.dumps(["w5"]).encode(), b"1", b"1"])
  time.sleep(0.5)  # the reply is ready long before anyone subscribes
  sub = context.socket(zmq.SUB)
  sub.setsockopt(zmq.SUBSCRIBE, b"late-sub")
  sub.connect("tcp://127.0.0.1:%d" % thread_server.port_out)
  try:
    assert sub.poll(10000)
    frames = sub.recv_multipart()
    assert frames[0] == b"late-sub" and frames[-1] == b"1"
    meta = json.loads(frames[1])
    arr = np.frombuffer(frames[2], dtype=meta["dtype"]).reshape(meta["shape"])
    assert arr[0, :2].tolist() == expected("w5")
  finally:
    push.close(0)
    sub.close(0)
    context.term()


def test_unclaimed_replies_expire(thread_server, monkeypatch, caplog):
  monkeypatch.setattr(replies_mod, "HOLD_SECONDS", 0.1)
  context = zmq.Context()
  push = context.socket(zmq.PUSH)
  push.connect("tcp://127.0.0.1:%d" % thread_server.port)
  push.send_multipart([b"never-subscribes", b'["w6"]', b"4", b"1"])
  try:
    deadline = time.monotonic() + 10
    while "never subscribed" not in caplog.text and time.monotonic() < deadline:
      time.sleep(0.05)
    assert "dropped reply 4: client b'never-subscribes' never subscribed" in caplog.text
    assert not thread_server._held
  finally:
    push.close(0)
    context.term()


def _non_loopback_ipv4():
  s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
  try:
    s.connect(("10.255.255.255", 1))  # no packet is sent
    ip = s.getsockname()[0]
  except OSError:
    return None
  finally:
    s.close()
  return None if ip.startswith("127.") else ip


@pytest.mark.parametrize("allow", [False, True])
def test_termination_from_another_host_needs_a_flag(allow):
  ip = _non_loopback_ipv4()
  if ip is None:
    pytest.skip("no non-loopback IPv4 address")
  flags = ["-ip", "0.0.0.0"] + (["-allow_remote_termination"] if allow else [])
  server = start(*flags)
  try:
    if allow:
      server_mod.terminate(ip, server.port, 5000)  # arrives from `ip`, not 127.0.0.1
    else:
      with pytest.raises(TimeoutError, match="refuses TERMINATION from other hosts"):
        server_mod.terminate(ip, server.port, 1500)
    server.join(1.0)
    assert server.is_alive() != allow
  finally:
    server.close()


def test_terminate_from_loopback_stops_a_server():
  server = start()
  server_mod.terminate("127.0.0.1", server.port)
  server.join(10)
  assert not server.is_alive() and server.error is None
