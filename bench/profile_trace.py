"""Reading a TensorFlow profiler trace: the host plane of an `*.xplane.pb` as the
executed TF ops (name, type, start, duration, thread) that bench/profile_step.py
sorts into categories, and the window of the profiled call. Needs TensorFlow's
protobuf module only when a trace is read."""

from __future__ import annotations

import collections
import glob
import os

# One op execution from the trace: TF op name and type, start and duration in
# microseconds, and the name of the thread (trace line) it ran on.
OpEvent = collections.namedtuple("OpEvent", "name op_type start_us dur_us thread")


def xplane_module():
  """The XSpace protobuf module shipped with TensorFlow (2.20:
  tensorflow.tsl.profiler.protobuf), or the standalone tsl one."""
  try:
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
  except ImportError:
    from tsl.profiler.protobuf import xplane_pb2
  return xplane_pb2


XLA_LAUNCH = "XlaLaunch"


def split_op_event(event_name: str, display_name: str) -> tuple[str, str] | None:
  """(op name, op type) of a host trace event "name:type" of an executed TF op;
  None for other events (executor, tf.data iterator, thread pool markers)."""
  if not display_name or "::" in event_name or not event_name.endswith(":" + display_name):
    return None
  return event_name[: -len(display_name) - 1], display_name


def read_trace(path: str, call_name: str = "train_loop") -> tuple[list[OpEvent], tuple | None]:
  """The op events of the host plane of an `*.xplane.pb` (times in us), with the
  iterator's get-next calls as "IteratorGetNext" ops, and the (start, end) of
  the longest event named `call_name` (the tf.function call), if any.

  XLA-compiled calls (bert.fused_ops, the fused optimizer update) leave no op
  event of their own: they run inside the executor's asynchronous-op events,
  which become XLA_LAUNCH ops when the trace shows XLA at work (its thunk
  executor's events); their kernels cannot be told apart by name."""
  xplane_pb2 = xplane_module()
  space = xplane_pb2.XSpace()
  with open(path, "rb") as f:
    space.ParseFromString(f.read())
  events = []
  launches = []
  xla_ran = False
  window = None
  for plane in space.planes:
    if not plane.name.startswith("/host:"):
      continue
    for line in plane.lines:
      thread = line.name or line.display_name
      base_ps = line.timestamp_ns * 1000
      for event in line.events:
        meta = plane.event_metadata[event.metadata_id]
        start_us = (base_ps + event.offset_ps) / 1e6
        dur_us = event.duration_ps / 1e6
        op = split_op_event(meta.name, meta.display_name)
        if op is not None:
          events.append(OpEvent(op[0], op[1], start_us, dur_us, thread))
        elif meta.name == "IteratorGetNextOp::DoCompute":
          events.append(OpEvent("IteratorGetNext", "IteratorGetNext", start_us, dur_us, thread))
        elif meta.name == "ExecutorState::ProcessAsync::Start":
          launches.append(OpEvent("xla_call", XLA_LAUNCH, start_us, dur_us, thread))
        elif meta.name == "ThunkExecutor::Execute":
          xla_ran = True
        elif meta.name == call_name and (window is None or dur_us > window[1] - window[0]):
          window = (start_us, start_us + dur_us)
  return events + (launches if xla_ran else []), window


def newest_trace(logdir: str) -> str:
  """The newest `*.xplane.pb` the profiler wrote under `logdir`."""
  paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
  if not paths:
    raise RuntimeError("the profiler wrote no *.xplane.pb under %s" % logdir)
  return max(paths, key=os.path.getmtime)
