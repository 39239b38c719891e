"""Every training path clips by the global norm Google's graph takes.

Google's `create_optimizer` clips `tf.gradients(loss, tvars)` with
`tf.clip_by_global_norm`. The word embeddings are looked up with `tf.gather`,
so their gradient is an `IndexedSlices` whose rows count one by one (a token
that occurs twice adds two rows' squares, not the square of their sum);
with --use_one_hot_embeddings it is dense. The segment embeddings are always
a one-hot matmul: dense. Here every batch repeats tokens and the norm is
far above 1.0, so clipping is active, and the graph face, the TF2 face with
and without the fused kernels and gradient accumulation end with the same
weights and Adam slots. (Mirrored replicas and two workers:
tests/test_distributed.py.)
"""

import numpy as np
import pytest
import tensorflow as tf
from emotion_data import tiny_config

from bert import classifier_model as model_lib
from bert import modeling, optimization
from classifier.trainer import ClassifierRunner

VOCAB_SIZE = 12  # 16 x 10 ids from 11 tokens: every batch repeats tokens.
NUM_LABELS = 3
BATCH, SEQ, STEPS = 16, 10, 3
LEARNING_RATE = 1e-3


def _config():
  return modeling.BertConfig.from_dict(
    tiny_config(
      VOCAB_SIZE,
      hidden_dropout_prob=0.0,
      attention_probs_dropout_prob=0.0,
      classifier_dropout=0.0,
    )
  )


def _features(seed=0):
  rng = np.random.RandomState(seed)
  ids = rng.randint(1, VOCAB_SIZE, size=(BATCH * STEPS, SEQ)).astype(np.int32)
  mask = np.ones_like(ids)
  mask[::3, 7:] = 0
  return {
    "input_ids": ids * mask,
    "input_mask": mask,
    "segment_ids": (np.arange(SEQ)[None] >= 4).astype(np.int32) * mask,
    "label_ids": rng.randint(0, NUM_LABELS, size=BATCH * STEPS).astype(np.int32),
  }


@pytest.fixture(scope="module")
def initial():
  """Start weights: a head 100 times Google's scale, so that the gradient norm is about 13."""
  tf.random.set_seed(0)
  weights = {
    n: v.numpy() for n, v in model_lib.BertClassifier(_config(), 3).variables_by_name.items()
  }
  weights["output_weights"] = 2.0 * np.random.RandomState(1).randn(NUM_LABELS, 32).astype(
    np.float32
  )
  return weights


def _graph_face(initial, use_one_hot):
  """Google's graph: create_model + create_optimizer, fed the batches in order."""
  features = _features()
  graph = tf.Graph()
  with graph.as_default():
    inputs = {
      name: tf.compat.v1.placeholder(tf.int32, [BATCH] + ([SEQ] if name != "label_ids" else []))
      for name in features
    }
    loss, _, _, _ = model_lib.create_model(
      _config(),
      True,
      inputs["input_ids"],
      inputs["input_mask"],
      inputs["segment_ids"],
      inputs["label_ids"],
      NUM_LABELS,
      use_one_hot,
    )
    train_op = optimization.create_optimizer(loss, LEARNING_RATE, 10, 0, use_tpu=False)
    variables = {v.name[:-2]: v for v in tf.compat.v1.global_variables()}
    loads = [variables[n].assign(value) for n, value in initial.items()]
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run(loads)
      for step in range(STEPS):
        rows = slice(step * BATCH, (step + 1) * BATCH)
        sess.run(train_op, {inputs[n]: features[n][rows] for n in features})
      return sess.run(variables)


def _tf2_face(initial, use_one_hot, fused, accumulation_steps=1):
  runner = ClassifierRunner(
    _config(), NUM_LABELS, "unused", use_one_hot_embeddings=use_one_hot, fused_kernels=fused
  )
  for name, variable in runner.model.variables_by_name.items():
    variable.assign(initial[name])
  runner.create_optimizer(LEARNING_RATE, 10, 0)
  dataset = tf.data.Dataset.from_tensor_slices(_features()).batch(BATCH // accumulation_steps)
  runner.train_loop_fn(accumulation_steps)(iter(dataset), tf.constant(STEPS))
  return {n: v.numpy() for n, v in runner._checkpoint_variables().items()}


def _largest_difference(got, want):
  assert sorted(got) == sorted(want)
  return max(float(np.max(np.abs(got[n].astype(np.float64) - want[n]))) for n in want)


def test_graph_gradients_are_shaped_as_googles():
  """A gather's sparse gradient for the words (dense one-hot ones with
  --use_one_hot_embeddings), a dense one for the segments."""
  features = _features()
  for use_one_hot in (False, True):
    with tf.Graph().as_default():
      loss, _, _, _ = model_lib.create_model(
        _config(),
        True,
        tf.constant(features["input_ids"]),
        tf.constant(features["input_mask"]),
        tf.constant(features["segment_ids"]),
        tf.constant(features["label_ids"]),
        NUM_LABELS,
        use_one_hot,
      )
      tvars = tf.compat.v1.trainable_variables()
      grads = dict(zip([v.name[:-2] for v in tvars], tf.gradients(loss, tvars)))
    sparse = sorted(n for n, g in grads.items() if isinstance(g, tf.IndexedSlices))
    assert sparse == ([] if use_one_hot else ["bert/embeddings/word_embeddings"])


def test_the_first_batch_repeats_tokens_and_its_norm_is_far_above_one(initial):
  features = _features()
  first = features["input_ids"][:BATCH][features["input_mask"][:BATCH] == 1]
  assert np.bincount(first).max() >= 10
  model = model_lib.BertClassifier(_config(), NUM_LABELS)
  for name, variable in model.variables_by_name.items():
    variable.assign(initial[name])
  with tf.GradientTape() as tape:
    loss = model(*(features[n][:BATCH] for n in features), training=True)[0]
  grads = tape.gradient(loss, list(model.variables_by_name.values()))
  sparse_norm = np.sqrt(sum(float(optimization.squared_norm(g)) for g in grads))
  dense_norm = np.sqrt(sum(float(tf.reduce_sum(tf.convert_to_tensor(g) ** 2)) for g in grads))
  assert sparse_norm > 10.0
  assert abs(sparse_norm - dense_norm) > 0.1  # Repeated rows: summing them first changes it.


@pytest.mark.parametrize("use_one_hot", [False, True], ids=["gather", "one_hot"])
def test_every_path_ends_with_the_graph_faces_weights_and_slots(initial, use_one_hot):
  want = _graph_face(initial, use_one_hot)
  assert int(want["global_step"]) == STEPS
  moved = max(float(np.max(np.abs(want[n] - initial[n]))) for n in initial)
  assert moved > 2e-3
  paths = {
    "TF2 face": _tf2_face(initial, use_one_hot, fused=False),
    "fused kernels": _tf2_face(initial, use_one_hot, fused=True),
    "accumulation 4 x 4": _tf2_face(initial, use_one_hot, fused=True, accumulation_steps=4),
    "accumulation, unfused": _tf2_face(initial, use_one_hot, fused=False, accumulation_steps=2),
  }
  worst = {path: _largest_difference(got, want) for path, got in paths.items()}
  assert max(worst.values()) < 1e-6, worst


def test_the_rule_follows_use_one_hot_embeddings(initial):
  """The two rules give measurably different slots here, so the test above tells them apart."""
  assert _largest_difference(_graph_face(initial, False), _graph_face(initial, True)) > 1e-5
