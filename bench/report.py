"""What the bench prints and saves: facts about the machine, the run's settings,
the results table with its checks, and the JSON file."""

from __future__ import annotations

import collections
import json
import os
import platform
import statistics
import sys

from bench.common import encoder_matmul_params, log
from bench.context import BenchContext
from bert import machine

THREAD_VARIABLES = (
  "OMP_NUM_THREADS",
  "TF_NUM_INTRAOP_THREADS",
  "TF_NUM_INTEROP_THREADS",
  "OPENBLAS_CORETYPE",
  "OPENBLAS_NUM_THREADS",
)


def fmt(x) -> str:
  """A figure with about three significant digits (thousands with commas)."""
  if x is None:
    return "-"
  if isinstance(x, str):
    return x
  if x == 0:
    return "0"
  size = abs(x)
  if size >= 1000:
    return f"{x:,.0f}"
  if size >= 100:
    return "%.0f" % x
  if size >= 10:
    return "%.1f" % x
  if size >= 1:
    return "%.2f" % x
  return "%.3g" % x


class Results:
  """The measured rows (median and range of the runs of each figure) and the
  named checks, in the order they were added."""

  def __init__(self):
    self.rows = []
    self.checks = collections.OrderedDict()

  def add(self, section: str, name: str, values, unit: str, note: str = "") -> float:
    """Records one figure from its runs (a number or a list); returns the median."""
    runs = [values] if isinstance(values, (int, float)) else list(values)
    median = statistics.median(runs)
    self.rows.append(
      {
        "section": section,
        "name": name,
        "median": median,
        "min": min(runs),
        "max": max(runs),
        "runs": runs,
        "unit": unit,
        "note": note,
      }
    )
    log("%s / %s: %s %s %s" % (section, name, fmt(median), unit, note))
    return median

  def get(self, section: str, name: str) -> float | None:
    """The median of a figure recorded earlier, or None."""
    for row in self.rows:
      if (row["section"], row["name"]) == (section, name):
        return row["median"]
    return None


def render_table(results: Results) -> str:
  """The rows as a Markdown table with padded columns."""
  header = ["section", "figure", "median", "unit", "min-max (runs)", "note"]
  table = [header]
  for row in results.rows:
    runs = len(row["runs"])
    spread = "%s-%s (%d)" % (fmt(row["min"]), fmt(row["max"]), runs) if runs > 1 else "(1)"
    table.append(
      [row["section"], row["name"], fmt(row["median"]), row["unit"], spread, row["note"]]
    )
  widths = [max(len(str(cells[k])) for cells in table) for k in range(len(header))]

  def line(cells):
    return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

  rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
  return "\n".join([line(header), rule] + [line(cells) for cells in table[1:]])


def memory_total() -> str:
  """Total memory from /proc/meminfo (its first line, in KiB) as GiB."""
  try:
    with open("/proc/meminfo") as f:
      return "%.1f GiB" % (int(f.readline().split()[1]) / 2**20)
  except OSError:
    return "?"


def machine_info() -> dict:
  """CPU, cores, memory, Python, load and thread variables of this machine."""
  try:
    load = os.getloadavg()
  except OSError:
    load = (float("nan"),) * 3
  return {
    "cpu": machine.cpuinfo().get("model name") or platform.processor() or "?",
    "cores": os.cpu_count(),
    "usable_cores": machine.usable_cores(),
    "memory": memory_total(),
    "python": platform.python_version(),
    "load_avg": [round(x, 2) for x in load],
    "env_threads": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
  }


def add_tensorflow_facts(machine: dict, threads: int) -> None:
  """Sets TensorFlow's op thread pools to `threads` (before it runs any op) and
  adds its version and pool sizes."""
  import tensorflow as tf

  threading = tf.config.threading
  threading.set_intra_op_parallelism_threads(threads)
  threading.set_inter_op_parallelism_threads(threads)
  machine["tensorflow"] = tf.__version__
  machine["tf_intra_op_threads"] = threading.get_intra_op_parallelism_threads()
  machine["tf_inter_op_threads"] = threading.get_inter_op_parallelism_threads()


def settings_of(args, ctx: BenchContext, paddings: list[str]) -> collections.OrderedDict:
  """What this run measures: the model, sizes, sections and the data's lengths."""
  cfg = ctx.config
  shape = "L=%d H=%d A=%d I=%d V=%d act=%s" % (
    cfg["num_hidden_layers"],
    cfg["hidden_size"],
    cfg["num_attention_heads"],
    cfg["intermediate_size"],
    cfg["vocab_size"],
    cfg["hidden_act"],
  )
  return collections.OrderedDict(
    model=ctx.name,
    config=shape,
    encoder_matmul_params=encoder_matmul_params(cfg),
    batch=args.batch,
    seq=args.seq,
    steps=args.steps,
    warmup=args.warmup,
    repeats=args.repeats,
    paddings=paddings,
    sections=args.sections,
    precision=ctx.precision,
    compare=args.compare,
    conversion_examples=args.conversion_examples,
    train_examples=args.train_examples,
    eval_examples=args.eval_examples,
    vocab=ctx.vocab_source,
    lengths=ctx.length_stats,
  )


def print_header(machine: dict, settings: dict) -> None:
  """Prints the machine and settings blocks that open the report (settings that
  are dicts, such as the length statistics, on one line)."""
  print("machine:")
  for key, value in machine.items():
    print("  %-22s %s" % (key, value))
  print("settings:")
  for key, value in settings.items():
    if isinstance(value, dict):
      value = ", ".join(
        "%s %s" % (k, round(v, 2) if isinstance(v, float) else v) for k, v in value.items()
      )
    print("  %-22s %s" % (key, value))
  sys.stdout.flush()


def print_results(results: Results, machine: dict) -> None:
  """Prints the table, the checks and the load average before and after
  (recorded into `machine`)."""
  print()
  print(render_table(results))
  if results.checks:
    print()
    for name, verdict in results.checks.items():
      print("check: %s: %s" % (name, verdict))
  machine["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
  print("\nload average at start %s, at end %s" % (machine["load_avg"], machine["load_avg_end"]))
  if "calibration_gflops_end" in machine:
    print(
      "calibration matmul (numpy 768x768) at start %s GFLOP/s, at end %s GFLOP/s"
      % (machine.get("calibration_gflops_start"), machine["calibration_gflops_end"])
    )


def write_json(path: str, machine: dict, settings: dict, results: Results) -> None:
  """Saves everything printed as one JSON object."""
  document = {
    "machine": machine,
    "settings": settings,
    "results": results.rows,
    "checks": results.checks,
  }
  with open(path, "w") as f:
    json.dump(document, f, indent=2, default=str)
  print("results written to %s" % path)
