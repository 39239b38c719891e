"""bench/fairness.py and the interleaving of timed repeats (bench/stages.py)."""

import os
import types

import pytest

from bench import fairness, stages


def test_implied_clock_tells_a_possible_peak_from_an_impossible_one():
  # 2 Zen 4 cores (32 FLOPs/cycle each) at 205 GFLOP/s: 3.2 GHz, a real clock.
  assert fairness.implied_ghz(205, 2, 32) == pytest.approx(3.203, abs=1e-3)
  # 478 GFLOP/s would need 7.5 GHz on those cores; on 512-bit cores 3.7 GHz.
  assert fairness.implied_ghz(478, 2, 32) > 7
  assert fairness.implied_ghz(478, 2, 64) < 4
  assert fairness.implied_ghz(478, 2, None) is None


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads /proc (Linux)")
def test_foreign_load_does_not_count_our_own_work():
  # Two watches over the same block: one told our pid, one told none. What tells them
  # apart is our own busy loop, whatever else the machine runs meanwhile.
  ours = fairness.ForeignLoad([os.getpid()])
  nobody = fairness.ForeignLoad([])
  ours.start()
  nobody.start()
  total = 0
  for i in range(3_000_000):  # about a second of this process's own CPU
    total += i * i
  used = ours.stop()
  everyone = nobody.stop()
  assert total > 0
  assert set(used) == {"foreign_cores", "steal_cores"}
  assert used["foreign_cores"] >= 0.0
  # The loop ran on about one core (less when other processes share the cores).
  assert everyone["foreign_cores"] - used["foreign_cores"] > 0.25


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads /proc (Linux)")
def test_idle_check_reports_a_verdict():
  idle = fairness.idle_check(0.3)
  assert isinstance(idle["idle"], bool)
  assert idle["verdict"].startswith("idle:" if idle["idle"] else "BUSY:")
  assert idle["foreign_cores"] >= 0.0


def test_calibration_is_a_positive_rate():
  assert fairness.calibration_gflops(n=128, seconds=0.05) > 0


def test_pin_threads_rejects_more_threads_than_cores():
  with pytest.raises(SystemExit, match="--threads must be between 1 and"):
    fairness.pin_threads(10_000)


def test_interleaved_repeats_alternate_the_order():
  calls = []

  def timer(name):
    def run(r):
      calls.append((name, r))
      return 1.0

    return run

  class Object:
    def repeat(self):
      calls.append(("ours", None))
      return 2.0

  args = types.SimpleNamespace(repeats=3)
  times, loads = stages.interleaved_repeats(
    args, {"ours": Object(), "hf": timer("hf")}, [os.getpid()]
  )
  assert [name for name, _ in calls] == ["ours", "hf", "hf", "ours", "ours", "hf"]
  assert [r for name, r in calls if name == "hf"] == [0, 1, 2]
  assert times == {"ours": [2.0, 2.0, 2.0], "hf": [1.0, 1.0, 1.0]}
  if os.path.exists("/proc/stat"):
    assert len(loads) == 6 and {load["figure"] for load in loads} == {"ours", "hf"}
