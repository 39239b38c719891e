"""The HF transformers + PyTorch side of `--compare`, as a process that stays up
for the whole comparison, so that its timed repeats can alternate with ours.

Started as `bench.py --_worker` (by `--hf_python`, default this Python), it reads
one JSON command per line on stdin and answers one JSON line on stdout:

  {"cmd": "setup", ...spec}    load the model from our initial weights, check
                               its logits against ours, build the batches
  {"cmd": "run", "mode": M, "first": i, "count": n, "autocast": "bfloat16"}
                               train on batches i..i+n-1 of mode M (the forward
                               and loss under torch.autocast in that dtype when
                               "autocast" is given); answers {"seconds": s}
  {"cmd": "quit"}

Modes: "fixed" and "dynamic" are our replayed batches (the very arrays our
loop consumed); "hf_dynamic" is HF's own dynamic padding over the same
training texts: `LengthGroupedSampler` batches (group_by_length) padded by
`DataCollatorWithPadding` to each batch's longest row.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time

import numpy as np

from bench.common import LEARNING_RATE, NUM_LABELS, SEED

# Our hidden_act names -> transformers' names for the same function.
HF_ACT = {
  "gelu": "gelu_new",
  "gelu_exact": "gelu",
  "gelu_erf": "gelu",
  "relu": "relu",
  "tanh": "tanh",
  "linear": "linear",
}
FEATURE_KEYS = (
  ("ids", "input_ids"),
  ("mask", "input_mask"),
  ("seg", "segment_ids"),
  ("labels", "label_ids"),
)


def gflops_per_run(n: int, iters: int, seconds: float) -> float:
  """GFLOP/s of `iters` products of two n x n matrices done in `seconds`."""
  return 2.0 * n**3 * iters / seconds / 1e9


def hf_classifier(transformers, cfg: dict):
  """transformers' BertForSequenceClassification of our config's shape."""
  hf_config = transformers.BertConfig(
    vocab_size=cfg["vocab_size"],
    hidden_size=cfg["hidden_size"],
    num_hidden_layers=cfg["num_hidden_layers"],
    num_attention_heads=cfg["num_attention_heads"],
    intermediate_size=cfg["intermediate_size"],
    hidden_act=HF_ACT.get(cfg["hidden_act"], cfg["hidden_act"]),
    hidden_dropout_prob=cfg["hidden_dropout_prob"],
    attention_probs_dropout_prob=cfg["attention_probs_dropout_prob"],
    max_position_embeddings=cfg["max_position_embeddings"],
    type_vocab_size=cfg["type_vocab_size"],
    initializer_range=cfg["initializer_range"],
    layer_norm_eps=1e-12,
    num_labels=NUM_LABELS,
  )
  return transformers.BertForSequenceClassification(hf_config)


def copy_initial_weights(torch, state: dict, weights, num_layers: int) -> int:
  """Copies our variables (an npz by Google name) into the HF state dict,
  transposing where the layouts differ; returns how many tensors it set."""
  from export.hf_import import map_hf_names

  names = map_hf_names({k: v.numpy() for k, v in state.items()}, num_layers)["mapping"]
  names["output_weights"] = ("classifier.weight", False)
  names["output_bias"] = ("classifier.bias", False)
  copied = 0
  with torch.no_grad():
    for google_name, (hf_name, transpose) in names.items():
      if google_name not in weights.files:
        continue
      value = weights[google_name]
      if transpose:
        value = value.T
      state[hf_name].copy_(torch.from_numpy(np.ascontiguousarray(value)))
      copied += 1
  return copied


def torch_mm_gflops(torch, n: int, iters: int, repeats: int) -> list[float]:
  """torch.mm GFLOP/s on random n x n fp32 matrices, per repeat: how fast
  torch's own BLAS is in the process that trains."""
  a, b = torch.randn(n, n), torch.randn(n, n)
  torch.mm(a, b)
  per_run = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(iters):
      torch.mm(a, b)
    per_run.append(gflops_per_run(n, iters, time.perf_counter() - start))
  return per_run


def own_dynamic_batches(torch, transformers, spec: dict, texts) -> tuple[list, list]:
  """HF's own dynamic padding over the training texts (unpadded ids in `texts`):
  group_by_length batches padded to their longest row. Returns the batches as
  model keyword arguments, and (rows, padded length, real tokens) of each."""
  from transformers.trainer_pt_utils import LengthGroupedSampler

  tokenizer = transformers.BertTokenizerFast(vocab_file=spec["vocab_file"], do_lower_case=True)
  collator = transformers.DataCollatorWithPadding(tokenizer, return_tensors="pt")
  lengths = [int(n) for n in texts["lengths"]]
  offsets = np.concatenate([[0], np.cumsum(lengths)])
  rows = [
    {
      "input_ids": texts["ids"][offsets[i] : offsets[i + 1]].tolist(),
      "token_type_ids": texts["seg"][offsets[i] : offsets[i + 1]].tolist(),
      "attention_mask": [1] * lengths[i],
      "labels": int(texts["labels"][i]),
    }
    for i in range(len(lengths))
  ]
  generator = torch.Generator()
  generator.manual_seed(SEED)
  batch_size = spec["batch"]
  needed = spec["own_batches"]
  batches, shapes = [], []
  while len(batches) < needed:  # Epoch after epoch, each in a new grouped order.
    order = list(LengthGroupedSampler(batch_size, lengths=lengths, generator=generator))
    for start in range(0, len(order) - batch_size + 1, batch_size):
      batch = collator([rows[i] for i in order[start : start + batch_size]])
      batches.append(
        {
          "input_ids": batch["input_ids"],
          "attention_mask": batch["attention_mask"],
          "token_type_ids": batch["token_type_ids"],
          "labels": batch["labels"],
        }
      )
      shape = tuple(batch["input_ids"].shape)
      shapes.append((shape[0], shape[1], int(batch["attention_mask"].sum())))
      if len(batches) == needed:
        break
  return batches, shapes


class Trainer:
  """The HF model, its optimizer and the batches of every mode."""

  def __init__(self, spec: dict):
    import torch
    import transformers

    self.torch = torch
    torch.manual_seed(0)
    torch.set_num_threads(spec["threads"])
    cfg = spec["config"]
    self.model = hf_classifier(transformers, cfg)
    state = self.model.state_dict()
    copied = copy_initial_weights(torch, state, np.load(spec["weights"]), cfg["num_hidden_layers"])
    arrays = np.load(spec["batches"])
    gap = self._logits_gap(arrays)
    matmul = torch_mm_gflops(torch, spec["matmul_n"], spec["matmul_iters"], 3)
    self.batches = {mode: self._our_batches(arrays, mode) for mode in spec["modes"]}
    own_shapes = []
    if spec.get("own_batches"):
      own, own_shapes = own_dynamic_batches(torch, transformers, spec, np.load(spec["texts"]))
      self.batches["hf_dynamic"] = own
    self.model.train()
    self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    self.facts = {
      "torch": torch.__version__,
      "transformers": transformers.__version__,
      "threads": torch.get_num_threads(),
      "interop_threads": torch.get_num_interop_threads(),
      "copied": copied,
      "total_params": len(state),
      "attn": getattr(self.model.config, "_attn_implementation", "?"),
      "logits_max_abs_diff": gap,
      "matmul_gflops": matmul,
      "hf_dynamic_shapes": own_shapes,
      "pid": os.getpid(),
    }

  def _tensor(self, array):
    return self.torch.from_numpy(array.astype(np.int64))

  def _logits_gap(self, arrays) -> float:
    """Largest |difference| of eval-mode logits from ours on one batch."""
    self.model.eval()
    with self.torch.no_grad():
      logits = self.model(
        input_ids=self._tensor(arrays["check_ids"]),
        attention_mask=self._tensor(arrays["check_mask"]),
        token_type_ids=self._tensor(arrays["check_seg"]),
      ).logits.numpy()
    return float(np.max(np.abs(logits - arrays["check_logits"])))

  def _our_batches(self, arrays, mode: str) -> list[dict]:
    batches = []
    for i in range(int(arrays["%s_count" % mode])):
      ids, mask, seg, labels = (
        self._tensor(arrays["%s_%s_%d" % (mode, key, i)]) for key, _ in FEATURE_KEYS
      )
      batches.append(
        {"input_ids": ids, "attention_mask": mask, "token_type_ids": seg, "labels": labels}
      )
    return batches

  def run(self, mode: str, first: int, count: int, autocast: str | None = None) -> float:
    """Seconds of `count` training steps on batches first.. of `mode`; with
    `autocast` ("bfloat16"), the forward and loss run under torch.autocast in
    that dtype (HF's mixed precision: fp32 weights and optimizer)."""
    torch = self.torch
    batches = self.batches[mode]
    start = time.perf_counter()
    for i in range(first, first + count):
      if autocast:
        scope = torch.autocast("cpu", dtype=getattr(torch, autocast))
      else:
        scope = contextlib.nullcontext()
      with scope:
        loss = self.model(**batches[i % len(batches)]).loss
      loss.backward()
      self.optimizer.step()
      self.optimizer.zero_grad(set_to_none=True)
    float(loss.detach())  # waits for the last step
    return time.perf_counter() - start


def serve() -> int:
  """The worker's command loop (see the module docstring)."""
  # Answers go to the real stdout; anything a library prints goes to stderr.
  answers = os.fdopen(os.dup(1), "w")
  os.dup2(2, 1)
  trainer = None

  def answer(obj: dict) -> None:
    answers.write(json.dumps(obj) + "\n")
    answers.flush()

  for line in sys.stdin:
    command = json.loads(line)
    cmd = command.pop("cmd")
    if cmd == "quit":
      break
    try:
      if cmd == "setup":
        trainer = Trainer(command)
        answer(trainer.facts)
      elif cmd == "run":
        seconds = trainer.run(
          command["mode"], command["first"], command["count"], command.get("autocast")
        )
        answer({"seconds": seconds})
      else:
        answer({"error": "unknown command %r" % cmd})
    except Exception as e:
      answer({"error": "%s: %s" % (type(e).__name__, e)})
  return 0


class Worker:
  """The bench's handle on a running HF worker process."""

  def __init__(self, python: str, entry_point: str, cwd: str, env: dict):
    import subprocess

    self.proc = subprocess.Popen(
      [python, entry_point, "--_worker"],
      stdin=subprocess.PIPE,
      stdout=subprocess.PIPE,
      text=True,
      cwd=cwd,
      env=env,
    )

  def ask(self, cmd: str, **fields) -> dict:
    """Sends one command and waits for its answer; raises on an error answer."""
    self.proc.stdin.write(json.dumps(dict(fields, cmd=cmd)) + "\n")
    self.proc.stdin.flush()
    line = self.proc.stdout.readline()
    if not line:
      raise RuntimeError("the HF worker exited (rc %s)" % self.proc.wait())
    reply = json.loads(line)
    if "error" in reply:
      raise RuntimeError("HF worker: %s" % reply["error"])
    return reply

  def close(self) -> None:
    """Asks the worker to quit and waits for it."""
    if self.proc.poll() is None:
      try:
        self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
      except Exception:
        self.proc.kill()
