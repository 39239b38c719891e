"""Where the time of a training step goes: the train loop of `stages.time_train_loop`
run under the TensorFlow profiler, its host trace (`*.xplane.pb`) read back and
the time of the TF ops it executed summed per category (matmul, attention
softmax and mask, LayerNorm, GELU, dropout, embeddings, optimizer, reshape and
transpose, input pipeline, other).

How an op finds its category. In the TF2 face the model opens no name scopes,
so the traced op names say little ("while/mul_7"). The traced graph of the loop
does: each of its ops keeps the Python stack that created it, and the innermost
project function on that stack (`modeling.layer_norm`, `modeling.dropout`,
`optimization._adam_weight_decay_assignments`, ...) tells what the op is for.
A gradient op takes the function of the forward op it differentiates: the one
named inside its name ("gradient_tape/while/mul_7/Mul"), else, for the flat ops
of a gradient function ("gradient_tape/while/Square"), the nearest forward op
among its inputs in the graph. Before that the op type decides for matmuls,
transposes/reshapes and gathers/scatters; after it, name scopes that TF itself
opens (dropout, moments, global_norm) and a last look at the type.

The figures: op time is the sum of the op events' own durations over all
threads (two ops on two cores count twice), so the shares are shares of the
summed op time, not of the wall clock. Wall time is the profiled call of the
loop; "overhead" is the part of that call in which no op runs on any thread
(wall minus the union of the op intervals).

The pure part (events -> categories, union, tables) takes plain Python data and
needs no TensorFlow; the trace file is read by bench/profile_trace.py, and
`section_profile` is the bench section around both.
"""

from __future__ import annotations

import collections
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence

from bench.common import ROOT, log
from bench.context import BenchContext
from bench.profile_trace import XLA_LAUNCH, OpEvent, newest_trace, read_trace
from bench.report import Results

# The categories, in the order the report lists them.
MATMUL = "matmul"
ATTENTION = "attention softmax+mask"
LAYER_NORM = "layernorm"
GELU = "gelu"
DROPOUT = "dropout"
EMBEDDINGS = "embeddings"
OPTIMIZER = "optimizer"
RESHAPE = "reshape/transpose"
INPUT = "input pipeline"
FUSED = "XLA fused kernels"
OTHER = "other"
CATEGORIES = (
  MATMUL,
  ATTENTION,
  LAYER_NORM,
  GELU,
  DROPOUT,
  EMBEDDINGS,
  OPTIMIZER,
  RESHAPE,
  INPUT,
  FUSED,
  OTHER,
)

# Project functions (file stem "." function name) that say what their ops are for.
# Looked up from the innermost frame outwards; the first hit decides. A dense
# layer's own ops other than the matmul (bias gradient, unfused bias add) stop the
# walk as "other", so that the projections inside attention_layer are not taken
# for attention softmax work.
FUNCTION_CATEGORIES = {
  "modeling.dropout": DROPOUT,
  "modeling.layer_norm": LAYER_NORM,
  "modeling.gelu": GELU,
  "modeling.gelu_exact": GELU,
  "modeling._split_heads": RESHAPE,
  "modeling.reshape_to_matrix": RESHAPE,
  "modeling.reshape_from_matrix": RESHAPE,
  "modeling._mask_to_bias": ATTENTION,
  "modeling.create_attention_mask_from_input_mask": ATTENTION,
  "modeling.attention_layer": ATTENTION,
  "modeling.embedding_lookup": EMBEDDINGS,
  "modeling.embedding_postprocessor": EMBEDDINGS,
  "modeling.dense_layer": OTHER,
  "modeling._projection": OTHER,
  "trainer._apply": OPTIMIZER,
}
# Categories of the model's own layers, which keep their gathers (of shapes).
MODEL_CATEGORIES = (ATTENTION, LAYER_NORM, GELU, DROPOUT, RESHAPE)
# Every function of bert/optimization.py is optimizer work.
OPTIMIZER_MODULES = ("optimization",)

INPUT_TYPES = {
  "IteratorGetNext",
  "IteratorGetNextSync",
  "IteratorGetNextAsOptional",
  "OptionalGetValue",
  "MultiDeviceIteratorGetNextFromShard",
  "ParseExampleV2",
  "ParseSingleExample",
}
RESHAPE_TYPES = {
  "Transpose",
  "_MklTranspose",
  "ConjugateTranspose",
  "_MklConjugateTranspose",
  "Reshape",
  "_MklReshape",
  "ExpandDims",
  "Squeeze",
}
EMBEDDING_TYPES = {
  "ResourceGather",
  "GatherV2",
  "Gather",
  "GatherNd",
  "ResourceGatherNd",
  "OneHot",
  "UnsortedSegmentSum",
  "ScatterNd",
  "TensorScatterAdd",
  "ResourceScatterAdd",
  "SparseSegmentSum",
  "SparseSegmentMean",
}
OPTIMIZER_TYPES = {
  "AssignVariableOp",
  "AssignAddVariableOp",
  "AssignSubVariableOp",
  "L2Loss",
}
# Last resort for ops that Grappler renamed (no graph op of that name).
TYPE_FALLBACK = {
  "Softmax": ATTENTION,
  "_MklSoftmax": ATTENTION,
  "SoftmaxGrad": ATTENTION,
  "RandomUniform": DROPOUT,
  "StatelessRandomUniformV2": DROPOUT,
  "Rsqrt": LAYER_NORM,
  "RsqrtGrad": LAYER_NORM,
  "SquaredDifference": LAYER_NORM,
  "Erf": GELU,
  "Erfc": GELU,
  "Gelu": GELU,
  "_MklGelu": GELU,
}
# Name scopes that TF's own Python functions open (tf.nn.dropout, tf.nn.moments,
# tf.linalg.global_norm, tf.clip_by_global_norm, tf.nn.softmax).
SCOPE_RULES = (
  (re.compile(r"(^|/)dropout(_\d+)?/"), DROPOUT),
  (re.compile(r"(^|/)(moments|batchnorm)(_\d+)?/"), LAYER_NORM),
  (re.compile(r"(^|/)(global_norm|clip_by_global_norm)(_\d+)?/"), OPTIMIZER),
  (re.compile(r"(^|/)Softmax(_\d+)?$"), ATTENTION),
)

GRADIENT_PREFIX = "gradient_tape/"
# What lowering a functional While/If into the outer graph puts before the names
# of the ops of its body: "while/body/_1/", "cond/then/_3/".
LOWERING_PREFIX = re.compile(r"^(?:[^/]+/(?:body|cond|then|else)/_\d+/)+")


def is_matmul(op_type: str) -> bool:
  """MatMul, BatchMatMul*, Einsum and their oneDNN / fused variants."""
  return "MatMul" in op_type or "Einsum" in op_type


def strip_lowering(name: str) -> str:
  """The op name as the traced function graph has it ("while/body/_1/while/mul"
  -> "while/mul")."""
  return LOWERING_PREFIX.sub("", name)


def normalize_scope(name: str) -> str:
  """A name with the lowering prefix and the uniquifying "_N" suffixes dropped, so
  that the same op in every layer groups together."""
  return re.sub(r"_\d+(?=/|$)", "", strip_lowering(name))


def is_gradient(name: str) -> bool:
  """True for an op that tf.GradientTape added (backward pass)."""
  return strip_lowering(name).startswith(GRADIENT_PREFIX)


def name_scopes(name: str) -> list[str]:
  """The scopes enclosing the op `name`, innermost first, that can stand for a
  layer: two components at least ("while/moments_2"), three for a gradient op
  ("gradient_tape/while/mul_7"); "while" alone is the loop op itself."""
  parts = name.split("/")
  low = 3 if name.startswith(GRADIENT_PREFIX) else 2
  return ["/".join(parts[:k]) for k in range(len(parts) - 1, low - 1, -1)]


def forward_origin(name: str, origins: Mapping[str, Sequence[str]]) -> tuple:
  """For a gradient op ("gradient_tape/while/mul_7/Mul"), the origin of the
  forward op or scope named inside it ("while/mul_7"). Only proper prefixes
  count: "gradient_tape/while/Square", a flat op of some gradient function,
  names no forward op even when a "while/Square" exists."""
  parts = name[len(GRADIENT_PREFIX) :].split("/")
  for k in range(len(parts) - 1, 1, -1):
    found = origins.get("/".join(parts[:k]))
    if found:
      return tuple(found)
  return ()


def gradient_origin(
  name: str,
  inputs_of: Mapping[str, Sequence[str]],
  origins: Mapping[str, Sequence[str]],
  max_depth: int = 4,
) -> tuple:
  """The origin of the gradient op `name` in the graph: that of the forward op
  named inside it, else that of the nearest forward op among its inputs
  (`inputs_of`: op name -> input op names; searched through other gradient
  ops, breadth first, `max_depth` steps): the nearest whose functions have a
  category, else the nearest with any."""
  found = forward_origin(name, origins)
  if found:
    return found
  frontier, seen = [name], {name}
  fallback: tuple = ()
  for _ in range(max_depth):
    following = []
    for node in frontier:
      for source in inputs_of.get(node, ()):
        if source in seen:
          continue
        seen.add(source)
        if source.startswith(GRADIENT_PREFIX):
          following.append(source)
          continue
        origin = origins.get(source)
        if origin and category_of_origin(origin) is not None:
          return tuple(origin)
        fallback = fallback or tuple(origin or ())
    frontier = following
  return fallback


def origin_of(name: str, origins: Mapping[str, Sequence[str]]) -> tuple:
  """The creating project functions (outermost first) of the traced op `name`
  from `origins` (graph op or scope name -> functions). An op missing from the
  graph (renamed or fused by Grappler) takes those of its innermost known scope;
  a gradient op not in `origins` those of the forward op named inside it.
  Empty when nothing matches."""
  plain = strip_lowering(name)
  for candidate in [plain] + name_scopes(plain):
    found = origins.get(candidate)
    if found:
      return tuple(found)
  if plain.startswith(GRADIENT_PREFIX):
    return forward_origin(plain, origins)
  return ()


def category_of_origin(origin: Sequence[str]) -> str | None:
  """The category of the innermost function of `origin` that has one, else None."""
  for function in reversed(origin):
    if function in FUNCTION_CATEGORIES:
      return FUNCTION_CATEGORIES[function]
    if function.split(".", 1)[0] in OPTIMIZER_MODULES:
      return OPTIMIZER
  return None


def categorize(name: str, op_type: str, origin: Sequence[str] = (), thread: str = "") -> str:
  """The category of one op: by thread and type first (input pipeline, matmul,
  reshape/transpose; gathers and scatters are embeddings unless a model layer
  made them; assigns are optimizer), then by the project function that created
  it (`origin`, outermost first), then by TF's own name scopes, then by a last
  look at the type; "other" when nothing matches."""
  if thread.startswith("tf_data") or op_type in INPUT_TYPES:
    return INPUT
  if op_type == XLA_LAUNCH:
    return FUSED
  if is_matmul(op_type):
    return MATMUL
  if op_type in RESHAPE_TYPES:
    return RESHAPE
  by_origin = category_of_origin(origin)
  if op_type in EMBEDDING_TYPES:
    # A gather inside LayerNorm's or attention's gradient (of a shape) stays
    # there; the embedding gradient densified in the optimizer counts here.
    return by_origin if by_origin in MODEL_CATEGORIES else EMBEDDINGS
  if op_type in OPTIMIZER_TYPES:
    return OPTIMIZER
  if by_origin is not None:
    return by_origin
  plain = strip_lowering(name)
  for pattern, category in SCOPE_RULES:
    if pattern.search(plain):
      return category
  return TYPE_FALLBACK.get(op_type, OTHER)


def self_times(events: Sequence[OpEvent]) -> list[float]:
  """Each event's own time: its duration less that of the events nested in it on
  the same thread (none in TF's executor traces, but an op that runs a function
  would hold its ops)."""
  result = [e.dur_us for e in events]
  by_thread = collections.defaultdict(list)
  for k, e in enumerate(events):
    by_thread[e.thread].append(k)
  for indices in by_thread.values():
    indices.sort(key=lambda k: (events[k].start_us, -events[k].dur_us))
    stack: list[int] = []
    for k in indices:
      start = events[k].start_us
      while stack and events[stack[-1]].start_us + events[stack[-1]].dur_us <= start:
        stack.pop()
      if stack:
        parent = stack[-1]
        end = start + events[k].dur_us
        if end <= events[parent].start_us + events[parent].dur_us:
          result[parent] -= events[k].dur_us
      stack.append(k)
  return result


def union_length(intervals: Iterable[tuple[float, float]], window=None) -> float:
  """Total length covered by the (start, end) intervals, clipped to `window`
  (start, end) when given."""
  spans = []
  for start, end in intervals:
    if window is not None:
      start, end = max(start, window[0]), min(end, window[1])
    if end > start:
      spans.append((start, end))
  spans.sort()
  total = 0.0
  current_start = current_end = None
  for start, end in spans:
    if current_end is None or start > current_end:
      if current_end is not None:
        total += current_end - current_start
      current_start, current_end = start, end
    else:
      current_end = max(current_end, end)
  if current_end is not None:
    total += current_end - current_start
  return total


def summarize(
  events: Sequence[OpEvent],
  origins: Mapping[str, Sequence[str]],
  steps: int,
  window: tuple[float, float] | None = None,
) -> dict:
  """Per category: op time (us, own time summed over threads), its share (% of
  all op time) and ms per step; plus the union of the op intervals inside
  `window` (default: first op start to last op end), the window, and the idle
  part of it per step."""
  own = self_times(events)
  per_category = collections.OrderedDict((c, 0.0) for c in CATEGORIES)
  backward = collections.defaultdict(float)
  for event, t in zip(events, own):
    category = categorize(event.name, event.op_type, origin_of(event.name, origins), event.thread)
    per_category[category] += t
    if is_gradient(event.name):
      backward[category] += t
  total = sum(per_category.values())
  if window is None and events:
    window = (
      min(e.start_us for e in events),
      max(e.start_us + e.dur_us for e in events),
    )
  window_us = (window[1] - window[0]) if window else 0.0
  covered = union_length(((e.start_us, e.start_us + e.dur_us) for e in events), window)
  steps = max(1, steps)
  return {
    "op_us": total,
    "categories": collections.OrderedDict(
      (
        c,
        {
          "us": t,
          "share": 100.0 * t / total if total else 0.0,
          "ms_per_step": t / steps / 1000.0,
          "backward_ms_per_step": backward[c] / steps / 1000.0,
        },
      )
      for c, t in per_category.items()
    ),
    "window_us": window_us,
    "union_us": covered,
    "idle_ms_per_step": (window_us - covered) / steps / 1000.0,
    "parallelism": total / covered if covered else 0.0,
    "events": len(events),
  }


def top_ops(
  events: Sequence[OpEvent], origins: Mapping[str, Sequence[str]], limit: int = 40
) -> list[dict]:
  """The `limit` biggest groups of ops by own time, a group being op type, name
  scope (numbers dropped), creating function and category; each with its time
  (us), count and share of all op time."""
  own = self_times(events)
  total = sum(own) or 1.0
  groups: dict = {}
  for event, t in zip(events, own):
    origin = origin_of(event.name, origins)
    category = categorize(event.name, event.op_type, origin, event.thread)
    function = origin[-1] if origin else "-"
    if is_gradient(event.name):
      function = "grad of " + function
    key = (event.op_type, normalize_scope(event.name), function, category)
    group = groups.setdefault(key, {"us": 0.0, "count": 0})
    group["us"] += t
    group["count"] += 1
  rows = []
  for (op_type, scope, function, category), group in groups.items():
    rows.append(
      {
        "op_type": op_type,
        "scope": scope,
        "function": function,
        "category": category,
        "us": group["us"],
        "count": group["count"],
        "share": 100.0 * group["us"] / total,
      }
    )
  rows.sort(key=lambda row: -row["us"])
  return rows[:limit]


def format_top_ops(rows: Sequence[dict], steps: int) -> str:
  """`top_ops` rows as a fixed-width text table (ms and calls per step)."""
  steps = max(1, steps)
  header = ("ms/step", "% op", "n/step", "category", "op type", "scope", "created in")
  lines = [header]
  for row in rows:
    lines.append(
      (
        "%.2f" % (row["us"] / steps / 1000.0),
        "%.1f" % row["share"],
        "%g" % (row["count"] / steps),
        row["category"],
        row["op_type"],
        row["scope"],
        row["function"],
      )
    )
  widths = [max(len(line[k]) for line in lines) for k in range(len(header))]
  return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def format_categories(summary: dict, wall_ms_per_step: float) -> str:
  """The per-category breakdown of `summarize` as a text table."""
  lines = ["%-24s %8s %10s %14s" % ("category", "% op", "ms/step", "of it backward")]
  for category, row in summary["categories"].items():
    lines.append(
      "%-24s %8.1f %10.2f %14.2f"
      % (category, row["share"], row["ms_per_step"], row["backward_ms_per_step"])
    )
  steps_ms = summary["op_us"] / 1000.0
  lines.append(
    "op time %.1f ms over all profiled steps; wall %.1f ms/step; "
    "ops %.2f running at once on average; no op running %.1f ms/step"
    % (steps_ms, wall_ms_per_step, summary["parallelism"], summary["idle_ms_per_step"])
  )
  return "\n".join(lines)


# -- the traced graph: which project function made each op ----------------------------


def project_frames(traceback, limit: int = 12) -> tuple:
  """The project's frames of an op's creation stack as "file_stem.function",
  outermost first (bench/ and tests/ left out), at most the `limit` innermost."""
  frames = []
  for frame in traceback:
    filename = os.path.abspath(frame.filename)
    if not filename.startswith(ROOT + os.sep):
      continue
    relative = os.path.relpath(filename, ROOT)
    if relative.startswith(("bench" + os.sep, "tests" + os.sep)):
      continue
    stem = os.path.splitext(os.path.basename(filename))[0]
    frames.append("%s.%s" % (stem, frame.name))
  return tuple(frames[-limit:])


def graph_origins(function) -> dict:
  """Op name -> creating project functions, for the ops of the traced graphs of
  the tf.function `function` and of the functions they call (while bodies), and
  for their name scopes. A gradient op gets the functions of the forward op it
  belongs to (`gradient_origin`). Empty when the traced graphs cannot be reached."""
  try:
    concrete = list(function._list_all_concrete_functions())
  except Exception:
    concrete = []
  forward: dict = {}
  inputs_of: dict = {}
  seen = set()
  pending = [c.graph for c in concrete]
  while pending:
    graph = pending.pop()
    if id(graph) in seen:
      continue
    seen.add(id(graph))
    for op in graph.get_operations():
      if op.name.startswith(GRADIENT_PREFIX):
        inputs_of[op.name] = [tensor.op.name for tensor in op.inputs]
        continue
      try:
        frames = project_frames(op.traceback)
      except Exception:
        frames = ()
      if frames:
        forward[op.name] = frames
    library = getattr(graph, "_functions", {}) or {}
    for called in list(library.values()):
      inner = getattr(called, "graph", None)
      if inner is not None and hasattr(inner, "get_operations"):
        pending.append(inner)
  origins = dict(forward)
  for name, frames in forward.items():
    for scope in name_scopes(name):
      origins.setdefault(scope, frames)
  backward = {}
  for name in inputs_of:
    found = gradient_origin(name, inputs_of, origins)
    if found:
      backward[name] = found
  origins.update(backward)
  for name, frames in backward.items():
    for scope in name_scopes(name):
      origins.setdefault(scope, frames)
  return origins


# -- the bench section -----------------------------------------------------------------


def profile_mode(args, ctx: BenchContext, runner, mode: str) -> dict:
  """Warmup steps untraced, then one call of `args.steps` steps under the
  profiler; returns the trace's summary, top ops, wall ms/step and trace path."""
  import tensorflow as tf

  from bench import stages

  # The training section's warmup: with fused kernels and dynamic padding, every
  # padded length is compiled first, so that no compilation lands in the trace.
  timer = stages.TrainTimer(args, ctx, runner, mode == "dynamic", "profile " + mode)
  timer.warmup()
  train_loop, iterator = timer.loop, timer.iterator
  origins = graph_origins(train_loop)
  log("profile %s: %d traced graph ops with a known creating function" % (mode, len(origins)))

  logdir = os.path.join(ctx.workdir, "profile", mode)
  os.makedirs(logdir, exist_ok=True)
  steps = tf.constant(args.steps)
  tf.profiler.experimental.start(logdir)
  try:
    start = time.perf_counter()
    loss, _ = train_loop(iterator, steps)
    float(loss)
    wall = time.perf_counter() - start
  finally:
    tf.profiler.experimental.stop()
  path = newest_trace(logdir)
  events, window = read_trace(path)
  summary = summarize(events, origins, args.steps, window)
  return {
    "summary": summary,
    "top": top_ops(events, origins, 40),
    "wall_ms_per_step": wall / args.steps * 1000.0,
    "trace": path,
    "origins": len(origins),
  }


def section_profile(args, ctx: BenchContext, results: Results, runner, paddings: list[str]) -> None:
  """Per padding mode: the training step under the TF profiler, its op time per
  category as rows of section "profile" (% of summed op time, ms/step in the
  note), the wall and idle time per step, and the top-40 op table (logged and
  written to the work folder)."""
  for mode in paddings:
    profiled = profile_mode(args, ctx, runner, mode)
    summary = profiled["summary"]
    wall_ms = profiled["wall_ms_per_step"]
    steps = args.steps
    table = format_top_ops(profiled["top"], steps)
    breakdown = format_categories(summary, wall_ms)
    table_path = os.path.join(ctx.workdir, "profile_%s_top_ops.txt" % mode)
    with open(table_path, "w") as f:
      f.write("%s padding, %d steps, batch %d, seq %d\n" % (mode, steps, args.batch, args.seq))
      f.write(
        "trace: %s\n\n%s\n\ntop 40 op groups by own time:\n%s\n"
        % (profiled["trace"], breakdown, table)
      )
    log("profile %s: per category\n%s" % (mode, breakdown))
    log("profile %s: top 40 op groups by own time (also in %s)\n%s" % (mode, table_path, table))

    prefix = "%s padding" % mode
    categories = summary["categories"]
    results.add(
      "profile",
      "%s, wall ms/step" % prefix,
      [wall_ms],
      "ms/step",
      "%d profiled steps in one loop call; op time %.1f ms/step summed over threads"
      % (steps, summary["op_us"] / steps / 1000.0),
    )
    matmul = categories[MATMUL]
    results.add(
      "profile",
      "%s, matmul share" % prefix,
      [matmul["share"]],
      "% of op time",
      "%.1f ms/step, %.1f of it backward" % (matmul["ms_per_step"], matmul["backward_ms_per_step"]),
    )
    for category, row in categories.items():
      results.add(
        "profile",
        "%s, %s" % (prefix, category),
        [row["share"]],
        "% of op time",
        "%.2f ms/step (backward %.2f)" % (row["ms_per_step"], row["backward_ms_per_step"]),
      )
    results.add(
      "profile",
      "%s, per-step overhead" % prefix,
      [summary["idle_ms_per_step"]],
      "ms/step",
      "no op running on any thread: trace window %.1f ms minus op union %.1f ms"
      % (summary["window_us"] / 1000.0, summary["union_us"] / 1000.0),
    )
    results.add(
      "profile",
      "%s, ops running at once" % prefix,
      [summary["parallelism"]],
      "x",
      "summed op time / union of op intervals",
    )
