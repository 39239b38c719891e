"""Shared fixtures: tiny BERT configs and Google-layout checkpoints built here."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from emotion_data import tiny_config  # noqa: E402 (tests/ is on sys.path when pytest loads this)


def _client_closed_when_its_constructor_fails(original):
  """bert_serving.client.BertClient.__init__ that closes what it opened when it raises.

  The unmodified client opens a context and two sockets, then asks the server
  for its config; with no server it raises TimeoutError and leaves them open.
  The traceback makes them a reference cycle, and when the garbage collector
  finalizes the context before its sockets, zmq_ctx_term waits for ever for
  sockets that can no longer be closed: the whole test run hangs in whichever
  test happens to trigger that collection.
  """

  def init(self, *args, **kwargs):
    try:
      original(self, *args, **kwargs)
    except BaseException:
      for name in ("sender", "receiver"):
        sock = getattr(self, name, None)
        if sock is not None:
          sock.close(linger=0)
      context = getattr(self, "context", None)
      if context is not None:
        context.term()
      raise

  return init


try:
  from bert_serving import client as _bert_serving_client
except ImportError:  # the serving tests that need it say so themselves
  pass
else:
  _bert_serving_client.BertClient.__init__ = _client_closed_when_its_constructor_fails(
    _bert_serving_client.BertClient.__init__
  )

# The tiny BERT every test builds (2 layers, hidden 32; one factory: emotion_data.tiny_config).
TINY_CONFIG = tiny_config(99)


@pytest.fixture
def tiny_config_dict():
  return dict(TINY_CONFIG)


@pytest.fixture
def tiny_config():
  from bert import modeling

  return modeling.BertConfig.from_dict(dict(TINY_CONFIG))


def write_google_checkpoint(prefix, config_dict, extra=None, seed=0):
  """Writes a checkpoint the way Google's TF1 code did: graph mode + Saver.

  Variables: BertModel's (random, seeded) plus the pre-training heads'
  `cls/...` names and anything in `extra` (name -> numpy array).
  Returns {name: numpy value}.
  """
  import tensorflow as tf

  from bert import modeling

  config = modeling.BertConfig.from_dict(dict(config_dict))
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(seed)
    ids = tf.compat.v1.placeholder(tf.int32, [None, None])
    modeling.BertModel(config, False, ids)
    tf.compat.v1.get_variable(
      "cls/predictions/output_bias",
      [config.vocab_size],
      initializer=tf.compat.v1.zeros_initializer(),
    )
    for name, value in (extra or {}).items():
      tf.compat.v1.get_variable(name, initializer=tf.constant(value))
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      values = {v.name[:-2]: sess.run(v) for v in tf.compat.v1.global_variables()}
      saver.save(sess, prefix, write_meta_graph=False, write_state=False)
  return values


@pytest.fixture
def google_checkpoint(tmp_path, tiny_config_dict):
  """A pre-trained-style model dir: bert_model.ckpt.*, bert_config.json, vocab.txt."""
  model_dir = tmp_path / "tiny_L-2_H-32_A-4"
  model_dir.mkdir()
  prefix = str(model_dir / "bert_model.ckpt")
  values = write_google_checkpoint(prefix, tiny_config_dict)
  (model_dir / "bert_config.json").write_text(json.dumps(tiny_config_dict))
  return prefix, values


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
  """A pre-trained-style folder for the emotion_data vocab, shared by tests
  that only read it: {"vocab", "config", "ckpt"} paths."""
  from emotion_data import VOCAB, tiny_config, write_model_dir

  model_dir = str(tmp_path_factory.mktemp("shared") / "tiny_model")
  vocab_file, config_file = write_model_dir(model_dir)
  ckpt = os.path.join(model_dir, "bert_model.ckpt")
  write_google_checkpoint(ckpt, tiny_config(len(VOCAB)))
  return {"vocab": vocab_file, "config": config_file, "ckpt": ckpt}
