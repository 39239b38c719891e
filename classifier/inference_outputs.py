"""What eval and predict make of the forward pass's outputs, in NumPy.

`InferenceProgress` logs how far a run is; `combine_windows` pools the logits of a
text's --doc_stride windows into one row; `head_probabilities` and `example_losses`
recompute the head's probabilities and per-example loss from (combined) logits. The
TensorFlow and ONNX Runtime predict paths share them.
"""

from __future__ import annotations

import numpy as np

from classifier.features import Progress


class InferenceProgress:
  """The progress log of eval/predict, in one unit: examples, or with --doc_stride
  windows (what the batches hold), with the examples begun beside."""

  def __init__(self, what: str, total_examples: int, total_windows: int | None = None) -> None:
    """`total_windows`: the records of a --doc_stride file (None: one per example)."""
    self.total_examples = total_examples
    self.windowed = total_windows is not None
    total = total_windows if self.windowed else total_examples
    self.progress = Progress(what, total, unit="windows" if self.windowed else "examples")
    self.done = 0
    self.examples_begun: set = set()

  def update(self, outputs: dict) -> None:
    """Counts one batch of outputs (its `logits` rows, and `example_id`s when windowed)."""
    self.done += len(outputs["logits"])
    extra = ""
    if self.windowed:
      self.examples_begun.update(outputs["example_id"].tolist())
      extra = ", %d/%d examples" % (len(self.examples_begun), self.total_examples)
    self.progress.update(min(self.done, self.progress.total), extra)


def combine_windows(rows: dict, pooling: str = "mean") -> dict:
  """One row per `example_id`, in id order: logits pooled ("mean" or "max") over
  the example's windows, its other columns taken from its first window."""
  ids = rows["example_id"]
  order = np.argsort(ids, kind="stable")
  ids = ids[order]
  starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
  reduce = np.maximum if pooling == "max" else np.add
  logits = reduce.reduceat(rows["logits"][order].astype(np.float64), starts, axis=0)
  if pooling != "max":
    logits /= np.diff(np.r_[starts, len(ids)])[:, None]
  combined = {name: value[order][starts] for name, value in rows.items() if name != "logits"}
  combined["logits"] = logits.astype(np.float32)
  return combined


def head_probabilities(logits: np.ndarray, multi_label: bool) -> np.ndarray:
  """Softmax over the labels, or a sigmoid per label for multi-label heads (float32)."""
  values = logits.astype(np.float64)
  if multi_label:
    return (1.0 / (1.0 + np.exp(-values))).astype(np.float32)
  shifted = np.exp(values - values.max(axis=-1, keepdims=True))
  return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)


def example_losses(logits: np.ndarray, labels: np.ndarray, multi_label: bool) -> np.ndarray:
  """Each example's cross-entropy (mean binary cross-entropy over labels when multi-label)."""
  values = logits.astype(np.float64)
  if multi_label:
    # log(1 + exp(-|x|)) + max(x, 0) - x * y, the stable form.
    per_label = np.logaddexp(0.0, -np.abs(values)) + np.maximum(values, 0.0) - values * labels
    return per_label.mean(axis=-1)
  shifted = values - values.max(axis=-1, keepdims=True)
  log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
  return -log_probabilities[np.arange(len(labels)), labels]
