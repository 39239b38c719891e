"""The classification head on BERT: Google's `create_model`, both faces.

Head: `output_weights` [num_labels, hidden] (truncated normal 0.02, hard-coded
as Google's), `output_bias` [num_labels] (zeros), dropout on the pooled output
in training (`head_dropout`: Google's fixed 0.1 unless bert_config.json sets
`classifier_dropout`), `logits = pooled @ output_weights^T + output_bias`,
softmax probabilities and the mean cross-entropy loss. `load_classifier` fills
it (or the bare encoder) from a checkpoint.
"""

from __future__ import annotations

import collections

import tensorflow as tf

from bert import checkpoint as ckpt_lib
from bert import modeling
from bert.model_config import HEAD_DROPOUT, head_dropout

HEAD_INITIALIZER_RANGE = 0.02


def _logits(features, output_weights, output_bias):
  """The linear layer: [batch_size, num_labels] scores of the pooled features."""
  return tf.nn.bias_add(tf.matmul(features, output_weights, transpose_b=True), output_bias)


def _scores(features, output_weights, output_bias):
  """The linear layer's logits and their softmax, both [batch_size, num_labels]."""
  logits = _logits(features, output_weights, output_bias)
  return logits, tf.nn.softmax(logits, axis=-1)


def _dropped_out(features, is_training: bool, rate: float):
  """`features` after the head's dropout at `rate` when training, else as they are."""
  return tf.nn.dropout(features, rate=rate) if is_training and rate else features


def _cross_entropy(logits, labels, num_labels: int):
  """Minus the log-probability each example gives its gold label: [batch_size]."""
  log_likelihoods = tf.nn.log_softmax(logits, axis=-1)
  gold = tf.one_hot(labels, depth=num_labels, dtype=tf.float32)
  return -tf.reduce_sum(gold * log_likelihoods, axis=-1)


def classifier_outputs(
  output_layer: tf.Tensor,
  output_weights: tf.Tensor,
  output_bias: tf.Tensor,
  labels: tf.Tensor,
  num_labels: int,
  is_training: bool,
  dropout_rate: float = HEAD_DROPOUT,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
  """(loss, per_example_loss, logits, probabilities) of the head on the pooled output.

  `output_layer` is [batch_size, hidden_size] and `labels` [batch_size] ints; the
  loss is the plain mean over the batch. Dropout (`dropout_rate`) applies only
  when training.
  """
  output_layer = _dropped_out(output_layer, is_training, dropout_rate)
  logits, probabilities = _scores(output_layer, output_weights, output_bias)
  per_example_loss = _cross_entropy(logits, labels, num_labels)
  return tf.reduce_mean(per_example_loss), per_example_loss, logits, probabilities


def multi_label_outputs(
  output_layer: tf.Tensor,
  output_weights: tf.Tensor,
  output_bias: tf.Tensor,
  label_ids: tf.Tensor,
  is_training: bool,
  dropout_rate: float = HEAD_DROPOUT,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
  """The multi-label head: a sigmoid and a binary cross-entropy per label.

  `label_ids` is multi-hot [batch_size, num_labels]. Returns (loss,
  per_example_loss = mean over labels, logits, probabilities = sigmoid(logits)).
  """
  output_layer = _dropped_out(output_layer, is_training, dropout_rate)
  logits = _logits(output_layer, output_weights, output_bias)
  targets = tf.cast(label_ids, tf.float32)
  per_label = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
  per_example_loss = tf.reduce_mean(per_label, axis=-1)
  return tf.reduce_mean(per_example_loss), per_example_loss, logits, tf.sigmoid(logits)


def create_model(
  bert_config: modeling.BertConfig,
  is_training: bool,
  input_ids: tf.Tensor,
  input_mask: tf.Tensor,
  segment_ids: tf.Tensor,
  labels: tf.Tensor,
  num_labels: int,
  use_one_hot_embeddings: bool,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
  """Builds BERT and the head in the current (TF1-style) graph, with Google's signature.

  The head variables are created at the top level, so that their checkpoint names are
  `output_weights` and `output_bias`; the head's ops go under the name scope "loss".
  Returns (loss, per_example_loss, logits, probabilities).
  """
  bert = modeling.BertModel(
    config=bert_config,
    is_training=is_training,
    input_ids=input_ids,
    input_mask=input_mask,
    token_type_ids=segment_ids,
    use_one_hot_embeddings=use_one_hot_embeddings,
  )
  # One label per sequence, read off the pooled [CLS] vector: [batch_size, hidden_size].
  pooled = bert.get_pooled_output()
  output_weights = tf.compat.v1.get_variable(
    "output_weights",
    [num_labels, pooled.shape[-1]],
    initializer=tf.compat.v1.truncated_normal_initializer(stddev=HEAD_INITIALIZER_RANGE),
  )
  output_bias = tf.compat.v1.get_variable(
    "output_bias", [num_labels], initializer=tf.compat.v1.zeros_initializer()
  )
  with tf.compat.v1.variable_scope("loss"):
    return classifier_outputs(
      pooled,
      output_weights,
      output_bias,
      labels,
      num_labels,
      is_training,
      head_dropout(bert_config),
    )


class BertClassifier(tf.Module):
  """BERT encoder + Google's head, for TF2 (eager, tf.function, strategies).

  With a float16 or bfloat16 `compute_dtype` only the encoder runs in it (see
  `modeling.BertEncoder`): its pooled output comes back float32, so the head
  (dropout, logits, softmax, cross-entropy) stays float32, and so do all four
  results. Every variable is float32 in any case.
  """

  def __init__(
    self,
    bert_config: modeling.BertConfig,
    num_labels: int,
    aggregation: tf.VariableAggregation = tf.VariableAggregation.NONE,
    compute_dtype: tf.DType = tf.float32,
    multi_label: bool = False,
    class_weights: list[float] | None = None,
  ) -> None:
    """Creates the encoder's variables, then `output_weights` and `output_bias`.

    `aggregation` goes to every variable (for strategies); `compute_dtype` is the
    encoder's: tf.float32, tf.float16 or tf.bfloat16. `multi_label` makes the
    head a sigmoid per label (`label_ids` multi-hot [batch, num_labels]);
    `class_weights` (single-label only) weight each example's cross-entropy by
    its label's weight in the training loss.
    """
    super().__init__(name=None)
    if multi_label and class_weights is not None:
      raise ValueError("class weights apply to single-label heads")
    self.num_labels = num_labels
    self.multi_label = multi_label
    self.dropout_rate = head_dropout(bert_config)
    self.class_weights = None if class_weights is None else tf.constant(class_weights, tf.float32)
    self.bert = modeling.BertEncoder(
      bert_config, aggregation=aggregation, compute_dtype=compute_dtype
    )
    hidden_size = bert_config.hidden_size
    init = tf.compat.v1.truncated_normal_initializer(stddev=HEAD_INITIALIZER_RANGE)
    with tf.init_scope():
      self.output_weights = tf.Variable(
        init([num_labels, hidden_size], dtype=tf.float32),
        name="output_weights",
        aggregation=aggregation,
      )
      self.output_bias = tf.Variable(
        tf.zeros([num_labels]), name="output_bias", aggregation=aggregation
      )

  @property
  def variables_by_name(self) -> collections.OrderedDict[str, tf.Variable]:
    """Checkpoint name -> trainable variable, in Google's creation order."""
    named = self.bert.variables_by_name
    named["output_weights"] = self.output_weights
    named["output_bias"] = self.output_bias
    return named

  def __call__(self, input_ids, input_mask, segment_ids, label_ids, training: bool = False):
    """(loss, per_example_loss, logits, probabilities), as `create_model`.

    Multi-label: probabilities are per-label sigmoids and `per_example_loss` the
    mean binary cross-entropy over the labels. With class weights, `loss` is
    sum(w[y] * CE) / sum(w[y]) over the batch; `per_example_loss` stays the plain
    cross-entropy (eval_loss is unweighted).
    """
    outputs = self.bert(input_ids, input_mask, segment_ids, training=training)
    pooled = outputs["pooled_output"]
    if self.multi_label:
      return multi_label_outputs(
        pooled, self.output_weights, self.output_bias, label_ids, training, self.dropout_rate
      )
    loss, per_example_loss, logits, probabilities = classifier_outputs(
      pooled,
      self.output_weights,
      self.output_bias,
      label_ids,
      self.num_labels,
      training,
      self.dropout_rate,
    )
    if self.class_weights is not None:
      weights = tf.gather(self.class_weights, label_ids)
      loss = tf.reduce_sum(weights * per_example_loss) / tf.reduce_sum(weights)
    return loss, per_example_loss, logits, probabilities


def load_classifier(
  prefix: str, bert_config: modeling.BertConfig, num_labels: int | None, multi_label: bool = False
):
  """The checkpoint's weights in a new BertClassifier, or BertEncoder when `num_labels` is None.

  Every `bert/*` and `output_*` variable the model has must be in the checkpoint
  (`bert.checkpoint.CheckpointMismatchError` otherwise).
  """
  if num_labels is None:
    model = modeling.BertEncoder(bert_config)
  else:
    model = BertClassifier(bert_config, num_labels, multi_label=multi_label)
  ckpt_lib.load_variables(
    model.variables_by_name,
    prefix,
    required_prefixes=("bert/", "output_"),
    partial_hint="A checkpoint without them cannot be exported.",
  )
  return model
