"""The references `--compare` measures beside our figures: this machine's fp32
matmul peak (TensorFlow, and numpy in a fresh process), and HuggingFace
transformers + PyTorch fine-tuning the same model from the same initial
weights on the same batches (in a worker process, bench/hf_worker.py, whose
timed repeats alternate with ours; only if torch and transformers import in
`--hf_python`)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import time

import numpy as np

from bench import fairness
from bench.common import ENTRY_POINT, ROOT, SEED, log, run_job
from bench.context import BenchContext
from bench.hf_worker import FEATURE_KEYS, Worker, gflops_per_run
from bench.report import Results
from bench.stages import (
  TrainTimer,
  add_dynamic_ratio,
  add_train_rows,
  batch_real_tokens,
  batch_rows,
  build_runner,
  interleaved_repeats,
  matmul_gflops,
  mean_padded_length,
  rates,
  replay_all,
  timed_slices,
)

# -- matmul peak --------------------------------------------------------------------


def tf_matmul_gflops(n: int, repeats: int, iters: int) -> list[float]:
  """tf.matmul GFLOP/s on random n x n fp32 matrices, per repeat."""
  import tensorflow as tf

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
  except Exception:
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


def section_matmul(args, results: Results, paddings: list[str], machine: dict) -> float:
  """The fp32 matmul peak (best of TensorFlow and numpy, the latter also with
  OpenBLAS left to pick its kernel when the environment sets one), the clock
  that peak implies for this CPU's FMA units, and our training's GFLOP/s as a
  share of it. Returns the peak."""
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
  per_cycle = machine.get("fp32_flops_per_cycle_core")
  ghz = fairness.implied_ghz(peak, args.threads, per_cycle)
  if ghz is not None:
    results.checks["matmul peak vs the cores"] = (
      "%.0f GFLOP/s on %d cores of %d fp32 FLOPs/cycle (%s, family/model %s) needs %.2f GHz%s"
      % (
        peak,
        args.threads,
        per_cycle,
        machine.get("cpu_isa"),
        machine.get("cpu_family_model"),
        ghz,
        "" if ghz <= 4.5 else ": above any clock these cores run at, so the figure is suspect",
      )
    )
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


# -- HF transformers + PyTorch, interleaved with ours ----------------------------------


def torch_missing(python: str) -> str | None:
  """Why torch and transformers do not import in `python`, or None."""
  probe = subprocess.run(
    [python, "-c", "import torch, transformers"], capture_output=True, text=True
  )
  if probe.returncode == 0:
    return None
  return (probe.stderr.strip().splitlines() or ["?"])[-1]


def batch_arrays(ctx: BenchContext, paddings: list[str]) -> dict:
  """The replayed training batches as npz entries MODE_KEY_INDEX (and
  MODE_count), the form the worker reads."""
  arrays = {}
  for mode in paddings:
    batches = ctx.train_batches[mode]
    arrays["%s_count" % mode] = np.array(len(batches))
    for i, batch in enumerate(batches):
      for key, name in FEATURE_KEYS:
        arrays["%s_%s_%d" % (mode, key, i)] = batch["arrays"][name]
  return arrays


def reference_logits(ctx: BenchContext, features: dict) -> dict:
  """Our model's eval-mode logits on one batch with the initial weights (set
  into a fresh runner), as npz entries check_* for the worker to compare with."""
  import tensorflow as tf

  fresh = build_runner(ctx)
  for name, variable in fresh.model.variables_by_name.items():
    variable.assign(ctx.initial_weights[name])
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


def start_worker(args, ctx: BenchContext, paddings: list[str]) -> Worker:
  """The HF worker, set up with our initial weights, our replayed batches and
  (for dynamic padding) the unpadded training texts for its own batches."""
  from bench.data import unpadded_examples, write_split

  workdir = ctx.workdir
  weights_file = os.path.join(workdir, "weights.npz")
  np.savez(weights_file, **ctx.initial_weights)
  arrays = batch_arrays(ctx, paddings)
  arrays.update(reference_logits(ctx, ctx.train_batches[paddings[0]][0]["arrays"]))
  batches_file = os.path.join(workdir, "batches.npz")
  np.savez(batches_file, **arrays)
  texts_file = os.path.join(workdir, "texts.npz")
  if "dynamic" in paddings:
    write_split(args, ctx, "epoch", args.epoch_examples, SEED + 2)
    np.savez(texts_file, **unpadded_examples(ctx.records["epoch"], args.seq))
  log("starting the HF PyTorch worker (%s)" % args.hf_python)
  worker = Worker(args.hf_python, ENTRY_POINT, ROOT, dict(os.environ))
  worker.facts = worker.ask(
    "setup",
    config=ctx.config,
    weights=weights_file,
    batches=batches_file,
    texts=texts_file,
    vocab_file=ctx.vocab_file,
    modes=list(paddings),
    batch=args.batch,
    own_batches=(args.repeats + 1) * epoch_steps(args) if "dynamic" in paddings else 0,
    threads=args.threads,
    matmul_n=args.matmul_n,
    matmul_iters=2 if args.quick else 10,
  )
  return worker


def add_hf_facts(args, results: Results, hf: dict) -> float:
  """The worker's facts as a check and torch.mm's rate as a row; returns that rate."""
  results.checks["HF PyTorch"] = (
    "torch %s, transformers %s, %d threads (inter-op %d), attention %s, %d/%d tensors "
    "copied from our initial weights; eval logits max |diff| vs ours %.2g"
    % (
      hf["torch"],
      hf["transformers"],
      hf["threads"],
      hf["interop_threads"],
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
  return statistics.median(hf["matmul_gflops"])


def add_hf_rows(
  args, ctx: BenchContext, results: Results, label: str, batches, times, torch_peak
) -> float:
  """HF's rows for one set of batches; returns its examples/s."""
  slices = timed_slices(batches, args)
  hf_rate = results.add(
    "compare",
    label,
    rates(slices, times, batch_rows),
    "examples/s",
    "mean padded T %.1f; %d threads" % (mean_padded_length(slices), args.threads),
  )
  results.add(
    "compare", label + ", real tokens", rates(slices, times, batch_real_tokens), "tokens/s"
  )
  hf_gflops = matmul_gflops(ctx.config, slices, times)
  results.add(
    "compare",
    label + ", matmul GFLOP/s",
    hf_gflops,
    "GFLOP/s",
    "%.2f of torch.mm" % (statistics.median(hf_gflops) / torch_peak),
  )
  return hf_rate


def epoch_steps(args) -> int:
  """Steps of one epoch over the --epoch_examples texts."""
  return args.epoch_examples // args.batch


def compare_epochs(args, ctx: BenchContext, results: Results, runner, worker, loads: list) -> None:
  """Dynamic padding against dynamic padding over whole epochs of the same
  --epoch_examples texts: ours (--dynamic_padding's length buckets) and HF's
  own (group_by_length batches padded by DataCollatorWithPadding), each epoch
  one timed repeat, alternating. Whole epochs, because a few steps of either
  sampler are a biased sample of lengths."""
  steps = epoch_steps(args)
  epoch_args = argparse.Namespace(**dict(vars(args), steps=steps))
  epoch_ctx = dataclasses.replace(ctx, records=dict(ctx.records, train=ctx.records["epoch"]))
  ours = TrainTimer(epoch_args, epoch_ctx, runner, True, "dynamic, epochs")
  ours.warmup()
  log("HF own dynamic padding: warmup %d steps" % args.warmup)
  worker.ask("run", mode="hf_dynamic", first=0, count=args.warmup)

  def hf_epoch(r: int) -> float:
    seconds = worker.ask("run", mode="hf_dynamic", first=(r + 1) * steps, count=steps)["seconds"]
    log("HF own dynamic padding, epoch %d: %.2f s / %d steps" % (r + 1, seconds, steps))
    return seconds

  timers = {"ours, epoch": ours, "HF own, epoch": hf_epoch}
  times, epoch_loads = interleaved_repeats(args, timers, [os.getpid(), worker.proc.pid])
  loads += [dict(load, mode="epochs") for load in epoch_loads]
  examples = steps * args.batch
  shapes = worker.facts["hf_dynamic_shapes"][steps:]
  hf_mean_length = np.mean([length for _, length, _ in shapes])
  ours_rate = results.add(
    "compare",
    "ours --dynamic_padding, epochs of %d texts" % examples,
    [examples / t for t in times["ours, epoch"]],
    "examples/s",
    "length buckets 8 wide%s" % ours.compile_note,
  )
  hf_rate = results.add(
    "compare",
    "HF own dynamic padding (group_by_length), epochs of %d texts" % examples,
    [examples / t for t in times["HF own, epoch"]],
    "examples/s",
    "mean padded T %.1f; %d threads" % (hf_mean_length, args.threads),
  )
  results.add(
    "compare",
    "ours --dynamic_padding / HF's own dynamic padding",
    [ours_rate / hf_rate],
    "x",
    "examples/s over whole epochs, same texts",
  )


def section_compare_train(
  args, ctx: BenchContext, results: Results, runner, paddings: list[str]
) -> None:
  """Our training and HF PyTorch's on the same batches from the same initial
  weights, their timed repeats alternating; with dynamic padding also HF's own
  (group_by_length + DataCollatorWithPadding). Without torch/transformers in
  --hf_python, our rows only, and a check says why."""
  missing = torch_missing(args.hf_python)
  replay_all(args, ctx, paddings, keep_arrays=not missing)
  worker = None
  if missing:
    results.checks["HF PyTorch comparison"] = "skipped: %s" % missing
    log("HF comparison skipped: %s" % missing)
  else:
    worker = start_worker(args, ctx, paddings)
  try:
    torch_peak = add_hf_facts(args, results, worker.facts) if worker else None
    loads = []
    for mode in paddings:
      ours = TrainTimer(args, ctx, runner, mode == "dynamic", mode)
      timers = {"ours": ours}
      ours.warmup()
      if worker:
        log("HF %s: warmup %d steps" % (mode, args.warmup))
        worker.ask("run", mode=mode, first=0, count=args.warmup)
        timers[mode] = hf_repeat(args, worker, mode)
      pids = [os.getpid()] + ([worker.proc.pid] if worker else [])
      times, mode_loads = interleaved_repeats(args, timers, pids)
      loads += [dict(load, mode=mode) for load in mode_loads]
      note = "; %d threads, repeats alternating with HF" % args.threads if worker else ""
      note += ours.compile_note
      add_train_rows(args, ctx, results, mode, ctx.train_batches[mode], times["ours"], note)
      if not worker:
        continue
      label = "HF PyTorch train, %s padding (our batches)" % mode
      hf_rate = add_hf_rows(
        args, ctx, results, label, ctx.train_batches[mode], times[mode], torch_peak
      )
      ours_rate = results.get("train", "%s padding" % mode)
      results.add(
        "compare",
        "ours / HF PyTorch, %s padding" % mode,
        [ours_rate / hf_rate],
        "x",
        "same batches",
      )
    add_dynamic_ratio(results, paddings)
    if worker and "dynamic" in paddings:
      compare_epochs(args, ctx, results, runner, worker, loads)
    add_load_check(results, loads)
  finally:
    if worker:
      worker.close()


def hf_repeat(args, worker: Worker, mode: str):
  """A timer for interleaved_repeats: repeat r of `mode` in the worker."""

  def run(r: int) -> float:
    first = args.warmup + r * args.steps
    seconds = worker.ask("run", mode=mode, first=first, count=args.steps)["seconds"]
    log("HF %s repeat %d: %.2f s / %d steps" % (mode, r + 1, seconds, args.steps))
    return seconds

  return run


def add_load_check(results: Results, loads: list[dict]) -> None:
  """A check on the CPU other processes used during the timed repeats."""
  if not loads:
    results.checks["other processes during timing"] = "unknown (no /proc/stat)"
    return
  worst = max(loads, key=lambda load: load["foreign_cores"] + load["steal_cores"])
  disturbed = [load for load in loads if fairness.disturbed(load)]
  results.checks["other processes during timing"] = (
    "%d of %d timed repeats above %.2f cores; worst %.2f cores (+ steal %.2f) in %s %s repeat %d"
    % (
      len(disturbed),
      len(loads),
      fairness.BUSY_CORES,
      worst["foreign_cores"],
      worst["steal_cores"],
      worst["mode"],
      worst["figure"],
      worst["repeat"],
    )
  )
