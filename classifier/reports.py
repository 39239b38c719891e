"""Results beyond Google's files: per-class metrics, a confusion-matrix PNG and
a readable predictions file. `eval_results.txt` and `test_results.tsv` stay
exactly as the original; these files sit beside them.
"""

from __future__ import annotations

import logging
import math
import struct
import zlib
from collections.abc import Sequence

import numpy as np

from bert.model_folder import atomic_write, write_json
from classifier import bitmap_font

logger = logging.getLogger(__name__)

METRICS_FILENAME = "eval_metrics.json"
CONFUSION_PNG_FILENAME = "eval_confusion_matrix.png"
PREDICTIONS_FILENAME = "test_predictions.tsv"


def classification_metrics(
  labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray, label_list: Sequence[str]
) -> dict:
  """Per-class precision/recall/F1/support, macro-F1, accuracy, confusion matrix.

  Rows of the confusion matrix are true labels, columns predicted labels, in
  `label_list` order; padding examples (weight 0) are left out.
  """
  n = len(label_list)
  real = weights > 0
  matrix = np.zeros((n, n), dtype=np.int64)
  np.add.at(matrix, (labels[real], predictions[real]), 1)
  per_class = {}
  f1s = []
  for i, name in enumerate(label_list):
    tp = int(matrix[i, i])
    predicted = int(matrix[:, i].sum())
    support = int(matrix[i, :].sum())
    precision = tp / predicted if predicted else 0.0
    recall = tp / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    f1s.append(f1)
    per_class[name] = {
      "precision": round(precision, 6),
      "recall": round(recall, 6),
      "f1": round(f1, 6),
      "support": support,
    }
  total = int(matrix.sum())
  return {
    "accuracy": round(float(np.trace(matrix)) / total, 6) if total else 0.0,
    "macro_f1": round(float(np.mean(f1s)), 6) if f1s else 0.0,
    "num_examples": total,
    "labels": list(label_list),
    "per_class": per_class,
    "confusion_matrix": matrix.tolist(),
    "confusion_matrix_axes": "rows: true label, columns: predicted label",
  }


def multilabel_metrics(
  labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray, label_list: Sequence[str]
) -> dict:
  """Per-label precision/recall/F1/support, micro and macro F1, exact-match ratio.

  `labels` and `predictions` are multi-hot [examples, labels]; padding
  examples (weight 0) are left out.
  """
  real = weights > 0
  truth, guess = labels[real].astype(bool), predictions[real].astype(bool)

  def f1_of(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1

  tps = np.sum(truth & guess, axis=0)
  fps = np.sum(~truth & guess, axis=0)
  fns = np.sum(truth & ~guess, axis=0)
  per_label, f1s = {}, []
  for i, name in enumerate(label_list):
    precision, recall, f1 = f1_of(int(tps[i]), int(fps[i]), int(fns[i]))
    f1s.append(f1)
    per_label[name] = {
      "precision": round(precision, 6),
      "recall": round(recall, 6),
      "f1": round(f1, 6),
      "support": int(truth[:, i].sum()),
    }
  micro = f1_of(int(tps.sum()), int(fps.sum()), int(fns.sum()))[2]
  total = int(real.sum())
  return {
    "exact_match": round(float(np.mean(np.all(truth == guess, axis=1))), 6) if total else 0.0,
    "micro_f1": round(micro, 6),
    "macro_f1": round(float(np.mean(f1s)), 6) if f1s else 0.0,
    "num_examples": total,
    "labels": list(label_list),
    "per_class": per_label,
  }


def write_metrics(path: str, metrics: dict) -> None:
  """The metrics as JSON."""
  write_json(path, metrics)


def best_f1_threshold(probabilities: np.ndarray, labels: np.ndarray) -> float:
  """The threshold (one of the probabilities) that gives multi-hot `labels` their best micro-F1."""
  order = np.argsort(-probabilities, axis=None, kind="stable")
  scores = probabilities.reshape(-1)[order]
  hits = np.cumsum(labels.reshape(-1)[order] > 0)
  predicted = np.arange(1, len(scores) + 1)
  f1 = 2 * hits / (predicted + max(int(hits[-1]), 1)) if len(scores) else np.zeros(0)
  # Predicting at >= a value takes every tie with it: score only the last of equal values.
  last_of_ties = np.append(scores[1:] != scores[:-1], True)
  best = int(np.argmax(np.where(last_of_ties, f1, -1.0)))
  return float(scores[best])


def empty_predictions_warning(
  what: str, probabilities, threshold: float, labels: np.ndarray | None = None
) -> str | None:
  """What to say when no probability reaches a multi-label `threshold`, else None.

  Every prediction is then empty (and every metric 0). The warning gives the
  largest probability and a threshold to try: the best micro-F1 one when the
  gold `labels` (multi-hot) are known, else the one that gives half of the
  examples a label. Both are rounded down to 2 digits.
  """
  probabilities = np.asarray(probabilities, dtype=np.float64)
  if probabilities.size == 0 or bool(np.any(probabilities >= threshold)):
    return None
  if labels is not None and np.any(labels):
    suggested = best_f1_threshold(probabilities, np.asarray(labels))
    basis = "about the best micro-F1 on these examples"
  else:
    suggested = float(np.median(probabilities.max(axis=-1)))
    basis = "it gives about half of these examples a label"
  return (
    "no %s example has a label at or above --multi_label_threshold=%g (the largest probability "
    "is %.4f): every prediction is empty; try --multi_label_threshold=%g (%s)"
    % (what, threshold, probabilities.max(), math.floor(suggested * 100) / 100 or 0.01, basis)
  )


def write_predictions(
  path: str, examples, probabilities, label_list, multi_label_threshold: float | None = None
) -> None:
  """`guid, text_a, text_b, predicted_label, probability` per test example.

  With a `multi_label_threshold`, predicted_label lists every label whose
  probability reaches it (comma-separated, possibly none) and probability
  their probabilities in the same order; when none reaches it anywhere, a
  warning says so (`empty_predictions_warning`).
  """
  if multi_label_threshold is not None:
    warning = empty_predictions_warning("test", probabilities, multi_label_threshold)
    if warning:
      logger.warning("%s", warning)
  with atomic_write(path) as f:
    f.write("guid\ttext_a\ttext_b\tpredicted_label\tprobability\n")
    for example, probs in zip(examples, probabilities):
      if multi_label_threshold is None:
        chosen = [int(np.argmax(probs))]
      else:
        chosen = [i for i, p in enumerate(probs) if p >= multi_label_threshold]
      cells = [
        str(example.guid),
        example.text_a or "",
        example.text_b or "",
        ",".join(str(label_list[i]) for i in chosen),
        ",".join("%.6f" % float(probs[i]) for i in chosen),
      ]
      f.write("\t".join(_one_line(c) for c in cells) + "\n")


def _one_line(text: str) -> str:
  return " ".join(str(text).split())


# -- a tiny PNG renderer (no plotting dependency) ----------------------------

_TEXT = (30, 30, 30)  # Title and axis titles.
_LABEL_INK = (70, 70, 70)  # Label names.
_PAD = 12  # Empty border around everything.
_GAP = 10  # Between title, axis titles, labels and matrix.
_TITLE_SCALE = 2
_MAX_LABEL_CHARS = 20  # Longer names end with an ellipsis.
_INDEX_NOTE = '#k: label k of "labels" in eval_metrics.json'


def confusion_title(matrix) -> str:
  """ "accuracy 0.8750 (n=16)": the diagonal's share of all counts."""
  matrix = np.asarray(matrix)
  total = int(matrix.sum())
  if not total:
    return "accuracy n/a (n=0)"
  return "accuracy %.4f (n=%d)" % (float(np.trace(matrix)) / total, total)


def _sizes(n: int) -> tuple[int, int]:
  """(cell side in pixels, label text scale) for an n x n matrix: large cells
  and text up to 12 labels, cells that shrink to keep 50 labels within about
  1800 pixels, and beyond 50 labels cells too small for text (the picture
  stays under about 3600 pixels a side, whatever the number of labels)."""
  if n <= 12:
    return 96, 2
  if n <= 50:
    return max(36, min(60, 1500 // n)), 1
  return max(1, min(36, 3600 // n)), 1


def _drawable(text: str) -> str:
  """`text` with every character the font lacks replaced by "?"."""
  return "".join(ch if bitmap_font.can_draw(ch) else "?" for ch in str(text))


def _shown_labels(labels: Sequence[str]) -> list[str]:
  """The text drawn for each label: the name (cut to _MAX_LABEL_CHARS), or
  "#k" for a name the font cannot draw (Chinese, say) or an empty one."""
  return [
    bitmap_font.truncate(str(name), _MAX_LABEL_CHARS)
    if str(name) and bitmap_font.can_draw(str(name))
    else "#%d" % k
    for k, name in enumerate(labels)
  ]


def _cell_colors(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(colours [n, n, 3] uint8, shares [n, n]): white to dark blue as a
  count's share of its row goes from 0 to 1."""
  shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
  colors = np.stack([255 - 200 * shares, 255 - 150 * shares, 255 - 40 * shares], axis=-1)
  return colors.astype(np.uint8), shares


def _count_scale(matrix: np.ndarray, cell: int) -> int:
  """The largest text scale (3, 2 or 1) at which every count fits its cell,
  or 0 when even scale 1 does not (the counts are then left out)."""
  widest = str(int(matrix.max())) if matrix.size else "0"
  fits = [
    s
    for s in (3, 2, 1)
    if bitmap_font.text_width(widest, s) <= cell - 2 * (s + 2) and 7 * s <= cell - 2 * (s + 2)
  ]
  return fits[0] if fits else 0


def _draw_cells(image, matrix: np.ndarray, x: int, y: int, cell: int) -> None:
  """The shaded cells with a white line between them, and the counts."""
  n = matrix.shape[0]
  colors, shares = _cell_colors(matrix)
  block = np.repeat(np.repeat(colors, cell, axis=0), cell, axis=1)
  if cell > 2:
    block[::cell] = 255
    block[:, ::cell] = 255
  image[y : y + n * cell, x : x + n * cell] = block
  scale = _count_scale(matrix, cell)
  if not scale:
    return
  for i in range(n):
    for j in range(n):
      text = str(int(matrix[i, j]))
      ink = (255, 255, 255) if shares[i, j] > 0.6 else (0, 0, 0)
      bitmap_font.draw_text(
        image,
        text,
        x + j * cell + (cell - bitmap_font.text_width(text, scale)) // 2,
        y + i * cell + (cell - 7 * scale) // 2,
        scale,
        ink,
      )


def _draw_names(
  image, names: Sequence[str], x: int, y: int, cell: int, unit: int, upright: bool
) -> None:
  """Each name left of its row (right-aligned) and above its column
  (centred, or upright and reading upwards), the matrix at (x, y)."""
  for k, name in enumerate(names):
    width = bitmap_font.text_width(name, unit)
    offset = k * cell + (cell - 7 * unit) // 2  # Centres the body of a line.
    bitmap_font.draw_text(image, name, x - _GAP - width, y + offset, unit, _LABEL_INK)
    if upright:
      bitmap_font.draw_text(
        image, name, x + offset, y - _GAP // 2 - width, unit, _LABEL_INK, vertical=True
      )
    else:
      bitmap_font.draw_text(
        image, name, x + k * cell + (cell - width) // 2, y - _GAP // 2 - 9 * unit, unit, _LABEL_INK
      )


def render_confusion_matrix(
  matrix,
  labels: Sequence[str] | None = None,
  title: str | None = None,
  true_axis: str = "true",
  predicted_axis: str = "predicted",
) -> np.ndarray:
  """The confusion matrix as an RGB image [H, W, 3] (uint8).

  Rows are true labels, columns predicted ones. Each cell holds its count on a
  blue shade of the count's share of its row. The label names run down the
  left and along the top (turned upright when a name is wider than a cell);
  names the font cannot draw show as "#k" (k the label index, as in the
  "labels" list of eval_metrics.json, which a note under the matrix says),
  and names over 20 characters are cut with an ellipsis. `true_axis` is
  written upright on the left, `predicted_axis` above the top labels, and
  `title` (default `confusion_title(matrix)`, "" for none) above all.

  Args:
    matrix: [n, n] counts (array or nested lists).
    labels: n label names; None draws the indices 0..n-1.
    title, true_axis, predicted_axis: str; characters other than printable
      ASCII are drawn as "?".

  Raises:
    ValueError: if the matrix is not square or `labels` has another length.
  """
  matrix = np.asarray(matrix)
  if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or not matrix.size:
    raise ValueError("expected a non-empty square matrix, got shape %s" % (matrix.shape,))
  n = matrix.shape[0]
  labels = [str(k) for k in range(n)] if labels is None else list(labels)
  if len(labels) != n:
    raise ValueError("%d labels for a %dx%d matrix" % (len(labels), n, n))
  title = _drawable(confusion_title(matrix) if title is None else title)
  true_axis, predicted_axis = _drawable(true_axis), _drawable(predicted_axis)
  cell, unit = _sizes(n)
  names = _shown_labels(labels) if cell >= 9 * unit else []
  by_index = any(
    name == "#%d" % k != str(label) for k, (name, label) in enumerate(zip(names, labels))
  )
  note = _INDEX_NOTE if by_index else ""
  big, width_of = _TITLE_SCALE, bitmap_font.text_width
  left_w = max([width_of(name, unit) for name in names] + [0])
  upright = left_w > cell - 6
  top_h = left_w if upright else 9 * unit if names else 0

  side = n * cell
  x_matrix = _PAD + 9 * big + 2 * _GAP + left_w + _GAP
  y_axis = _PAD + 9 * big + _GAP
  y_matrix = y_axis + 9 * big + _GAP + top_h + _GAP // 2
  y_note = y_matrix + side + _GAP
  width = max(x_matrix + side, _PAD + width_of(title, big), _PAD + width_of(note, unit)) + _PAD
  height = (y_note + 9 * unit if note else y_matrix + side) + _PAD
  image = np.full((height, width, 3), 255, dtype=np.uint8)

  _draw_cells(image, matrix, x_matrix, y_matrix, cell)
  _draw_names(image, names, x_matrix, y_matrix, cell, unit, upright)
  title_x = x_matrix + (side - width_of(title, big)) // 2
  title_x = max(_PAD, min(title_x, width - _PAD - width_of(title, big)))
  bitmap_font.draw_text(image, title, title_x, _PAD, big, _TEXT)
  bitmap_font.draw_text(
    image,
    predicted_axis,
    x_matrix + (side - width_of(predicted_axis, big)) // 2,
    y_axis,
    big,
    _TEXT,
  )
  bitmap_font.draw_text(
    image,
    true_axis,
    _PAD,
    y_matrix + (side - width_of(true_axis, big)) // 2,
    big,
    _TEXT,
    vertical=True,
  )
  if note:
    bitmap_font.draw_text(image, note, _PAD, y_note, unit, _LABEL_INK)
  return image


def write_png(path: str, image: np.ndarray) -> None:
  """Writes an RGB uint8 image as PNG (zlib + struct only)."""
  height, width, _ = image.shape
  raw = b"".join(b"\x00" + image[y].tobytes() for y in range(height))

  def chunk(tag, data):
    return (
      struct.pack(">I", len(data))
      + tag
      + data
      + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    )

  png = (
    b"\x89PNG\r\n\x1a\n"
    + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(raw, 9))
    + chunk(b"IEND", b"")
  )
  with atomic_write(path, "wb") as f:
    f.write(png)
