"""The ONNX Runtime part of the server (`-backend onnxruntime` / `onnxruntime_int8`).

`OnnxBackend` has `BertBackend`'s interface (`tokenizer`, `max_position_embeddings`, `info`,
`encode`) and the same pooling (`serving.pooling`), so replies are the same arrays within float
rounding. It runs the model `bert-export-onnx` writes; when `-onnx_dir` (default: `onnx/` beside
the served checkpoint) lacks an export of this checkpoint, the first worker makes one (that
needs TensorFlow once) while the others wait for it.
"""

from __future__ import annotations

import os

import numpy as np

from bert import tokenization
from onnx_bert import graph as onnx_graph
from onnx_bert import runtime as onnx_runtime
from serving import logs, pooling
from serving.pooling import PoolingStrategy


def _cores() -> int:
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


class OnnxBackend:
  """An exported BERT in an ONNX Runtime session plus the server's pooling strategy."""

  def __init__(self, args, files, worker_index: int = 0):
    """Finds (or makes) the export and opens it.

    Raises:
      ValueError: CLASSIFICATION without a fine-tuned classifier head.
      onnx_bert.build.OnnxExportError: an export was needed and failed.
    """
    from onnx_bert import build

    log = logs.get_logger("WORKER-%d" % worker_index)
    config = files.bert_config
    self.tokenizer = tokenization.FullTokenizer(files.vocab_file, do_lower_case=args.do_lower_case)
    self.max_position_embeddings = config.get("max_position_embeddings", 512)
    self._strategy = args.pooling_strategy
    precision = onnx_runtime.precision_of(args.backend)
    path = build.ensure_export(
      files.checkpoint,
      files.config_file,
      files.vocab_file,
      files.labels,
      files.multi_label,
      precision=precision,
      onnx_dir=args.onnx_dir,
      multi_label_threshold=files.multi_label_threshold,
      log=log,
    )
    if self._strategy == PoolingStrategy.CLASSIFICATION:
      # Windows are pooled on their logits before the softmax or sigmoid.
      windowed = getattr(args, "doc_stride", 0)
      self._outputs = [onnx_graph.LOGITS if windowed else onnx_graph.PROBABILITIES]
    elif self._strategy.uses_encoder_layers:
      num_layers = int(config["num_hidden_layers"])
      self._outputs = [onnx_graph.layer_output(i % num_layers) for i in args.pooling_layer]
    else:
      self._outputs = [onnx_graph.POOLED_OUTPUT]
    if self._strategy == PoolingStrategy.CLASSIFICATION and not onnx_runtime.has_head(path):
      raise ValueError(
        "-pooling_strategy CLASSIFICATION needs a run_classifier checkpoint "
        "(variables output_weights and output_bias); %s has none" % files.checkpoint
      )
    # Workers share the cores rather than each taking all of them; the session holds only
    # the part of the model the replies need.
    threads = max(1, _cores() // max(1, args.num_worker))
    self._model = onnx_runtime.OnnxBert(path, threads, only=self._outputs)
    log.info("ONNX Runtime (%s, %d threads): %s", precision, threads, path)

    import onnxruntime

    self.info = {
      "onnxruntime_version": onnxruntime.__version__.split("."),
      "backend": args.backend,
      "hidden_size": config["hidden_size"],
    }
    if self._strategy == PoolingStrategy.CLASSIFICATION:
      self._set_up_head(args, files, log)
    warmup = np.zeros((1, args.max_seq_len or 8), np.int32)
    self._run(warmup, warmup + 1, warmup)

  def _set_up_head(self, args, files, log) -> None:
    shapes = {output.name: output.shape for output in self._model.session.get_outputs()}
    num_labels = int(shapes[self._outputs[0]][-1])  # logits or probabilities: [B, L]
    labels = list(files.labels or [str(i) for i in range(num_labels)])
    self.info.update(num_labels=num_labels, labels=labels)
    if files.multi_label:
      threshold = args.multi_label_threshold
      if threshold is None:
        threshold = files.multi_label_threshold
      self.info.update(multi_label=True, multi_label_threshold=threshold)
      log.info("multi-label classifier: a sigmoid per label, threshold %g", threshold)

  def _run(self, input_ids, input_mask, input_type_ids) -> np.ndarray:
    values = self._model.run(self._outputs, input_ids, input_mask, input_type_ids)
    return values[0] if len(values) == 1 else np.concatenate(values, axis=-1)

  def encode(
    self, input_ids: np.ndarray, input_mask: np.ndarray, input_type_ids: np.ndarray
  ) -> np.ndarray:
    """BERT and the pooling strategy on int32 [B, T] inputs (see `BertBackend.encode`)."""
    x = self._run(input_ids, input_mask, input_type_ids)
    if self._strategy.uses_encoder_layers:
      return pooling.pool(self._strategy, x, input_mask)
    return x  # CLASSIFICATION probabilities, or CLS_POOLED

  def classifier_logits(
    self, input_ids: np.ndarray, input_mask: np.ndarray, input_type_ids: np.ndarray
  ) -> np.ndarray:
    """CLASSIFICATION on a windowed model: the head's float32 [B, L] logits."""
    return self._run(input_ids, input_mask, input_type_ids)
