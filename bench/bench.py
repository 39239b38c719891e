#!/usr/bin/env python3
"""Throughput benchmark of the run_classifier workflow on this machine.

    python bench/bench.py                      # everything, MiniLM-shaped random BERT
    python bench/bench.py --compare            # + matmul peak and HF PyTorch training
    python bench/bench.py --only train --compare --hf_python ~/hf/bin/python
    python bench/bench.py --only profile       # where a training step's time goes
    python bench/bench.py --only profile --precision mixed_bfloat16
    python bench/bench.py --only bf16,infer_precision --hf_python ~/hf/bin/python
    python bench/bench.py --minilm             # the real imported all-MiniLM-L6-v2 weights
    python bench/bench.py --config bert_config.json --batch 32 --seq 128
    python bench/bench.py --quick --only train,convert      # smoke test
    python bench/bench.py --json out.json

Sections (`--only`, comma-separated; default all):

  train    ClassifierRunner.create_optimizer + the tf.function loop its
           train() runs, fed by `input_pipeline.file_based_dataset` from
           a real tf_record written by `classifier.features`; fixed padding and
           `dynamic_padding` (length buckets). examples/s and real tokens/s
           (tokens with input_mask == 1), counted exactly by replaying the
           same seeded pipeline for the batches the loop consumed.
  profile  the same loop under the TensorFlow profiler: op time per category
           (matmul, attention softmax+mask, LayerNorm, GELU, dropout,
           embeddings, optimizer, reshape/transpose, input pipeline, XLA fused
           kernels, other) and the top ops (bench/profile_step.py). With
           `--kernels plain` every category is visible; with the default fused
           kernels their XLA calls are one category.
  accumulate  the same loop with --gradient_accumulation_steps 4 at batch/4
           against one batch (fixed padding): examples/s and their ratio.
  train_eval  ClassifierRunner.train without and with an evaluation every
           steps/2 steps: training rate outside evaluations and their checkpoints.
  eval     ClassifierRunner.evaluate, fixed and dynamic (length-sorted),
           each call timed whole after a first call that traces the forward
           pass (one trace per dataset spec; the note shows retraces).
  predict  ClassifierRunner.predict, fixed and dynamic; checks both give the
           same probabilities in the same (input) order.
  convert  examples -> tf_record: (a) Google's path (convert_single_example +
           tf.train.Example(...).SerializeToString() + tf.io.TFRecordWriter),
           (b) file_based_convert_examples_to_features(num_workers=1),
           (c) the same with one worker per core. Each path runs in a fresh
           process; peak RSS growth is sampled from /proc/self/status, and
           (c) runs once more on n/4, n and 2n examples to show that it levels
           off as the input grows.
  serve    the real bert_serving.client.BertClient against `python -m
           serving` (subprocess, -num_worker 1, -max_seq_len SEQ) at batch 1,
           from 8 concurrent clients at batch 1 each, and at batch 256, and
           the same model's in-process forward (BertEncoder under
           tf.function, the layer the server pools) at batch 1 and 256.
  onnx     CPU inference side by side at batch 1 / --batch and sequence
           32 / --seq: ours on TensorFlow, ours on ONNX Runtime (fp32 and
           int8, from bert-export-onnx), HF PyTorch and ONNX Runtime on HF's
           own torch.onnx.export (when torch and transformers import), with
           the ratios; then BertClient against the server on each -backend
           and the backend's in-process encode (bench/onnx_infer.py).
  bf16     training in float32 and --precision=mixed_bfloat16 (fixed padding),
           and HF PyTorch fp32 and torch.autocast(bfloat16) on the same
           batches when --hf_python has torch: examples/s, interleaved, the
           ratios against the AMX goals, the CPU's bf16 unit, the drift of
           the bf16 loss (bench/precision.py).
  infer_precision  the classifier's forward in float32 and bfloat16
           (TensorFlow) and ONNX Runtime fp32/int8, batch 1 and --batch at
           --seq: examples/s and agreement with float32 (max |dp|, argmax).

`--compare` adds references measured in the same invocation:

  * the fp32 matmul peak of this machine (tf.matmul and numpy, 2048x2048,
    GFLOP/s = 2*n^3/t), the GFLOP/s our training step achieves, and the clock
    that peak needs on this CPU's FMA units (a check that the figure is real);
  * HuggingFace transformers PyTorch fine-tuning (BertForSequenceClassification
    from the same config, our initial weights copied in, AdamW), when
    `import torch, transformers` works in `--hf_python` (default: this
    Python): on the very batches our loop consumed, and, against our dynamic
    padding, with HF's own (group_by_length + DataCollatorWithPadding) over
    whole epochs of the same `--epoch_examples` texts.

A comparison is only as good as its conditions (bench/fairness.py):

  * before anything is timed the bench watches the machine for 2 s; when other
    processes use more than 0.15 of a core, `--compare` refuses to run
    (`--allow_busy` runs anyway; the load average is printed but not trusted:
    on this VM it reads ~1 with nothing running);
  * every framework gets the same cores and threads (`--threads`, default all
    usable cores): the process is pinned to them, TensorFlow's intra- and
    inter-op pools and torch.set_num_threads are set to that number, and
    OMP/MKL/OpenBLAS variables follow;
  * HF runs in a worker process that stays up, and the timed repeats alternate
    (ours, HF; HF, ours; ...), so that a change of the machine's speed hits
    both; the CPU used by other processes is measured during every repeat and
    reported in a check;
  * a short numpy matmul at the start and the end shows whether the cores
    kept their speed; the CPU's family/model, vector ISA and FMA width are in
    the header.

FLOPs of one training step (matmuls only; embeddings gathers, softmax,
layer norm, GELU and the optimizer are not counted), for a batch of B rows
padded to T tokens, L layers, hidden H, intermediate I, C labels:

    P    = L * (4*H*H + 2*H*I)            weights in the encoder matmuls
    fwd  = 2*B*T*P                        Q, K, V, output, FFN in and out
         + 4*B*T*T*H*L                    Q.K^T and probs.V
         + 2*B*(H*H + H*C)                pooler and classifier
    step = 3 * fwd                        backward = 2 x forward

T is the padded length actually computed (with dynamic padding, each batch's
own length), so GFLOP/s measures the hardware's work, not the useful work.

Every figure is the MEDIAN of `--repeats` timed runs after warmup runs
(min-max shown beside it). Nothing here is a project dependency: torch and
transformers are only imported by the `--compare` subprocess.

Accuracy is measured separately, end to end through run_classifier.py, by
`python bench/accuracy.py` (fixed vs --dynamic_padding, several seeds).

The code: bench/common.py (settings, logging, subprocess jobs, FLOPs),
context.py (what the sections share: model, files, data), data.py (model,
vocab, texts, tf_records), stages.py (train, eval, predict, serve),
convert.py, profile_step.py and profile_trace.py (profile), onnx_infer.py,
hf_reference.py (--compare) and report.py (machine facts, table, JSON); this
file reads the flags and runs the sections.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

# Run as `python bench/bench.py`, Python puts bench/ first on sys.path, where
# `bench` would be this file: the repository root goes before it so that
# `bench` is the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench import (
  convert,
  data,
  fairness,
  hf_reference,
  onnx_infer,
  precision,
  profile_step,
  report,
  stages,
)
from bench.common import cores, log
from bert import machine as cpu

SECTIONS = (
  "train",
  "profile",
  "accumulate",
  "train_eval",
  "eval",
  "predict",
  "convert",
  "serve",
  "onnx",
  "bf16",
  "infer_precision",
)
# What `--_job KIND SPEC_FILE` runs (see common.run_job).
JOBS = {
  "convert": convert.job_convert,
  "numpy_matmul": hf_reference.job_numpy_matmul,
  "hf_infer": onnx_infer.job_hf_infer,
}
# Default sizes: (full run, --quick).
SIZES = {
  "batch": (32, 8),
  "seq": (128, 32),
  "steps": (10, 2),
  "warmup": (2, 1),
  "repeats": (3, 1),
  "conversion_examples": (100000, 1000),
  "train_examples": (4096, 256),
  "eval_examples": (512, 32),
  "serve_batch": (256, 16),
  "serve_requests": (50, 5),
  "epoch_examples": (1024, 32),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
  """The command line, with unset sizes filled in for a full or --quick run."""
  p = argparse.ArgumentParser(
    description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
  )
  p.add_argument(
    "--config",
    help="bert_config.json to benchmark (random weights); default: MiniLM-L6-H384's shape",
  )
  p.add_argument("--minilm", action="store_true", help="the real imported all-MiniLM-L6-v2 weights")
  p.add_argument("--batch", type=int, default=None, help="default 32")
  p.add_argument("--seq", type=int, default=None, help="default 128")
  p.add_argument(
    "--steps", type=int, default=None, help="training steps per timed repeat (default 10)"
  )
  p.add_argument("--warmup", type=int, default=None, help="untimed warmup steps/calls (default 2)")
  p.add_argument("--repeats", type=int, default=None, help="default 3")
  p.add_argument(
    "--padding",
    choices=("both", "fixed", "dynamic"),
    default="both",
    help="fixed padding, --dynamic_padding, or both",
  )
  p.add_argument("--only", default=",".join(SECTIONS), help="sections: %s" % ",".join(SECTIONS))
  p.add_argument("--compare", action="store_true", help="also matmul peak and HF PyTorch training")
  p.add_argument(
    "--hf_python",
    default=sys.executable,
    help="the Python that has torch and transformers, for --compare (default: this one)",
  )
  p.add_argument(
    "--threads",
    type=int,
    default=None,
    help="cores (and threads) for every framework timed; default all usable cores",
  )
  p.add_argument(
    "--kernels",
    choices=("fused", "plain"),
    default="fused",
    help="train with bert.fused_ops (run_classifier's default) or the plain TensorFlow ops",
  )
  p.add_argument(
    "--precision",
    choices=("float32", "mixed_bfloat16", "mixed_float16"),
    default="float32",
    help="run_classifier's --precision for the train, profile, accumulate, train_eval, eval "
    "and predict sections, the server's -precision for serve (the bf16 section times both "
    "float32 and mixed_bfloat16)",
  )
  p.add_argument(
    "--allow_busy",
    action="store_true",
    help="run --compare even when other processes use the CPU (the figures say so)",
  )
  p.add_argument("--conversion_examples", type=int, default=None, help="default 100000")
  p.add_argument(
    "--train_examples",
    type=int,
    default=None,
    help="examples in the train tf_record (default 4096)",
  )
  p.add_argument(
    "--eval_examples",
    type=int,
    default=None,
    help="examples evaluated/predicted per call (default 512)",
  )
  p.add_argument(
    "--epoch_examples",
    type=int,
    default=None,
    help="--compare: texts of the dynamic-vs-dynamic epochs (default 1024)",
  )
  p.add_argument("--serve_batch", type=int, default=None, help="default 256")
  p.add_argument(
    "--serve_requests", type=int, default=None, help="batch-1 requests per timed run (default 50)"
  )
  p.add_argument("--matmul_n", type=int, default=2048)
  p.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
  p.add_argument("--json", help="write the results here")
  p.add_argument("--workdir", help="keep the files here (default: a temp folder, removed)")
  p.add_argument("--_job", dest="job", nargs=2, help=argparse.SUPPRESS)
  p.add_argument("--_worker", dest="worker", action="store_true", help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  if args.threads is None:
    args.threads = cores()
  for name, (full, quick) in SIZES.items():
    if getattr(args, name) is None:
      setattr(args, name, quick if args.quick else full)
  if args.quick:
    args.matmul_n = min(args.matmul_n, 512)
  args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
  unknown = [s for s in args.sections if s not in SECTIONS]
  if unknown:
    p.error("unknown section(s) %s; choose from %s" % (", ".join(unknown), ", ".join(SECTIONS)))
  if args.minilm and args.config:
    p.error("--minilm and --config exclude each other")
  return args


def run_sections(args, workdir: str, machine: dict, results: report.Results, paddings) -> dict:
  """Prepares the model and data, prints the header, then runs the chosen
  sections in a fixed order; returns the settings."""
  report.add_tensorflow_facts(machine, args.threads)  # Before TensorFlow runs any op.
  ctx = data.resolve_model(args, workdir)
  max_positions = ctx.config["max_position_embeddings"]
  if args.seq > max_positions:
    raise SystemExit("--seq %d > max_position_embeddings %d" % (args.seq, max_positions))
  if args.sections:  # Every section works on the synthetic data.
    log("writing vocab and train/eval tf_records in %s" % workdir)
    data.prepare_data(args, ctx)
  settings = report.settings_of(args, ctx, paddings)
  report.print_header(machine, settings)

  chosen = set(args.sections)
  runner = None
  if chosen & {"train", "profile", "accumulate", "train_eval", "eval", "predict"}:
    runner = stages.build_runner(ctx)
    if args.compare:
      variables = runner.model.variables_by_name
      ctx.initial_weights = {name: v.numpy() for name, v in variables.items()}
  if "train" in chosen and args.compare:
    hf_reference.section_compare_train(args, ctx, results, runner, paddings)
  elif "train" in chosen:
    stages.section_train(args, ctx, results, runner, paddings)
  if args.compare:
    hf_reference.section_matmul(args, results, paddings, machine)
  if "profile" in chosen:
    profile_step.section_profile(args, ctx, results, runner, paddings)
  if "accumulate" in chosen:
    stages.section_accumulate(args, ctx, results, runner)
  if "train_eval" in chosen:
    stages.section_train_eval(args, ctx, results, runner)
  for what in ("eval", "predict"):
    if what in chosen:
      stages.section_infer(args, ctx, results, runner, what, paddings)
  if "convert" in chosen:
    convert.section_convert(args, ctx, results)
  if "serve" in chosen:
    stages.section_serve(args, ctx, results)
  if "onnx" in chosen:
    onnx_infer.section_onnx(args, ctx, results)
  if "bf16" in chosen:
    precision.section_bf16(args, ctx, results)
  if "infer_precision" in chosen:
    precision.section_infer_precision(args, ctx, results)
  return settings


def run_job_here(kind: str, spec_file: str) -> int:
  """The child side of common.run_job: runs one job, prints its JSON result."""
  with open(spec_file) as f:
    spec = json.load(f)
  print(json.dumps(JOBS[kind](spec)))
  return 0


def check_idle(args, machine: dict) -> None:
  """Watches the machine for two seconds before anything is timed; with
  --compare, refuses to go on when other processes use the CPU (unless
  --allow_busy), otherwise warns. The verdict goes into the machine facts."""
  idle = fairness.idle_check(2.0)
  machine["idle_check"] = idle["verdict"]
  machine["calibration_gflops_start"] = round(fairness.calibration_gflops(), 1)
  log("idle check: %s" % idle["verdict"])
  if idle["idle"]:
    return
  if args.compare and not args.allow_busy:
    raise SystemExit(
      "bench.py: the machine is busy (%s); comparisons need a quiet machine. "
      "Stop the other work, or pass --allow_busy to measure anyway." % idle["verdict"]
    )
  log("WARNING: the machine is busy; these figures are not comparable with a quiet machine's")


def main(argv: list[str] | None = None) -> int:
  """Runs the bench (or, with the hidden --_job, one of its subprocess jobs)."""
  args = parse_args(argv)
  if args.job:
    return run_job_here(*args.job)
  if args.worker:
    from bench import hf_worker

    return hf_worker.serve()
  pinned = fairness.pin_threads(args.threads)
  machine = report.machine_info()
  machine["pinned_cores"] = pinned
  machine.update(cpu.cpu_facts())
  onednn = cpu.onednn_isa()
  machine["onednn_isa"] = onednn["isa"] or "?"
  machine["onednn_matmul"] = (
    ", ".join("%s %s" % item for item in onednn["matmul_kernels"].items()) or "?"
  )
  check_idle(args, machine)
  workdir = args.workdir or tempfile.mkdtemp(prefix="bert-bench-")
  os.makedirs(workdir, exist_ok=True)
  results = report.Results()
  paddings = ["fixed", "dynamic"] if args.padding == "both" else [args.padding]
  try:
    settings = run_sections(args, workdir, machine, results, paddings)
  finally:
    if not args.workdir:
      shutil.rmtree(workdir, ignore_errors=True)
  machine["calibration_gflops_end"] = round(fairness.calibration_gflops(), 1)
  report.print_results(results, machine)
  if args.json:
    report.write_json(args.json, machine, settings, results)
  return 0


if __name__ == "__main__":
  sys.exit(main())
