"""serving/ end to end: a tiny BERT served to the real bert-serving-client 1.10.0.

One server with two worker processes is shared by most tests (module
fixture); the pooling-strategy tests start cheap in-process-worker servers.
Expected embeddings are computed here from `bert.modeling.BertEncoder` and
the formulas of bert-as-service 1.10.0, independently of serving/.
"""

import contextlib
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
import zmq
from emotion_data import tiny_config

from bert import checkpoint, modeling, tokenization
from serving import args as args_mod
from serving.background import free_ports
from serving.server import BertServer

bert_serving_client = pytest.importorskip("bert_serving.client")
BertClient = bert_serving_client.BertClient
ConcurrentBertClient = bert_serving_client.ConcurrentBertClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = (
  "the a is was good bad day night hello world movie film great "
  "terrible i you it this that and or not very"
).split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIAL + WORDS + ["##s", "##ing", ",", ".", "!", "?"]
VOCAB += ["w%d" % i for i in range(100 - len(VOCAB))]
CONFIG = tiny_config(len(VOCAB), initializer_range=0.2)
SEQ_LEN = 16
LABELS = ["neg", "neutral", "pos"]
TEXTS = [
  "hello world",
  "the movie was good",
  "a very terrible film !",
  "you and i ||| this is not that",
  "zebra crossing",
]


def save_v2(prefix, tensors):
  """Name-based checkpoint writer, independent of tf.train.Checkpoint."""
  names = sorted(tensors)
  tf.raw_ops.SaveV2(
    prefix=prefix,
    tensor_names=names,
    shape_and_slices=[""] * len(names),
    tensors=[tf.convert_to_tensor(tensors[n]) for n in names],
  )


class Model:
  """The tiny BERT on disk plus a reference encoder of it."""

  def __init__(self, root):
    self.dir = os.path.join(root, "tiny_bert")
    self.tuned_dir = os.path.join(root, "run_classifier_output")
    os.makedirs(self.dir)
    os.makedirs(self.tuned_dir)
    with open(os.path.join(self.dir, "vocab.txt"), "w") as f:
      f.write("\n".join(VOCAB) + "\n")
    with open(os.path.join(self.dir, "bert_config.json"), "w") as f:
      json.dump(CONFIG, f)
    tf.random.set_seed(7)
    config = modeling.BertConfig.from_dict(dict(CONFIG))
    self.encoder = modeling.BertEncoder(config)
    weights = {n: v.numpy() for n, v in self.encoder.variables_by_name.items()}
    save_v2(os.path.join(self.dir, "bert_model.ckpt"), weights)
    # A run_classifier output: model.ckpt-N with the head, Adam slots and
    # global_step; the newest N must be served.
    rng = np.random.RandomState(0)
    for step in (3, 7):
      head = {
        "output_weights": rng.randn(3, 32).astype(np.float32),
        "output_bias": rng.randn(3).astype(np.float32),
        "global_step": np.int64(step),
        "bert/pooler/dense/bias/adam_m": np.zeros(32, np.float32),
      }
      save_v2(os.path.join(self.tuned_dir, "model.ckpt-%d" % step), dict(weights, **head))
    self.head = head
    with open(os.path.join(self.tuned_dir, "labels.json"), "w") as f:
      json.dump(LABELS, f)
    # Prove the files load by name before comparing anything.
    checkpoint.load_variables(
      self.encoder.variables_by_name, os.path.join(self.dir, "bert_model.ckpt")
    )
    self.tokenizer = tokenization.FullTokenizer(
      os.path.join(self.dir, "vocab.txt"), do_lower_case=True
    )

  def inputs(self, texts, seq_len=SEQ_LEN, mask_cls_sep=False, special_tokens=True):
    """bert-as-service's layout (short texts: no truncation needed)."""
    rows = []
    for text in texts:
      if isinstance(text, list):
        a = [t if t in self.tokenizer.vocab else "[UNK]" for t in text]
        b = None
      else:
        first, _, second = text.partition(" ||| ")
        a = self.tokenizer.tokenize(first)
        b = self.tokenizer.tokenize(second) if second else None
      if not special_tokens:
        rows.append((a, [1] * len(a), [0] * len(a)))
        continue
      tokens = ["[CLS]"] + a + ["[SEP]"] + (b + ["[SEP]"] if b else [])
      types = [0] * (len(a) + 2) + [1] * (len(b) + 1 if b else 0)
      mask = [0 if mask_cls_sep and t in ("[CLS]", "[SEP]") else 1 for t in tokens]
      rows.append((tokens, mask, types))
    seq_len = seq_len or max(len(r[0]) for r in rows)
    pad = lambda v: v + [0] * (seq_len - len(v))
    ids = [pad(self.tokenizer.convert_tokens_to_ids(r[0])) for r in rows]
    return (
      np.array(ids, np.int32),
      np.array([pad(r[1]) for r in rows], np.int32),
      np.array([pad(r[2]) for r in rows], np.int32),
      [r[0] for r in rows],
    )

  def expected(self, texts, strategy="REDUCE_MEAN", layers=(-2,), **kw):
    """What the server must reply, from bert-as-service's formulas."""
    ids, mask, types, _ = self.inputs(texts, **kw)
    out = self.encoder(ids, input_mask=mask, token_type_ids=types)
    pooled = out["pooled_output"].numpy()
    if strategy == "CLS_POOLED":
      return pooled
    if strategy == "CLASSIFICATION":
      logits = pooled @ self.head["output_weights"].T + self.head["output_bias"]
      return np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    x = np.concatenate([out["all_encoder_layers"][i].numpy() for i in layers], -1)
    m = mask.astype(np.float32)[:, :, None]
    mean = (x * m).sum(1) / (m.sum(1) + 1e-10)
    mx = (x - (1 - m) * 1e30).max(1)
    return {
      "REDUCE_MEAN": mean,
      "REDUCE_MAX": mx,
      "REDUCE_MEAN_MAX": np.concatenate([mean, mx], 1),
      "FIRST_TOKEN": x[:, 0],
      "CLS_TOKEN": x[:, 0],
      "LAST_TOKEN": x[np.arange(len(x)), mask.sum(1) - 1],
      "SEP_TOKEN": x[np.arange(len(x)), mask.sum(1) - 1],
      "NONE": x * m,
    }[strategy]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
  return Model(str(tmp_path_factory.mktemp("serving")))


def start_server(model, *flags, worker_mode="thread", all_workers=False):
  args = args_mod.get_args_parser().parse_args(
    ["-model_dir", model.dir, "-port", "0", "-port_out", "0"] + list(flags)
  )
  server = BertServer(args, worker_mode=worker_mode)
  server.start()
  try:
    server.wait_until_ready(120, all_workers=all_workers)
  except BaseException:
    server.close()
    raise
  return server


@contextlib.contextmanager
def serving(model, *flags):
  server = start_server(model, *flags)
  try:
    yield server
  finally:
    server.close()


def client(server, **kw):
  kw.setdefault("timeout", 30000)
  return BertClient(port=server.port, port_out=server.port_out, **kw)


@pytest.fixture(scope="module")
def server(model):
  """Two worker processes, small batches (to split), tokens and HTTP on."""
  server = start_server(
    model,
    "-num_worker",
    "2",
    "-max_seq_len",
    str(SEQ_LEN),
    "-max_batch_size",
    "8",
    "-show_tokens_to_client",
    "-http_port",
    "0",
    "-cpu",
    worker_mode="process",
    all_workers=True,
  )
  yield server
  server.close()


@pytest.fixture
def bc(server):
  with client(server) as c:
    yield c


# ----------------------------------------------------------- protocol basics


def test_server_config_and_status(server, bc):
  config = bc.server_config
  assert config["server_version"] == "1.10.0"
  assert config["max_seq_len"] == SEQ_LEN and config["show_tokens_to_client"] is True
  assert config["pooling_strategy"] == 2 and config["pooling_layer"] == [-2]
  assert config["num_worker"] == 2 and config["port"] == server.port
  assert config["client"] == bc.identity.decode()
  assert isinstance(config["tensorflow_version"], list)
  assert bc.length_limit == SEQ_LEN and bc.token_info_available
  status = bc.server_status
  assert status["statistic"]["num_sys_request"] >= 2
  assert status["num_worker_ready"] == 2


def test_encode_strings_and_pairs_match_the_model(model, bc):
  got = bc.encode(TEXTS)
  assert got.dtype == np.float32 and got.shape == (len(TEXTS), 32)
  np.testing.assert_allclose(got, model.expected(TEXTS), atol=1e-5)


def test_tokenized_input_and_show_tokens(model, bc):
  texts = [["hello", "World", "zebra"], ["the", "movie"]]
  got, tokens = bc.encode(texts, is_tokenized=True, show_tokens=True)
  assert tokens == [
    ["[CLS]", "hello", "[UNK]", "[UNK]", "[SEP]"],
    ["[CLS]", "the", "movie", "[SEP]"],
  ]
  np.testing.assert_allclose(got, model.expected(texts), atol=1e-5)
  _, tokens = bc.encode(["Hello, world ||| it is"], show_tokens=True)
  assert tokens == [["[CLS]", "hello", ",", "world", "[SEP]", "it", "is", "[SEP]"]]


def test_large_request_is_split_and_keeps_row_order(model, bc):
  texts = [
    "w%d w%d %s" % (i % 50 + 40, i % 7 + 40, WORDS[i % len(WORDS)]) for i in range(45)
  ]  # > max_batch_size 8: six batches
  got, tokens = bc.encode(texts, show_tokens=True)
  np.testing.assert_allclose(got, model.expected(texts), atol=1e-5)
  assert tokens == model.inputs(texts)[3]


def test_fresh_clients_first_request_is_answered(model, server):
  for _ in range(5):  # no SHOW_CONFIG first: the reply races the SUBSCRIBE
    with client(server, ignore_all_checks=True, timeout=10000) as c:
      np.testing.assert_allclose(
        c.encode(["hello world"]), model.expected(["hello world"]), atol=1e-5
      )


def test_non_blocking_encode_fetch_all_and_encode_async(model, bc):
  for text in TEXTS:
    assert bc.encode([text], blocking=False) is None
  got = bc.fetch_all(sort=True, concat=True)
  np.testing.assert_allclose(got, model.expected(TEXTS), atol=1e-5)
  assert bc.fetch_all() is None
  batches = [TEXTS[:2], TEXTS[2:]]
  results = sorted(bc.encode_async(iter(batches), max_num_batch=2, delay=0.05), key=lambda r: r.id)
  assert len(results) == 2
  np.testing.assert_allclose(
    np.concatenate([r.embedding for r in results]), model.expected(TEXTS), atol=1e-5
  )


def test_concurrent_clients_each_get_their_own_rows(model, server):
  pool = ["%s %s w%d" % (WORDS[i % 23], WORDS[(i // 23) % 23], 30 + i % 69) for i in range(401)]
  expected = model.expected(pool)
  errors = []

  def run(c):
    try:
      with client(server) as bc:
        for i in range(100):
          k = c * 100 + i
          rows = [k] if i % 2 else [k, k + 1]
          got = bc.encode([pool[r] for r in rows])
          np.testing.assert_allclose(got, expected[rows], atol=1e-5)
    except Exception as e:  # reported below
      errors.append(e)

  threads = [threading.Thread(target=run, args=(c,)) for c in range(4)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(120)
  assert not errors, errors[0]


def test_concurrent_bert_client(model, server):
  cbc = ConcurrentBertClient(
    max_concurrency=3, port=server.port, port_out=server.port_out, timeout=30000
  )
  want = model.expected(TEXTS)
  errors = []

  def run(i):
    try:
      for _ in range(10):
        np.testing.assert_allclose(cbc.encode(texts=TEXTS[i : i + 2]), want[i : i + 2], atol=1e-5)
    except Exception as e:  # reported below
      errors.append(e)

  threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(60)
  assert not errors, errors[0]
  assert cbc.server_config["server_version"] == "1.10.0"
  cbc.close()


# ---------------------------------------------------------------------- HTTP


def http(server, path, payload=None):
  url = "http://127.0.0.1:%d%s" % (server.http.port, path)
  data = None if payload is None else json.dumps(payload).encode()
  request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
  try:
    with urllib.request.urlopen(request, timeout=30) as r:
      return r.status, json.loads(r.read())
  except urllib.error.HTTPError as e:
    return e.code, json.loads(e.read())


def test_http_encode_and_status(model, server):
  code, body = http(server, "/encode", {"id": 123, "texts": TEXTS[:2]})
  assert code == 200 and body["id"] == 123 and body["status"] == 200
  np.testing.assert_allclose(body["result"], model.expected(TEXTS[:2]), atol=1e-5)
  code, body = http(
    server, "/encode", {"id": 1, "texts": [["hello", "world"]], "is_tokenized": True}
  )
  assert code == 200 and len(body["result"]) == 1
  code, body = http(server, "/status/server")
  assert code == 200 and body["server_version"] == "1.10.0" and "statistic" in body
  code, body = http(server, "/encode", {"id": 1, "texts": ["ok", "  "]})
  assert (code, body["status"], body["type"]) == (400, 400, "ValueError")
  code, body = http(server, "/encode", {"id": 1, "text": ["a"]})
  assert (code, body["type"]) == (400, "KeyError")
  assert body["description"] == (
    'the body has no "texts" (keys: id, text); POST /encode takes a JSON object '
    '{"id": <any, echoed>, "texts": ["a text", ...], "is_tokenized": false}'
  )
  code, body = http(server, "/encode", ["a"])
  assert (code, body["type"]) == (400, "TypeError") and "takes a JSON object" in body["description"]


# ------------------------------------------------------------ bad requests


def test_malformed_requests_are_dropped_or_answered_and_server_lives(model, server, bc):
  context = zmq.Context()
  push = context.socket(zmq.PUSH)
  sub = context.socket(zmq.SUB)
  identity = b"raw-client"
  sub.setsockopt(zmq.SUBSCRIBE, identity)
  push.connect("tcp://127.0.0.1:%d" % server.port)
  sub.connect("tcp://127.0.0.1:%d" % server.port_out)
  try:
    push.send_multipart([identity, b'["a"]'])  # 2 frames: dropped
    push.send_multipart([identity, b'["a"]', b"x1", b"1"])  # bad id: dropped
    push.send_multipart([identity, b"{not json", b"7", b"1"])
    push.send_multipart([identity, b"[1, 2]", b"8", b"2"])
    push.send_multipart([identity, b"\xff\xfe", b"9", b"1"])
    push.send_multipart([identity, b"[" * 100000, b"10", b"1"])
    replies = {}
    while len(replies) < 4 and sub.poll(10000):
      frames = sub.recv_multipart()
      replies[frames[-1]] = json.loads(frames[1])
    assert sorted(replies) == [b"10", b"7", b"8", b"9"]
    assert all(m["dtype"].startswith("error: bad request") for m in replies.values())
    with pytest.raises(TypeError, match="not understood"):  # what BertClient does
      np.frombuffer(b"", dtype=replies[b"8"]["dtype"])
  finally:
    push.close(0)
    sub.close(0)
    context.term()
  np.testing.assert_allclose(bc.encode(["hello"]), model.expected(["hello"]), atol=1e-5)


# --------------------------------------------------- strategies and flags


@pytest.mark.parametrize(
  "strategy",
  ["REDUCE_MEAN", "REDUCE_MAX", "REDUCE_MEAN_MAX", "CLS_TOKEN", "SEP_TOKEN", "NONE", "CLS_POOLED"],
)
def test_pooling_strategies_match_the_model(model, strategy):
  with serving(model, "-pooling_strategy", strategy, "-max_seq_len", str(SEQ_LEN)) as s:
    with client(s) as c:
      assert c.server_config["pooling_strategy"] == int(args_mod.PoolingStrategy[strategy])
      got = c.encode(TEXTS)
  want = model.expected(TEXTS, strategy)
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, atol=1e-5)


def test_several_layers_mask_cls_sep_and_fp16(model):
  flags = ("-pooling_layer", "-1", "0", "-mask_cls_sep", "-fp16", "-max_seq_len", str(SEQ_LEN))
  with serving(model, *flags) as s, client(s) as c:
    got = c.encode(TEXTS)
  assert got.dtype == np.float16 and got.shape == (len(TEXTS), 64)
  want = model.expected(TEXTS, layers=(-1, 0), mask_cls_sep=True)
  np.testing.assert_allclose(got.astype(np.float32), want, atol=2e-3, rtol=2e-3)


def test_cased_tokenization(model):
  with serving(model, "-cased_tokenization", "-show_tokens_to_client") as s, client(s) as c:
    assert c.server_config["do_lower_case"] is False
    _, tokens = c.encode(["Hello world"], show_tokens=True)
  assert tokens == [["[CLS]", "[UNK]", "world", "[SEP]"]]  # the vocab is lowercase


def test_dynamic_max_seq_len_and_no_special_token(model):
  texts = ["hello", "the movie was very good"]
  with serving(model, "-max_seq_len", "NONE", "-pooling_strategy", "NONE") as s, client(s) as c:
    assert c.server_config["max_seq_len"] is None
    with pytest.warns(UserWarning, match="max_seq_len"):
      got = c.encode(texts)
  assert got.shape == (2, 7, 32)  # the longest text + [CLS] + [SEP]
  np.testing.assert_allclose(got, model.expected(texts, "NONE", seq_len=None), atol=1e-5)
  with (
    serving(model, "-max_seq_len", "NONE", "-pooling_strategy", "NONE", "-fixed_embed_length") as s,
    client(s, check_length=False) as c,
  ):
    fixed = c.encode(texts)
  assert fixed.shape == (2, 64, 32)  # max_position_embeddings
  np.testing.assert_allclose(fixed[:, :7], got, atol=1e-5)
  assert not fixed[:, 7:].any()

  tokens = [["hello", "world"], ["the", "movie", "was"]]
  with serving(model, "-no_special_token", "-max_seq_len", "8") as s, client(s) as c:
    got = c.encode(tokens, is_tokenized=True)
  np.testing.assert_allclose(
    got, model.expected(tokens, seq_len=8, special_tokens=False), atol=1e-5
  )


def test_xla(model):
  with serving(model, "-xla", "-max_seq_len", "NONE") as s, client(s, check_length=False) as c:
    got = c.encode(TEXTS)
  np.testing.assert_allclose(got, model.expected(TEXTS, seq_len=None), atol=1e-5)


def test_classification_serves_a_run_classifier_output_dir(model):
  flags = (
    "-tuned_model_dir",
    model.tuned_dir,
    "-pooling_strategy",
    "CLASSIFICATION",
    "-max_seq_len",
    str(SEQ_LEN),
  )
  with serving(model, *flags) as s, client(s) as c:
    config = c.server_config
    probs = c.encode(TEXTS)
  assert config["labels"] == LABELS and config["num_labels"] == 3
  assert config["checkpoint"].endswith("model.ckpt-7")
  np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(probs, model.expected(TEXTS, "CLASSIFICATION"), atol=1e-5)


def test_model_load_errors_stop_the_server(model, tmp_path):
  bad = tmp_path / "bad"
  bad.mkdir()
  for name in ("vocab.txt", "bert_config.json"):
    (bad / name).write_text(open(os.path.join(model.dir, name)).read())
  save_v2(
    str(bad / "bert_model.ckpt"),
    {"module/bert/embeddings/word_embeddings": np.zeros((100, 32), np.float32)},
  )
  with pytest.raises(RuntimeError, match="lacks 39 of the model's variables"):
    start_server(type("M", (), {"dir": str(bad)}))
  with pytest.raises(RuntimeError, match="output_weights and output_bias"):
    start_server(model, "-pooling_strategy", "CLASSIFICATION")


# ----------------------------------------------------------- CLI, shutdown


@pytest.mark.slow
def test_cli_serves_until_termination_from_loopback(model):
  port, port_out = free_ports(2)
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
  proc = subprocess.Popen(
    [
      sys.executable,
      "-m",
      "serving",
      "-model_dir",
      model.dir,
      "-port",
      str(port),
      "-port_out",
      str(port_out),
      "-cpu",
      "-max_seq_len",
      str(SEQ_LEN),
    ],
    env=env,
    cwd=ROOT,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
  )
  try:
    with BertClient(port=port, port_out=port_out, timeout=60000) as c:
      np.testing.assert_allclose(c.encode(TEXTS[:1]), model.expected(TEXTS[:1]), atol=1e-5)
    r = subprocess.run(
      [
        sys.executable,
        "-c",
        "import sys; from serving.cli import terminate; sys.exit(terminate())",
        "-port",
        str(port),
      ],
      env=env,
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=60,
    )
    assert r.returncode == 0 and "shutdown signal sent to %d" % port in r.stdout
    out, _ = proc.communicate(timeout=30)
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.communicate()
  assert proc.returncode == 0, out
  assert "ARG   VALUE" in out and "TERMINATION from 127.0.0.1" in out
  r = subprocess.run(
    [
      sys.executable,
      "-c",
      "import sys; from serving.cli import terminate; sys.exit(terminate())",
      "-port",
      str(port),
      "-timeout",
      "300",
    ],
    env=env,
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=60,
  )
  assert r.returncode == 1 and "no server" in r.stderr
