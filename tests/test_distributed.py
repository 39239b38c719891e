"""Several replicas or workers give the weights of one process with the same global batch."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from emotion_data import KEYWORDS, VOCAB, tiny_config, write_emotion_data

from bert import model_folder
from bert.errors import UsageError
from classifier import cluster
from serving.background import free_ports

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "distributed_worker.py")
MIRRORED = os.path.join(ROOT, "tests", "mirrored_replicas.py")


def test_tf_config_gives_the_chief():
  assert cluster.read_cluster({}) == cluster.Cluster()
  config = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
  one = cluster.read_cluster({"TF_CONFIG": json.dumps(config)})
  assert one.num_workers == 2 and not one.is_chief and one.is_multi_worker
  config["cluster"]["chief"] = ["c:3"]
  config["task"] = {"type": "chief", "index": 0}
  assert cluster.read_cluster({"TF_CONFIG": json.dumps(config)}).is_chief
  with pytest.raises(UsageError, match="TF_CONFIG is not valid"):
    cluster.read_cluster({"TF_CONFIG": "{"})
  with pytest.raises(UsageError, match="not supported"):
    cluster.read_cluster({"TF_CONFIG": json.dumps({"task": {"type": "ps"}})})


def _make_workspace(root):
  """Data, vocab, a dropout-free config and a start checkpoint whose head is 100 times
  Google's scale: the gradient norm is far above 1.0, so clipping is active."""
  from conftest import write_google_checkpoint

  model = root / "model"
  model.mkdir()
  (model / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
  config = tiny_config(
    len(VOCAB), hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0
  )
  (model / "bert_config.json").write_text(json.dumps(config))
  head = 2.0 * np.random.RandomState(1).randn(len(KEYWORDS), config["hidden_size"])
  write_google_checkpoint(
    str(model / "bert_model.ckpt"), config, extra={"output_weights": head.astype(np.float32)}
  )
  write_emotion_data(str(root / "data"), n_train=32, n_val=8, n_test=8)
  return root


@pytest.fixture
def workspace(tmp_path):
  return _make_workspace(tmp_path)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
  """(workspace, output folder) of the single-process reference run (default strategy,
  fused kernels): 2 epochs of 32 examples in global batches of 8."""
  root = _make_workspace(tmp_path_factory.mktemp("distributed"))
  single = root / "single"
  _finish([_start(root, single, 2)])
  return root, single


def _variables(output_dir):
  """Every tensor of the newest checkpoint: weights, Adam slots, global_step."""
  import tensorflow as tf

  reader = tf.train.load_checkpoint(model_folder.newest_local_checkpoint(str(output_dir)))
  return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


def _moved(trained, model_dir):
  """How far training took the weights from the start checkpoint."""
  import tensorflow as tf

  start = tf.train.load_checkpoint(str(model_dir / "bert_model.ckpt"))
  names = [n for n in start.get_variable_to_shape_map() if n in trained]
  return max(float(np.max(np.abs(trained[n] - start.get_tensor(n)))) for n in names)


def _largest_difference(got, want):
  assert sorted(got) == sorted(want)
  return max(float(np.max(np.abs(got[n].astype(np.float64) - want[n]))) for n in want)


def _start(workspace, output, epochs, tf_config=None, save_every=1000, strategy="auto"):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("TF_CONFIG", None)
  if tf_config:
    env["TF_CONFIG"] = json.dumps(tf_config)
  args = [sys.executable, WORKER, str(workspace / "data"), str(workspace / "model"), str(output)]
  return subprocess.Popen(
    args + [str(epochs), str(save_every), strategy],
    cwd=ROOT,
    env=env,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.PIPE,
    text=True,
  )


def _cluster(ports):
  hosts = ["127.0.0.1:%d" % port for port in ports]
  return [
    {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}}
    for i in range(len(hosts))
  ]


def _finish(procs, timeout=300):
  for proc in procs:
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]


@pytest.mark.slow
def test_two_workers_on_loopback_equal_one_process(one_process):
  """Clipping active, tokens repeated: the workers' sparse word-embedding rows count in the
  norm as the one process's do (it updates with the fused kernel), slots included."""
  workspace, single = one_process
  multi = workspace / "multi"
  procs = [_start(workspace, multi, 2, config) for config in _cluster(free_ports(2))]
  errors = [proc.communicate(timeout=300)[1] for proc in procs]
  assert [proc.returncode for proc in procs] == [0, 0], errors[0][-2000:] + errors[1][-2000:]
  expected, got = _variables(single), _variables(multi)
  assert int(got["global_step"]) == 8  # 32 examples x 2 epochs / global batch 8.
  assert _moved(expected, workspace / "model") > 1e-3
  assert _largest_difference(got, expected) < 1e-6
  # Worker 1 wrote to a private folder, gone at the end; the chief wrote the output folder.
  private = re.search(r"this one writes to (\S+) \(removed", errors[1]).group(1)
  assert not os.path.exists(private)
  assert "writes to" not in errors[0]


@pytest.mark.slow
def test_multi_worker_strategy_without_tf_config_is_a_one_worker_cluster(one_process):
  workspace, single = one_process
  alone = workspace / "alone"
  _finish([_start(workspace, alone, 2, strategy="multi_worker_mirrored")])
  assert _largest_difference(_variables(alone), _variables(single)) < 1e-6


@pytest.mark.slow
def test_killed_worker_then_both_restarted_finish_at_the_last_step(workspace):
  output = workspace / "out"
  configs = _cluster(free_ports(2))
  procs = [_start(workspace, output, 40, config, save_every=4) for config in configs]
  deadline = time.time() + 240
  while time.time() < deadline:  # Until a checkpoint past the start, well before the end.
    state = model_folder.newest_local_checkpoint(str(output)) or "-0"
    if int(state.rsplit("-", 1)[1]) >= 8:
      break
    time.sleep(0.1)
  procs[1].send_signal(signal.SIGKILL)
  procs[0].send_signal(signal.SIGKILL)  # Its collective would wait for the lost worker.
  for proc in procs:
    proc.wait()
  resumed_from = model_folder.newest_local_checkpoint(str(output))
  assert resumed_from and not resumed_from.endswith("-160")
  _finish([_start(workspace, output, 40, config, save_every=4) for config in configs], 600)
  final = model_folder.newest_local_checkpoint(str(output))
  assert final.endswith("model.ckpt-160")  # 32 x 40 / 8.
  assert int(_variables(output)["global_step"]) == 160


@pytest.mark.slow
def test_mirrored_replicas_on_two_cpu_devices_equal_one_device(workspace):
  proc = subprocess.run(
    [sys.executable, MIRRORED, str(workspace / "model" / "bert_config.json")],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=300,
    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  figures = json.loads(proc.stdout.strip().splitlines()[-1])
  assert figures["moved"] > 1e-3
  assert sorted(figures["worst"]) == ["two replicas", "two replicas, accumulating 2"]
  assert max(figures["worst"].values()) < 1e-6, figures
