"""The classification head on BERT: Google's `create_model`, both faces.

Head: `output_weights` [num_labels, hidden] (truncated normal 0.02, hard-coded
as Google's), `output_bias` [num_labels] (zeros), dropout 0.1 on the pooled
output in training, `logits = pooled @ output_weights^T + output_bias`,
softmax probabilities and the mean cross-entropy loss.
"""

from __future__ import annotations

import collections

import tensorflow as tf

from bert import modeling

HEAD_DROPOUT = 0.1
HEAD_INITIALIZER_RANGE = 0.02


def classifier_outputs(output_layer, output_weights, output_bias, labels, num_labels, is_training):
  """(loss, per_example_loss, logits, probabilities) from the pooled output."""
  if is_training:
    # I.e., 0.1 dropout
    output_layer = tf.nn.dropout(output_layer, rate=HEAD_DROPOUT)

  logits = tf.matmul(output_layer, output_weights, transpose_b=True)
  logits = tf.nn.bias_add(logits, output_bias)
  probabilities = tf.nn.softmax(logits, axis=-1)
  log_probs = tf.nn.log_softmax(logits, axis=-1)

  one_hot_labels = tf.one_hot(labels, depth=num_labels, dtype=tf.float32)

  per_example_loss = -tf.reduce_sum(one_hot_labels * log_probs, axis=-1)
  loss = tf.reduce_mean(per_example_loss)

  return (loss, per_example_loss, logits, probabilities)


def create_model(
  bert_config,
  is_training,
  input_ids,
  input_mask,
  segment_ids,
  labels,
  num_labels,
  use_one_hot_embeddings,
):
  """Creates a classification model (graph face, Google's signature)."""
  model = modeling.BertModel(
    config=bert_config,
    is_training=is_training,
    input_ids=input_ids,
    input_mask=input_mask,
    token_type_ids=segment_ids,
    use_one_hot_embeddings=use_one_hot_embeddings,
  )

  # In the demo, we are doing a simple classification task on the entire
  # segment.
  output_layer = model.get_pooled_output()

  hidden_size = output_layer.shape[-1]

  output_weights = tf.compat.v1.get_variable(
    "output_weights",
    [num_labels, hidden_size],
    initializer=tf.compat.v1.truncated_normal_initializer(stddev=HEAD_INITIALIZER_RANGE),
  )

  output_bias = tf.compat.v1.get_variable(
    "output_bias", [num_labels], initializer=tf.compat.v1.zeros_initializer()
  )

  with tf.compat.v1.variable_scope("loss"):
    return classifier_outputs(
      output_layer, output_weights, output_bias, labels, num_labels, is_training
    )


class BertClassifier(tf.Module):
  """BERT encoder + Google's head, for TF2 (eager, tf.function, strategies)."""

  def __init__(
    self, bert_config: modeling.BertConfig, num_labels: int, aggregation=tf.VariableAggregation.NONE
  ):
    super().__init__(name=None)
    self.num_labels = num_labels
    self.bert = modeling.BertEncoder(bert_config, aggregation=aggregation)
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
  def variables_by_name(self) -> "collections.OrderedDict[str, tf.Variable]":
    """Checkpoint name -> trainable variable, in Google's creation order."""
    named = self.bert.variables_by_name
    named["output_weights"] = self.output_weights
    named["output_bias"] = self.output_bias
    return named

  def __call__(self, input_ids, input_mask, segment_ids, label_ids, training: bool = False):
    """(loss, per_example_loss, logits, probabilities), as `create_model`."""
    outputs = self.bert(input_ids, input_mask, segment_ids, training=training)
    return classifier_outputs(
      outputs["pooled_output"],
      self.output_weights,
      self.output_bias,
      label_ids,
      self.num_labels,
      training,
    )
