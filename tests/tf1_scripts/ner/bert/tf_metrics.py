# coding=utf-8
"""Streaming per-class precision and recall over a confusion matrix, the way
NER forks computed their entity metrics in TF1 (private TensorFlow imports
included)."""

import tensorflow as tf
from tensorflow.python.ops import variable_scope
from tensorflow.python.ops.metrics_impl import _streaming_confusion_matrix


def _counted(name, shape):
  return variable_scope.variable(
    tf.zeros(shape, tf.float64),
    trainable=False,
    collections=[tf.GraphKeys.LOCAL_VARIABLES, tf.GraphKeys.METRIC_VARIABLES],
    name=name,
  )


def precision_recall(labels, predictions, num_classes, pos_indices, weights=None):
  """((precision, update), (recall, update)) over the classes in pos_indices."""
  matrix, update = _streaming_confusion_matrix(labels, predictions, num_classes, weights)
  seen = _counted("updates_seen", [])
  update = tf.group(update, tf.assign_add(seen, 1.0))
  rows = tf.gather(matrix, pos_indices)
  correct = tf.reduce_sum(
    tf.gather(rows, pos_indices, axis=1) * tf.eye(len(pos_indices), dtype=tf.float64)
  )
  predicted = tf.reduce_sum(tf.gather(matrix, pos_indices, axis=1))
  actual = tf.reduce_sum(rows)
  precision = tf.where(predicted > 0, correct / tf.maximum(predicted, 1.0), 0.0)
  recall = tf.where(actual > 0, correct / tf.maximum(actual, 1.0), 0.0)
  return (precision, update), (recall, update)
