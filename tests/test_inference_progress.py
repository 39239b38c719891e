"""Eval/predict progress counts one unit: windows with --doc_stride (examples beside)."""

import functools
import logging

import numpy as np
import tensorflow as tf
from conftest import TINY_CONFIG

from bert import modeling
from classifier import features, inference_outputs, trainer

# 3 examples cut into 2, 1 and 3 windows, predicted in batches of 2.
EXAMPLE_IDS = [0, 0, 1, 2, 2, 2]


def _windows():
  ids = np.random.RandomState(0).randint(1, 99, size=(len(EXAMPLE_IDS), 8)).astype(np.int32)
  return tf.data.Dataset.from_tensor_slices(
    {
      "input_ids": ids,
      "input_mask": np.ones_like(ids),
      "segment_ids": np.zeros_like(ids),
      "label_ids": np.zeros(len(ids), np.int32),
      "is_real_example": np.ones(len(ids), np.int32),
      "example_id": np.array(EXAMPLE_IDS, np.int32),
    }
  ).batch(2)


def test_windowed_predict_counts_windows_with_examples_beside(monkeypatch, caplog):
  every_batch = functools.partial(features.Progress, interval=0.0)
  monkeypatch.setattr(inference_outputs, "Progress", every_batch)
  runner = trainer.ClassifierRunner(modeling.BertConfig.from_dict(TINY_CONFIG), 3, "unused")
  with caplog.at_level(logging.INFO, logger="classifier.features"):
    rows = list(runner.predict(_windows(), 3, total_windows=len(EXAMPLE_IDS)))
  assert len(rows) == 3
  lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Predicting")]
  assert [line.split(" (")[0] for line in lines] == [
    "Predicting: 2/6 windows",
    "Predicting: 4/6 windows",
    "Predicting: 6/6 windows",
  ]
  assert [line.rsplit(", ", 1)[1] for line in lines] == [
    "1/3 examples",
    "3/3 examples",
    "3/3 examples",
  ]


def test_without_windows_the_unit_is_examples():
  progress = inference_outputs.InferenceProgress("Evaluating", 5)
  assert progress.progress.unit == "examples" and progress.progress.total == 5
  progress.update({"logits": np.zeros((5, 3))})
  assert progress.done == 5
