"""How a text longer than the model's sequence becomes several windows, and how
a classifier's answers for those windows become one answer per text.

run_classifier.py's `--doc_stride` follows run_squad's rule: the first text is
cut into windows of the room a sequence leaves (after [CLS]/[SEP] and the
second text, which every window repeats), each starting `doc_stride` tokens
after the previous one until a window reaches the end. At evaluation and
prediction the windows' logits are pooled per text (`--window_pooling`: mean
or max) before the softmax or sigmoid. Training, prediction, serving and the
exports all take the rule from here, so they cut and combine alike.

Pure Python and NumPy; the lists may hold tokens or token ids.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

POOLINGS = ("mean", "max")


def truncate_seq_pair(tokens_a: list, tokens_b: list, max_length: int) -> None:
  """Shortens two lists in place until together they hold at most `max_length` items.

  Each step drops the last item of whichever list is longer (of `tokens_b` when
  they are equally long): a short text keeps its tokens, a long one gives up
  its tail.
  """
  while len(tokens_a) + len(tokens_b) > max_length:
    longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
    longer.pop()


def fit_pair(a: list, b: list | None, max_seq_length: int) -> list:
  """Google's truncation of a text (pair) for one sequence; returns `a`.

  With a non-empty `b` both are cut in place to `max_seq_length - 3` items in
  all (room for [CLS], [SEP], [SEP]); otherwise `a` is cut to
  `max_seq_length - 2`.
  """
  if b:
    truncate_seq_pair(a, b, max_seq_length - 3)
  elif len(a) > max_seq_length - 2:
    a = a[: max_seq_length - 2]
  return a


def window_starts(length: int, room: int, stride: int) -> list[int]:
  """Where the windows of `room` items over `length` items start.

  A new window starts every `stride` items (at most `room`) until one
  reaches the end; a text that fits gives the single window [0].
  """
  starts = [0]
  while starts[-1] + room < length:
    starts.append(starts[-1] + min(room, stride))
  return starts


def split(a: list, b: list | None, max_seq_length: int, stride: int) -> list[tuple]:
  """(a, b) of each window of one example (one window when it fits or `stride` is 0).

  The second text is kept whole in every window, cut first to half the
  sequence when it is longer; the first text is split over the room left.
  """
  if b:
    b = b[: max(1, (max_seq_length - 3) // 2)]
    room = max_seq_length - 3 - len(b)
  else:
    room = max_seq_length - 2
  if not stride or len(a) <= room:
    return [(fit_pair(list(a), list(b) if b else b, max_seq_length), b)]
  return [(a[start : start + room], b) for start in window_starts(len(a), room, stride)]


def pool_logits(logits: np.ndarray, groups: Sequence[int], pooling: str = "mean") -> np.ndarray:
  """Logits [N, L] of N windows -> [G, L], one row per group, in group order.

  `groups` gives each window's example (any sortable ids); `pooling` is
  "mean" or "max". Computed in float64, returned as float32.
  """
  if pooling not in POOLINGS:
    raise ValueError("window pooling must be one of %s, not %r" % (POOLINGS, pooling))
  groups = np.asarray(groups)
  order = np.argsort(groups, kind="stable")
  sorted_groups = groups[order]
  starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
  values = np.asarray(logits, np.float64)[order]
  if pooling == "max":
    pooled = np.maximum.reduceat(values, starts, axis=0)
  else:
    pooled = np.add.reduceat(values, starts, axis=0)
    pooled /= np.diff(np.r_[starts, len(sorted_groups)])[:, None]
  return pooled.astype(np.float32)
