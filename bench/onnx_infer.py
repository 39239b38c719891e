"""The `onnx` section: CPU inference side by side, and serving on each backend.

Inference rows, at batch 1 and `--batch`, sequence 32 and `--seq` (fixed padding), each the
classifier's probabilities for the same token ids:

  * ours, TensorFlow: BertClassifier under tf.function (the predict path);
  * ours, ONNX Runtime fp32 and int8: the folder bert-export-onnx writes (--quantize int8);
  * HF transformers PyTorch: BertForSequenceClassification with the same weights (a fresh
    process, when torch and transformers import), and ONNX Runtime on the model that
    torch.onnx.export makes of it (HF's own export), as it is and after ONNX Runtime's
    transformer optimizer.

Figures are examples/s; the timed calls of all the runtimes alternate, so that a change of the
machine's speed during the run hits every runtime alike. Then the ratios the issue set goals for,
int8's label agreement with fp32 on these batches, and `BertClient.encode` of `--serve_batch`
texts through `python -m serving -backend B` against the same backend's in-process encode.
"""

from __future__ import annotations

import collections
import gc
import importlib.util
import os
import time

import numpy as np

from bench.common import NUM_LABELS, SEED, log, run_job
from bench.context import BenchContext
from bench.data import make_texts
from bench.report import Results

SERVE_BACKENDS = ("tensorflow", "onnxruntime", "onnxruntime_int8")
HF_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def shapes_of(args) -> list[tuple[int, int]]:
  """(batch, sequence) pairs measured: batch 1 and --batch, sequence 32 and --seq."""
  seqs = sorted({min(32, args.seq), args.seq})
  return [(b, t) for t in seqs for b in sorted({1, args.batch})]


def write_classifier_folder(ctx: BenchContext) -> str:
  """A run_classifier-like folder (model.ckpt-0 with a seeded head, vocab, config, labels)
  of the bench's model: the imported weights with --minilm, else seeded random ones."""
  import tensorflow as tf

  from bert import checkpoint, model_folder, modeling
  from bert.classifier_model import BertClassifier

  folder = os.path.join(ctx.workdir, "onnx_bench_model")
  os.makedirs(folder, exist_ok=True)
  tf.random.set_seed(SEED)
  model = BertClassifier(modeling.BertConfig.from_dict(dict(ctx.config)), NUM_LABELS)
  if ctx.checkpoint:
    checkpoint.load_variables(model.bert.variables_by_name, ctx.checkpoint)
  prefix = os.path.join(folder, "model.ckpt-0")
  checkpoint.save_variables(model.variables_by_name, prefix)
  checkpoint.write_checkpoint_state(folder, ["model.ckpt-0"])
  model_folder.write_json(os.path.join(folder, "bert_config.json"), ctx.config)
  with open(ctx.vocab_file, "rb") as src, open(os.path.join(folder, "vocab.txt"), "wb") as dst:
    dst.write(src.read())
  model_folder.write_labels(folder, [str(k) for k in range(NUM_LABELS)])
  ctx.onnx_folder, ctx.onnx_model = folder, model
  return folder


def token_batches(args, ctx: BenchContext, shapes) -> dict:
  """(batch, seq) -> int32 (ids, mask, segments) of bench texts, padded to seq."""
  from serving import features

  texts = make_texts(ctx.words, max(b for b, _ in shapes), args.seq, SEED + 5)
  out = {}
  for batch, seq in shapes:
    rows = features.convert_texts(
      texts[:batch], ctx.tokenizer, seq, ctx.config["max_position_embeddings"]
    )
    out[(batch, seq)] = tuple(
      np.array(x, np.int32) for x in (rows.input_ids, rows.input_mask, rows.input_type_ids)
    )
  return out


def calls_per_run(batch: int, seq: int, quick: bool) -> int:
  """How many forward calls one timed run makes: about 4,096 tokens' worth, at least one."""
  return 1 if quick else max(1, 4096 // (batch * seq))


# -- HF's side, in a fresh process ------------------------------------------------------


def job_hf_infer(spec: dict) -> dict:
  """HF BertForSequenceClassification with our weights: its eval forward timed per shape,
  its logits compared with ours, and its torch.onnx.export written to spec["onnx"]."""
  try:
    import torch
    import transformers
  except Exception as e:
    return {"skipped": "%s: %s" % (type(e).__name__, e)}
  from bench.hf_worker import copy_initial_weights, hf_classifier

  torch.manual_seed(0)
  torch.set_num_threads(spec["threads"])
  cfg = spec["config"]
  model = hf_classifier(transformers, cfg)
  copied = copy_initial_weights(
    torch, model.state_dict(), np.load(spec["weights"]), cfg["num_hidden_layers"]
  )
  model.eval()
  arrays = np.load(spec["arrays"])
  results = {"torch": torch.__version__, "transformers": transformers.__version__, "times": {}}
  results["copied"] = copied
  with torch.no_grad():
    first = spec["shapes"][0]
    key = "%d_%d" % tuple(first)
    inputs = [torch.from_numpy(arrays["%s_%s" % (key, k)].astype(np.int64)) for k in "ims"]
    logits = model(*inputs).logits.numpy()
    results["logits_max_abs_diff"] = float(np.max(np.abs(logits - arrays["%s_logits" % key])))
    torch.onnx.export(
      model,
      tuple(inputs),
      spec["onnx"],
      input_names=list(HF_INPUTS),
      output_names=["logits"],
      dynamic_axes=dict({n: {0: "batch", 1: "sequence"} for n in HF_INPUTS}, logits={0: "batch"}),
      opset_version=17,
      dynamo=False,
    )
    for batch, seq in spec["shapes"]:
      key = "%d_%d" % (batch, seq)
      inputs = [torch.from_numpy(arrays["%s_%s" % (key, k)].astype(np.int64)) for k in "ims"]
      calls = calls_per_run(batch, seq, spec["quick"])
      model(*inputs)
      runs = []
      for _ in range(spec["repeats"]):
        start = time.perf_counter()
        for _ in range(calls):
          model(*inputs)
        runs.append(batch * calls / (time.perf_counter() - start))
      results["times"][key] = runs
  return results


# -- our side ---------------------------------------------------------------------------


def _tf_forward(model):
  import tensorflow as tf

  spec = tf.TensorSpec([None, None], tf.int32)

  @tf.function(input_signature=[spec, spec, spec])
  def probabilities(ids, mask, segments):
    labels = tf.zeros_like(ids[:, 0])
    return model(ids, mask, segments, labels, training=False)[3]

  return lambda ids, mask, seg: probabilities(ids, mask, seg).numpy()


def _ort_forward(path: str, threads: int):
  from onnx_bert import runtime as onnx_runtime

  model = onnx_runtime.OnnxBert(path, threads)
  return lambda ids, mask, seg: model.run(["probabilities"], ids, mask, seg)[0]


def _hf_ort_forward(path: str, threads: int):
  import onnxruntime as ort

  from onnx_bert import runtime as onnx_runtime

  session = ort.InferenceSession(
    path, onnx_runtime.session_options(threads), providers=["CPUExecutionProvider"]
  )

  def forward(ids, mask, seg):
    feed = dict(zip(HF_INPUTS, (a.astype(np.int64) for a in (ids, mask, seg))))
    return session.run(["logits"], feed)[0]

  return forward


def _hf_optimized(path: str, config: dict) -> str:
  """HF's export after ONNX Runtime's transformer optimizer (model_type bert)."""
  from onnxruntime.transformers import optimizer

  target = path.replace(".onnx", ".optimized.onnx")
  optimized = optimizer.optimize_model(
    path,
    model_type="bert",
    num_heads=config["num_attention_heads"],
    hidden_size=config["hidden_size"],
  )
  optimized.save_model_to_file(target)
  return target


def _time_alternating(forwards: dict, batches: dict, args) -> dict:
  """{(name, shape): [examples/s per run]}, every runtime timed in turn within each run."""
  rates = collections.defaultdict(list)
  for shape, inputs in batches.items():
    calls = calls_per_run(*shape, args.quick)
    for forward in forwards.values():
      forward(*inputs)  # warm up this shape
    for _ in range(args.repeats):
      for name, forward in forwards.items():
        start = time.perf_counter()
        for _ in range(calls):
          forward(*inputs)
        rates[(name, shape)].append(shape[0] * calls / (time.perf_counter() - start))
  return rates


def _hf_reference(args, ctx: BenchContext, batches: dict, results: Results) -> dict:
  """Runs job_hf_infer; returns its result, or {} (with a check saying why) when skipped."""
  from bench.hf_reference import torch_missing

  missing = torch_missing(args.hf_python)
  if missing:
    results.checks["HF inference reference"] = "skipped: %s" % missing
    return {}
  model = ctx.onnx_model
  weights = os.path.join(ctx.workdir, "onnx_bench_weights.npz")
  np.savez(weights, **{name: v.numpy() for name, v in model.variables_by_name.items()})
  arrays = {}
  for (batch, seq), (ids, mask, seg) in batches.items():
    key = "%d_%d" % (batch, seq)
    arrays.update({key + "_i": ids, key + "_m": mask, key + "_s": seg})
  first = next(iter(batches))
  logits = model(*batches[first], np.zeros([first[0]], np.int32))[2].numpy()
  arrays["%d_%d_logits" % first] = logits
  arrays_file = os.path.join(ctx.workdir, "onnx_bench_arrays.npz")
  np.savez(arrays_file, **arrays)
  log("HF PyTorch inference and torch.onnx.export in a subprocess")
  hf = run_job(
    "hf_infer",
    {
      "config": ctx.config,
      "weights": weights,
      "arrays": arrays_file,
      "onnx": os.path.join(ctx.workdir, "hf_model.onnx"),
      "shapes": [list(s) for s in batches],
      "threads": args.threads,
      "repeats": args.repeats,
      "quick": args.quick,
    },
    python=args.hf_python,
  )
  if "skipped" in hf:
    results.checks["HF inference reference"] = "skipped: %s" % hf["skipped"]
    return {}
  results.checks["HF inference reference"] = (
    "torch %s, transformers %s, %d tensors copied from ours; logits max |diff| vs ours %.2g"
    % (hf["torch"], hf["transformers"], hf["copied"], hf["logits_max_abs_diff"])
  )
  hf["onnx"] = os.path.join(ctx.workdir, "hf_model.onnx")
  return hf


def _ratio(results: Results, name: str, top: float | None, bottom: float | None, note: str):
  if top and bottom:
    results.add("onnx", name, [top / bottom], "x", note)


def inference_rows(args, ctx: BenchContext, results: Results) -> dict:
  """The side-by-side rows and their ratios; returns the ONNX folder's info."""
  from export import onnx_export

  folder = write_classifier_folder(ctx)
  onnx_dir = os.path.join(ctx.workdir, "onnx_bench_export")
  start = time.perf_counter()
  info = onnx_export.write_onnx_folder(
    onnx_export.plan_export(folder, onnx_dir, quantize=True, overwrite=True)
  )
  check = max(info["check"]["max_difference"].values())
  results.checks["bert-export-onnx"] = "%.1f s, max difference from TF %.2g, fused %s" % (
    time.perf_counter() - start,
    check,
    ", ".join("%d %s" % (n, op) for op, n in info["fused_ops"].items()),
  )
  import onnxruntime

  results.checks["ONNX Runtime"] = "%s, CPUExecutionProvider, %d intra-op threads" % (
    onnxruntime.__version__,
    args.threads,
  )
  shapes = shapes_of(args)
  batches = token_batches(args, ctx, shapes)
  hf = _hf_reference(args, ctx, batches, results)
  threads = args.threads
  forwards = {
    "ours TF": _tf_forward(ctx.onnx_model),
    "ours ORT fp32": _ort_forward(os.path.join(onnx_dir, "model.onnx"), threads),
    "ours ORT int8": _ort_forward(os.path.join(onnx_dir, "model.int8.onnx"), threads),
  }
  if hf:
    forwards["ORT on HF export"] = _hf_ort_forward(hf["onnx"], threads)
    try:  # ONNX Runtime's optimizer reads torch's version: torch may be in --hf_python only.
      optimized = _hf_optimized(hf["onnx"], ctx.config)
    except ImportError as e:
      results.checks["ORT on HF export, optimized"] = "skipped: %s" % e
    else:
      forwards["ORT on HF export, optimized"] = _hf_ort_forward(optimized, threads)
  rates = _time_alternating(forwards, batches, args)

  largest = shapes[-1]
  fp32, int8 = (forwards[n](*batches[largest]) for n in ("ours ORT fp32", "ours ORT int8"))
  agreement = float(np.mean(fp32.argmax(-1) == int8.argmax(-1)))
  for batch, seq in shapes:
    tag = "batch %d, seq %d" % (batch, seq)
    median = {}
    for name in forwards:
      median[name] = results.add(
        "onnx", "%s, %s" % (name, tag), rates[(name, (batch, seq))], "ex/s"
      )
    if hf:
      key = "%d_%d" % (batch, seq)
      median["HF PyTorch"] = results.add(
        "onnx", "HF PyTorch, %s" % tag, hf["times"][key], "ex/s", "separate process"
      )
      _ratio(
        results,
        "ours TF / ORT on HF export, %s" % tag,
        median["ours TF"],
        median["ORT on HF export"],
        "goal >= 1.0",
      )
      _ratio(
        results,
        "ours ORT fp32 / ORT on HF export, %s" % tag,
        median["ours ORT fp32"],
        median["ORT on HF export"],
        "goal >= 1.0",
      )
      _ratio(
        results,
        "ours ORT fp32 / HF PyTorch, %s" % tag,
        median["ours ORT fp32"],
        median["HF PyTorch"],
        "",
      )
    _ratio(
      results, "ours ORT fp32 / ours TF, %s" % tag, median["ours ORT fp32"], median["ours TF"], ""
    )
    _ratio(
      results,
      "int8 / fp32 (ORT), %s" % tag,
      median["ours ORT int8"],
      median["ours ORT fp32"],
      "goal >= 1.8",
    )
  results.add(
    "onnx",
    "int8 label agreement with fp32, batch %d seq %d" % largest,
    [agreement],
    "fraction",
    "random head; real-task accuracy: bert-export-onnx --quantize int8 --eval_file",
  )
  return info


# -- serving on each backend --------------------------------------------------------------


def _in_process(args, folder: str, backend: str, texts: list[str]) -> list[float]:
  """texts/s of the backend's own encode (tokenization included, as in the worker)."""
  from serving import args as args_mod
  from serving import files as files_mod
  from serving import worker

  flags = args_mod.get_args_parser().parse_args(
    ["-model_dir", folder, "-max_seq_len", str(args.seq), "-backend", backend, "-cpu"]
  )
  files = files_mod.resolve(folder)
  settings = worker.WorkerSettings(0, b"bench", "", flags, files, worker.backend_for(flags))
  model = worker.load_backend(settings)
  worker.encode_batch(model, texts, flags)
  runs = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    worker.encode_batch(model, texts, flags)
    runs.append(len(texts) / (time.perf_counter() - start))
  return runs


def _served(args, ctx: BenchContext, folder: str, backend: str, texts: list[str]) -> list[float]:
  from bert_serving.client import BertClient

  from serving.background import BackgroundServer

  server = BackgroundServer(
    folder,
    ["-num_worker", "1", "-max_seq_len", str(args.seq), "-cpu", "-backend", backend],
    log_path=os.path.join(ctx.workdir, "server-%s.log" % backend),
  )
  runs = []
  with server:
    with BertClient(port=server.port, port_out=server.port_out, timeout=600000) as client:
      client.encode(texts)
      for _ in range(args.repeats):
        start = time.perf_counter()
        client.encode(texts)
        runs.append(len(texts) / (time.perf_counter() - start))
  return runs


def serving_rows(args, ctx: BenchContext, results: Results) -> None:
  """BertClient.encode through the server against the backend's in-process encode."""
  folder = ctx.onnx_folder
  texts = make_texts(ctx.words, args.serve_batch, args.seq, SEED + 6)
  for backend in SERVE_BACKENDS:
    inproc = results.add(
      "onnx",
      "in-process encode, -backend %s, batch %d" % (backend, len(texts)),
      _in_process(args, folder, backend, texts),
      "texts/s",
      "REDUCE_MEAN, tokenization included",
    )
    gc.collect()
    served = results.add(
      "onnx",
      "BertClient.encode, -backend %s, batch %d" % (backend, len(texts)),
      _served(args, ctx, folder, backend, texts),
      "texts/s",
      "python -m serving -num_worker 1",
    )
    results.add(
      "onnx", "served / in-process, -backend %s" % backend, [served / inproc], "x", "goal >= 0.95"
    )


def section_onnx(args, ctx: BenchContext, results: Results) -> None:
  """The whole section: inference side by side, then serving on each backend (skipped, with
  a check saying so, without onnxruntime)."""
  if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
    results.checks["onnx section"] = "skipped: pip install 'bert-classic[onnx]'"
    return
  info = inference_rows(args, ctx, results)
  int8 = info.get("int8", {})
  results.checks["int8 check batches"] = "label agreement %s with fp32" % int8.get(
    "check_label_agreement"
  )
  serving_rows(args, ctx, results)
  log("onnx section done (median of %d runs each)" % args.repeats)
