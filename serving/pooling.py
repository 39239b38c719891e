"""Pooling: BERT's outputs -> the array a client receives.

Shapes: B = batch size, T = sequence length, D = feature size (hidden size
times the number of pooled layers), L = number of labels.

Every function works on numpy arrays and follows bert-as-service 1.10.0's
formulas exactly (including its 1e-10 and 1e30 constants), so embeddings
match the original server's.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numpy as np


class PoolingStrategy(enum.IntEnum):
  """`-pooling_strategy` values; the integer is what SHOW_CONFIG reports."""

  NONE = 0
  REDUCE_MAX = 1
  REDUCE_MEAN = 2
  REDUCE_MEAN_MAX = 3
  FIRST_TOKEN = 4
  CLS_TOKEN = 4  # alias of FIRST_TOKEN
  LAST_TOKEN = 5
  SEP_TOKEN = 5  # alias of LAST_TOKEN
  CLS_POOLED = 6
  # Not in bert-as-service 1.10.0: the fine-tuned classifier's probabilities
  # (softmax, or a sigmoid per label for a multi-label model), under the
  # number its unreleased master branch gave it.
  CLASSIFICATION = 7

  def __str__(self):
    return self.name

  @classmethod
  def from_string(cls, name: str) -> PoolingStrategy:
    """`reduce_mean`, `CLS_TOKEN`, ... -> member (argparse `type=`)."""
    try:
      return cls[name.upper()]
    except KeyError:
      raise ValueError("unknown pooling strategy %r" % name) from None

  @property
  def uses_encoder_layers(self) -> bool:
    """True when the strategy reads `all_encoder_layers[pooling_layer]`."""
    return self not in (PoolingStrategy.CLS_POOLED, PoolingStrategy.CLASSIFICATION)


def reduce_mean(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """Masked mean over tokens: x [B, T, D], mask [B, T] -> [B, D]."""
  m = mask.astype(np.float32)[:, :, None]  # [B, T, 1]
  return (np.sum(x * m, axis=1) / (np.sum(m, axis=1) + np.float32(1e-10))).astype(np.float32)


def reduce_max(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """Masked max over tokens: x [B, T, D], mask [B, T] -> [B, D]."""
  m = mask.astype(np.float32)[:, :, None]  # [B, T, 1]
  return np.max(x - (np.float32(1.0) - m) * np.float32(1e30), axis=1)


def first_token(x: np.ndarray) -> np.ndarray:
  """The [CLS] position: x [B, T, D] -> [B, D]."""
  return x[:, 0]


def last_token(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """The last unmasked position (the final [SEP]): x [B, T, D] -> [B, D]."""
  last = np.maximum(np.sum(mask, axis=1).astype(np.int64) - 1, 0)  # [B]
  return x[np.arange(x.shape[0]), last]


def zero_masked(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """Token vectors with padding (and masked positions) zeroed: [B, T, D]."""
  return x * mask.astype(x.dtype)[:, :, None]


def pool(strategy: PoolingStrategy, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """Applies a layer-based pooling strategy.

  Args:
    strategy: any strategy whose `uses_encoder_layers` is True.
    x: float32 [B, T, D], the pooled encoder layer(s), concatenated on D.
    mask: int [B, T], the input mask given to the model.

  Returns:
    float32 [B, D], [B, 2*D] (REDUCE_MEAN_MAX) or [B, T, D] (NONE).
  """
  if strategy == PoolingStrategy.REDUCE_MEAN:
    return reduce_mean(x, mask)
  if strategy == PoolingStrategy.REDUCE_MAX:
    return reduce_max(x, mask)
  if strategy == PoolingStrategy.REDUCE_MEAN_MAX:
    return np.concatenate([reduce_mean(x, mask), reduce_max(x, mask)], axis=1)
  if strategy == PoolingStrategy.FIRST_TOKEN:
    return first_token(x)
  if strategy == PoolingStrategy.LAST_TOKEN:
    return last_token(x, mask)
  if strategy == PoolingStrategy.NONE:
    return zero_masked(x, mask)
  raise ValueError("%s does not pool encoder layers" % strategy)


def head_logits(
  pooled: np.ndarray, output_weights: np.ndarray, output_bias: np.ndarray
) -> np.ndarray:
  """run_classifier's head before its softmax or sigmoid: pooled @ W^T + b.

  Args:
    pooled: float32 [B, H], BERT's pooled output.
    output_weights: float32 [L, H].
    output_bias: float32 [L].

  Returns:
    float32 [B, L] logits.
  """
  return pooled @ output_weights.T + output_bias


def softmax(logits: np.ndarray) -> np.ndarray:
  """float32 [B, L] probabilities of a single-label head's logits."""
  logits = logits - np.max(logits, axis=1, keepdims=True)
  e = np.exp(logits)
  return (e / np.sum(e, axis=1, keepdims=True)).astype(np.float32)


def sigmoid(logits: np.ndarray) -> np.ndarray:
  """float32 [B, L]: each label's own probability (a multi-label head).

  exp of -|logits| never overflows; the sign picks which form of the sigmoid
  to use, so both tails keep their precision.
  """
  e = np.exp(-np.abs(logits))
  return np.where(logits >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32)


def probabilities(logits: np.ndarray, multi_label: bool) -> np.ndarray:
  """The head's answer for its logits: a softmax, or a sigmoid per label."""
  return sigmoid(logits) if multi_label else softmax(logits)


def classify(pooled: np.ndarray, output_weights: np.ndarray, output_bias: np.ndarray) -> np.ndarray:
  """run_classifier's head: softmax(pooled @ W^T + b), float32 [B, L] (see `head_logits`)."""
  return softmax(head_logits(pooled, output_weights, output_bias))


def classify_multi_label(
  pooled: np.ndarray, output_weights: np.ndarray, output_bias: np.ndarray
) -> np.ndarray:
  """A multi-label head: sigmoid(pooled @ W^T + b), each label on its own.

  Same arguments as `classify`; each of the [B, L] probabilities is in
  [0, 1] and a row does not sum to 1.
  """
  return sigmoid(head_logits(pooled, output_weights, output_bias))


def labels_above(probs: np.ndarray, labels: Sequence[str], threshold: float) -> list[list[str]]:
  """Per row of `probs` [B, L], the names of `labels` whose probability is >= threshold."""
  return [[name for name, p in zip(labels, row) if p >= threshold] for row in probs.tolist()]
