# coding=utf-8
"""The main BERT model and related functions, on TensorFlow 2.20.

This file keeps the shape and the public functions of Google's `modeling.py`
(google-research/bert), so old code doing `from bert import modeling` keeps
working. The maths is written once and exposed two ways:

* the **legacy graph face**, `BertModel(config, is_training, input_ids, ...)`,
  used inside `tf.compat.v1` graph mode exactly like Google's class; variables
  are created with `tf.compat.v1.get_variable` under `tf.compat.v1.variable_scope`;
* the **TF2 face**, `BertEncoder(config)`, a `tf.Module` usable eagerly, inside
  `tf.function` and under `tf.distribute` strategies.

Both faces create variables through `_get_variable`, so they run the very same
functions (`embedding_lookup`, `attention_layer`, `transformer_model`, ...) and
their variables carry Google's checkpoint names, e.g.
`bert/encoder/layer_0/attention/self/query/kernel`.

Letters used in shape comments: B = batch size, F = `from_tensor` sequence
length, T = `to_tensor` sequence length, N = number of attention heads,
H = size per head (or hidden size where noted), V = vocab size.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import json
import math
import re
import threading
from typing import Iterator

import numpy as np
import tensorflow as tf


class BertConfig(object):
  """Configuration for `BertModel` and `BertEncoder`."""

  def __init__(
    self,
    vocab_size,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    hidden_act="gelu",
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    max_position_embeddings=512,
    type_vocab_size=16,
    initializer_range=0.02,
  ):
    """Constructs BertConfig.

    Args:
      vocab_size: Vocabulary size of `inputs_ids` in `BertModel`.
      hidden_size: Size of the encoder layers and the pooler layer.
      num_hidden_layers: Number of hidden layers in the Transformer encoder.
      num_attention_heads: Number of attention heads for each attention layer.
      intermediate_size: The size of the "intermediate" (feed-forward) layer.
      hidden_act: The non-linear activation function (function or string). The
        string "gelu" is Google's tanh approximation; "gelu_exact" (alias
        "gelu_erf") is the exact erf form used by models trained with it.
      hidden_dropout_prob: Dropout probability for all fully connected layers in
        the embeddings, encoder, and pooler.
      attention_probs_dropout_prob: Dropout ratio for the attention probabilities.
      max_position_embeddings: The maximum sequence length this model might
        ever be used with.
      type_vocab_size: The vocabulary size of the `token_type_ids`.
      initializer_range: Stddev of the truncated_normal_initializer for
        initializing all weight matrices.
    """
    self.vocab_size = vocab_size
    self.hidden_size = hidden_size
    self.num_hidden_layers = num_hidden_layers
    self.num_attention_heads = num_attention_heads
    self.hidden_act = hidden_act
    self.intermediate_size = intermediate_size
    self.hidden_dropout_prob = hidden_dropout_prob
    self.attention_probs_dropout_prob = attention_probs_dropout_prob
    self.max_position_embeddings = max_position_embeddings
    self.type_vocab_size = type_vocab_size
    self.initializer_range = initializer_range

  @classmethod
  def from_dict(cls, json_object: dict) -> "BertConfig":
    """Constructs a `BertConfig` from a Python dictionary of parameters.

    As in Google's code every key is copied, unknown keys included.
    """
    config = BertConfig(vocab_size=None)
    for key, value in json_object.items():
      config.__dict__[key] = value
    return config

  @classmethod
  def from_json_file(cls, json_file: str) -> "BertConfig":
    """Constructs a `BertConfig` from a json file of parameters."""
    if "://" in json_file:
      with tf.io.gfile.GFile(json_file, "r") as reader:
        text = reader.read()
    else:
      with open(json_file, "r", encoding="utf-8") as reader:
        text = reader.read()
    return cls.from_dict(json.loads(text))

  def to_dict(self) -> dict:
    """Serializes this instance to a Python dictionary."""
    return copy.deepcopy(self.__dict__)

  def to_json_string(self) -> str:
    """Serializes this instance to a JSON string."""
    return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


# ---------------------------------------------------------------------------
# Variable creation shared by both faces.
# ---------------------------------------------------------------------------

_ACTIVE_STORE = threading.local()


class _VariableStore(object):
  """Name -> variable map that the TF2 face hands to the shared maths.

  While a store is active (see `_use_store`), `_variable_scope` pushes names on
  the store's own scope stack and `_get_variable` returns the store's variable
  of that full name, creating it only while the store is `creating`.
  """

  def __init__(self, aggregation=tf.VariableAggregation.NONE):
    self.variables: "collections.OrderedDict[str, tf.Variable]" = collections.OrderedDict()
    self.scopes: list[str] = []
    self.creating = False
    self.aggregation = aggregation

  def get(self, name, shape, initializer, dtype):
    full_name = "/".join(self.scopes + [name])
    variable = self.variables.get(full_name)
    if variable is not None:
      if variable.shape.as_list() != list(shape):
        raise ValueError(
          "Variable %s has shape %s, the model asks for %s"
          % (full_name, variable.shape.as_list(), list(shape))
        )
      return variable
    if not self.creating:
      raise KeyError("The model has no variable named %s" % full_name)
    with tf.init_scope():
      variable = tf.Variable(
        initializer(shape, dtype=dtype), name=full_name, dtype=dtype, aggregation=self.aggregation
      )
    self.variables[full_name] = variable
    return variable


@contextlib.contextmanager
def _use_store(store: _VariableStore) -> Iterator[None]:
  previous = getattr(_ACTIVE_STORE, "store", None)
  _ACTIVE_STORE.store = store
  try:
    yield
  finally:
    _ACTIVE_STORE.store = previous


@contextlib.contextmanager
def _variable_scope(name, default_name=None) -> Iterator[None]:
  """`tf.compat.v1.variable_scope` in graph face, a name push in TF2 face."""
  store = getattr(_ACTIVE_STORE, "store", None)
  if store is None:
    with tf.compat.v1.variable_scope(name, default_name=default_name):
      yield
    return
  store.scopes.append(name or default_name)
  try:
    yield
  finally:
    store.scopes.pop()


def _get_variable(name, shape, initializer, dtype=tf.float32):
  """Returns the variable `name` of the current scope, in either face."""
  store = getattr(_ACTIVE_STORE, "store", None)
  if store is None:
    return tf.compat.v1.get_variable(name, shape=shape, initializer=initializer, dtype=dtype)
  return store.get(name, shape, initializer, dtype)


def _current_scope_name() -> str:
  store = getattr(_ACTIVE_STORE, "store", None)
  if store is None:
    return tf.compat.v1.get_variable_scope().name
  return "/".join(store.scopes)


# ---------------------------------------------------------------------------
# The maths (Google's public helpers, one implementation for both faces).
# ---------------------------------------------------------------------------


def _bert_forward(
  config: BertConfig,
  is_training,
  input_ids,
  input_mask,
  token_type_ids,
  use_one_hot_embeddings,
  scope,
):
  """Runs BERT and returns a dict of its outputs (see `BertModel`)."""
  config = copy.deepcopy(config)
  if not is_training:
    config.hidden_dropout_prob = 0.0
    config.attention_probs_dropout_prob = 0.0

  input_shape = get_shape_list(input_ids, expected_rank=2)
  batch_size = input_shape[0]
  seq_length = input_shape[1]

  if input_mask is None:
    input_mask = tf.ones(shape=[batch_size, seq_length], dtype=tf.int32)

  if token_type_ids is None:
    token_type_ids = tf.zeros(shape=[batch_size, seq_length], dtype=tf.int32)

  outputs = {}
  with _variable_scope(scope, default_name="bert"):
    with _variable_scope("embeddings"):
      # Perform embedding lookup on the word ids.
      (embedding_output, embedding_table) = embedding_lookup(
        input_ids=input_ids,
        vocab_size=config.vocab_size,
        embedding_size=config.hidden_size,
        initializer_range=config.initializer_range,
        word_embedding_name="word_embeddings",
        use_one_hot_embeddings=use_one_hot_embeddings,
      )

      # Add positional embeddings and token type embeddings, then layer
      # normalize and perform dropout.
      embedding_output = embedding_postprocessor(
        input_tensor=embedding_output,
        use_token_type=True,
        token_type_ids=token_type_ids,
        token_type_vocab_size=config.type_vocab_size,
        token_type_embedding_name="token_type_embeddings",
        use_position_embeddings=True,
        position_embedding_name="position_embeddings",
        initializer_range=config.initializer_range,
        max_position_embeddings=config.max_position_embeddings,
        dropout_prob=config.hidden_dropout_prob,
      )

    with _variable_scope("encoder"):
      # This converts a 2D mask of shape [batch_size, seq_length] to a 3D
      # mask of shape [batch_size, seq_length, seq_length] which is used
      # for the attention scores.
      attention_mask = create_attention_mask_from_input_mask(input_ids, input_mask)

      all_encoder_layers = transformer_model(
        input_tensor=embedding_output,
        attention_mask=attention_mask,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        intermediate_act_fn=get_activation(config.hidden_act),
        hidden_dropout_prob=config.hidden_dropout_prob,
        attention_probs_dropout_prob=config.attention_probs_dropout_prob,
        initializer_range=config.initializer_range,
        do_return_all_layers=True,
      )

    sequence_output = all_encoder_layers[-1]
    # The "pooler" converts the encoded sequence tensor of shape
    # [batch_size, seq_length, hidden_size] to a tensor of shape
    # [batch_size, hidden_size], from the hidden state of the first token.
    with _variable_scope("pooler"):
      first_token_tensor = tf.squeeze(sequence_output[:, 0:1, :], axis=1)
      pooled_output = dense_layer(
        first_token_tensor,
        config.hidden_size,
        activation=tf.tanh,
        kernel_initializer=create_initializer(config.initializer_range),
      )

  outputs["embedding_output"] = embedding_output
  outputs["embedding_table"] = embedding_table
  outputs["all_encoder_layers"] = all_encoder_layers
  outputs["sequence_output"] = sequence_output
  outputs["pooled_output"] = pooled_output
  return outputs


class BertModel(object):
  """BERT model ("Bidirectional Encoder Representations from Transformers").

  The legacy graph face: use it inside `tf.compat.v1` graph mode exactly as
  Google's class.

  Example usage:

  ```python
  # Already been converted into WordPiece token ids
  input_ids = tf.constant([[31, 51, 99], [15, 5, 0]])
  input_mask = tf.constant([[1, 1, 1], [1, 1, 0]])
  token_type_ids = tf.constant([[0, 0, 1], [0, 2, 0]])

  config = modeling.BertConfig(vocab_size=32000, hidden_size=512,
    num_hidden_layers=8, num_attention_heads=6, intermediate_size=1024)

  model = modeling.BertModel(config=config, is_training=True,
    input_ids=input_ids, input_mask=input_mask, token_type_ids=token_type_ids)

  label_embeddings = tf.compat.v1.get_variable(...)
  pooled_output = model.get_pooled_output()
  logits = tf.matmul(pooled_output, label_embeddings)
  ...
  ```
  """

  def __init__(
    self,
    config,
    is_training,
    input_ids,
    input_mask=None,
    token_type_ids=None,
    use_one_hot_embeddings=False,
    scope=None,
  ):
    """Constructor for BertModel.

    Args:
      config: `BertConfig` instance.
      is_training: bool. true for training model, false for eval model. Controls
        whether dropout will be applied.
      input_ids: int32 Tensor of shape [batch_size, seq_length].
      input_mask: (optional) int32 Tensor of shape [batch_size, seq_length].
      token_type_ids: (optional) int32 Tensor of shape [batch_size, seq_length].
      use_one_hot_embeddings: (optional) bool. Whether to use one-hot word
        embeddings or tf.gather() for the word embeddings.
      scope: (optional) variable scope. Defaults to "bert".

    Raises:
      ValueError: The config is invalid or one of the input tensor shapes
        is invalid.
    """
    outputs = _bert_forward(
      config, is_training, input_ids, input_mask, token_type_ids, use_one_hot_embeddings, scope
    )
    self.embedding_output = outputs["embedding_output"]
    self.embedding_table = outputs["embedding_table"]
    self.all_encoder_layers = outputs["all_encoder_layers"]
    self.sequence_output = outputs["sequence_output"]
    self.pooled_output = outputs["pooled_output"]

  def get_pooled_output(self):
    """float Tensor of shape [batch_size, hidden_size]: the tanh-pooled [CLS]."""
    return self.pooled_output

  def get_sequence_output(self):
    """Gets final hidden layer of encoder.

    Returns:
      float Tensor of shape [batch_size, seq_length, hidden_size] corresponding
      to the final hidden of the transformer encoder.
    """
    return self.sequence_output

  def get_all_encoder_layers(self):
    """List of num_hidden_layers float Tensors [batch_size, seq_length, hidden_size]."""
    return self.all_encoder_layers

  def get_embedding_output(self):
    """Gets output of the embedding lookup (i.e., input to the transformer).

    Returns:
      float Tensor of shape [batch_size, seq_length, hidden_size] corresponding
      to the output of the embedding layer, after summing the word
      embeddings with the positional embeddings and the token type embeddings,
      then performing layer normalization. This is the input to the transformer.
    """
    return self.embedding_output

  def get_embedding_table(self):
    """float Tensor [vocab_size, hidden_size]: the word embedding table."""
    return self.embedding_table


class BertEncoder(tf.Module):
  """BERT for TensorFlow 2 (the TF2 face): eager, `tf.function`, `tf.distribute`.

  The variables are created at construction (inside the caller's strategy
  scope, if any) with Google's names, in Google's creation order:
  `bert/embeddings/word_embeddings`, ..., `bert/pooler/dense/bias`.

  Calling it returns a dict with the same tensors as `BertModel`'s getters:
  "embedding_output", "all_encoder_layers", "sequence_output",
  "pooled_output" and "embedding_table".
  """

  def __init__(
    self,
    config: BertConfig,
    scope: str = "bert",
    use_one_hot_embeddings: bool = False,
    aggregation=tf.VariableAggregation.NONE,
  ):
    """Builds the variables of a BERT encoder.

    Args:
      config: `BertConfig` instance.
      scope: the name prefix of every variable (Google's default "bert").
      use_one_hot_embeddings: one-hot matmul instead of gather for word ids.
      aggregation: `tf.VariableAggregation` of the variables (for replica
        context updates under a distribution strategy).
    """
    super().__init__(name=None)
    self.config = copy.deepcopy(config)
    self.scope = scope
    self.use_one_hot_embeddings = use_one_hot_embeddings
    self._store = _VariableStore(aggregation=aggregation)
    self._store.creating = True
    dummy = tf.constant([[0, 0]], dtype=tf.int32)
    with _use_store(self._store):
      _bert_forward(self.config, False, dummy, None, None, use_one_hot_embeddings, scope)
    self._store.creating = False
    # A list keeps Google's creation order for `tf.Module.variables`.
    self._ordered_variables = list(self._store.variables.values())

  @property
  def variables_by_name(self) -> "collections.OrderedDict[str, tf.Variable]":
    """Checkpoint name -> variable, in Google's creation order."""
    return collections.OrderedDict(self._store.variables)

  def __call__(
    self, input_ids, input_mask=None, token_type_ids=None, training: bool = False
  ) -> dict:
    """Runs the encoder.

    Args:
      input_ids: int32 Tensor [batch_size, seq_length].
      input_mask: (optional) int32 Tensor [batch_size, seq_length].
      token_type_ids: (optional) int32 Tensor [batch_size, seq_length].
      training: apply dropout when True.

    Returns:
      dict of output tensors, as described in the class docstring.
    """
    input_ids = tf.convert_to_tensor(input_ids, dtype=tf.int32)
    if input_mask is not None:
      input_mask = tf.convert_to_tensor(input_mask, dtype=tf.int32)
    if token_type_ids is not None:
      token_type_ids = tf.convert_to_tensor(token_type_ids, dtype=tf.int32)
    with _use_store(self._store):
      return _bert_forward(
        self.config,
        training,
        input_ids,
        input_mask,
        token_type_ids,
        self.use_one_hot_embeddings,
        self.scope,
      )


def gelu(x):
  """Gaussian Error Linear Unit, Google's tanh approximation.

  Original paper: https://arxiv.org/abs/1606.08415
  Args:
    x: float Tensor to perform activation.

  Returns:
    `x` with the GELU activation applied.
  """
  cdf = 0.5 * (1.0 + tf.tanh((np.sqrt(2 / np.pi) * (x + 0.044715 * tf.pow(x, 3)))))
  return x * cdf


def gelu_exact(x):
  """The exact GELU, `0.5 * x * (1 + erf(x / sqrt(2)))`."""
  return 0.5 * x * (1.0 + tf.math.erf(x / math.sqrt(2.0)))


_EXACT_GELU_NAMES = ("gelu_exact", "gelu_erf")
_TANH_GELU_NAMES = ("gelu", "gelu_new", "gelu_tanh", "gelu_pytorch_tanh")


def get_activation(activation_string):
  """Maps a string to a Python function, e.g., "relu" => `tf.nn.relu`.

  Args:
    activation_string: String name of the activation function. "gelu" is
      Google's tanh approximation; "gelu_exact"/"gelu_erf" the exact erf form.

  Returns:
    A Python function corresponding to the activation function. If
    `activation_string` is None, empty, or "linear", this will return None.
    If `activation_string` is not a string, it will return `activation_string`.

  Raises:
    ValueError: The `activation_string` does not correspond to a known
      activation.
  """

  # We assume that anything that"s not a string is already an activation
  # function, so we just return it.
  if not isinstance(activation_string, str):
    return activation_string

  if not activation_string:
    return None

  act = activation_string.lower()
  if act == "linear":
    return None
  elif act == "relu":
    return tf.nn.relu
  elif act in _TANH_GELU_NAMES:
    return gelu
  elif act in _EXACT_GELU_NAMES:
    return gelu_exact
  elif act == "tanh":
    return tf.tanh
  else:
    raise ValueError("Unsupported activation: %s" % act)


def get_assignment_map_from_checkpoint(tvars, init_checkpoint):
  """Compute the union of the current variables and checkpoint variables.

  Returns:
    (OrderedDict assignment_map name -> name, dict initialized_variable_names
    holding both `name` and `name:0`), as Google's.
  """
  initialized_variable_names = {}

  name_to_variable = collections.OrderedDict()
  for var in tvars:
    name = var.name
    m = re.match("^(.*):\\d+$", name)
    if m is not None:
      name = m.group(1)
    name_to_variable[name] = var

  init_vars = tf.train.list_variables(init_checkpoint)

  assignment_map = collections.OrderedDict()
  for x in init_vars:
    (name, var) = (x[0], x[1])
    if name not in name_to_variable:
      continue
    assignment_map[name] = name
    initialized_variable_names[name] = 1
    initialized_variable_names[name + ":0"] = 1

  return (assignment_map, initialized_variable_names)


def dropout(input_tensor, dropout_prob):
  """Perform dropout.

  Args:
    input_tensor: float Tensor.
    dropout_prob: Python float. The probability of dropping out a value (NOT of
      *keeping* a dimension as in `tf.nn.dropout`).

  Returns:
    A version of `input_tensor` with dropout applied.
  """
  if dropout_prob is None or dropout_prob == 0.0:
    return input_tensor

  return tf.nn.dropout(input_tensor, rate=dropout_prob)


LAYER_NORM_EPSILON = 1e-12


def layer_norm(input_tensor, name=None):
  """Run layer normalization on the last dimension of the tensor.

  Variables `<name or "LayerNorm">/beta` (zeros) and `/gamma` (ones), epsilon
  1e-12, biased variance: `(x - mean) / sqrt(var + eps) * gamma + beta`.
  """
  params_shape = [get_shape_list(input_tensor)[-1]]
  with _variable_scope(name, default_name="LayerNorm"):
    beta = _get_variable("beta", params_shape, tf.compat.v1.zeros_initializer())
    gamma = _get_variable("gamma", params_shape, tf.compat.v1.ones_initializer())
  mean, variance = tf.nn.moments(input_tensor, axes=[-1], keepdims=True)
  inv = tf.math.rsqrt(variance + LAYER_NORM_EPSILON) * gamma
  return input_tensor * inv + (beta - mean * inv)


def layer_norm_and_dropout(input_tensor, dropout_prob, name=None):
  """Runs layer normalization followed by dropout."""
  output_tensor = layer_norm(input_tensor, name)
  output_tensor = dropout(output_tensor, dropout_prob)
  return output_tensor


def create_initializer(initializer_range=0.02):
  """Creates a `truncated_normal_initializer` with the given range."""
  return tf.compat.v1.truncated_normal_initializer(stddev=initializer_range)


def dense_layer(input_tensor, units, activation=None, kernel_initializer=None, name=None):
  """`tf.layers.dense` for both faces: variables `<name or dense>/kernel|bias`.

  Args:
    input_tensor: float Tensor [..., in].
    units: output width.
    activation: optional activation function.
    kernel_initializer: initializer of the [in, units] kernel.
    name: variable scope name (default "dense", as tf.layers.dense).

  Returns:
    float Tensor [..., units].
  """
  input_width = get_shape_list(input_tensor)[-1]
  if kernel_initializer is None:
    kernel_initializer = tf.compat.v1.glorot_uniform_initializer()
  with _variable_scope(name, default_name="dense"):
    kernel = _get_variable("kernel", [input_width, units], kernel_initializer)
    bias = _get_variable("bias", [units], tf.compat.v1.zeros_initializer())
  if input_tensor.shape.rank == 2:
    output = tf.matmul(input_tensor, kernel)
  else:
    output = tf.tensordot(input_tensor, kernel, [[-1], [0]])
  output = tf.nn.bias_add(output, bias)
  if activation is not None:
    output = activation(output)
  return output


def embedding_lookup(
  input_ids,
  vocab_size,
  embedding_size=128,
  initializer_range=0.02,
  word_embedding_name="word_embeddings",
  use_one_hot_embeddings=False,
):
  """Looks up words embeddings for id tensor.

  Args:
    input_ids: int32 Tensor of shape [batch_size, seq_length] containing word
      ids.
    vocab_size: int. Size of the embedding vocabulary.
    embedding_size: int. Width of the word embeddings.
    initializer_range: float. Embedding initialization range.
    word_embedding_name: string. Name of the embedding table.
    use_one_hot_embeddings: bool. If True, use one-hot method for word
      embeddings. If False, use `tf.gather()`.

  Returns:
    float Tensor of shape [batch_size, seq_length, embedding_size].
  """
  # This function assumes that the input is of shape [batch_size, seq_length,
  # num_inputs].
  #
  # If the input is a 2D tensor of shape [batch_size, seq_length], we
  # reshape to [batch_size, seq_length, 1].
  if input_ids.shape.ndims == 2:
    input_ids = tf.expand_dims(input_ids, axis=[-1])

  embedding_table = _get_variable(
    word_embedding_name, [vocab_size, embedding_size], create_initializer(initializer_range)
  )

  flat_input_ids = tf.reshape(input_ids, [-1])
  if use_one_hot_embeddings:
    one_hot_input_ids = tf.one_hot(flat_input_ids, depth=vocab_size)
    output = tf.matmul(one_hot_input_ids, embedding_table)
  else:
    output = tf.gather(embedding_table, flat_input_ids)

  input_shape = get_shape_list(input_ids)

  output = tf.reshape(output, input_shape[0:-1] + [input_shape[-1] * embedding_size])
  return (output, embedding_table)


def embedding_postprocessor(
  input_tensor,
  use_token_type=False,
  token_type_ids=None,
  token_type_vocab_size=16,
  token_type_embedding_name="token_type_embeddings",
  use_position_embeddings=True,
  position_embedding_name="position_embeddings",
  initializer_range=0.02,
  max_position_embeddings=512,
  dropout_prob=0.1,
):
  """Performs various post-processing on a word embedding tensor.

  Args:
    input_tensor: float Tensor of shape [batch_size, seq_length,
      embedding_size].
    use_token_type: bool. Whether to add embeddings for `token_type_ids`.
    token_type_ids: (optional) int32 Tensor of shape [batch_size, seq_length].
      Must be specified if `use_token_type` is True.
    token_type_vocab_size: int. The vocabulary size of `token_type_ids`.
    token_type_embedding_name: string. The name of the embedding table variable
      for token type ids.
    use_position_embeddings: bool. Whether to add position embeddings for the
      position of each token in the sequence.
    position_embedding_name: string. The name of the embedding table variable
      for positional embeddings.
    initializer_range: float. Range of the weight initialization.
    max_position_embeddings: int. Maximum sequence length that might ever be
      used with this model. This can be longer than the sequence length of
      input_tensor, but cannot be shorter.
    dropout_prob: float. Dropout probability applied to the final output tensor.

  Returns:
    float tensor with same shape as `input_tensor`.

  Raises:
    ValueError: One of the tensor shapes or input values is invalid.
  """
  input_shape = get_shape_list(input_tensor, expected_rank=3)
  seq_length = input_shape[1]
  width = input_shape[2]

  output = input_tensor

  if use_token_type:
    if token_type_ids is None:
      raise ValueError("`token_type_ids` must be specified if`use_token_type` is True.")
    token_type_table = _get_variable(
      token_type_embedding_name,
      [token_type_vocab_size, width],
      create_initializer(initializer_range),
    )
    # Google multiplies a one-hot matrix by the table; a gather selects the
    # very same rows (x*1 + 0 is exact), and is cheaper.
    token_type_embeddings = tf.gather(token_type_table, token_type_ids)
    output += token_type_embeddings

  if use_position_embeddings:
    full_position_embeddings = _get_variable(
      position_embedding_name,
      [max_position_embeddings, width],
      create_initializer(initializer_range),
    )
    if isinstance(seq_length, int) and seq_length > max_position_embeddings:
      raise ValueError(
        "Sequence length %d is longer than max_position_embeddings %d"
        % (seq_length, max_position_embeddings)
      )
    # Since the position embedding table is a learned variable, we create it
    # using a (long) sequence length `max_position_embeddings`. The actual
    # sequence length might be shorter than this, for faster training of
    # tasks that do not have long sequences.
    position_embeddings = tf.slice(full_position_embeddings, [0, 0], [seq_length, -1])
    output += tf.expand_dims(position_embeddings, 0)

  output = layer_norm_and_dropout(output, dropout_prob)
  return output


def create_attention_mask_from_input_mask(from_tensor, to_mask):
  """Create 3D attention mask from a 2D tensor mask.

  Args:
    from_tensor: 2D or 3D Tensor of shape [batch_size, from_seq_length, ...].
    to_mask: int32 Tensor of shape [batch_size, to_seq_length].

  Returns:
    float Tensor of shape [batch_size, from_seq_length, to_seq_length].
  """
  from_shape = get_shape_list(from_tensor, expected_rank=[2, 3])
  batch_size = from_shape[0]
  from_seq_length = from_shape[1]

  to_shape = get_shape_list(to_mask, expected_rank=2)
  to_seq_length = to_shape[1]

  to_mask = tf.cast(tf.reshape(to_mask, [batch_size, 1, to_seq_length]), tf.float32)

  # We don't assume that `from_tensor` is a mask (although it could be). We
  # don't actually care if we attend *from* padding tokens (only *to* padding)
  # tokens so we create a tensor of all ones.
  #
  # `broadcast_ones` = [batch_size, from_seq_length, 1]
  broadcast_ones = tf.ones(shape=[batch_size, from_seq_length, 1], dtype=tf.float32)

  # Here we broadcast along two dimensions to create the mask.
  mask = broadcast_ones * to_mask

  return mask


def attention_layer(
  from_tensor,
  to_tensor,
  attention_mask=None,
  num_attention_heads=1,
  size_per_head=512,
  query_act=None,
  key_act=None,
  value_act=None,
  attention_probs_dropout_prob=0.0,
  initializer_range=0.02,
  do_return_2d_tensor=False,
  batch_size=None,
  from_seq_length=None,
  to_seq_length=None,
):
  """Performs multi-headed attention from `from_tensor` to `to_tensor`.

  Args:
    from_tensor: float Tensor of shape [batch_size, from_seq_length,
      from_width].
    to_tensor: float Tensor of shape [batch_size, to_seq_length, to_width].
    attention_mask: (optional) int32 Tensor of shape [batch_size,
      from_seq_length, to_seq_length]. The values should be 1 or 0. The
      attention scores will effectively be set to -infinity for any positions in
      the mask that are 0, and will be unchanged for positions that are 1.
    num_attention_heads: int. Number of attention heads.
    size_per_head: int. Size of each attention head.
    query_act: (optional) Activation function for the query transform.
    key_act: (optional) Activation function for the key transform.
    value_act: (optional) Activation function for the value transform.
    attention_probs_dropout_prob: (optional) float. Dropout probability of the
      attention probabilities.
    initializer_range: float. Range of the weight initializer.
    do_return_2d_tensor: bool. If True, the output will be of shape [batch_size
      * from_seq_length, num_attention_heads * size_per_head]. If False, the
      output will be of shape [batch_size, from_seq_length, num_attention_heads
      * size_per_head].
    batch_size: (Optional) int. If the input is 2D, this might be the batch size
      of the 3D version of the `from_tensor` and `to_tensor`.
    from_seq_length: (Optional) If the input is 2D, this might be the seq length
      of the 3D version of the `from_tensor`.
    to_seq_length: (Optional) If the input is 2D, this might be the seq length
      of the 3D version of the `to_tensor`.

  Returns:
    float Tensor of shape [batch_size, from_seq_length,
      num_attention_heads * size_per_head]. (If `do_return_2d_tensor` is
      true, this will be of shape [batch_size * from_seq_length,
      num_attention_heads * size_per_head]).

  Raises:
    ValueError: Any of the arguments or tensor shapes are invalid.
  """

  def transpose_for_scores(input_tensor, batch_size, num_attention_heads, seq_length, width):
    output_tensor = tf.reshape(input_tensor, [batch_size, seq_length, num_attention_heads, width])

    output_tensor = tf.transpose(output_tensor, [0, 2, 1, 3])
    return output_tensor

  from_shape = get_shape_list(from_tensor, expected_rank=[2, 3])
  to_shape = get_shape_list(to_tensor, expected_rank=[2, 3])

  if len(from_shape) != len(to_shape):
    raise ValueError("The rank of `from_tensor` must match the rank of `to_tensor`.")

  if len(from_shape) == 3:
    batch_size = from_shape[0]
    from_seq_length = from_shape[1]
    to_seq_length = to_shape[1]
  elif len(from_shape) == 2:
    if batch_size is None or from_seq_length is None or to_seq_length is None:
      raise ValueError(
        "When passing in rank 2 tensors to attention_layer, the values "
        "for `batch_size`, `from_seq_length`, and `to_seq_length` "
        "must all be specified."
      )

  # Scalar dimensions referenced here:
  #   B = batch size (number of sequences)
  #   F = `from_tensor` sequence length
  #   T = `to_tensor` sequence length
  #   N = `num_attention_heads`
  #   H = `size_per_head`

  from_tensor_2d = reshape_to_matrix(from_tensor)
  to_tensor_2d = reshape_to_matrix(to_tensor)

  # `query_layer` = [B*F, N*H]
  query_layer = dense_layer(
    from_tensor_2d,
    num_attention_heads * size_per_head,
    activation=query_act,
    name="query",
    kernel_initializer=create_initializer(initializer_range),
  )

  # `key_layer` = [B*T, N*H]
  key_layer = dense_layer(
    to_tensor_2d,
    num_attention_heads * size_per_head,
    activation=key_act,
    name="key",
    kernel_initializer=create_initializer(initializer_range),
  )

  # `value_layer` = [B*T, N*H]
  value_layer = dense_layer(
    to_tensor_2d,
    num_attention_heads * size_per_head,
    activation=value_act,
    name="value",
    kernel_initializer=create_initializer(initializer_range),
  )

  # `query_layer` = [B, N, F, H]
  query_layer = transpose_for_scores(
    query_layer, batch_size, num_attention_heads, from_seq_length, size_per_head
  )

  # `key_layer` = [B, N, T, H]
  key_layer = transpose_for_scores(
    key_layer, batch_size, num_attention_heads, to_seq_length, size_per_head
  )

  # Take the dot product between "query" and "key" to get the raw
  # attention scores.
  # `attention_scores` = [B, N, F, T]
  attention_scores = tf.matmul(query_layer, key_layer, transpose_b=True)
  attention_scores = tf.multiply(attention_scores, 1.0 / math.sqrt(float(size_per_head)))

  if attention_mask is not None:
    # `attention_mask` = [B, 1, F, T]
    attention_mask = tf.expand_dims(attention_mask, axis=[1])

    # Since attention_mask is 1.0 for positions we want to attend and 0.0 for
    # masked positions, this operation will create a tensor which is 0.0 for
    # positions we want to attend and -10000.0 for masked positions.
    adder = (1.0 - tf.cast(attention_mask, tf.float32)) * -10000.0

    # Since we are adding it to the raw scores before the softmax, this is
    # effectively the same as removing these entirely.
    attention_scores += adder

  # Normalize the attention scores to probabilities.
  # `attention_probs` = [B, N, F, T]
  attention_probs = tf.nn.softmax(attention_scores)

  # This is actually dropping out entire tokens to attend to, which might
  # seem a bit unusual, but is taken from the original Transformer paper.
  attention_probs = dropout(attention_probs, attention_probs_dropout_prob)

  # `value_layer` = [B, T, N, H]
  value_layer = tf.reshape(
    value_layer, [batch_size, to_seq_length, num_attention_heads, size_per_head]
  )

  # `value_layer` = [B, N, T, H]
  value_layer = tf.transpose(value_layer, [0, 2, 1, 3])

  # `context_layer` = [B, N, F, H]
  context_layer = tf.matmul(attention_probs, value_layer)

  # `context_layer` = [B, F, N, H]
  context_layer = tf.transpose(context_layer, [0, 2, 1, 3])

  if do_return_2d_tensor:
    # `context_layer` = [B*F, N*H]
    context_layer = tf.reshape(
      context_layer, [batch_size * from_seq_length, num_attention_heads * size_per_head]
    )
  else:
    # `context_layer` = [B, F, N*H]
    context_layer = tf.reshape(
      context_layer, [batch_size, from_seq_length, num_attention_heads * size_per_head]
    )

  return context_layer


def transformer_model(
  input_tensor,
  attention_mask=None,
  hidden_size=768,
  num_hidden_layers=12,
  num_attention_heads=12,
  intermediate_size=3072,
  intermediate_act_fn=gelu,
  hidden_dropout_prob=0.1,
  attention_probs_dropout_prob=0.1,
  initializer_range=0.02,
  do_return_all_layers=False,
):
  """Multi-headed, multi-layer Transformer from "Attention is All You Need".

  Post-LN residual blocks, as the original BERT.

  Args:
    input_tensor: float Tensor of shape [batch_size, seq_length, hidden_size].
    attention_mask: (optional) int32 Tensor of shape [batch_size, seq_length,
      seq_length], with 1 for positions that can be attended to and 0 in
      positions that should not be.
    hidden_size: int. Hidden size of the Transformer.
    num_hidden_layers: int. Number of layers (blocks) in the Transformer.
    num_attention_heads: int. Number of attention heads in the Transformer.
    intermediate_size: int. The size of the "intermediate" (a.k.a., feed
      forward) layer.
    intermediate_act_fn: function. The non-linear activation function to apply
      to the output of the intermediate/feed-forward layer.
    hidden_dropout_prob: float. Dropout probability for the hidden layers.
    attention_probs_dropout_prob: float. Dropout probability of the attention
      probabilities.
    initializer_range: float. Range of the initializer (stddev of truncated
      normal).
    do_return_all_layers: Whether to also return all layers or just the final
      layer.

  Returns:
    float Tensor of shape [batch_size, seq_length, hidden_size], the final
    hidden layer of the Transformer (or the list of all layers).

  Raises:
    ValueError: A Tensor shape or parameter is invalid.
  """
  if hidden_size % num_attention_heads != 0:
    raise ValueError(
      "The hidden size (%d) is not a multiple of the number of attention "
      "heads (%d)" % (hidden_size, num_attention_heads)
    )

  attention_head_size = int(hidden_size / num_attention_heads)
  input_shape = get_shape_list(input_tensor, expected_rank=3)
  batch_size = input_shape[0]
  seq_length = input_shape[1]
  input_width = input_shape[2]

  # The Transformer performs sum residuals on all layers so the input needs
  # to be the same as the hidden size.
  if input_width != hidden_size:
    raise ValueError(
      "The width of the input tensor (%d) != hidden size (%d)" % (input_width, hidden_size)
    )

  # We keep the representation as a 2D tensor to avoid re-shaping it back and
  # forth from a 3D tensor to a 2D tensor.
  prev_output = reshape_to_matrix(input_tensor)

  all_layer_outputs = []
  for layer_idx in range(num_hidden_layers):
    with _variable_scope("layer_%d" % layer_idx):
      layer_input = prev_output

      with _variable_scope("attention"):
        with _variable_scope("self"):
          attention_head = attention_layer(
            from_tensor=layer_input,
            to_tensor=layer_input,
            attention_mask=attention_mask,
            num_attention_heads=num_attention_heads,
            size_per_head=attention_head_size,
            attention_probs_dropout_prob=attention_probs_dropout_prob,
            initializer_range=initializer_range,
            do_return_2d_tensor=True,
            batch_size=batch_size,
            from_seq_length=seq_length,
            to_seq_length=seq_length,
          )
        attention_output = attention_head

        # Run a linear projection of `hidden_size` then add a residual
        # with `layer_input`.
        with _variable_scope("output"):
          attention_output = dense_layer(
            attention_output, hidden_size, kernel_initializer=create_initializer(initializer_range)
          )
          attention_output = dropout(attention_output, hidden_dropout_prob)
          attention_output = layer_norm(attention_output + layer_input)

      # The activation is only applied to the "intermediate" hidden layer.
      with _variable_scope("intermediate"):
        intermediate_output = dense_layer(
          attention_output,
          intermediate_size,
          activation=intermediate_act_fn,
          kernel_initializer=create_initializer(initializer_range),
        )

      # Down-project back to `hidden_size` then add the residual.
      with _variable_scope("output"):
        layer_output = dense_layer(
          intermediate_output, hidden_size, kernel_initializer=create_initializer(initializer_range)
        )
        layer_output = dropout(layer_output, hidden_dropout_prob)
        layer_output = layer_norm(layer_output + attention_output)
        prev_output = layer_output
        all_layer_outputs.append(layer_output)

  if do_return_all_layers:
    final_outputs = []
    for layer_output in all_layer_outputs:
      final_output = reshape_from_matrix(layer_output, input_shape)
      final_outputs.append(final_output)
    return final_outputs
  else:
    final_output = reshape_from_matrix(prev_output, input_shape)
    return final_output


def get_shape_list(tensor, expected_rank=None, name=None):
  """Returns a list of the shape of tensor, preferring static dimensions.

  Args:
    tensor: A tf.Tensor object to find the shape of.
    expected_rank: (optional) int. The expected rank of `tensor`. If this is
      specified and the `tensor` has a different rank, and exception will be
      thrown.
    name: Optional name of the tensor for the error message.

  Returns:
    A list of dimensions of the shape of tensor. All static dimensions will
    be returned as python integers, and dynamic dimensions will be returned
    as tf.Tensor scalars.
  """
  if name is None:
    name = getattr(tensor, "name", "tensor")

  if expected_rank is not None:
    assert_rank(tensor, expected_rank, name)

  shape = tensor.shape.as_list()

  non_static_indexes = []
  for index, dim in enumerate(shape):
    if dim is None:
      non_static_indexes.append(index)

  if not non_static_indexes:
    return shape

  dyn_shape = tf.shape(tensor)
  for index in non_static_indexes:
    shape[index] = dyn_shape[index]
  return shape


def reshape_to_matrix(input_tensor):
  """Reshapes a >= rank 2 tensor to a rank 2 tensor (i.e., a matrix)."""
  ndims = input_tensor.shape.ndims
  if ndims < 2:
    raise ValueError("Input tensor must have at least rank 2. Shape = %s" % (input_tensor.shape))
  if ndims == 2:
    return input_tensor

  width = input_tensor.shape[-1]
  output_tensor = tf.reshape(input_tensor, [-1, width])
  return output_tensor


def reshape_from_matrix(output_tensor, orig_shape_list):
  """Reshapes a rank 2 tensor back to its original rank >= 2 tensor."""
  if len(orig_shape_list) == 2:
    return output_tensor

  output_shape = get_shape_list(output_tensor)

  orig_dims = orig_shape_list[0:-1]
  width = output_shape[-1]

  return tf.reshape(output_tensor, orig_dims + [width])


def assert_rank(tensor, expected_rank, name=None):
  """Raises an exception if the tensor rank is not of the expected rank.

  Args:
    tensor: A tf.Tensor to check the rank of.
    expected_rank: Python integer or list of integers, expected rank.
    name: Optional name of the tensor for the error message.

  Raises:
    ValueError: If the expected shape doesn't match the actual shape.
  """
  if name is None:
    name = getattr(tensor, "name", "tensor")

  expected_rank_dict = {}
  if isinstance(expected_rank, int):
    expected_rank_dict[expected_rank] = True
  else:
    for x in expected_rank:
      expected_rank_dict[x] = True

  actual_rank = tensor.shape.ndims
  if actual_rank not in expected_rank_dict:
    scope_name = _current_scope_name()
    raise ValueError(
      "For the tensor `%s` in scope `%s`, the actual rank "
      "`%d` (shape = %s) is not equal to the expected rank `%s`"
      % (name, scope_name, actual_rank, str(tensor.shape), str(expected_rank))
    )
