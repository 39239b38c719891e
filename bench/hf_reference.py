"""The references `--compare` measures beside our figures: this machine's fp32
matmul peak (TensorFlow, and numpy in a fresh process), and HuggingFace
transformers + PyTorch fine-tuning the same model from the same initial
weights on the same batches (in a fresh process, only if torch and
transformers import there)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import numpy as np

from bench.common import LEARNING_RATE, NUM_LABELS, cores, log, run_job
from bench.report import Results
from bench.stages import (
  batch_real_tokens,
  batch_rows,
  build_runner,
  matmul_gflops,
  rates,
  timed_slices,
)

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


# -- matmul peak --------------------------------------------------------------------


def tf_matmul_gflops(n: int, repeats: int, iters: int) -> list[float]:
  """tf.matmul GFLOP/s on random n x n fp32 matrices, per repeat."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  a = tf.random.normal([n, n])
  b = tf.random.normal([n, n])

  @tf.function
  def product_sum(x, y):
    return tf.reduce_sum(tf.matmul(x, y))  # Only a scalar comes back.

  product_sum(a, b).numpy()
  per_run = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(iters):
      product_sum(a, b).numpy()
    per_run.append(gflops_per_run(n, iters, time.perf_counter() - start))
  return per_run


def blas_name() -> str:
  """The BLAS numpy was built with, e.g. "scipy-openblas 0.3.27"."""
  try:
    info = np.show_config(mode="dicts")
    blas = info.get("Build Dependencies", {}).get("blas", {})
    return ("%s %s" % (blas.get("name", "?"), blas.get("version", ""))).strip()
  except Exception:  # pylint: disable=broad-except
    return "?"


def job_numpy_matmul(spec: dict) -> dict:
  """numpy fp32 matmul GFLOP/s per repeat (in its own process), and its BLAS."""
  n, iters = spec["n"], spec["iters"]
  rng = np.random.default_rng(0)
  a = rng.standard_normal((n, n), dtype=np.float32)
  b = rng.standard_normal((n, n), dtype=np.float32)
  a @ b
  per_run = []
  for _ in range(spec["repeats"]):
    start = time.perf_counter()
    for _ in range(iters):
      a @ b
    per_run.append(gflops_per_run(n, iters, time.perf_counter() - start))
  return {"gflops": per_run, "blas": blas_name()}


def section_matmul(args, results: Results, paddings: list[str]) -> float:
  """The fp32 matmul peak (best of TensorFlow and numpy, the latter also with
  OpenBLAS left to pick its kernel when the environment sets one), and our
  training's GFLOP/s as a share of it. Returns the peak."""
  n = args.matmul_n
  iters = 2 if args.quick else 10
  job = {"n": n, "iters": iters, "repeats": args.repeats}
  tf_peak = results.add(
    "compare", "tf.matmul fp32 %dx%d" % (n, n), tf_matmul_gflops(n, args.repeats, iters), "GFLOP/s"
  )
  numpy_run = run_job("numpy_matmul", job)
  coretype = os.environ.get("OPENBLAS_CORETYPE", "-")
  numpy_peak = results.add(
    "compare",
    "numpy matmul fp32 %dx%d" % (n, n),
    numpy_run["gflops"],
    "GFLOP/s",
    "%s, environment as is (OPENBLAS_CORETYPE=%s)" % (numpy_run["blas"], coretype),
  )
  peak = max(tf_peak, numpy_peak)
  kernel_variables = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
  if any(name in os.environ for name in kernel_variables):
    env = {k: v for k, v in os.environ.items() if k not in kernel_variables}
    unset_run = run_job("numpy_matmul", job, env=env)
    unset_peak = results.add(
      "compare",
      "numpy matmul fp32 %dx%d, OPENBLAS_CORETYPE unset" % (n, n),
      unset_run["gflops"],
      "GFLOP/s",
      "OpenBLAS picks its own kernel",
    )
    peak = max(peak, unset_peak)
  results.add("compare", "measured fp32 matmul peak", [peak], "GFLOP/s", "max of the above")
  for mode in paddings:
    achieved = results.get("train", "%s padding, matmul GFLOP/s" % mode)
    if achieved is None:
      continue
    results.add(
      "compare",
      "our training / matmul peak, %s padding" % mode,
      [achieved / peak],
      "x",
      "fraction of peak",
    )
  return peak


# -- HF transformers + PyTorch (the subprocess side) --------------------------------


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
  from export.hf_import import map_hf_names  # pylint: disable=import-outside-toplevel

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


def as_long(torch, array):
  """An int64 torch tensor of a numpy array."""
  return torch.from_numpy(array.astype(np.int64))


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


def job_hf(spec: dict) -> dict:
  """HF BertForSequenceClassification, set to our initial weights, trained with
  AdamW on the batches our training consumed; runs in its own process and
  returns the seconds of each timed repeat per padding mode."""
  try:
    import torch  # pylint: disable=import-outside-toplevel
    import transformers  # pylint: disable=import-outside-toplevel
  except Exception as e:  # pylint: disable=broad-except
    return {"skipped": "%s: %s" % (type(e).__name__, e)}

  torch.manual_seed(0)
  torch.set_num_threads(spec["threads"])
  cfg = spec["config"]
  model = hf_classifier(transformers, cfg)
  state = model.state_dict()
  copied = copy_initial_weights(torch, state, np.load(spec["weights"]), cfg["num_hidden_layers"])
  batches = np.load(spec["batches"])

  # The same function as ours? Logits of one batch in eval mode.
  model.eval()
  with torch.no_grad():
    logits = model(
      input_ids=as_long(torch, batches["check_ids"]),
      attention_mask=as_long(torch, batches["check_mask"]),
      token_type_ids=as_long(torch, batches["check_seg"]),
    ).logits.numpy()
  gap = float(np.max(np.abs(logits - batches["check_logits"])))
  mm = torch_mm_gflops(torch, spec["matmul_n"], spec["matmul_iters"], spec["repeats"])

  model.train()
  optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
  report = {
    "torch": torch.__version__,
    "transformers": transformers.__version__,
    "threads": torch.get_num_threads(),
    "copied": copied,
    "total_params": len(state),
    "attn": getattr(model.config, "_attn_implementation", "?"),
    "logits_max_abs_diff": gap,
    "modes": {},
    "matmul_gflops": mm,
  }
  for mode in spec["modes"]:
    data = [
      tuple(as_long(torch, batches["%s_%s_%d" % (mode, key, i)]) for key, _ in FEATURE_KEYS)
      for i in range(int(batches["%s_count" % mode]))
    ]

    def step(i: int) -> float:
      ids, mask, seg, labels = data[i]
      loss = model(input_ids=ids, attention_mask=mask, token_type_ids=seg, labels=labels).loss
      loss.backward()
      optimizer.step()
      optimizer.zero_grad(set_to_none=True)
      return float(loss)

    for i in range(spec["warmup"]):
      step(i)
    times = []
    for r in range(spec["repeats"]):
      first = spec["warmup"] + r * spec["steps"]
      start = time.perf_counter()
      for i in range(first, first + spec["steps"]):
        step(i)
      times.append(time.perf_counter() - start)
    report["modes"][mode] = times
  return report


# -- HF transformers + PyTorch (the bench side) ------------------------------------


def torch_missing() -> str | None:
  """Why torch and transformers do not import in a fresh Python, or None."""
  probe = subprocess.run(
    [
      sys.executable,
      "-c",
      "import torch, transformers; print(torch.__version__, transformers.__version__)",
    ],
    capture_output=True,
    text=True,
  )
  if probe.returncode == 0:
    return None
  return (probe.stderr.strip().splitlines() or ["?"])[-1]


def batch_arrays(ctx: dict, paddings: list[str]) -> dict:
  """The replayed training batches as npz entries MODE_KEY_INDEX (and
  MODE_count), the form job_hf reads."""
  arrays = {}
  for mode in paddings:
    batches = ctx["train_batches"][mode]
    arrays["%s_count" % mode] = np.array(len(batches))
    for i, batch in enumerate(batches):
      for key, name in FEATURE_KEYS:
        arrays["%s_%s_%d" % (mode, key, i)] = batch["arrays"][name]
  return arrays


def reference_logits(ctx: dict, features: dict) -> dict:
  """Our model's eval-mode logits on one batch with the initial weights (set
  into a fresh runner), as npz entries check_* for job_hf to compare with."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  fresh = build_runner(ctx)
  for name, variable in fresh.model.variables_by_name.items():
    variable.assign(ctx["initial_weights"][name])
  _, _, logits, _ = fresh.model(
    tf.constant(features["input_ids"]),
    tf.constant(features["input_mask"]),
    tf.constant(features["segment_ids"]),
    tf.constant(features["label_ids"]),
    training=False,
  )
  return {
    "check_ids": features["input_ids"],
    "check_mask": features["input_mask"],
    "check_seg": features["segment_ids"],
    "check_logits": logits.numpy(),
  }


def add_hf_rows(args, ctx: dict, results: Results, hf: dict, paddings: list[str]) -> None:
  """The HF process's facts as a check, and its figures beside ours."""
  results.checks["HF PyTorch"] = (
    "torch %s, transformers %s, %d threads, attention %s, %d/%d tensors "
    "copied from our initial weights; eval logits max |diff| vs ours %.2g"
    % (
      hf["torch"],
      hf["transformers"],
      hf["threads"],
      hf["attn"],
      hf["copied"],
      hf["total_params"],
      hf["logits_max_abs_diff"],
    )
  )
  results.add(
    "compare",
    "torch.mm fp32 %dx%d (HF process)" % (args.matmul_n, args.matmul_n),
    hf["matmul_gflops"],
    "GFLOP/s",
    "torch's own BLAS, %d threads" % hf["threads"],
  )
  torch_peak = statistics.median(hf["matmul_gflops"])
  for mode in paddings:
    slices = timed_slices(ctx["train_batches"][mode], args)
    times = hf["modes"][mode]
    hf_rate = results.add(
      "compare",
      "HF PyTorch train, %s padding" % mode,
      rates(slices, times, batch_rows),
      "examples/s",
      "same batches as ours",
    )
    results.add(
      "compare",
      "HF PyTorch train, %s padding, real tokens" % mode,
      rates(slices, times, batch_real_tokens),
      "tokens/s",
    )
    hf_gflops = matmul_gflops(ctx["config"], slices, times)
    results.add(
      "compare",
      "HF PyTorch train, %s padding, matmul GFLOP/s" % mode,
      hf_gflops,
      "GFLOP/s",
      "%.2f of torch.mm" % (statistics.median(hf_gflops) / torch_peak),
    )
    ours = results.get("train", "%s padding" % mode)
    results.add(
      "compare", "ours / HF PyTorch, %s padding" % mode, [ours / hf_rate], "x", ">1: ours faster"
    )


def section_hf(args, ctx: dict, results: Results, paddings: list[str]) -> None:
  """HF PyTorch training on our batches from our initial weights, when the train
  section ran and torch and transformers are installed (else a check says why not)."""
  if not ctx.get("train_batches"):
    results.checks["HF PyTorch comparison"] = "skipped: needs the train section"
    return
  missing = torch_missing()
  if missing:
    results.checks["HF PyTorch comparison"] = "skipped: %s" % missing
    log("HF comparison skipped: %s" % missing)
    return
  weights_file = os.path.join(ctx["workdir"], "weights.npz")
  np.savez(weights_file, **ctx["initial_weights"])
  arrays = batch_arrays(ctx, paddings)
  arrays.update(reference_logits(ctx, ctx["train_batches"][paddings[0]][0]["arrays"]))
  batches_file = os.path.join(ctx["workdir"], "batches.npz")
  np.savez(batches_file, **arrays)
  log("HF PyTorch training in a subprocess (%s)" % ", ".join(paddings))
  spec = {
    "config": ctx["config"],
    "weights": weights_file,
    "batches": batches_file,
    "modes": list(paddings),
    "threads": cores(),
    "warmup": args.warmup,
    "steps": args.steps,
    "repeats": args.repeats,
    "matmul_n": args.matmul_n,
    "matmul_iters": 2 if args.quick else 10,
  }
  hf = run_job("hf", spec)
  if "skipped" in hf:
    results.checks["HF PyTorch comparison"] = "skipped: %s" % hf["skipped"]
    return
  add_hf_rows(args, ctx, results, hf, paddings)
