# coding=utf-8
"""A fork's own BERT, rewritten in plain TF1 layers and changed: `pooling`
("first" as Google's, or "mean" over the real tokens) and `num_layers_used`.

Variables keep Google's checkpoint names, with tf.contrib.layers.layer_norm
for `.../LayerNorm/{beta,gamma}` and tf.layers.dense for `.../kernel|bias`,
so Google's checkpoints load into it.
"""

import json
import math

import tensorflow as tf


class Config(object):
  def __init__(self, values):
    self.__dict__.update(values)

  @classmethod
  def from_json_file(cls, path):
    with tf.gfile.GFile(path, "r") as f:
      return cls(json.load(f))


def init(config):
  return tf.truncated_normal_initializer(stddev=config.initializer_range)


def norm(x):
  return tf.contrib.layers.layer_norm(x, begin_norm_axis=-1, begin_params_axis=-1)


def gelu(x):
  return 0.5 * x * (1.0 + tf.erf(x / math.sqrt(2.0)))


def attention(config, x, bias, batch, length):
  heads, width = config.num_attention_heads, config.hidden_size // config.num_attention_heads

  def split(t):
    return tf.transpose(tf.reshape(t, [batch, length, heads, width]), [0, 2, 1, 3])

  with tf.variable_scope("self"):
    q = split(tf.layers.dense(x, config.hidden_size, name="query", kernel_initializer=init(config)))
    k = split(tf.layers.dense(x, config.hidden_size, name="key", kernel_initializer=init(config)))
    v = split(tf.layers.dense(x, config.hidden_size, name="value", kernel_initializer=init(config)))
    weights = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / math.sqrt(width) + bias)
    context = tf.reshape(
      tf.transpose(tf.matmul(weights, v), [0, 2, 1, 3]), [batch, length, config.hidden_size]
    )
  with tf.variable_scope("output"):
    out = tf.layers.dense(
      context, config.hidden_size, name="dense", kernel_initializer=init(config)
    )
    return norm(out + x)


class Encoder(object):
  """Embeddings, `num_layers_used` transformer layers (all by default), a pooled vector."""

  def __init__(
    self, config, input_ids, input_mask, segment_ids, pooling="first", num_layers_used=None
  ):
    batch, length = tf.shape(input_ids)[0], tf.shape(input_ids)[1]
    with tf.variable_scope("bert"):
      with tf.variable_scope("embeddings"):
        words = tf.get_variable(
          "word_embeddings", [config.vocab_size, config.hidden_size], initializer=init(config)
        )
        types = tf.get_variable(
          "token_type_embeddings",
          [config.type_vocab_size, config.hidden_size],
          initializer=init(config),
        )
        positions = tf.get_variable(
          "position_embeddings",
          [config.max_position_embeddings, config.hidden_size],
          initializer=init(config),
        )
        x = tf.gather(words, input_ids) + tf.gather(types, segment_ids) + positions[None, :length]
        x = norm(x)
      bias = (1.0 - tf.cast(input_mask[:, None, None, :], tf.float32)) * -10000.0
      with tf.variable_scope("encoder"):
        for i in range(num_layers_used or config.num_hidden_layers):
          with tf.variable_scope("layer_%d" % i):
            with tf.variable_scope("attention"):
              x = attention(config, x, bias, batch, length)
            with tf.variable_scope("intermediate"):
              h = tf.layers.dense(
                x,
                config.intermediate_size,
                activation=gelu,
                name="dense",
                kernel_initializer=init(config),
              )
            with tf.variable_scope("output"):
              x = norm(
                tf.layers.dense(
                  h, config.hidden_size, name="dense", kernel_initializer=init(config)
                )
                + x
              )
      self.sequence_output = x
      with tf.variable_scope("pooler"):
        if pooling == "mean":
          mask = tf.cast(input_mask, tf.float32)[:, :, None]
          first = tf.reduce_sum(x * mask, axis=1) / tf.reduce_sum(mask, axis=1)
        else:
          first = x[:, 0]
        self.pooled_output = tf.layers.dense(
          first,
          config.hidden_size,
          activation=tf.tanh,
          name="dense",
          kernel_initializer=init(config),
        )
