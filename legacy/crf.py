"""`tf.contrib.crf`: a linear-chain conditional random field, as TF1 defined it.

Shapes: `inputs` (unary potentials) [B, T, N] for B sequences of up to T
steps over N tags, `tag_indices` [B, T], `sequence_lengths` [B],
`transition_params` [N, N] where entry (i, j) scores tag j following tag i.

The score of a tag sequence y of length L is
`sum_t inputs[t, y_t] + sum_{t>=1} transition[y_{t-1}, y_t]`; the
normaliser `log Z` is the log-sum-exp of the scores of all N**L sequences,
computed by the forward recursion
`alpha_t(j) = inputs[t, j] + logsumexp_i(alpha_{t-1}(i) + transition[i, j])`.
Steps at or past a sequence's length do not count; a sequence of length 0
scores 0 and has `log Z` = 0. `crf_decode` (graph) and `viterbi_decode`
(NumPy) find the best sequence with the max-product version of the same
recursion; tags past a sequence's length come out as 0.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1


def _mask(sequence_lengths, max_length, dtype):
  return tf.sequence_mask(sequence_lengths, max_length, dtype=dtype)


def crf_unary_score(tag_indices, sequence_lengths, inputs):
  """[B]: the sum of each sequence's unary potentials at its tags."""
  tag_indices = tf.cast(tag_indices, tf.int32)
  picked = tf.gather(inputs, tag_indices, batch_dims=2)  # [B, T]
  mask = _mask(sequence_lengths, tf.shape(inputs)[1], picked.dtype)
  return tf.reduce_sum(picked * mask, axis=1)


def crf_binary_score(tag_indices, sequence_lengths, transition_params):
  """[B]: the sum of the transition scores between each sequence's consecutive tags."""
  tag_indices = tf.cast(tag_indices, tf.int32)
  num_tags = tf.shape(transition_params)[0]
  pairs = tag_indices[:, :-1] * num_tags + tag_indices[:, 1:]  # [B, T-1]
  scores = tf.gather(tf.reshape(transition_params, [-1]), pairs)
  # Pair (t-1, t) counts when step t is inside the sequence.
  mask = _mask(sequence_lengths, tf.shape(tag_indices)[1], scores.dtype)[:, 1:]
  return tf.reduce_sum(scores * mask, axis=1)


def crf_sequence_score(inputs, tag_indices, sequence_lengths, transition_params):
  """[B]: the unnormalised score of each tag sequence."""
  return crf_unary_score(tag_indices, sequence_lengths, inputs) + crf_binary_score(
    tag_indices, sequence_lengths, transition_params
  )


def _time_major_steps(inputs):
  """inputs [B, T, N] -> (first step [B, N], later steps [T-1, B, N], their indices 1..T-1)."""
  later = tf.transpose(inputs[:, 1:], [1, 0, 2])
  steps = tf.range(1, tf.shape(inputs)[1])
  return inputs[:, 0], later, steps


def crf_log_norm(inputs, sequence_lengths, transition_params):
  """[B]: log Z, the log-sum-exp of the scores of all tag sequences."""
  first, later, steps = _time_major_steps(inputs)
  lengths = tf.cast(sequence_lengths, tf.int32)

  def forward(alpha, step):
    potentials, t = step
    new = potentials + tf.reduce_logsumexp(alpha[:, :, None] + transition_params[None], axis=1)
    return tf.where((t < lengths)[:, None], new, alpha)

  alpha = tf.foldl(forward, (later, steps), initializer=first)
  log_norm = tf.reduce_logsumexp(alpha, axis=1)
  return tf.where(lengths <= 0, tf.zeros_like(log_norm), log_norm)


def crf_log_likelihood(inputs, tag_indices, sequence_lengths, transition_params=None):
  """(log-likelihood [B] of the tag sequences, transition_params).

  Without `transition_params` a variable `transitions` [N, N] is made in the
  current variable scope (TF1's name and initializer).
  """
  num_tags = inputs.shape[2]
  if transition_params is None:
    transition_params = v1.get_variable("transitions", [num_tags, num_tags])
  score = crf_sequence_score(inputs, tag_indices, sequence_lengths, transition_params)
  return score - crf_log_norm(inputs, sequence_lengths, transition_params), transition_params


def crf_decode(potentials, transition_params, sequence_length):
  """(best tags [B, T] int32, their scores [B]) by Viterbi, in the graph."""
  first, later, steps = _time_major_steps(potentials)
  lengths = tf.cast(sequence_length, tf.int32)
  num_tags = tf.shape(potentials)[2]
  identity = tf.tile(tf.range(num_tags)[None], [tf.shape(potentials)[0], 1])

  def forward(carry, step):
    best, _ = carry
    unary, t = step
    candidates = best[:, :, None] + transition_params[None]  # [B, from, to]
    inside = (t < lengths)[:, None]
    new_best = tf.where(inside, unary + tf.reduce_max(candidates, axis=1), best)
    # Past the end a tag points to itself, so the backtrack stays on the last tag.
    pointers = tf.where(inside, tf.argmax(candidates, axis=1, output_type=tf.int32), identity)
    return new_best, pointers

  best, pointers = tf.scan(forward, (later, steps), initializer=(first, identity))
  # [B, N] after each sequence's last step (frozen past it); just `first` when T is 1.
  last_scores = tf.concat([first[None], best], axis=0)[-1]
  last_tag = tf.argmax(last_scores, axis=1, output_type=tf.int32)

  def backward(tag, step_pointers):
    return tf.gather(step_pointers, tag, batch_dims=1)

  earlier = tf.scan(backward, pointers, initializer=last_tag, reverse=True)  # [T-1, B]
  tags = tf.concat([tf.transpose(earlier), last_tag[:, None]], axis=1)  # [B, T]
  tags = tf.where(_mask(lengths, tf.shape(potentials)[1], tf.bool), tags, tf.zeros_like(tags))
  return tags, tf.reduce_max(last_scores, axis=1)


def viterbi_decode(score, transition_params):
  """(best tag list, its score) of one sequence: `score` [T, N] NumPy, outside the graph."""
  score = np.asarray(score)
  transition_params = np.asarray(transition_params)
  best = score[0]
  pointers = []
  for unary in score[1:]:
    candidates = best[:, None] + transition_params
    pointers.append(np.argmax(candidates, axis=0))
    best = unary + np.max(candidates, axis=0)
  tags = [int(np.argmax(best))]
  for step_pointers in reversed(pointers):
    tags.append(int(step_pointers[tags[-1]]))
  tags.reverse()
  return tags, float(np.max(best))
