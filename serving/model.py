"""The TensorFlow part of the server: load BERT once, then encode batches.

This is the only serving module that imports TensorFlow or `bert`; a worker
process builds one `BertBackend` and calls `encode` for every batch.

Shapes: B = batch size, T = sequence length, H = hidden size, k = number of
pooled layers, L = number of labels.
"""

from __future__ import annotations

import numpy as np

from bert import tf_startup

tf = tf_startup.import_tensorflow()  # Without its start-up noise.

from bert import checkpoint, modeling, tokenization  # noqa: E402
from bert import precision as precisions  # noqa: E402
from serving import logs, pooling  # noqa: E402
from serving.pooling import PoolingStrategy  # noqa: E402

# Only for -xla: batch sizes are padded up to a power of two and dynamic
# sequence lengths to a multiple of this, so XLA compiles a few shapes only.
XLA_SEQ_MULTIPLE = 16


def _select_device(args, worker_index: int, log) -> None:
  """Gives this worker one GPU (memory growing on demand), or none."""
  gpus = tf.config.list_physical_devices("GPU")
  if not gpus:
    return
  try:
    if args.cpu:
      tf.config.set_visible_devices([], "GPU")
      return
    # With -device_map the worker's CUDA_VISIBLE_DEVICES holds one id.
    gpu = gpus[worker_index % len(gpus)]
    tf.config.set_visible_devices([gpu], "GPU")
    tf.config.experimental.set_memory_growth(gpu, True)
    log.info("using %s", gpu.name)
  except RuntimeError as e:  # TF already initialised in this process
    log.warning("cannot choose the device: %s", e)


def _next_power_of_two(n: int) -> int:
  return 1 << max(n - 1, 0).bit_length()


class BertBackend:
  """BERT plus the pooling strategy of the server's flags.

  Attributes:
    tokenizer: `bert.tokenization.FullTokenizer` of the model's vocab.txt.
    max_position_embeddings: the longest sequence the model accepts.
    info: facts for the server's config reply (TF version, labels, ...);
      a multi-label classifier adds `multi_label` and the threshold in use.
  """

  def __init__(self, args, files, worker_index: int = 0):
    """Loads the model.

    Args:
      args: the parsed `bert-serving-start` flags.
      files: `serving.files.ModelFiles`.
      worker_index: which worker this is (picks the GPU).

    Raises:
      bert.checkpoint.CheckpointMismatchError: the checkpoint does not fit.
      ValueError: CLASSIFICATION without a fine-tuned classifier head.
    """
    log = logs.get_logger("WORKER-%d" % worker_index)
    _select_device(args, worker_index, log)
    config = modeling.BertConfig.from_dict(files.bert_config)
    self.tokenizer = tokenization.FullTokenizer(files.vocab_file, do_lower_case=args.do_lower_case)
    self.max_position_embeddings = config.max_position_embeddings
    self._strategy = args.pooling_strategy
    self._xla = bool(args.xla)
    self._multi_label = False

    self.precision, reason = precisions.resolve(getattr(args, "precision", "float32"))
    if reason:
      log.info("-precision auto: %s (%s)", self.precision, reason)
    compute_dtype = precisions.compute_dtype(self.precision)
    encoder = modeling.BertEncoder(config, compute_dtype=compute_dtype)
    checkpoint.load_variables(encoder.variables_by_name, files.checkpoint)
    log.info(
      "loaded %d variables from %s; computing in %s",
      len(encoder.variables_by_name),
      files.checkpoint,
      compute_dtype,
    )
    self.info = {
      "tensorflow_version": tf.__version__.split("."),
      "hidden_size": config.hidden_size,
      "precision": self.precision,
    }
    if self._strategy == PoolingStrategy.CLASSIFICATION:
      self._head = self._load_head(files, config.hidden_size)
      num_labels = self._head[0].shape[0]
      labels = list(files.labels or [str(i) for i in range(num_labels)])
      if len(labels) != num_labels:
        raise ValueError(
          "the label file names %d labels but the checkpoint's "
          "classifier has %d" % (len(labels), num_labels)
        )
      self.info.update(num_labels=num_labels, labels=labels)
      if files.multi_label:
        self._multi_label = True
        threshold = args.multi_label_threshold
        if threshold is None:
          threshold = files.multi_label_threshold
        self.info.update(multi_label=True, multi_label_threshold=threshold)
        log.info("multi-label classifier: a sigmoid per label, threshold %g", threshold)

    layers = list(args.pooling_layer)
    uses_layers = self._strategy.uses_encoder_layers
    spec = tf.TensorSpec([None, None], tf.int32)

    @tf.function(input_signature=[spec, spec, spec], jit_compile=True if self._xla else None)
    def forward(input_ids, input_mask, input_type_ids):
      out = encoder(input_ids, input_mask=input_mask, token_type_ids=input_type_ids, training=False)
      if not uses_layers:
        return out["pooled_output"]  # [B, H]
      x = [out["all_encoder_layers"][i] for i in layers]
      return x[0] if len(x) == 1 else tf.concat(x, axis=-1)  # [B, T, H*k]

    self._forward = forward
    # Trace (and with -xla compile) now, not on the first request.
    warmup = np.zeros((1, args.max_seq_len or 8), np.int32)
    self._run(warmup, warmup + 1, warmup)

  @staticmethod
  def _load_head(files, hidden_size):
    """run_classifier's `output_weights` [L, H] and `output_bias` [L]."""
    reader = tf.train.load_checkpoint(files.checkpoint)
    shapes = reader.get_variable_to_shape_map()
    if "output_weights" not in shapes or "output_bias" not in shapes:
      raise ValueError(
        "-pooling_strategy CLASSIFICATION needs a run_classifier checkpoint "
        "(variables output_weights and output_bias); %s has none" % files.checkpoint
      )
    weights = reader.get_tensor("output_weights").astype(np.float32)
    bias = reader.get_tensor("output_bias").astype(np.float32)
    if weights.ndim != 2 or weights.shape[1] != hidden_size or bias.shape != (weights.shape[0],):
      raise ValueError(
        "classifier head shapes %s / %s do not fit hidden size "
        "%d" % (weights.shape, bias.shape, hidden_size)
      )
    return weights, bias

  def _run(self, input_ids, input_mask, input_type_ids) -> np.ndarray:
    """The model on one batch; with -xla, on a padded copy of it."""
    if not self._xla:
      return self._forward(input_ids, input_mask, input_type_ids).numpy()
    b, t = input_ids.shape
    seq = min(-(-t // XLA_SEQ_MULTIPLE) * XLA_SEQ_MULTIPLE, max(t, self.max_position_embeddings))
    padded = [np.zeros((_next_power_of_two(b), seq), np.int32) for _ in range(3)]
    for dst, src in zip(padded, (input_ids, input_mask, input_type_ids)):
      dst[:b, :t] = src
    out = self._forward(*padded).numpy()
    return out[:b, :t] if out.ndim == 3 else out[:b]

  def encode(
    self, input_ids: np.ndarray, input_mask: np.ndarray, input_type_ids: np.ndarray
  ) -> np.ndarray:
    """Runs BERT and pools.

    Args:
      input_ids, input_mask, input_type_ids: int32 [B, T].

    Returns:
      float32 [B, D] (or [B, T, D] for NONE, [B, L] for CLASSIFICATION:
      softmax probabilities, or one sigmoid per label for a multi-label head).
    """
    x = self._run(input_ids, input_mask, input_type_ids)
    if self._strategy.uses_encoder_layers:
      return pooling.pool(self._strategy, x, input_mask)
    if self._strategy == PoolingStrategy.CLASSIFICATION:
      head = pooling.classify_multi_label if self._multi_label else pooling.classify
      return head(x, *self._head)
    return x  # CLS_POOLED

  def classifier_logits(
    self, input_ids: np.ndarray, input_mask: np.ndarray, input_type_ids: np.ndarray
  ) -> np.ndarray:
    """CLASSIFICATION only: the head's float32 [B, L] logits, before softmax or sigmoid."""
    return pooling.head_logits(self._run(input_ids, input_mask, input_type_ids), *self._head)
