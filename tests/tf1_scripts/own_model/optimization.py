# coding=utf-8
"""This fork's own optimizer: plain Adam with a linear decay (no weight decay)."""

import tensorflow as tf

OWN_OPTIMIZATION = True


def create_optimizer(loss, init_lr, num_train_steps):
  global_step = tf.train.get_or_create_global_step()
  learning_rate = tf.train.polynomial_decay(
    init_lr, global_step, num_train_steps, end_learning_rate=0.0
  )
  return tf.train.AdamOptimizer(learning_rate).minimize(loss, global_step=global_step)
