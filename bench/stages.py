"""The timed stages that run in the bench's own process: training, evaluate(),
predict() and serving (in-process forward and the real bert-as-service client
against `python -m serving`)."""

from __future__ import annotations

import gc
import json
import os
import shutil
import statistics
import threading
import time

import numpy as np

from bench.common import LEARNING_RATE, NUM_LABELS, SEED, log, train_flops
from bench.context import BenchContext
from bench.data import make_texts
from bench.fairness import ForeignLoad
from bench.report import Results

SERVE_CLIENTS = 8
ACCUMULATION_STEPS = 4


# -- the runner and its input -------------------------------------------------


def build_runner(ctx: BenchContext, precision: str | None = None):
  """A seeded ClassifierRunner computing in `precision` (run_classifier's
  --precision; default the bench's --precision) with its optimizer, restored
  from the bench's checkpoint when there is one (--minilm)."""
  import tensorflow as tf

  from bert import modeling
  from classifier.trainer import ClassifierRunner

  tf.random.set_seed(SEED)
  config = modeling.BertConfig.from_dict(dict(ctx.config))
  output_dir = os.path.join(ctx.workdir, "output")
  os.makedirs(output_dir, exist_ok=True)
  runner = ClassifierRunner(
    config,
    NUM_LABELS,
    output_dir,
    precision=precision or ctx.precision,
    fused_kernels=ctx.fused_kernels,
  )
  runner.create_optimizer(LEARNING_RATE, num_train_steps=10**7, num_warmup_steps=10)
  if ctx.checkpoint:
    runner.restore(ctx.checkpoint)
  return runner


def dataset(ctx: BenchContext, args, split: str, dynamic: bool, batch_size: int | None = None):
  """The run_classifier input pipeline over the "train" or "eval" tf_record."""
  from classifier import input_pipeline

  training = split == "train"
  return input_pipeline.file_based_dataset(
    ctx.records[split],
    args.seq,
    is_training=training,
    drop_remainder=training,
    batch_size=batch_size or args.batch,
    seed=SEED,
    dynamic_padding=dynamic,
  )


# -- training ---------------------------------------------------------------------


def replay_batches(
  ctx: BenchContext, args, dynamic: bool, count: int, keep_arrays: bool = False
) -> list:
  """Shape and real-token count of the first `count` batches of the seeded
  training pipeline, i.e. the batches the timed loop consumed (with their
  arrays too when `keep_arrays`)."""
  names = ("input_ids", "input_mask", "segment_ids", "label_ids")
  batches = []
  for features in dataset(ctx, args, "train", dynamic).take(count):
    mask = features["input_mask"].numpy()
    batch = {"shape": tuple(mask.shape), "real": int(mask.sum())}
    if keep_arrays:
      batch["arrays"] = {name: features[name].numpy() for name in names}
    batches.append(batch)
  return batches


def timed_slices(batches: list, args) -> list[list]:
  """The batches of each timed repeat (the warmup ones dropped)."""
  first = args.warmup
  return [
    batches[first + r * args.steps : first + (r + 1) * args.steps] for r in range(args.repeats)
  ]


def rates(slices: list[list], times: list[float], amount) -> list[float]:
  """Per repeat: `amount(batch)` summed over the repeat's batches, per second."""
  return [sum(amount(b) for b in batches) / t for batches, t in zip(slices, times)]


def batch_rows(batch: dict) -> int:
  """Examples in a replayed batch."""
  return batch["shape"][0]


def batch_real_tokens(batch: dict) -> int:
  """Tokens of a replayed batch that are not padding."""
  return batch["real"]


def mean_padded_length(slices: list[list]) -> float:
  """Mean padded length of the batches of the timed repeats."""
  return float(np.mean([b["shape"][1] for batch_slice in slices for b in batch_slice]))


def matmul_gflops(cfg: dict, slices: list[list], times: list[float]) -> list[float]:
  """Per repeat: matmul GFLOP/s of the training steps on those batches."""
  return [
    train_flops(cfg, [b["shape"] for b in batches]) / t / 1e9 for batches, t in zip(slices, times)
  ]


class TrainTimer:
  """Our training loop on one padding mode, timed a call at a time: `warmup()`
  runs the untimed warmup steps (tracing included), each `repeat()` one call
  of `steps` steps. With `accumulation_steps` K, each optimizer step takes K
  batches of batch/K examples (the same examples per step)."""

  def __init__(
    self, args, ctx: BenchContext, runner, dynamic: bool, mode: str, accumulation_steps=1
  ):
    self.args, self.mode, self.runner = args, mode, runner
    self.loop = runner.train_loop_fn(accumulation_steps)
    source = dataset(ctx, args, "train", dynamic, args.batch // accumulation_steps)
    self.iterator = iter(runner.strategy.experimental_distribute_dataset(source))
    self.element_spec = source.element_spec
    self.dynamic = dynamic
    self.repeats_done = 0
    self.last_loss = None  # The loss of the last step of the last timed repeat.
    self.compile_note = ""

  def _run(self, steps: int) -> tuple[float, float]:
    import tensorflow as tf

    start = time.perf_counter()
    loss, _ = self.loop(self.iterator, tf.constant(steps))
    loss = float(loss)  # Waits for the steps to finish.
    return time.perf_counter() - start, loss

  def warmup(self) -> float:
    """The warmup steps' seconds. With dynamic padding and fused kernels, first
    one step on a made-up batch of every padded length the buckets give, so
    that XLA's one compilation per length happens here, not in the figures."""
    if self.dynamic and self.runner.fused_kernels:
      self.compile_note = self._compile_lengths()
    log("train %s: warmup %d steps (includes tracing)" % (self.mode, self.args.warmup))
    return self._run(self.args.warmup)[0]

  def _compile_lengths(self) -> str:
    import tensorflow as tf

    from classifier import input_pipeline

    lengths = input_pipeline.bucket_lengths(self.args.seq)
    rows = self.args.batch

    def batches():
      for length in lengths:
        batch = {}
        for name, spec in self.element_spec.items():
          rest = [length] if name in input_pipeline.SEQUENCE_FEATURES else spec.shape[1:]
          fill = tf.zeros if name == "label_ids" else tf.ones
          batch[name] = fill([rows] + list(rest), spec.dtype)
        yield batch

    source = tf.data.Dataset.from_generator(batches, output_signature=self.element_spec)
    iterator = iter(self.runner.strategy.experimental_distribute_dataset(source))
    log("train %s: compiling the fused kernels for %d padded lengths" % (self.mode, len(lengths)))
    start = time.perf_counter()
    float(self.loop(iterator, tf.constant(len(lengths)))[0])
    seconds = time.perf_counter() - start
    return "; %d padded lengths compiled first (%.0f s, not counted)" % (len(lengths), seconds)

  def repeat(self) -> float:
    """One timed repeat's seconds."""
    seconds, loss = self._run(self.args.steps)
    self.repeats_done += 1
    self.last_loss = loss
    log(
      "train %s repeat %d: %.2f s / %d steps (loss %.3f)"
      % (self.mode, self.repeats_done, seconds, self.args.steps, loss)
    )
    return seconds


def time_train_loop(
  args, ctx: BenchContext, runner, dynamic: bool, mode: str, accumulation_steps: int = 1
) -> tuple[float, list, str]:
  """The warmup's seconds, each of `repeats` repeats' and the compilation note
  (see TrainTimer)."""
  timer = TrainTimer(args, ctx, runner, dynamic, mode, accumulation_steps)
  warmup_seconds = timer.warmup()
  return warmup_seconds, [timer.repeat() for _ in range(args.repeats)], timer.compile_note


def interleaved_repeats(args, timers: dict, watch_pids: list[int]) -> tuple[dict, list]:
  """Runs `repeats` rounds in which each (already warmed-up) timer runs one
  repeat, the order reversed every other round (A B, B A, ...) so that a
  drift of the machine's speed hits all alike. A timer is a callable
  `(repeat index) -> seconds`, or has `.repeat()`. Returns the seconds per timer
  and the foreign CPU load (cores used by other processes) of every repeat."""
  names = list(timers)
  times = {name: [] for name in names}
  loads = []
  for r in range(args.repeats):
    for name in names if r % 2 == 0 else names[::-1]:
      timer = timers[name]
      watch = ForeignLoad(watch_pids)
      watch.start()
      seconds = timer.repeat() if hasattr(timer, "repeat") else timer(r)
      used = watch.stop()
      times[name].append(seconds)
      if used is not None:
        loads.append(dict(used, figure=name, repeat=r + 1))
  return times, loads


def add_train_rows(
  args, ctx: BenchContext, results: Results, mode: str, batches, times, note=""
) -> None:
  """Our training rows of one padding mode: examples/s, real and computed
  tokens/s, matmul GFLOP/s and step time over the timed `batches`."""
  slices = timed_slices(batches, args)
  results.add(
    "train",
    "%s padding" % mode,
    rates(slices, times, batch_rows),
    "examples/s",
    "mean padded T %.1f%s" % (mean_padded_length(slices), note),
  )
  real = rates(slices, times, batch_real_tokens)
  results.add("train", "%s padding, real tokens" % mode, real, "tokens/s", "input_mask==1")
  computed = rates(slices, times, lambda b: b["shape"][0] * b["shape"][1])
  results.add("train", "%s padding, computed tokens" % mode, computed, "tokens/s", "incl. padding")
  results.add(
    "train",
    "%s padding, matmul GFLOP/s" % mode,
    matmul_gflops(ctx.config, slices, times),
    "GFLOP/s",
    "hardware work (see FLOPs formula)",
  )
  step_ms = [t / args.steps * 1000 for t in times]
  results.add("train", "%s padding, step time" % mode, step_ms, "ms/step")


def replay_all(args, ctx: BenchContext, paddings: list[str], keep_arrays: bool) -> None:
  """The batches every padding mode's timed loop will consume, replayed from
  the seeded pipeline into ctx.train_batches (before any timing, so that a
  partner process can train on them in between)."""
  total = args.warmup + args.repeats * args.steps
  ctx.train_batches = {
    mode: replay_batches(ctx, args, mode == "dynamic", total, keep_arrays=keep_arrays)
    for mode in paddings
  }


def section_train(args, ctx: BenchContext, results: Results, runner, paddings: list[str]) -> None:
  """Training throughput per padding mode: examples/s, real and computed
  tokens/s, matmul GFLOP/s and step time. Leaves the replayed batches in
  ctx.train_batches."""
  replay_all(args, ctx, paddings, keep_arrays=False)
  for mode in paddings:
    warmup_seconds, times, compiled = time_train_loop(args, ctx, runner, mode == "dynamic", mode)
    note = "; warmup %d steps %.1f s%s" % (args.warmup, warmup_seconds, compiled)
    add_train_rows(args, ctx, results, mode, ctx.train_batches[mode], times, note)
  add_dynamic_ratio(results, paddings)


def add_dynamic_ratio(results: Results, paddings: list[str]) -> None:
  """The dynamic / fixed padding examples/s row, when both modes ran."""
  if "fixed" in paddings and "dynamic" in paddings:
    ratio = results.get("train", "dynamic padding") / results.get("train", "fixed padding")
    results.add(
      "train",
      "dynamic vs fixed (examples/s)",
      [ratio],
      "x",
      "same model; bucketed batches change the gradient noise",
    )


def section_accumulate(args, ctx: BenchContext, results: Results, runner) -> None:
  """--gradient_accumulation_steps 4 at batch/4 against one batch of `batch`
  (fixed padding): the same examples per optimizer step, so examples/s compare
  the cost of accumulating."""
  steps_rates = {}
  for k in (1, ACCUMULATION_STEPS):
    mode = "batch %d" % args.batch if k == 1 else "%d x batch %d" % (k, args.batch // k)
    _, times, _ = time_train_loop(args, ctx, runner, False, mode, accumulation_steps=k)
    steps_rates[k] = [args.steps * args.batch / t for t in times]
    results.add("accumulate", mode, steps_rates[k], "examples/s", "fixed padding")
  ratio = np.median(steps_rates[ACCUMULATION_STEPS]) / np.median(steps_rates[1])
  results.add(
    "accumulate", "accumulated vs one batch", [ratio], "x", "goal >= 0.95 (same examples)"
  )


def section_train_eval(args, ctx: BenchContext, results: Results, runner) -> None:
  """ClassifierRunner.train over the same number of steps without and with an
  evaluation every steps/2 steps (fixed padding): the training steps' rate with
  the time spent inside evaluations and their checkpoints taken out, so the
  two rates compare what evaluation during training costs the other steps."""
  eval_data = dataset(ctx, args, "eval", False)
  steps = max(2, args.steps)
  log("train_eval: warmup (traces the train loop and the eval forward)")
  runner.train(dataset(ctx, args, "train", False), runner.global_step + 1, 10**9, 1, args.batch)
  runner.evaluate(eval_data, args.eval_examples)
  rates = {}
  for mode in ("no evaluation", "evaluation every %d steps" % (steps // 2)):
    outside = [0.0]  # Seconds spent in evaluations and in checkpoint saves.
    save = runner.save

    def timed_save(save=save, outside=outside):
      start = time.perf_counter()
      path = save()
      outside[0] += time.perf_counter() - start
      return path

    def on_eval(step, outside=outside):
      start = time.perf_counter()
      runner.evaluate(eval_data, args.eval_examples)
      outside[0] += time.perf_counter() - start
      return False

    runner.save = timed_save
    try:
      evaluating = mode != "no evaluation"
      source = dataset(ctx, args, "train", False)
      start = time.perf_counter()
      runner.train(
        source,
        runner.global_step + steps,
        save_checkpoints_steps=10**9,
        iterations_per_loop=steps,
        batch_size=args.batch,
        log_every_seconds=10**9,
        eval_every_steps=steps // 2 if evaluating else 0,
        on_eval=on_eval if evaluating else None,
      )
      seconds = time.perf_counter() - start - outside[0]
    finally:
      del runner.save
    rates[mode] = steps * args.batch / seconds
    log(
      "train_eval %s: %.1f examples/s outside evaluations (%.1f s of %.1f s in them)"
      % (mode, rates[mode], outside[0], seconds + outside[0])
    )
    results.add("train_eval", mode, [rates[mode]], "examples/s", "training steps only")
  first, second = rates.values()
  results.add("train_eval", "with / without evaluation", [second / first], "x", "goal ~1.0")


# -- eval and predict ---------------------------------------------------------------


def section_infer(
  args, ctx: BenchContext, results: Results, runner, what: str, paddings: list[str]
):
  """Times whole evaluate() (`what` "eval") or predict() ("predict") calls as
  run_classifier makes them, after one untimed call that traces the forward;
  then compares the fixed and dynamic outputs."""
  n = args.eval_examples
  label = "evaluate()" if what == "eval" else "predict()"
  outputs = {}
  for mode in paddings:
    dynamic = mode == "dynamic"

    def call(dynamic=dynamic):
      source = dataset(ctx, args, "eval", dynamic)
      if what == "eval":
        return runner.evaluate(source, n)
      return np.array(list(runner.predict(source, n)))

    log("%s %s: first call (includes tracing)" % (what, mode))
    start = time.perf_counter()
    call()
    first_seconds = time.perf_counter() - start
    traces_before = runner.forward_trace_count()
    times = []
    for _ in range(args.repeats):
      start = time.perf_counter()
      result = call()
      times.append(time.perf_counter() - start)
    retraces = runner.forward_trace_count() - traces_before
    outputs[mode] = result
    lengths = [int(f["input_ids"].shape[1]) for f in dataset(ctx, args, "eval", dynamic)]
    results.add(
      what,
      "%s %s padding" % (label, mode),
      [n / t for t in times],
      "examples/s",
      "%d examples, batch %d, mean T %.1f; first call %.1f s; %d retrace(s) in timed calls"
      % (n, args.batch, np.mean(lengths), first_seconds, retraces),
    )
  if "fixed" not in outputs or "dynamic" not in outputs:
    return
  fixed_out, dynamic_out = outputs["fixed"], outputs["dynamic"]
  speedup = results.get(what, "%s dynamic padding" % label) / results.get(
    what, "%s fixed padding" % label
  )
  results.add(what, "dynamic vs fixed (examples/s)", [speedup], "x")
  if what == "predict":
    gap = float(np.max(np.abs(fixed_out - dynamic_out)))
    results.checks["predict fixed vs dynamic max |dp|"] = "%.2g" % gap
  else:
    results.checks["eval accuracy fixed / dynamic"] = "%.4f / %.4f" % (
      fixed_out["eval_accuracy"],
      dynamic_out["eval_accuracy"],
    )


# -- serving --------------------------------------------------------------------------


def serving_model_dir(ctx: BenchContext) -> str:
  """A bert-as-service model folder (bert_config.json, vocab.txt and
  bert_model.ckpt): the imported one with --minilm, else seeded random weights
  saved into the work folder."""
  if ctx.model_dir:
    return ctx.model_dir
  import tensorflow as tf

  from bert import checkpoint, modeling

  model_dir = os.path.join(ctx.workdir, "serving_model")
  os.makedirs(model_dir, exist_ok=True)
  tf.random.set_seed(SEED)
  encoder = modeling.BertEncoder(modeling.BertConfig.from_dict(dict(ctx.config)))
  checkpoint.save_variables(encoder.variables_by_name, os.path.join(model_dir, "bert_model.ckpt"))
  with open(os.path.join(model_dir, "bert_config.json"), "w") as f:
    json.dump(ctx.config, f)
  shutil.copyfile(ctx.vocab_file, os.path.join(model_dir, "vocab.txt"))
  ctx.model_dir = model_dir
  return model_dir


def timed_requests(request, args) -> tuple[list[float], float]:
  """Times --serve_requests calls `request(0)`, `request(1)`, ..., --repeats times: the
  seconds of each repeat, and the median milliseconds a call took."""
  runs = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    for k in range(args.serve_requests):
      request(k)
    runs.append(time.perf_counter() - start)
  return runs, statistics.median(runs) / args.serve_requests * 1000


def time_in_process(args, cfg: dict, model_dir: str, texts: list[str], results: Results):
  """The served model without the server: BertEncoder from the same checkpoint
  under tf.function, returning the layer the server pools (the second to
  last), at batch 1 and at the full batch, and the tokenization alone.
  Returns the texts/s at batch 1 and at the full batch."""
  import tensorflow as tf

  from bert import checkpoint, modeling, tokenization
  from bert import precision as precisions
  from serving import features as serving_features

  big = len(texts)
  dtype = precisions.compute_dtype(args.precision)
  encoder = modeling.BertEncoder(modeling.BertConfig.from_dict(dict(cfg)), compute_dtype=dtype)
  checkpoint.load_variables(encoder.variables_by_name, os.path.join(model_dir, "bert_model.ckpt"))
  ids_spec = tf.TensorSpec([None, None], tf.int32)

  @tf.function(input_signature=[ids_spec, ids_spec, ids_spec])
  def forward(ids, mask, types):
    layers = encoder(ids, input_mask=mask, token_type_ids=types, training=False)
    return layers["all_encoder_layers"][-2]

  tokenizer = tokenization.FullTokenizer(os.path.join(model_dir, "vocab.txt"), do_lower_case=True)

  def tokenize():
    batch = serving_features.convert_texts(
      texts, tokenizer, args.seq, cfg["max_position_embeddings"]
    )
    return [
      np.array(x, np.int32) for x in (batch.input_ids, batch.input_mask, batch.input_type_ids)
    ]

  full = tokenize()
  single = [x[:1] for x in full]
  forward(*full).numpy()  # Traces once; the shapes stay symbolic.
  forward(*single).numpy()

  single_runs, per_call_ms = timed_requests(lambda k: forward(*single).numpy(), args)
  rate_one = results.add(
    "serve",
    "in-process forward, batch 1",
    [args.serve_requests / t for t in single_runs],
    "texts/s",
    "T=%d, %.1f ms per call" % (args.seq, per_call_ms),
  )

  forward_runs, tokenize_runs = [], []
  for _ in range(args.repeats):
    start = time.perf_counter()
    forward(*full).numpy()
    forward_runs.append(time.perf_counter() - start)
    start = time.perf_counter()
    tokenize()
    tokenize_runs.append(time.perf_counter() - start)
  rate_big = results.add(
    "serve",
    "in-process forward, batch %d" % big,
    [big / t for t in forward_runs],
    "texts/s",
    "BertEncoder under tf.function, T=%d, %s" % (args.seq, dtype),
  )
  results.add(
    "serve",
    "in-process tokenization, batch %d" % big,
    [big / t for t in tokenize_runs],
    "texts/s",
    "serving.features.convert_texts",
  )
  return rate_one, rate_big


def concurrent_single_requests(
  client_class, server, texts, clients: int, requests: int, repeats: int
) -> list[float]:
  """texts/s when `clients` threads, each with its own connected client, send
  `requests` one-text requests at once; one figure per repeat."""
  connected = [
    client_class(port=server.port, port_out=server.port_out, timeout=180000) for _ in range(clients)
  ]

  def send(client, offset: int) -> None:
    for k in range(requests):
      client.encode([texts[(offset + k) % len(texts)]])

  try:
    for client in connected:
      client.encode(texts[:1])
    per_run = []
    for _ in range(repeats):
      threads = [
        threading.Thread(target=send, args=(client, k * requests))
        for k, client in enumerate(connected)
      ]
      start = time.perf_counter()
      for thread in threads:
        thread.start()
      for thread in threads:
        thread.join()
      per_run.append(clients * requests / (time.perf_counter() - start))
    return per_run
  finally:
    for client in connected:
      client.close()


def time_served(
  args, ctx: BenchContext, model_dir: str, texts: list[str], results: Results, inproc
):
  """BertClient against `python -m serving` (one worker, CPU): batch-1 requests
  one after another and from SERVE_CLIENTS threads, then the full batch; each
  compared with the in-process figures `inproc` (batch 1, full batch)."""
  from bert_serving.client import BertClient

  from serving.background import BackgroundServer

  big = len(texts)
  server = BackgroundServer(
    model_dir,
    ["-num_worker", "1", "-max_seq_len", str(args.seq), "-cpu", "-precision", args.precision],
    log_path=os.path.join(ctx.workdir, "server.log"),
  )
  log("starting %s" % " ".join(server.command))
  with server:
    start = time.perf_counter()
    with BertClient(port=server.port, port_out=server.port_out, timeout=180000) as client:
      client.encode(texts[:1])
      log("server ready after %.1f s" % (time.perf_counter() - start))
      for _ in range(3):
        client.encode(texts[:1])
      one_by_one, latency_ms = timed_requests(lambda k: client.encode([texts[k % big]]), args)
      sequential = results.add(
        "serve",
        "BertClient.encode, batch 1",
        [args.serve_requests / t for t in one_by_one],
        "texts/s",
        "median latency %.1f ms (%d requests/run)" % (latency_ms, args.serve_requests),
      )
      results.add("serve", "served / in-process forward, batch 1", [sequential / inproc[0]], "x")
      together = concurrent_single_requests(
        BertClient, server, texts, SERVE_CLIENTS, args.serve_requests, args.repeats
      )
      results.add(
        "serve",
        "%d concurrent clients, batch 1 each" % SERVE_CLIENTS,
        together,
        "texts/s",
        "%d requests per client per run; the server batches them" % args.serve_requests,
      )
      results.add(
        "serve",
        "concurrent / sequential batch-1 requests",
        [statistics.median(together) / sequential],
        "x",
      )
      client.encode(texts)
      batch_runs = []
      for _ in range(args.repeats):
        start = time.perf_counter()
        client.encode(texts)
        batch_runs.append(time.perf_counter() - start)
      served = results.add(
        "serve",
        "BertClient.encode, batch %d" % big,
        [big / t for t in batch_runs],
        "texts/s",
        "python -m serving -num_worker 1 -max_seq_len %d -precision %s"
        % (args.seq, args.precision),
      )
    results.add(
      "serve",
      "served / in-process forward, batch %d" % big,
      [served / inproc[1]],
      "x",
      "1.0 = no serving overhead",
    )


def section_serve(args, ctx: BenchContext, results: Results) -> None:
  """The serve section: in-process first, then through the server, on
  `--serve_batch` sentences."""
  model_dir = serving_model_dir(ctx)
  texts = make_texts(ctx.words, args.serve_batch, args.seq, SEED + 3)
  inproc = time_in_process(args, ctx.config, model_dir, texts, results)
  gc.collect()  # Frees the in-process model before the server loads its own.
  time_served(args, ctx, model_dir, texts, results, inproc)
