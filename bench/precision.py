"""The precision sections: what bfloat16 (and int8) give on this CPU.

`bf16`: training, fixed padding, our loop in float32 and in
--precision=mixed_bfloat16 (two runners from the same seeded weights, on the
same replayed batches), and, when torch and transformers import in
--hf_python, HF PyTorch in fp32 and under torch.autocast(bfloat16) on those
batches; every timed repeat alternates with the others (same cores and
threads). Rows: examples/s of each, the bf16/fp32 ratios, ours against HF;
checks: the CPU's bf16 matmul unit (AMX-BF16 or not) and the goals it decides,
and how far the bf16 training drifts from the fp32 one (the loss of the last
timed step of each, on the same batches).

`infer_precision`: the classifier's forward on the predict path (batch 1 and
--batch, --seq) in float32 and bfloat16 (TensorFlow), and on ONNX Runtime in
fp32 and int8 when onnxruntime is installed, alternating; the agreement of
each with float32 (largest |difference| of the probabilities, share of equal
argmax) on the eval set's batches. The random head of a random or imported
encoder gives probabilities near uniform: real-task agreement and accuracy
come from `python bench/accuracy.py --vary precision` (`--data demo`: the
demo's emotion data).
"""

from __future__ import annotations

import os
import statistics

import numpy as np

from bench.common import log, probability_agreement
from bench.context import BenchContext
from bench.report import Results
from bench.stages import TrainTimer, build_runner, interleaved_repeats, replay_all
from bert import machine

MIXED = "mixed_bfloat16"
PRECISIONS = ("float32", MIXED)
# The goals on a CPU with AMX-BF16 tiles.
AMX_TRAIN_GOAL = 2.5  # ours bf16 / ours fp32
AMX_HF_GOAL = 1.3  # ours bf16 / HF autocast bf16
AMX_INFER_GOAL = 2.0  # bf16 forward / fp32 forward, batch 32 seq 128


def bf16_unit_note() -> str:
  """What this CPU has for bf16 matmuls, and whether the AMX goals apply."""
  features = machine.features()
  if machine.has_amx_bf16():
    return "AMX-BF16 tiles: the AMX goals apply"
  if "AVX512-BF16" in features:
    return (
      "AVX512-BF16 (bf16 dot products in the vector units), no AMX: the AMX goals "
      "(train >= %.1fx fp32 and >= %.1fx HF autocast, forward >= %.1fx) cannot be "
      "measured here" % (AMX_TRAIN_GOAL, AMX_HF_GOAL, AMX_INFER_GOAL)
    )
  return "no bf16 matmul instructions: bf16 is emulated; the AMX goals cannot be measured here"


def _hf_timer(args, worker, autocast: str | None):
  """A timer for interleaved_repeats: HF's repeat r on the fixed batches."""
  label = "HF bf16 autocast" if autocast else "HF fp32"

  def run(r: int) -> float:
    first = args.warmup + r * args.steps
    seconds = worker.ask("run", mode="fixed", first=first, count=args.steps, autocast=autocast)[
      "seconds"
    ]
    log("%s repeat %d: %.2f s / %d steps" % (label, r + 1, seconds, args.steps))
    return seconds

  return run


def section_bf16(args, ctx: BenchContext, results: Results) -> None:
  """Training examples/s in float32 and mixed_bfloat16, ours and HF's, interleaved."""
  from bench import hf_reference

  missing = hf_reference.torch_missing(args.hf_python)
  replay_all(args, ctx, ["fixed"], keep_arrays=not missing)
  runners = {p: build_runner(ctx, p) for p in PRECISIONS}
  timers = {}
  for precision, runner in runners.items():
    timers["ours " + precision] = TrainTimer(args, ctx, runner, False, "bf16 section, " + precision)
    timers["ours " + precision].warmup()
  worker = None
  if missing:
    results.checks["bf16: HF PyTorch"] = "skipped: %s" % missing
  else:
    variables = runners["float32"].model.variables_by_name
    ctx.initial_weights = {name: v.numpy() for name, v in variables.items()}
    worker = hf_reference.start_worker(args, ctx, ["fixed"])
    for autocast in (None, "bfloat16"):
      worker.ask("run", mode="fixed", first=0, count=args.warmup, autocast=autocast)
    timers["HF fp32"] = _hf_timer(args, worker, None)
    timers["HF bf16 autocast"] = _hf_timer(args, worker, "bfloat16")
  try:
    pids = [os.getpid()] + ([worker.proc.pid] if worker else [])
    times, loads = interleaved_repeats(args, timers, pids)
  finally:
    if worker:
      worker.close()
  examples = args.steps * args.batch
  rate = {}
  for name, seconds in times.items():
    rate[name] = results.add(
      "bf16",
      "%s train, fixed padding" % name,
      [examples / t for t in seconds],
      "examples/s",
      "batch %d, seq %d, %d threads, repeats alternating" % (args.batch, args.seq, args.threads),
    )
  amx_goal = "AMX goal >= %.1f"
  _ratio(
    results,
    "ours bf16 / ours fp32",
    rate,
    "ours " + MIXED,
    "ours float32",
    amx_goal % AMX_TRAIN_GOAL,
  )
  _ratio(results, "HF bf16 autocast / HF fp32", rate, "HF bf16 autocast", "HF fp32", "")
  _ratio(
    results,
    "ours bf16 / HF bf16 autocast",
    rate,
    "ours " + MIXED,
    "HF bf16 autocast",
    amx_goal % AMX_HF_GOAL,
  )
  _ratio(results, "ours fp32 / HF fp32", rate, "ours float32", "HF fp32", "goal >= 1.3")
  results.checks["bf16: matmul unit"] = bf16_unit_note()
  results.checks["bf16: training drift"] = (
    "loss of the last timed step on the same batches: fp32 %.4f, bf16 %.4f; real-task "
    "accuracy: bench/accuracy.py --vary precision"
    % (timers["ours float32"].last_loss, timers["ours " + MIXED].last_loss)
  )
  from bench.hf_reference import add_load_check

  add_load_check(results, [dict(load, mode="bf16") for load in loads])


def _ratio(results: Results, name: str, rate: dict, top: str, bottom: str, note: str) -> None:
  if rate.get(top) and rate.get(bottom):
    results.add("bf16", name, [rate[top] / rate[bottom]], "x", note)


# -- inference -----------------------------------------------------------------------------


def _bf16_twin(model, ctx: BenchContext):
  """A bfloat16 BertClassifier holding `model`'s (float32) weights."""
  from bench.common import NUM_LABELS
  from bert import modeling
  from bert.classifier_model import BertClassifier

  twin = BertClassifier(
    modeling.BertConfig.from_dict(dict(ctx.config)), NUM_LABELS, compute_dtype="bfloat16"
  )
  for name, variable in model.variables_by_name.items():
    twin.variables_by_name[name].assign(variable)
  return twin


def _onnx_forwards(args, ctx: BenchContext, results: Results, folder: str) -> dict:
  """ORT fp32 and int8 forwards of the folder's export, or {} (a check says why)."""
  import importlib.util

  from bench import onnx_infer

  if importlib.util.find_spec("onnxruntime") is None:
    results.checks["infer_precision: ONNX Runtime"] = "skipped: onnxruntime is not installed"
    return {}
  from export import onnx_export

  onnx_dir = os.path.join(ctx.workdir, "precision_onnx_export")
  onnx_export.write_onnx_folder(
    onnx_export.plan_export(folder, onnx_dir, quantize=True, overwrite=True)
  )
  return {
    "ORT fp32": onnx_infer._ort_forward(os.path.join(onnx_dir, "model.onnx"), args.threads),
    "ORT int8": onnx_infer._ort_forward(os.path.join(onnx_dir, "model.int8.onnx"), args.threads),
  }


def section_infer_precision(args, ctx: BenchContext, results: Results) -> None:
  """Forward examples/s per precision and runtime, and agreement with float32."""
  from bench import onnx_infer

  folder = onnx_infer.write_classifier_folder(ctx)
  model = ctx.onnx_model
  forwards = {
    "TF float32": onnx_infer._tf_forward(model),
    "TF bfloat16": onnx_infer._tf_forward(_bf16_twin(model, ctx)),
  }
  forwards.update(_onnx_forwards(args, ctx, results, folder))
  shapes = sorted({(1, args.seq), (args.batch, args.seq)})
  batches = onnx_infer.token_batches(args, ctx, shapes)
  rates = onnx_infer._time_alternating(forwards, batches, args)
  for batch, seq in shapes:
    median = {
      name: results.add(
        "infer_precision",
        "%s, batch %d, seq %d" % (name, batch, seq),
        rates[(name, (batch, seq))],
        "ex/s",
      )
      for name in forwards
    }
    for name in forwards:
      if name != "TF float32":
        goal = "AMX goal >= %.1f" % AMX_INFER_GOAL if name == "TF bfloat16" else ""
        results.add(
          "infer_precision",
          "%s / TF float32, batch %d" % (name, batch),
          [median[name] / median["TF float32"]],
          "x",
          goal,
        )
  reference = np.concatenate(
    [forwards["TF float32"](*arrays) for arrays in _eval_batches(args, ctx)]
  )
  for name in forwards:
    if name == "TF float32":
      continue
    other = np.concatenate([forwards[name](*arrays) for arrays in _eval_batches(args, ctx)])
    gap, same = probability_agreement(reference, other)
    results.add(
      "infer_precision",
      "%s vs TF float32: max |dp|" % name,
      [gap],
      "",
      "%d eval examples; goal bf16 <= 1e-2" % len(reference),
    )
    results.add(
      "infer_precision",
      "%s vs TF float32: same argmax" % name,
      [same],
      "fraction",
      "random head: near-uniform probabilities make this strict; goal >= 0.995",
    )
  results.checks["infer_precision: matmul unit"] = bf16_unit_note()
  log(
    "infer_precision: %s"
    % ", ".join(
      "%s %.1f ex/s" % (name, statistics.median(rates[(name, shapes[-1])])) for name in forwards
    )
  )


def _eval_batches(args, ctx: BenchContext):
  """The eval tf_record's batches as (ids, mask, segments) int32 arrays."""
  from bench.stages import dataset

  for features in dataset(ctx, args, "eval", False):
    yield tuple(
      features[name].numpy().astype(np.int32) for name in ("input_ids", "input_mask", "segment_ids")
    )
