"""The object that `bert-export-savedmodel` saves: a model, its tokenizer and signatures.

B = batch size, T = sequence length, H = hidden size, L = number of labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from bert import modeling
from bert.classifier_model import BertClassifier
from export.text_graph import TextEncoder

_IDS = tf.TensorSpec([None, None], tf.int32)
_TEXTS = tf.TensorSpec([None], tf.string)


def reduce_mean(layer: tf.Tensor, input_mask: tf.Tensor) -> tf.Tensor:
  """bert-as-service's REDUCE_MEAN: layer [B, T, H] averaged over its unmasked tokens -> [B, H].

  [CLS] and [SEP] count as tokens; 1e-10 keeps an all-masked row finite.
  """
  mask = tf.expand_dims(tf.cast(input_mask, tf.float32), -1)  # [B, T, 1]
  return tf.reduce_sum(layer * mask, axis=1) / (tf.reduce_sum(mask, axis=1) + 1e-10)


class EncoderServingModule(tf.Module):
  """A BERT encoder with the `encode` signature, for TensorFlow Serving.

  Only the tf.functions of the class are saved: a subclass adds the classifier's.
  """

  def __init__(
    self,
    encoder: modeling.BertEncoder,
    text_encoder: TextEncoder,
    pooling_layer: int,
    vocab_file: str,
  ):
    """Wraps a loaded encoder.

    Args:
      encoder: the BERT encoder with its weights.
      text_encoder: the in-graph tokenizer of the model's vocab.
      pooling_layer: the encoder layer that `encode` averages (-1 is the last).
      vocab_file: vocab.txt, shipped in the SavedModel's assets for clients.
    """
    super().__init__(name=None)
    self.encoder = encoder
    self.text_encoder = text_encoder
    self.vocab = tf.saved_model.Asset(vocab_file)
    self._pooling_layer = pooling_layer

  def signatures(self) -> dict:
    """Signature name -> concrete function, for `tf.saved_model.save`."""
    return {"encode": self.encode.get_concrete_function()}

  @tf.function(input_signature=[_TEXTS], autograph=False)
  def encode(self, text) -> dict:
    """Texts [B] -> embeddings [B, H], the REDUCE_MEAN of the pooling layer."""
    features = self.text_encoder.encode(text)
    outputs = self.encoder(features["input_ids"], features["input_mask"], features["segment_ids"])
    layer = outputs["all_encoder_layers"][self._pooling_layer]
    return {"embeddings": reduce_mean(layer, features["input_mask"])}


class ClassifierServingModule(EncoderServingModule):
  """A fine-tuned classifier: `encode` plus `serving_default` (ids), `classify_text` and
  `classify_text_pair`. See `export.savedmodel_export` for their tensors."""

  def __init__(
    self,
    classifier: BertClassifier,
    labels: Sequence[str],
    text_encoder: TextEncoder,
    pooling_layer: int,
    vocab_file: str,
    threshold: float | None = None,
    doc_stride: int = 0,
    window_pooling: str = "mean",
  ):
    """Wraps a loaded classifier whose outputs are named by `labels`.

    A multi-label classifier (sigmoid head) takes the `threshold` at which a
    label is predicted: its `label_ids` are then multi-hot [B, L] and `labels`
    [B, L] holds each predicted label's name ("" for the others).

    A classifier trained with --doc_stride (`doc_stride` > 0) classifies each
    text of the text signatures as run_classifier.py predicts it: cut into its
    windows, whose logits are pooled by `window_pooling` ("mean" or "max")
    before the softmax or sigmoid. `serving_default` takes one row per window
    already made and classifies each row on its own.
    """
    super().__init__(classifier.bert, text_encoder, pooling_layer, vocab_file)
    self.classifier = classifier
    self._labels = tuple(labels)
    self._threshold = threshold
    self._max_positions = classifier.bert.config.max_position_embeddings
    self._doc_stride = int(doc_stride)
    self._window_pooling = window_pooling

  @property
  def labels(self) -> list[str]:
    return list(self._labels)

  def signatures(self) -> dict:
    """Signature name -> concrete function, for `tf.saved_model.save`."""
    found = super().signatures()
    found["serving_default"] = self.classify.get_concrete_function()
    found["classify_text"] = self.classify_text.get_concrete_function()
    found["classify_text_pair"] = self.classify_text_pair.get_concrete_function()
    return found

  @tf.function(input_signature=[_IDS, _IDS, _IDS], autograph=False)
  def classify(self, input_ids, input_mask, segment_ids) -> dict:
    """Ids [B, T] -> probabilities [B, L], label_ids [B] (argmax) and labels [B]."""
    return self._classify(input_ids, input_mask, segment_ids)

  @tf.function(input_signature=[_TEXTS], autograph=False)
  def classify_text(self, text_a) -> dict:
    """Texts [B] -> `classify`'s outputs."""
    return self._classify_texts(text_a, None)

  @tf.function(input_signature=[_TEXTS, _TEXTS], autograph=False)
  def classify_text_pair(self, text_a, text_b) -> dict:
    """Text pairs [B], [B] -> `classify`'s outputs (an empty text_b: a single text)."""
    return self._classify_texts(text_a, text_b)

  def _classify_texts(self, text_a, text_b) -> dict:
    if not self._doc_stride:
      return self._classify(**self.text_encoder.encode(text_a, text_b))
    features = self.text_encoder.encode_windows(text_a, text_b, self._doc_stride)
    example_index = features.pop("example_index")
    logits = self._logits(**features)
    pool = tf.math.segment_max if self._window_pooling == "max" else tf.math.segment_mean
    pooled = pool(tf.cast(logits, tf.float64), example_index)  # windows come in example order
    return self._answer(tf.cast(pooled, tf.float32))

  def _classify(self, input_ids, input_mask, segment_ids) -> dict:
    return self._answer(self._logits(input_ids, input_mask, segment_ids))

  def _logits(self, input_ids, input_mask, segment_ids) -> tf.Tensor:
    """The head's logits [B, L] for rows of ids, after checking their length."""
    fits = tf.debugging.assert_less_equal(
      tf.shape(input_ids)[1],
      self._max_positions,
      message="a sequence may hold at most max_position_embeddings = %d tokens"
      % self._max_positions,
    )
    # Nothing else orders the check before the model, whose own slicing of the position
    # table would otherwise fail first, now and then, with a message that names no limit.
    with tf.control_dependencies([fits]):
      input_ids, input_mask, segment_ids = (
        tf.identity(x) for x in (input_ids, input_mask, segment_ids)
      )
    if self._threshold is not None:  # labels [B, L] only feed the loss
      unused_labels = tf.zeros([tf.shape(input_ids)[0], len(self._labels)], tf.int32)
    else:
      unused_labels = tf.zeros(tf.shape(input_ids)[:1], tf.int32)
    return self.classifier(input_ids, input_mask, segment_ids, unused_labels)[2]

  def _answer(self, logits: tf.Tensor) -> dict:
    """probabilities, label_ids and labels of logits [B, L]."""
    names = tf.constant(self._labels, tf.string)
    if self._threshold is not None:  # Multi-label: a sigmoid per label.
      probabilities = tf.sigmoid(logits)
      predicted = probabilities >= self._threshold
      return {
        "probabilities": probabilities,
        "label_ids": tf.cast(predicted, tf.int32),
        "labels": tf.where(predicted, names, tf.constant("", tf.string)),
      }
    probabilities = tf.nn.softmax(logits)  # over the labels, the last axis
    label_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    return {
      "probabilities": probabilities,
      "label_ids": label_ids,
      "labels": tf.gather(names, label_ids),
    }
