"""The `statistic` block of a SHOW_STATUS reply (keys as bert-as-service's)."""

from __future__ import annotations

import collections
import time

ACTIVE_SECONDS = 180  # a client is "active" if it sent data this recently
MAX_CLIENTS = 10000  # per-client counters kept (least recent dropped)
MAX_INTERVALS = 200  # recent inter-request intervals kept


def _spread(name: str, values) -> dict:
  """avg/min/max/num_min/num_max of `values` as `<key>_<name>`, {} if none."""
  values = list(values)
  if not values:
    return {}
  low, high = min(values), max(values)
  return {
    "avg_" + name: sum(values) / len(values),
    "min_" + name: low,
    "max_" + name: high,
    "num_min_" + name: sum(v == low for v in values),
    "num_max_" + name: sum(v == high for v in values),
  }


class ServerStatistic:
  """Counts requests; `value()` is the dict SHOW_STATUS reports."""

  def __init__(self):
    self._requests = collections.OrderedDict()  # client -> request count
    self._last_active = {}  # client -> time of its last data request
    self._sizes = collections.deque(maxlen=10000)  # sequences per request
    self._intervals = collections.deque(maxlen=MAX_INTERVALS)
    self._last_time = None
    self.num_data_request = 0
    self.num_sys_request = 0
    self.num_total_seq = 0

  def update(self, client: bytes, is_command: bool, size: int, now: float | None = None) -> None:
    """Records one request: a command, or data with `size` sequences."""
    now = time.monotonic() if now is None else now
    self._requests[client] = self._requests.pop(client, 0) + 1
    if len(self._requests) > MAX_CLIENTS:
      old, _ = self._requests.popitem(last=False)
      self._last_active.pop(old, None)
    if is_command:
      self.num_sys_request += 1
      return
    self.num_data_request += 1
    self.num_total_seq += size
    self._sizes.append(size)
    self._last_active[client] = now
    if self._last_time is not None:
      self._intervals.append(now - self._last_time)
    self._last_time = now

  def value(self, now: float | None = None) -> dict:
    now = time.monotonic() if now is None else now
    out = {
      "num_data_request": self.num_data_request,
      "num_total_seq": self.num_total_seq,
      "num_sys_request": self.num_sys_request,
      "num_total_request": self.num_data_request + self.num_sys_request,
      "num_total_client": len(self._requests),
      "num_active_client": sum(now - t <= ACTIVE_SECONDS for t in self._last_active.values()),
    }
    out.update(_spread("request_per_client", self._requests.values()))
    out.update(_spread("size_per_request", self._sizes))
    out.update(_spread("last_two_interval", self._intervals))
    out.update(_spread("request_per_second", [1.0 / v for v in self._intervals if v > 0]))
    return out
