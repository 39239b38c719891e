#!/usr/bin/env python3
"""What scaling out costs: run_classifier.py as 1 process and as 2 workers on this machine.

    python bench/multiworker.py                  # hidden 128, 2 layers, seq 64, batch 32, 60 steps
    python bench/multiworker.py --hidden 384 --layers 6 --seq 128 --steps 40

Both runs train the same model on the same synthetic tabular data with the same
global batch (`--train_batch_size`); the 2-worker run gets TF_CONFIG for two
tasks on 127.0.0.1 and MultiWorkerMirroredStrategy. The figure is the chief's
training rate from its last progress line (steps/s over training only, so
process start-up and conversion are not in it). On one machine the two
workers share its cores and add an all-reduce of every gradient each step:
this shows the overhead of scaling, not a speed-up. The all-reduce volume is
the size of the trainable weights in float32 (a ring all-reduce sends about
2 (N-1)/N times that from each worker per step).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from bench import data, report  # noqa: E402
from bench.common import log  # noqa: E402
from serving.background import free_ports  # noqa: E402

RATE = re.compile(r"step = (\d+)/(\d+), lr = \S+, ([\d.]+) steps/s")


def write_inputs(args, workdir: str) -> dict:
  """vocab.txt, bert_config.json and a tabular train.tsv; returns their paths."""
  vocab = data.synthetic_vocab(2000)
  vocab_file = os.path.join(workdir, "vocab.txt")
  data.write_vocab(vocab, vocab_file)
  config = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": args.hidden,
    "initializer_range": 0.02,
    "intermediate_size": 4 * args.hidden,
    "max_position_embeddings": 512,
    "num_attention_heads": max(1, args.hidden // 64),
    "num_hidden_layers": args.layers,
    "type_vocab_size": 2,
    "vocab_size": len(vocab),
  }
  config_file = os.path.join(workdir, "bert_config.json")
  with open(config_file, "w") as f:
    json.dump(config, f)
  data_dir = os.path.join(workdir, "data")
  os.makedirs(data_dir)
  texts = data.make_texts(data.text_words(vocab), args.batch * args.steps, args.seq, seed=1)
  with open(os.path.join(data_dir, "train.tsv"), "w") as f:
    f.write("label\ttext\n")
    for i, text in enumerate(texts):
      f.write("%d\t%s\n" % (i % 3, text))
  return {"vocab": vocab_file, "config": config_file, "data": data_dir, "bert_config": config}


def trainable_bytes(config: dict) -> int:
  """float32 bytes of the classifier's trainable weights (3 labels)."""
  h, i, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
  embeddings = (config["vocab_size"] + config["max_position_embeddings"] + 2) * h + 2 * h
  layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 4 * h
  pooler_and_head = h * h + h + 3 * h + 3
  return 4 * (embeddings + layers * layer + pooler_and_head)


def training_flags(args, inputs: dict, output_dir: str) -> list[str]:
  """One epoch of training on `inputs` (`write_inputs`' files) into `output_dir`, at
  --seq and --batch, saving no checkpoint before the end."""
  return [
    "--do_train=true",
    "--data_dir=" + inputs["data"],
    "--vocab_file=" + inputs["vocab"],
    "--bert_config_file=" + inputs["config"],
    "--output_dir=" + output_dir,
    "--max_seq_length=%d" % args.seq,
    "--train_batch_size=%d" % args.batch,
    "--num_train_epochs=1",
    "--save_checkpoints_steps=100000",
  ]


def train(args, inputs: dict, output_dir: str, workers: int) -> float:
  """Runs the training with `workers` processes; returns the chief's steps/s."""
  command = [sys.executable, os.path.join(ROOT, "run_classifier.py"), "--task_name=tabular"]
  command += training_flags(args, inputs, output_dir) + ["--seed=1"]
  hosts = ["127.0.0.1:%d" % port for port in free_ports(workers)]
  procs = []
  for index in range(workers):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    if workers > 1:
      cluster = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
      env["TF_CONFIG"] = json.dumps(cluster)
    procs.append(
      subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
      )
    )
  logs = [proc.communicate()[1] for proc in procs]
  for proc, text in zip(procs, logs):
    if proc.returncode != 0:
      raise SystemExit("training failed:\n" + text[-3000:])
  rates = RATE.findall(logs[0])
  if not rates:
    raise SystemExit("no progress line in the chief's log:\n" + logs[0][-3000:])
  return float(rates[-1][2])


def main(argv=None) -> int:
  """Prints the machine facts and the 1-process vs 2-worker table."""
  p = argparse.ArgumentParser(description="1 process vs 2 workers of run_classifier.py")
  p.add_argument("--hidden", type=int, default=128)
  p.add_argument("--layers", type=int, default=2)
  p.add_argument("--seq", type=int, default=64)
  p.add_argument("--batch", type=int, default=32, help="global batch (--train_batch_size)")
  p.add_argument("--steps", type=int, default=60)
  args = p.parse_args(argv)
  machine = report.machine_info()
  with tempfile.TemporaryDirectory(prefix="bert-multiworker-") as workdir:
    inputs = write_inputs(args, workdir)
    rates = {}
    for workers in (1, 2):
      log("training with %d process%s" % (workers, "es" if workers > 1 else ""))
      start = time.time()
      rates[workers] = train(args, inputs, os.path.join(workdir, "out-%d" % workers), workers)
      log("  %.2f steps/s (%.0f s in all)" % (rates[workers], time.time() - start))
  volume = trainable_bytes(inputs["bert_config"])
  print("machine: %s" % json.dumps(machine))
  print(
    "settings: hidden %d, layers %d, seq %d, global batch %d, %d steps"
    % (args.hidden, args.layers, args.seq, args.batch, args.steps)
  )
  print("| run | steps/s | examples/s | all-reduce per step |")
  print("|---|---|---|---|")
  print("| 1 process | %.2f | %.1f | - |" % (rates[1], rates[1] * args.batch))
  print(
    "| 2 workers (127.0.0.1) | %.2f | %.1f | %.1f MiB of float32 gradients |"
    % (rates[2], rates[2] * args.batch, volume / 2**20)
  )
  print("ratio 2 workers / 1 process: %.2f" % (rates[2] / rates[1]))
  return 0


if __name__ == "__main__":
  sys.exit(main())
