"""The conditions a comparison is measured under: whether a measured matmul rate
fits the CPU's fp32 peak (the CPU's facts are `bert.machine`'s), whether other
processes are using it, and the same threads and cores for every framework
that is timed.

Linux only where it reads /proc; elsewhere the facts say "?" and the checks
pass with a note. TensorFlow- and torch-free: the HF worker imports it too.
"""

from __future__ import annotations

import os
import time

import numpy as np

# Other processes may use this many cores' worth of CPU before the machine counts as busy.
BUSY_CORES = 0.15


def implied_ghz(gflops: float, cores: int, flops_per_cycle: int | None) -> float | None:
  """The clock a measured matmul rate needs on `cores` cores at full FMA use:
  above ~4 GHz means the measurement or the core's assumed width is wrong."""
  if not flops_per_cycle or cores <= 0:
    return None
  return gflops / (cores * flops_per_cycle)


# -- is anything else running? ------------------------------------------------------


def cpu_times() -> tuple[float, float, float] | None:
  """(busy, steal, total) jiffies of all CPUs since boot, from /proc/stat."""
  try:
    with open("/proc/stat") as f:
      fields = [float(x) for x in f.readline().split()[1:]]
  except (OSError, ValueError):
    return None
  # user nice system idle iowait irq softirq steal guest guest_nice
  idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
  steal = fields[7] if len(fields) > 7 else 0.0
  total = sum(fields[:8])
  return total - idle, steal, total


def process_cpu_seconds(pid: int) -> float:
  """User + system CPU seconds of process `pid` (all its threads) so far."""
  try:
    with open("/proc/%d/stat" % pid) as f:
      # The command name may hold spaces; the fields after its closing ")" do not.
      fields = f.read().rsplit(")", 1)[1].split()
  except OSError:
    return 0.0
  ticks = os.sysconf("SC_CLK_TCK")
  return (float(fields[11]) + float(fields[12])) / ticks


class ForeignLoad:
  """CPU used by processes other than `pids` while a timed block runs.

  `start()` before the block, `stop()` after it returns the other processes'
  use in cores (0.0: nobody else ran; 1.0: one whole core was taken) and the
  hypervisor's steal time in cores, or None where /proc is not readable.
  """

  def __init__(self, pids: list[int]):
    self.pids = list(pids)
    self._begin = None

  def _snapshot(self):
    times = cpu_times()
    if times is None:
      return None
    ours = sum(process_cpu_seconds(pid) for pid in self.pids)
    return time.monotonic(), times, ours

  def start(self) -> None:
    """Marks the beginning of the block."""
    self._begin = self._snapshot()

  def stop(self) -> dict | None:
    """Foreign and steal cores over the block since start()."""
    end = self._snapshot()
    if self._begin is None or end is None:
      return None
    (t0, (busy0, steal0, _), ours0), (t1, (busy1, steal1, _), ours1) = self._begin, end
    seconds = max(t1 - t0, 1e-9)
    ticks = os.sysconf("SC_CLK_TCK")
    busy = (busy1 - busy0) / ticks
    foreign = max(0.0, busy - (ours1 - ours0)) / seconds
    return {"foreign_cores": foreign, "steal_cores": (steal1 - steal0) / ticks / seconds}


def disturbed(used: dict) -> bool:
  """Whether other processes (and the hypervisor's steal) took more than
  BUSY_CORES cores, in a ForeignLoad.stop() reading."""
  return used["foreign_cores"] + used["steal_cores"] > BUSY_CORES


def idle_check(seconds: float = 2.0, pids: list[int] | None = None) -> dict:
  """Watches the machine for `seconds` while this process sleeps: how many
  cores other processes used, the steal time, and the load average.

  Returns {"idle": bool, "foreign_cores", "steal_cores", "load_avg", "verdict"}.
  """
  watch = ForeignLoad(pids or [os.getpid()])
  watch.start()
  time.sleep(seconds)
  used = watch.stop()
  try:
    load = [round(x, 2) for x in os.getloadavg()]
  except OSError:
    load = None
  if used is None:
    return {"idle": True, "verdict": "unknown (no /proc/stat)", "load_avg": load}
  idle = not disturbed(used)
  verdict = "%s: other processes used %.2f cores, steal %.2f cores over %.0f s; load %s" % (
    "idle" if idle else "BUSY",
    used["foreign_cores"],
    used["steal_cores"],
    seconds,
    load,
  )
  return dict(used, idle=idle, load_avg=load, verdict=verdict)


def calibration_gflops(n: int = 768, seconds: float = 0.5) -> float:
  """numpy fp32 matmul GFLOP/s over about `seconds`: a quick reading of how
  fast the cores are right now, to compare with the peak measured before."""
  rng = np.random.default_rng(0)
  a = rng.standard_normal((n, n), dtype=np.float32)
  b = rng.standard_normal((n, n), dtype=np.float32)
  a @ b
  done = 0
  start = time.perf_counter()
  while True:
    a @ b
    done += 1
    elapsed = time.perf_counter() - start
    if elapsed >= seconds:
      return 2.0 * n**3 * done / elapsed / 1e9


# -- the same threads for everyone ---------------------------------------------------

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def pin_threads(threads: int) -> list[int]:
  """Restricts this process (and the processes it starts) to its first
  `threads` usable cores and sets the BLAS/OpenMP thread variables to match.
  Returns the cores kept. Call before TensorFlow or torch start their pools."""
  try:
    usable = sorted(os.sched_getaffinity(0))
  except AttributeError:
    usable = list(range(os.cpu_count() or 1))
  if threads < 1 or threads > len(usable):
    raise SystemExit("--threads must be between 1 and %d, not %d" % (len(usable), threads))
  kept = usable[:threads]
  if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, kept)
  for name in THREAD_VARIABLES:
    os.environ[name] = str(threads)
  return kept
