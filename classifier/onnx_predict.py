"""`--do_predict --predict_backend=onnxruntime[_int8]`: the predictions from ONNX Runtime.

The checkpoint that TensorFlow would predict with is exported once into
`<output_dir>/onnx/` (again only when the checkpoint changes; see `onnx_bert.build`),
then the predict.tf_record batches run through ONNX Runtime. The rows come back as
`ClassifierRunner.predict` gives them: one probability row per example in input order,
--dynamic_padding's sorted batches put back in order, --doc_stride windows combined.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from bert.errors import UsageError
from classifier.inference_outputs import InferenceProgress, combine_windows, head_probabilities
from classifier.run_config import RunConfig
from onnx_bert import graph as onnx_graph
from onnx_bert import runtime as onnx_runtime

logger = logging.getLogger(__name__)


def _onnx_model(
  config: RunConfig, checkpoint: str, label_list, multi_label: bool
) -> onnx_runtime.OnnxBert:
  from onnx_bert import build

  backend = config.prediction.predict_backend  # Checked by classifier.plan, as is `checkpoint`.
  path = build.ensure_export(
    checkpoint,
    config.model.bert_config_file,
    config.model.vocab_file,
    [str(label) for label in label_list],
    multi_label,
    precision=onnx_runtime.precision_of(backend),
    onnx_dir=os.path.join(config.output_dir, onnx_runtime.DEFAULT_ONNX_SUBDIR),
    multi_label_threshold=config.prediction.multi_label_threshold,
  )
  model = onnx_runtime.OnnxBert(path)
  if onnx_graph.LOGITS not in model.outputs:
    raise UsageError(
      "--predict_backend=%s: checkpoint %s has no classifier head (output_weights, output_bias)"
      % (backend, checkpoint)
    )
  logger.info("Predicting with ONNX Runtime: %s", path)
  return model


def predict(
  config: RunConfig,
  checkpoint: str,
  dataset,
  total_examples: int,
  label_list,
  multi_label: bool,
  total_windows: int | None = None,
) -> list[np.ndarray]:
  """Probabilities [num_labels] per example, in input order.

  Args:
    config: the run's settings (predict_backend, output_dir, window_pooling, ...).
    checkpoint: the checkpoint TensorFlow restored for prediction.
    dataset: the predict `tf.data.Dataset` (features dicts).
    total_examples: number of examples, for the progress log.
    label_list: the labels, in the order of the head.
    multi_label: a sigmoid per label instead of the softmax.
    total_windows: number of --doc_stride windows (None without), for the progress log.
  """
  model = _onnx_model(config, checkpoint, label_list, multi_label)
  progress = InferenceProgress("Predicting", total_examples, total_windows)
  parts: dict = {}
  for features in dataset.as_numpy_iterator():
    logits, probabilities = model.run(
      [onnx_graph.LOGITS, onnx_graph.PROBABILITIES],
      features["input_ids"],
      features["input_mask"],
      features["segment_ids"],
    )
    parts.setdefault("logits", []).append(logits)
    parts.setdefault("probabilities", []).append(probabilities)
    for name in ("example_index", "example_id"):
      if name in features:
        parts.setdefault(name, []).append(features[name])
    progress.update({"logits": logits, "example_id": features.get("example_id")})
  if not parts:
    return []
  rows = {name: np.concatenate(values) for name, values in parts.items()}
  if "example_id" in rows:  # --doc_stride: one row per example from its windows' logits
    combined = combine_windows(
      {"logits": rows["logits"], "example_id": rows["example_id"]},
      config.prediction.window_pooling,
    )
    return list(head_probabilities(combined["logits"], multi_label))
  if "example_index" in rows:  # --dynamic_padding sorted the batches by length
    order = np.argsort(rows["example_index"], kind="stable")
    return list(rows["probabilities"][order])
  return list(rows["probabilities"])
