"""Results beyond Google's files: per-class metrics, a confusion-matrix PNG and
a readable predictions file. `eval_results.txt` and `test_results.tsv` stay
exactly as the original; these files sit beside them.
"""

from __future__ import annotations

import struct
import zlib
from typing import Sequence

import numpy as np

from classifier.outputs import atomic_write, write_json

METRICS_FILENAME = "eval_metrics.json"
CONFUSION_PNG_FILENAME = "eval_confusion_matrix.png"
PREDICTIONS_FILENAME = "test_predictions.tsv"


def classification_metrics(labels: np.ndarray, predictions: np.ndarray,
                           weights: np.ndarray, label_list: Sequence[str]) -> dict:
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
    f1 = (2 * precision * recall / (precision + recall)
          if precision + recall else 0.0)
    f1s.append(f1)
    per_class[name] = {"precision": round(precision, 6),
                       "recall": round(recall, 6), "f1": round(f1, 6),
                       "support": support}
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


def write_metrics(path: str, metrics: dict) -> None:
  """The metrics as JSON."""
  write_json(path, metrics)


def write_predictions(path: str, examples, probabilities, label_list) -> None:
  """`guid, text_a, text_b, predicted_label, probability` per test example."""
  with atomic_write(path) as f:
    f.write("guid\ttext_a\ttext_b\tpredicted_label\tprobability\n")
    for example, probs in zip(examples, probabilities):
      best = int(np.argmax(probs))
      cells = [str(example.guid), example.text_a or "", example.text_b or "",
               label_list[best], "%.6f" % float(probs[best])]
      f.write("\t".join(_one_line(c) for c in cells) + "\n")


def _one_line(text: str) -> str:
  return " ".join(str(text).split())


# -- a tiny PNG renderer (no plotting dependency) ----------------------------

# 3x5 glyphs of the digits, rows top to bottom, 3 bits each.
_DIGITS = {
    "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7],
    "3": [7, 1, 7, 1, 7], "4": [5, 5, 7, 1, 1], "5": [7, 4, 7, 1, 7],
    "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 1, 1], "8": [7, 5, 7, 5, 7],
    "9": [7, 5, 7, 1, 7],
}


def _draw_number(image, text, x, y, scale, color):
  for k, ch in enumerate(text):
    glyph = _DIGITS[ch]
    for row, bits in enumerate(glyph):
      for col in range(3):
        if bits & (4 >> col):
          x0 = x + (k * 4 + col) * scale
          y0 = y + row * scale
          image[y0:y0 + scale, x0:x0 + scale] = color


def render_confusion_matrix(matrix: np.ndarray, cell: int = 48) -> np.ndarray:
  """RGB image [H, W, 3] of the matrix: blue shades per row-normalised count,
  the count in each cell, label indices along the top (predicted) and the
  left (true)."""
  matrix = np.asarray(matrix)
  n = matrix.shape[0]
  margin = cell
  size = margin + n * cell
  image = np.full((size, size, 3), 255, dtype=np.uint8)
  row_sums = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
  shade = matrix / row_sums
  for i in range(n):
    for j in range(n):
      t = float(shade[i, j])
      color = np.array([255 - 200 * t, 255 - 150 * t, 255 - 40 * t])
      y0, x0 = margin + i * cell, margin + j * cell
      image[y0 + 1:y0 + cell, x0 + 1:x0 + cell] = color.astype(np.uint8)
      text = str(int(matrix[i, j]))
      scale = max(1, min(4, (cell - 8) // (4 * len(text))))
      ink = (255, 255, 255) if t > 0.6 else (0, 0, 0)
      _draw_number(image, text, x0 + (cell - 4 * scale * len(text)) // 2,
                   y0 + (cell - 5 * scale) // 2, scale, ink)
  for k in range(n):
    label = str(k)
    scale = max(1, min(4, (cell - 8) // (4 * len(label))))
    _draw_number(image, label, margin + k * cell + (cell - 4 * scale * len(label)) // 2,
                 (margin - 5 * scale) // 2, scale, (90, 90, 90))
    _draw_number(image, label, (margin - 4 * scale * len(label)) // 2,
                 margin + k * cell + (cell - 5 * scale) // 2, scale, (90, 90, 90))
  return image


def write_png(path: str, image: np.ndarray) -> None:
  """Writes an RGB uint8 image as PNG (zlib + struct only)."""
  height, width, _ = image.shape
  raw = b"".join(b"\x00" + image[y].tobytes() for y in range(height))

  def chunk(tag, data):
    return (struct.pack(">I", len(data)) + tag + data +
            struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

  png = (b"\x89PNG\r\n\x1a\n" +
         chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
         chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
  with atomic_write(path, "wb") as f:
    f.write(png)
