"""The `convert` section: examples -> tf_record the way Google's script wrote them
and the project's way (one worker, then one per core). Each run happens in its
own process (`bench.py --_job convert SPEC`) so its peak memory can be read."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib
import os
import threading
import time

from bench.common import SEED, cores, log, run_job
from bench.context import BenchContext
from bench.data import label_list, make_examples, read_vocab, text_words
from bench.report import Results


def vm_rss_kb(pid: int | str = "self") -> int:
  """Resident memory of a process in KiB, from /proc (0 where unreadable)."""
  try:
    with open("/proc/%s/status" % pid) as f:
      for line in f:
        if line.startswith("VmRSS:"):
          return int(line.split()[1])
  except OSError:
    pass
  return 0


class RssSampler:
  """Context manager that tracks this process's highest VmRSS, read by a
  background thread every 20 ms and once more on exit."""

  def __init__(self):
    self.baseline = vm_rss_kb()
    self.peak = self.baseline
    self._done = threading.Event()
    self._thread = threading.Thread(target=self._poll, daemon=True)

  def _poll(self):
    while not self._done.wait(0.02):
      self.peak = max(self.peak, vm_rss_kb())

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc_info):
    self._done.set()
    self._thread.join()
    self.peak = max(self.peak, vm_rss_kb())


def google_style_write(examples: list, labels: list[str], seq: int, tokenizer, output_file: str):
  """Writes `examples` as Google's run_classifier.py did: convert_single_example
  per example, a tf.train.Example proto of five int64 lists, serialised, through
  tf.io.TFRecordWriter."""
  import tensorflow as tf

  from classifier.features import convert_single_example

  def int64s(values) -> tf.train.Feature:
    ints = tf.train.Int64List(value=list(values))
    return tf.train.Feature(int64_list=ints)

  with tf.io.TFRecordWriter(output_file) as sink:
    for index, example in enumerate(examples):
      f = convert_single_example(index, example, labels, seq, tokenizer)
      columns = {
        "input_ids": int64s(f.input_ids),
        "input_mask": int64s(f.input_mask),
        "segment_ids": int64s(f.segment_ids),
        "label_ids": int64s([f.label_id]),
        "is_real_example": int64s([int(f.is_real_example)]),
      }
      proto = tf.train.Example(features=tf.train.Features(feature=columns))
      sink.write(proto.SerializeToString())


def file_sha256(path: str) -> str:
  """Hex SHA-256 of a file, read in 1 MiB blocks."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    while True:
      block = f.read(1 << 20)
      if not block:
        return digest.hexdigest()
      digest.update(block)


def job_convert(spec: dict) -> dict:
  """One conversion job (in its own process): times `spec["repeats"]` runs of
  the chosen path and reports peak RSS growth and the output file's hash."""
  import resource

  from bert import tokenization
  from classifier import features

  google = spec["mode"] == "google"
  if google:
    # Google's path needs TensorFlow: load it before the memory baseline so
    # that the import is not counted as conversion memory.
    importlib.import_module("tensorflow")
  words = text_words(read_vocab(spec["vocab_file"]))
  tokenizer = tokenization.FullTokenizer(spec["vocab_file"], do_lower_case=True)
  examples = make_examples(words, spec["n"], spec["seq"], spec["seed"])
  labels = label_list()
  out = spec["out"]
  gc.collect()
  times = []
  with RssSampler() as rss:
    for _ in range(spec["repeats"]):
      if os.path.exists(out):
        os.remove(out)
      start = time.perf_counter()
      if google:
        google_style_write(examples, labels, spec["seq"], tokenizer, out)
      else:
        features.file_based_convert_examples_to_features(
          examples, labels, spec["seq"], tokenizer, out, num_workers=spec["workers"]
        )
      times.append(time.perf_counter() - start)
  return {
    "times": times,
    "rss_growth_kb": rss.peak - rss.baseline,
    "rss_baseline_kb": rss.baseline,
    "children_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    "sha256": file_sha256(out),
    "bytes": os.path.getsize(out),
  }


def parsed_records(path: str, limit: int) -> list[dict]:
  """The int64 features of the first `limit` records of a tf_record file."""
  import tensorflow as tf

  rows = []
  for raw in tf.data.TFRecordDataset(path).take(limit):
    example = tf.train.Example.FromString(raw.numpy())
    rows.append({k: list(v.int64_list.value) for k, v in example.features.feature.items()})
  return rows


def section_convert(args, ctx: BenchContext, results: Results) -> None:
  """Times the three conversion paths, checks that their files agree, and
  measures how memory grows with the number of examples."""
  n, workers = args.conversion_examples, cores()
  paths = {
    mode: os.path.join(ctx.workdir, "convert_%s.tf_record" % mode)
    for mode in ("google", "ours1", "oursN")
  }

  def spec(mode: str, count: int, num_workers: int, repeats: int) -> dict:
    return {
      "mode": "google" if mode == "google" else "ours",
      "vocab_file": ctx.vocab_file,
      "n": count,
      "seq": args.seq,
      "seed": SEED + 7,
      "workers": num_workers,
      "repeats": repeats,
      "out": paths[mode],
    }

  google_name = "(a) Google-style, 1 process"
  one_name = "(b) ours, num_workers=1"
  many_name = "(c) ours, num_workers=%d" % workers
  runs = (("google", google_name, 1), ("ours1", one_name, 1), ("oursN", many_name, workers))
  got = {}
  for mode, name, num_workers in runs:
    log("convert %s: %d examples x %d repeats" % (name, n, args.repeats))
    got[mode] = job = run_job("convert", spec(mode, n, num_workers, args.repeats))
    memory = "peak RSS +%.0f MiB" % (job["rss_growth_kb"] / 1024.0)
    if mode == "oursN":
      memory += ", largest worker %.0f MiB" % (job["children_maxrss_kb"] / 1024.0)
    results.add("convert", name, [n / t for t in job["times"]], "examples/s", memory)

  google_rate = results.get("convert", google_name)
  one_rate, many_rate = results.get("convert", one_name), results.get("convert", many_name)
  results.add("convert", "speedup (b) ours vs (a)", [one_rate / google_rate], "x")
  speedup_c = "speedup (c) ours vs (a) num_workers=%d" % workers
  results.add("convert", speedup_c, [many_rate / google_rate], "x")
  results.add("convert", "speedup (c) vs (b)", [many_rate / one_rate], "x")

  # Memory against input size, one conversion per process as run_classifier.py does.
  growth = {}
  for size in (n // 4, n, 2 * n):
    growth[size] = run_job("convert", spec("oursN", max(1, size), workers, 1))["rss_growth_kb"]
  sizes = " / ".join(f"{size:,}" for size in growth)
  mebibytes = " / ".join("%.0f" % (kb / 1024.0) for kb in growth.values())
  results.checks["convert (c) peak RSS growth at %s examples" % sizes] = (
    "%s MiB (the examples themselves excluded; bounded by the chunk window and the word cache)"
    % mebibytes
  )

  one, many = got["ours1"], got["oursN"]
  results.checks["convert (b) and (c) files byte-identical"] = (
    "yes (%d bytes, sha256 %s...)" % (one["bytes"], one["sha256"][:12])
    if one["sha256"] == many["sha256"]
    else "NO"
  )
  limit = min(n, 2000)
  same = parsed_records(paths["google"], limit) == parsed_records(paths["ours1"], limit)
  results.checks["convert (a) and (b) records parse equal (first %d)" % limit] = (
    "yes" if same else "NO"
  )
  for path in paths.values():
    with contextlib.suppress(OSError):
      os.remove(path)
