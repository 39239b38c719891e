"""The BERT encoder and its building blocks, on TensorFlow 2.20.

Old code doing `from bert import modeling` keeps working: this module has the classes and
functions of Google's `modeling.py` (google-research/bert) under the same names and signatures.
The maths is written once and reached two ways:

* the **legacy graph face**, `BertModel(config, is_training, input_ids, ...)`, for `tf.compat.v1`
  graph mode, as in Google's code: variables come from `tf.compat.v1.get_variable` under
  `tf.compat.v1.variable_scope`;
* the **TF2 face**, `BertEncoder(config)`, a `tf.Module` that runs eagerly, inside `tf.function`
  and under `tf.distribute` strategies; it can also compute in float16 or bfloat16 on float32
  variables (`compute_dtype`, mixed precision).

Both faces ask `_get_variable` for their weights, so they run the very same functions
(`embedding_lookup`, `attention_layer`, `transformer_model`, ...) and their variables carry
Google's checkpoint names, e.g. `bert/encoder/layer_0/attention/self/query/kernel`.

Letters in shape comments: B = batch size, F = `from_tensor` sequence length, T = `to_tensor`
sequence length, N = number of attention heads, H = size per head (or hidden size where noted),
V = vocab size.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import json
import math
import re
import threading
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from bert import fused_ops

# A size: a Python int when known while building, a scalar int32 tensor when known only at run time.
Dim = int | tf.Tensor
Activation = Callable[[tf.Tensor], tf.Tensor]


class BertConfig:
  """Hyper-parameters of a BERT model, as stored in `bert_config.json`."""

  def __init__(
    self,
    vocab_size: int | None,
    hidden_size: int = 768,
    num_hidden_layers: int = 12,
    num_attention_heads: int = 12,
    intermediate_size: int = 3072,
    hidden_act: str | Activation = "gelu",
    hidden_dropout_prob: float = 0.1,
    attention_probs_dropout_prob: float = 0.1,
    max_position_embeddings: int = 512,
    type_vocab_size: int = 16,
    initializer_range: float = 0.02,
  ):
    """Holds the architecture settings (defaults: BERT-Base, except `type_vocab_size`).

    Args:
      vocab_size: number of WordPiece ids, i.e. rows of the word-embedding table.
      hidden_size: width of the embeddings, of every Transformer block and of the pooler.
      num_hidden_layers: how many Transformer blocks are stacked.
      num_attention_heads: heads per self-attention layer; must divide `hidden_size`.
      intermediate_size: width of the feed-forward layer inside each block.
      hidden_act: activation of that feed-forward layer: a callable, or a name that
        `get_activation` knows ("gelu" is the tanh approximation Google trained with,
        "gelu_exact" or "gelu_erf" the erf form).
      hidden_dropout_prob: dropout rate after the embeddings and after each sublayer.
      attention_probs_dropout_prob: dropout rate on the attention weights.
      max_position_embeddings: rows of the position table, so the longest input accepted.
      type_vocab_size: rows of the segment (token type) table; the released models use 2.
      initializer_range: standard deviation of the truncated-normal weight initializer.
    """
    # Every setting lives in the instance dict: that is what `from_dict` fills and
    # `to_dict` serialises, unknown keys included.
    self.__dict__.update(
      vocab_size=vocab_size,
      hidden_size=hidden_size,
      num_hidden_layers=num_hidden_layers,
      num_attention_heads=num_attention_heads,
      hidden_act=hidden_act,
      intermediate_size=intermediate_size,
      hidden_dropout_prob=hidden_dropout_prob,
      attention_probs_dropout_prob=attention_probs_dropout_prob,
      max_position_embeddings=max_position_embeddings,
      type_vocab_size=type_vocab_size,
      initializer_range=initializer_range,
    )

  @classmethod
  def from_dict(cls, json_object: dict) -> BertConfig:
    """Builds a config from a dict; each key becomes an attribute, unknown ones too.

    Nothing is validated here, as in Google's code; missing keys keep the defaults.
    """
    config = BertConfig(vocab_size=None)
    config.__dict__.update(json_object)
    return config

  @classmethod
  def from_json_file(cls, json_file: str) -> BertConfig:
    """Reads a `bert_config.json`: a local path, or a URL that `tf.io.gfile` can open."""
    return cls.from_dict(json.loads(_read_text(json_file)))

  def to_dict(self) -> dict:
    """A deep copy of all settings, safe to modify."""
    return copy.deepcopy(self.__dict__)

  def to_json_string(self) -> str:
    """All settings as JSON, keys sorted, indented by 2, with a final newline."""
    text = json.dumps(self.to_dict(), sort_keys=True, indent=2)
    return text + "\n"


def _read_text(path: str) -> str:
  """The whole file: through `tf.io.gfile` for URLs (gs://, hdfs://), else a UTF-8 `open`."""
  if "://" in path:
    with tf.io.gfile.GFile(path, "r") as handle:
      return handle.read()
  with open(path, encoding="utf-8") as handle:
    return handle.read()


# ---------------------------------------------------------------------------
# Where the weights come from. With no store active (graph face), scopes and
# variables are tf.compat.v1's. Inside `_use_store` (TF2 face), the same calls
# go to a `_VariableStore`, and the scope stack belongs to that one pass.
# ---------------------------------------------------------------------------

_ACTIVE = threading.local()


class _VariableStore:
  """The TF2 face's variables, keyed by full checkpoint name, in creation order.

  New variables are made only while `creating` is True (while `BertEncoder` builds
  itself); afterwards asking for an unknown name is an error.
  """

  def __init__(self, aggregation=tf.VariableAggregation.NONE):
    self.variables: collections.OrderedDict[str, tf.Variable] = collections.OrderedDict()
    self.creating = False
    self.aggregation = aggregation

  def get(self, full_name: str, shape, initializer, dtype) -> tf.Variable:
    """The variable `full_name`, created now if the store is still `creating`."""
    variable = self.variables.get(full_name)
    if variable is None:
      if not self.creating:
        raise KeyError("The model has no variable named %s" % full_name)
      # Lift creation out of any tf.function being traced: variables are made once, eagerly.
      with tf.init_scope():
        initial_value = initializer(shape, dtype=dtype)
        variable = tf.Variable(
          initial_value, name=full_name, dtype=dtype, aggregation=self.aggregation
        )
      self.variables[full_name] = variable
    elif variable.shape.as_list() != list(shape):
      raise ValueError(
        "Variable %s has shape %s, the model asks for %s"
        % (full_name, variable.shape.as_list(), list(shape))
      )
    return variable


class _StorePass:
  """One run of the model code against a store: its scope stack, the scopes opened so far,
  and the dtype its word vectors are cast to (which the layers after them follow)."""

  def __init__(self, store: _VariableStore, compute_dtype: tf.DType = tf.float32, fused=False):
    self.store = store
    self.compute_dtype = compute_dtype
    self.fused = fused
    self.scopes: list[str] = []
    self.opened: set[str] = set()

  def path(self, name: str) -> str:
    return "/".join(self.scopes + [name])


def _active_pass() -> _StorePass | None:
  return getattr(_ACTIVE, "run", None)


@contextlib.contextmanager
def _use_store(
  store: _VariableStore, compute_dtype: tf.DType = tf.float32, fused: bool = False
) -> Iterator[None]:
  """Sends this thread's `_variable_scope`/`_get_variable` calls to `store` for one pass,
  computing in `compute_dtype`, with `bert.fused_ops`' kernels when `fused`."""
  outer = _active_pass()
  _ACTIVE.run = _StorePass(store, compute_dtype, fused)
  try:
    yield
  finally:
    _ACTIVE.run = outer


@contextlib.contextmanager
def _variable_scope(name, default_name=None) -> Iterator[None]:
  """Opens a variable scope in either face.

  Graph face: `tf.compat.v1.variable_scope`, which gives a second unnamed scope of the same
  default name a fresh name (`dense`, then `dense_1`). TF2 face: a push on the pass's scope
  stack. There the second unnamed scope would land on the first one's variables and silently
  share them, so it is refused. Re-entering a scope by its explicit name stays allowed.
  """
  run = _active_pass()
  if run is None:
    with tf.compat.v1.variable_scope(name, default_name=default_name):
      yield
    return
  scope = name or default_name
  path = run.path(scope)
  if not name and path in run.opened:
    raise ValueError(
      "Variable scope '%s' is opened a second time without a name: graph mode would call it "
      "%s_1, but the TF2 face would share its variables. Give each layer a distinct `name=`."
      % (path, default_name)
    )
  run.opened.add(path)
  run.scopes.append(scope)
  try:
    yield
  finally:
    run.scopes.pop()


def _get_variable(name: str, shape, initializer, dtype=tf.float32) -> tf.Variable:
  """The variable `name` in the current scope, in either face."""
  run = _active_pass()
  if run is None:
    return tf.compat.v1.get_variable(name, shape=shape, initializer=initializer, dtype=dtype)
  return run.store.get(run.path(name), shape, initializer, dtype)


def _compute_dtype() -> tf.DType:
  """The dtype the active pass computes in; float32 in the graph face."""
  run = _active_pass()
  return tf.float32 if run is None else run.compute_dtype


# Whether a training BertModel (graph face) uses bert.fused_ops: use_fused_kernels_in_graph_face.
_GRAPH_FACE_FUSED = False


def use_fused_kernels_in_graph_face(enabled: bool) -> None:
  """Whether `BertModel(is_training=True)` builds its dropout, GELU, LayerNorm and attention
  softmax from `bert.fused_ops`: the same formulas as one XLA kernel each (results agree to
  float32 rounding; dropout masks are drawn otherwise than tf.nn.dropout's, and follow the
  graph-level seed as its do). Off by default, so the graph face keeps Google's ops;
  `bert-run-tf1` turns it on for TF1 scripts."""
  global _GRAPH_FACE_FUSED
  _GRAPH_FACE_FUSED = bool(enabled)


def _fused() -> bool:
  """Whether the active pass uses `bert.fused_ops` (training, when asked for)."""
  run = _active_pass()
  if run is None:  # Graph face: only while a training BertModel builds (see BertModel).
    return _GRAPH_FACE_FUSED and getattr(_ACTIVE, "graph_training", False)
  return run.fused


def _cast_if_needed(value, dtype: tf.DType) -> tf.Tensor:
  """`value` as `dtype`. Already of that dtype, it comes back as it is: no op is added, so the
  float32 model keeps exactly the ops it always had."""
  if value.dtype.base_dtype == tf.as_dtype(dtype).base_dtype:
    return value
  return tf.cast(value, dtype)


def _current_scope_name() -> str:
  run = _active_pass()
  if run is None:
    return tf.compat.v1.get_variable_scope().name
  return "/".join(run.scopes)


# ---------------------------------------------------------------------------
# The model, written once for both faces.
# ---------------------------------------------------------------------------


def _config_for_mode(config: BertConfig, is_training: bool) -> BertConfig:
  """A private copy of `config`, with both dropout rates zeroed unless training."""
  config = copy.deepcopy(config)
  if not is_training:
    for rate in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
      setattr(config, rate, 0.0)
  return config


def _bert_forward(
  config: BertConfig,
  is_training,
  input_ids,
  input_mask,
  token_type_ids,
  use_one_hot_embeddings,
  scope,
) -> dict:
  """Builds (graph face) or runs (TF2 face) BERT; returns its outputs by name (see `BertModel`)."""
  config = _config_for_mode(config, is_training)
  batch_size, seq_length = get_shape_list(input_ids, expected_rank=2)
  if input_mask is None:  # no padding
    input_mask = tf.ones([batch_size, seq_length], dtype=tf.int32)
  if token_type_ids is None:  # a single segment
    token_type_ids = tf.zeros([batch_size, seq_length], dtype=tf.int32)

  with _variable_scope(scope, default_name="bert"):
    with _variable_scope("embeddings"):
      embedding_output, embedding_table = _embed(
        config, input_ids, token_type_ids, use_one_hot_embeddings
      )
    with _variable_scope("encoder"):
      all_encoder_layers = _encode(config, input_ids, input_mask, embedding_output)
    with _variable_scope("pooler"):
      pooled_output = _pool(config, all_encoder_layers[-1])

  return {
    "embedding_output": embedding_output,
    "embedding_table": embedding_table,
    "all_encoder_layers": all_encoder_layers,
    "sequence_output": all_encoder_layers[-1],
    "pooled_output": pooled_output,
  }


def _embed(config: BertConfig, input_ids, token_type_ids, use_one_hot_embeddings):
  """Word + segment + position embeddings, normalised, dropped out: ([B, S, H], word table)."""
  word_vectors, word_table = embedding_lookup(
    input_ids=input_ids,
    vocab_size=config.vocab_size,
    embedding_size=config.hidden_size,
    initializer_range=config.initializer_range,
    word_embedding_name="word_embeddings",
    use_one_hot_embeddings=use_one_hot_embeddings,
  )
  embedded = embedding_postprocessor(
    input_tensor=word_vectors,
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
  return embedded, word_table


def _encode(config: BertConfig, input_ids, input_mask, embedding_output) -> list:
  """The Transformer stack over the embeddings: one [B, S, H] tensor per layer."""
  # [B, S] padding mask -> [B, S, S]: which keys each query position may attend to.
  attention_mask = create_attention_mask_from_input_mask(input_ids, input_mask)
  return transformer_model(
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


def _pool(config: BertConfig, sequence_output):
  """tanh(dense(first token)): [B, S, H] -> [B, H]. The pooler has no dropout."""
  cls_vectors = tf.squeeze(sequence_output[:, 0:1, :], axis=1)
  return dense_layer(
    cls_vectors,
    config.hidden_size,
    activation=tf.tanh,
    kernel_initializer=create_initializer(config.initializer_range),
  )


class BertModel:
  """BERT ("Bidirectional Encoder Representations from Transformers"), the legacy graph face.

  Build it inside `tf.compat.v1` graph mode, as with Google's class; its variables are
  ordinary `tf.compat.v1` variables under the scope `bert` (`bert_1`, ... for more models).

  Example:

  ```python
  ids = tf.constant([[101, 2023, 102], [101, 102, 0]])  # WordPiece ids, already tokenized
  mask = tf.constant([[1, 1, 1], [1, 1, 0]])  # 0 marks padding
  segments = tf.zeros_like(ids)
  config = modeling.BertConfig.from_json_file("uncased_L-12_H-768_A-12/bert_config.json")
  model = modeling.BertModel(
    config, is_training=False, input_ids=ids, input_mask=mask, token_type_ids=segments
  )
  logits = tf.compat.v1.layers.dense(model.get_pooled_output(), num_labels)
  ```
  """

  def __init__(
    self,
    config: BertConfig,
    is_training: bool,
    input_ids: tf.Tensor,
    input_mask: tf.Tensor | None = None,
    token_type_ids: tf.Tensor | None = None,
    use_one_hot_embeddings: bool = False,
    scope=None,
  ):
    """Adds the model's variables and ops to the current graph.

    Args:
      config: the architecture; copied, never modified.
      is_training: True applies both dropouts; False turns them off.
      input_ids: int32 [batch_size, seq_length] WordPiece ids.
      input_mask: optional int32 [batch_size, seq_length], 1 for tokens and 0 for padding;
        all ones when omitted.
      token_type_ids: optional int32 [batch_size, seq_length] segment ids; all zeros when
        omitted.
      use_one_hot_embeddings: look words up by a one-hot matmul instead of `tf.gather`
        (faster on TPUs).
      scope: optional variable scope; "bert" when omitted.

    Raises:
      ValueError: `input_ids` is not 2-D, or the config does not fit the inputs.
    """
    _ACTIVE.graph_training = is_training is True
    try:
      outputs = _bert_forward(
        config, is_training, input_ids, input_mask, token_type_ids, use_one_hot_embeddings, scope
      )
    finally:
      _ACTIVE.graph_training = False
    self.embedding_output = outputs["embedding_output"]
    self.embedding_table = outputs["embedding_table"]
    self.all_encoder_layers = outputs["all_encoder_layers"]
    self.sequence_output = outputs["sequence_output"]
    self.pooled_output = outputs["pooled_output"]

  def get_pooled_output(self) -> tf.Tensor:
    """float [batch_size, hidden_size]: the pooler's tanh layer over the first token."""
    return self.pooled_output

  def get_sequence_output(self) -> tf.Tensor:
    """float [batch_size, seq_length, hidden_size]: the last encoder layer, one vector a token."""
    return self.sequence_output

  def get_all_encoder_layers(self) -> list[tf.Tensor]:
    """Every encoder layer's output, first to last: float [batch_size, seq_length, hidden_size]."""
    return self.all_encoder_layers

  def get_embedding_output(self) -> tf.Tensor:
    """float [batch_size, seq_length, hidden_size]: what enters the first encoder layer.

    Word, segment and position embeddings summed, then LayerNorm and (when training) dropout.
    """
    return self.embedding_output

  def get_embedding_table(self) -> tf.Tensor:
    """float [vocab_size, hidden_size]: the word embedding table."""
    return self.embedding_table


# The dtypes the TF2 face can compute in. Variables are float32 in every case.
_COMPUTE_DTYPES = (tf.float32, tf.float16, tf.bfloat16)


class BertEncoder(tf.Module):
  """BERT for TensorFlow 2 (the TF2 face): eager, `tf.function`, `tf.distribute`.

  The variables are created at construction (inside the caller's strategy
  scope, if any) with Google's names, in Google's creation order:
  `bert/embeddings/word_embeddings`, ..., `bert/pooler/dense/bias`.

  Calling it returns a dict with the same tensors as `BertModel`'s getters:
  "embedding_output", "all_encoder_layers", "sequence_output",
  "pooled_output" and "embedding_table".

  Mixed precision: with `compute_dtype` float16 or bfloat16 the variables stay
  float32 (same names, same checkpoints) and are cast where they are used, so
  the matmuls, adds, activations and dropouts run in the lower precision. Two
  steps run in float32 all the same: each LayerNorm, and the attention softmax
  (from the scaled scores to the weights). The outputs are float32 whatever
  `compute_dtype` is ("embedding_table" is the float32 variable itself).
  """

  def __init__(
    self,
    config: BertConfig,
    scope: str = "bert",
    use_one_hot_embeddings: bool = False,
    aggregation=tf.VariableAggregation.NONE,
    compute_dtype: tf.DType = tf.float32,
    fused_kernels: bool = False,
  ):
    """Builds the variables of a BERT encoder.

    Args:
      config: the architecture (copied).
      scope: the name prefix of every variable (Google's default "bert").
      use_one_hot_embeddings: one-hot matmul instead of gather for word ids.
      aggregation: `tf.VariableAggregation` of the variables (for replica
        context updates under a distribution strategy).
      compute_dtype: tf.float32 (the default: the exact float32 model),
        tf.float16 or tf.bfloat16 (mixed precision), or their names.
      fused_kernels: when training, run dropout, GELU, LayerNorm and the
        attention softmax as `bert.fused_ops`' XLA kernels (same formulas,
        float32 rounding apart; faster on CPUs). Inference never uses them.

    Raises:
      ValueError: `compute_dtype` is none of those three.
    """
    super().__init__(name=None)
    self.compute_dtype = tf.as_dtype(compute_dtype)
    if self.compute_dtype not in _COMPUTE_DTYPES:
      raise ValueError(
        "BertEncoder computes in float32, float16 or bfloat16, not %s" % self.compute_dtype.name
      )
    self.config = copy.deepcopy(config)
    self.scope = scope
    self.use_one_hot_embeddings = use_one_hot_embeddings
    self.fused_kernels = fused_kernels
    self._store = _VariableStore(aggregation=aggregation)
    self._store.creating = True
    # One float32 pass over a 1 x 2 batch of zeros creates every variable.
    dummy = tf.constant([[0, 0]], dtype=tf.int32)
    with _use_store(self._store):
      _bert_forward(self.config, False, dummy, None, None, use_one_hot_embeddings, scope)
    self._store.creating = False
    # A list keeps Google's creation order for `tf.Module.variables`.
    self._ordered_variables = list(self._store.variables.values())

  @property
  def variables_by_name(self) -> collections.OrderedDict[str, tf.Variable]:
    """Checkpoint name -> variable, in Google's creation order."""
    return collections.OrderedDict(self._store.variables)

  def __call__(
    self,
    input_ids: tf.Tensor,
    input_mask: tf.Tensor | None = None,
    token_type_ids: tf.Tensor | None = None,
    training: bool = False,
  ) -> dict:
    """Runs the encoder.

    Args:
      input_ids: int32 Tensor [batch_size, seq_length].
      input_mask: (optional) int32 Tensor [batch_size, seq_length].
      token_type_ids: (optional) int32 Tensor [batch_size, seq_length].
      training: apply dropout when True.

    Returns:
      dict of float32 output tensors, as described in the class docstring.
    """
    input_ids = tf.convert_to_tensor(input_ids, dtype=tf.int32)
    if input_mask is not None:
      input_mask = tf.convert_to_tensor(input_mask, dtype=tf.int32)
    if token_type_ids is not None:
      token_type_ids = tf.convert_to_tensor(token_type_ids, dtype=tf.int32)
    with _use_store(self._store, self.compute_dtype, self.fused_kernels and training is True):
      outputs = _bert_forward(
        self.config,
        training,
        input_ids,
        input_mask,
        token_type_ids,
        self.use_one_hot_embeddings,
        self.scope,
      )
    return _float32_outputs(outputs)


def _float32_outputs(outputs: dict) -> dict:
  """`_bert_forward`'s dict with every activation in float32 (already float32: untouched).

  "sequence_output" stays the very tensor that ends "all_encoder_layers".
  """
  layers = [_cast_if_needed(layer, tf.float32) for layer in outputs["all_encoder_layers"]]
  return dict(
    outputs,
    embedding_output=_cast_if_needed(outputs["embedding_output"], tf.float32),
    all_encoder_layers=layers,
    sequence_output=layers[-1],
    pooled_output=_cast_if_needed(outputs["pooled_output"], tf.float32),
  )


def gelu(x: tf.Tensor) -> tf.Tensor:
  """GELU in the tanh form BERT was trained with (https://arxiv.org/abs/1606.08415).

  `0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))`, within about 5e-4 of `gelu_exact`.
  """
  inner = np.sqrt(2 / np.pi) * (x + 0.044715 * tf.pow(x, 3))
  return x * (0.5 * (1.0 + tf.tanh(inner)))


def gelu_exact(x: tf.Tensor) -> tf.Tensor:
  """The exact GELU, `0.5 * x * (1 + erf(x / sqrt(2)))`."""
  return 0.5 * x * (1.0 + tf.math.erf(x / math.sqrt(2.0)))


# The names `hidden_act` may hold (matched in lower case). Hugging Face configs call the tanh
# form "gelu_new" or "gelu_pytorch_tanh"; None means no activation.
_ACTIVATIONS: dict[str, Activation | None] = {
  "linear": None,
  "relu": tf.nn.relu,
  "tanh": tf.tanh,
  "gelu": gelu,
  "gelu_new": gelu,
  "gelu_tanh": gelu,
  "gelu_pytorch_tanh": gelu,
  "gelu_exact": gelu_exact,
  "gelu_erf": gelu_exact,
}


# What the fused kernels replace when training with `fused_kernels`.
_FUSED_ACTIVATIONS = {gelu: fused_ops.gelu_tanh, gelu_exact: fused_ops.gelu_exact}


def get_activation(activation_string: str | Activation | None) -> Activation | None:
  """The activation function a config names, e.g. "relu" -> `tf.nn.relu`.

  Names are case-insensitive; "gelu" is the tanh form, "gelu_exact"/"gelu_erf" the erf form.
  None, "" and "linear" give None (no activation); anything not a string is returned as it is,
  on the view that it already is a function.

  Raises:
    ValueError: an unknown name.
  """
  if not isinstance(activation_string, str):
    return activation_string
  if not activation_string:
    return None
  key = activation_string.lower()
  if key not in _ACTIVATIONS:
    raise ValueError("Unsupported activation: %s" % key)
  return _ACTIVATIONS[key]


_OUTPUT_INDEX = re.compile(r":\d+$")


def get_assignment_map_from_checkpoint(tvars: Sequence, init_checkpoint: str) -> tuple[dict, dict]:
  """Pairs the graph's variables with same-named checkpoint variables.

  Names are compared after dropping the ":0" output suffix; shapes are not compared.

  Returns:
    (OrderedDict `name -> name` for `tf.compat.v1.train.init_from_checkpoint`, in checkpoint
    order; dict holding both `name` and `name:0` of each of those variables, value 1).
  """
  in_graph = {_OUTPUT_INDEX.sub("", var.name) for var in tvars}
  assignment_map = collections.OrderedDict()
  initialized = {}
  for name, _ in tf.train.list_variables(init_checkpoint):
    if name in in_graph:
      assignment_map[name] = name
      initialized.update({name: 1, name + ":0": 1})
  return assignment_map, initialized


def dropout(input_tensor: tf.Tensor, dropout_prob: float | None) -> tf.Tensor:
  """Zeroes each element with probability `dropout_prob` and rescales the rest.

  `dropout_prob` is the rate dropped (not TF1's keep_prob); None or 0.0 returns
  `input_tensor` itself without adding an op.
  """
  if not dropout_prob:
    return input_tensor
  if _fused():
    return fused_ops.dropout(input_tensor, dropout_prob)
  return tf.nn.dropout(input_tensor, rate=dropout_prob)


LAYER_NORM_EPSILON = 1e-12


def layer_norm(input_tensor: tf.Tensor, name: str | None = None) -> tf.Tensor:
  """Normalises over the last axis (Google used `tf.contrib.layers.layer_norm`).

  Variables `<name or "LayerNorm">/beta` (zeros) and `/gamma` (ones), epsilon
  1e-12, biased variance: `(x - mean) / sqrt(var + eps) * gamma + beta`.
  A float16 or bfloat16 input is normalised in float32 (its variance would lose
  too many digits, and 1e-12 is zero in float16); the result has the input's dtype.
  """
  params_shape = [get_shape_list(input_tensor)[-1]]
  with _variable_scope(name, default_name="LayerNorm"):
    beta = _get_variable("beta", params_shape, tf.compat.v1.zeros_initializer())
    gamma = _get_variable("gamma", params_shape, tf.compat.v1.ones_initializer())
  if _fused():  # In float32 inside the kernel, in and out in the input's dtype.
    return fused_ops.layer_norm(input_tensor, gamma, beta, LAYER_NORM_EPSILON)
  values = _cast_if_needed(input_tensor, tf.float32)
  mean, variance = tf.nn.moments(values, axes=[-1], keepdims=True)
  inv = tf.math.rsqrt(variance + LAYER_NORM_EPSILON) * gamma
  normalised = values * inv + (beta - mean * inv)
  return _cast_if_needed(normalised, input_tensor.dtype)


def layer_norm_and_dropout(
  input_tensor: tf.Tensor, dropout_prob: float | None, name: str | None = None
) -> tf.Tensor:
  """`layer_norm`, then `dropout`: how the embeddings are finished off."""
  return dropout(layer_norm(input_tensor, name), dropout_prob)


def create_initializer(initializer_range: float = 0.02) -> Callable[..., tf.Tensor]:
  """Truncated normal (redrawn beyond 2 stddev), stddev `initializer_range`: BERT's weight init."""
  return tf.compat.v1.truncated_normal_initializer(stddev=initializer_range)


def dense_layer(
  input_tensor: tf.Tensor,
  units: int,
  activation: Activation | None = None,
  kernel_initializer=None,
  name: str | None = None,
) -> tf.Tensor:
  """`tf.layers.dense` for both faces: variables `<name or dense>/kernel|bias`.

  The variables are float32; for a float16 or bfloat16 input they are cast to its
  dtype, and the layer computes in it.

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
  kernel = _cast_if_needed(kernel, input_tensor.dtype)
  bias = _cast_if_needed(bias, input_tensor.dtype)
  if input_tensor.shape.rank == 2:
    output = tf.matmul(input_tensor, kernel)
  else:
    output = tf.tensordot(input_tensor, kernel, [[-1], [0]])
  output = tf.nn.bias_add(output, bias)
  if activation is not None:
    if _fused():
      activation = _FUSED_ACTIVATIONS.get(activation, activation)
    output = activation(output)
  return output


def embedding_lookup(
  input_ids: tf.Tensor,
  vocab_size: int,
  embedding_size: int = 128,
  initializer_range: float = 0.02,
  word_embedding_name: str = "word_embeddings",
  use_one_hot_embeddings: bool = False,
) -> tuple[tf.Tensor, tf.Variable]:
  """Creates the word table `word_embedding_name` [vocab_size, embedding_size] and looks ids up.

  Args:
    input_ids: int32 [batch_size, seq_length], or [batch_size, seq_length, k] for k ids per
      position (their vectors are concatenated).
    vocab_size: rows of the table.
    embedding_size: width of one word vector.
    initializer_range: stddev of the table's initializer.
    word_embedding_name: the table's variable name.
    use_one_hot_embeddings: multiply one-hot rows by the table instead of `tf.gather`
      (same numbers; faster on TPUs).

  Returns:
    (float [batch_size, seq_length, k * embedding_size], the table). The vectors have the
    dtype the TF2 face computes in (see `BertEncoder`); the table is the float32 variable.
  """
  if input_ids.shape.rank == 2:
    input_ids = tf.expand_dims(input_ids, axis=[-1])  # one id per position: k = 1

  table = _get_variable(
    word_embedding_name, [vocab_size, embedding_size], create_initializer(initializer_range)
  )
  ids = tf.reshape(input_ids, [-1])
  dtype = _compute_dtype()
  if use_one_hot_embeddings:
    one_hot_rows = tf.one_hot(ids, depth=vocab_size, dtype=dtype)
    vectors = tf.matmul(one_hot_rows, _cast_if_needed(table, dtype))
  else:
    # Gather first, cast after: only the rows used are converted, and the gradient
    # stays a sparse one over those rows.
    vectors = _cast_if_needed(tf.gather(table, ids), dtype)

  *leading, ids_per_position = get_shape_list(input_ids)
  return tf.reshape(vectors, leading + [ids_per_position * embedding_size]), table


def embedding_postprocessor(
  input_tensor: tf.Tensor,
  use_token_type: bool = False,
  token_type_ids: tf.Tensor | None = None,
  token_type_vocab_size: int = 16,
  token_type_embedding_name: str = "token_type_embeddings",
  use_position_embeddings: bool = True,
  position_embedding_name: str = "position_embeddings",
  initializer_range: float = 0.02,
  max_position_embeddings: int = 512,
  dropout_prob: float = 0.1,
) -> tf.Tensor:
  """Adds segment and position embeddings to word vectors, then LayerNorm and dropout.

  Args:
    input_tensor: float [batch_size, seq_length, width], the word vectors.
    use_token_type: add, at each position, the row of the segment table picked by
      `token_type_ids`.
    token_type_ids: int32 [batch_size, seq_length]; required when `use_token_type`.
    token_type_vocab_size: rows of the segment table.
    token_type_embedding_name: variable name of the segment table.
    use_position_embeddings: add row i of the position table at position i.
    position_embedding_name: variable name of the position table.
    initializer_range: stddev of both tables' initializer.
    max_position_embeddings: rows of the position table; `seq_length` may be smaller, never
      larger.
    dropout_prob: dropout rate applied last.

  Returns:
    float Tensor shaped like `input_tensor`.

  Raises:
    ValueError: `input_tensor` is not 3-D, `token_type_ids` is missing, or the sequence is
      longer than the position table.
  """
  batch_size, seq_length, width = get_shape_list(input_tensor, expected_rank=3)
  output = input_tensor

  if use_token_type:
    if token_type_ids is None:
      raise ValueError("embedding_postprocessor: use_token_type=True needs `token_type_ids`.")
    segment_table = _get_variable(
      token_type_embedding_name,
      [token_type_vocab_size, width],
      create_initializer(initializer_range),
    )
    # A one-hot matrix times the table, as Google's: the rows are the same as a
    # gather's (x*1 + 0 is exact), and the table's gradient is a dense one, so
    # it counts in the global norm clipping takes as in Google's graph (a
    # gather's sparse gradient would count every position's row separately).
    one_hot_ids = tf.one_hot(
      tf.reshape(token_type_ids, [-1]), token_type_vocab_size, dtype=output.dtype
    )
    segment_vectors = tf.matmul(one_hot_ids, _cast_if_needed(segment_table, output.dtype))
    output = output + tf.reshape(segment_vectors, [batch_size, seq_length, width])

  if use_position_embeddings:
    position_table = _get_variable(
      position_embedding_name,
      [max_position_embeddings, width],
      create_initializer(initializer_range),
    )
    if isinstance(seq_length, int) and seq_length > max_position_embeddings:
      raise ValueError(
        "Sequence length %d is longer than max_position_embeddings %d"
        % (seq_length, max_position_embeddings)
      )
    # The table is sized for the longest input the model takes; this batch needs its first
    # `seq_length` rows, the same for every example.
    first_rows = _cast_if_needed(tf.slice(position_table, [0, 0], [seq_length, -1]), output.dtype)
    output = output + tf.expand_dims(first_rows, 0)

  return layer_norm_and_dropout(output, dropout_prob)


def create_attention_mask_from_input_mask(from_tensor: tf.Tensor, to_mask: tf.Tensor) -> tf.Tensor:
  """Turns a [B, T] padding mask into the [B, F, T] mask `attention_layer` takes.

  Args:
    from_tensor: [B, F] or [B, F, ...]; only its shape is used.
    to_mask: int32 [B, T], 1 for real tokens and 0 for padding.

  Returns:
    float32 [B, F, T] in which every row f equals `to_mask`. Only keys are masked: padded
    query positions still attend, and their outputs are ignored downstream.
  """
  batch_size, from_seq_length = get_shape_list(from_tensor, expected_rank=[2, 3])[:2]
  to_seq_length = get_shape_list(to_mask, expected_rank=2)[1]
  keys = tf.cast(tf.reshape(to_mask, [batch_size, 1, to_seq_length]), tf.float32)  # [B, 1, T]
  queries = tf.ones([batch_size, from_seq_length, 1], dtype=tf.float32)  # [B, F, 1]
  return queries * keys


def _projection(tensor_2d, units, activation, name, initializer_range):
  """A dense layer with BERT's kernel initializer, in scope `name`."""
  return dense_layer(
    tensor_2d,
    units,
    activation=activation,
    name=name,
    kernel_initializer=create_initializer(initializer_range),
  )


def _split_heads(tensor_2d, batch_size, seq_length, num_heads, size_per_head):
  """[B*S, N*H] -> [B, N, S, H]: each head becomes a batch of its own for the matmuls."""
  per_head = tf.reshape(tensor_2d, [batch_size, seq_length, num_heads, size_per_head])
  return tf.transpose(per_head, [0, 2, 1, 3])


def _mask_to_bias(attention_mask):
  """[B, F, T] 1/0 mask -> [B, 1, F, T] additive bias: 0 where allowed, -10000 where masked.

  Added to the scores before the softmax, -10000 leaves a weight of practically zero.
  """
  blocked = 1.0 - tf.cast(tf.expand_dims(attention_mask, axis=[1]), tf.float32)
  return blocked * -10000.0


def _attention_sizes(from_tensor, to_tensor, batch_size, from_seq_length, to_seq_length):
  """(B, F, T) for `attention_layer`: read off 3-D inputs; 2-D inputs need them passed in."""
  from_dims = get_shape_list(from_tensor, expected_rank=[2, 3])
  to_dims = get_shape_list(to_tensor, expected_rank=[2, 3])
  if len(from_dims) != len(to_dims):
    raise ValueError(
      "attention_layer: `from_tensor` has rank %d and `to_tensor` rank %d; they must agree."
      % (len(from_dims), len(to_dims))
    )
  if len(from_dims) == 3:
    return from_dims[0], from_dims[1], to_dims[1]
  if any(size is None for size in (batch_size, from_seq_length, to_seq_length)):
    raise ValueError(
      "attention_layer: with 2-D inputs, pass `batch_size`, `from_seq_length` and "
      "`to_seq_length` too."
    )
  return batch_size, from_seq_length, to_seq_length


def attention_layer(
  from_tensor: tf.Tensor,
  to_tensor: tf.Tensor,
  attention_mask: tf.Tensor | None = None,
  num_attention_heads: int = 1,
  size_per_head: int = 512,
  query_act: Activation | None = None,
  key_act: Activation | None = None,
  value_act: Activation | None = None,
  attention_probs_dropout_prob: float = 0.0,
  initializer_range: float = 0.02,
  do_return_2d_tensor: bool = False,
  batch_size: Dim | None = None,
  from_seq_length: Dim | None = None,
  to_seq_length: Dim | None = None,
) -> tf.Tensor:
  """Multi-head scaled dot-product attention of `from_tensor` (queries) over `to_tensor`.

  Keys and values both come from `to_tensor`; for self-attention pass the same tensor twice.
  Creates the dense layers `query`, `key` and `value`, N*H units each, in the current scope.

  Args:
    from_tensor: float [B, F, from_width], or [B*F, from_width] with the sizes given below.
    to_tensor: float [B, T, to_width], or [B*T, to_width]; the same rank as `from_tensor`.
    attention_mask: optional [B, F, T] of 1 (may attend) and 0 (may not).
    num_attention_heads: N.
    size_per_head: H.
    query_act: optional activation of the query projection.
    key_act: optional activation of the key projection.
    value_act: optional activation of the value projection.
    attention_probs_dropout_prob: dropout rate on the attention weights.
    initializer_range: stddev of the projection kernels' initializer.
    do_return_2d_tensor: return [B*F, N*H] rather than [B, F, N*H].
    batch_size: B; needed only when the inputs are 2-D (3-D inputs supply it).
    from_seq_length: F; needed only when the inputs are 2-D.
    to_seq_length: T; needed only when the inputs are 2-D.

  Returns:
    float [B, F, N*H], or [B*F, N*H]: each position's N head outputs side by side.

  Raises:
    ValueError: the inputs differ in rank, or 2-D inputs come without B, F and T.
  """
  batch_size, from_seq_length, to_seq_length = _attention_sizes(
    from_tensor, to_tensor, batch_size, from_seq_length, to_seq_length
  )
  width = num_attention_heads * size_per_head
  from_2d = reshape_to_matrix(from_tensor)
  to_2d = reshape_to_matrix(to_tensor)
  query = _projection(from_2d, width, query_act, "query", initializer_range)  # [B*F, N*H]
  key = _projection(to_2d, width, key_act, "key", initializer_range)  # [B*T, N*H]
  value = _projection(to_2d, width, value_act, "value", initializer_range)  # [B*T, N*H]

  query = _split_heads(query, batch_size, from_seq_length, num_attention_heads, size_per_head)
  key = _split_heads(key, batch_size, to_seq_length, num_attention_heads, size_per_head)
  # The scores are scaled, masked and turned into weights in float32 whatever the inputs'
  # dtype: a 16-bit softmax would sum its exponentials with too few digits.
  scores = tf.matmul(query, key, transpose_b=True)  # [B, N, F, T]
  scale = 1.0 / math.sqrt(float(size_per_head))
  # Softmax over the keys. Dropout here removes whole keys from a query's view, as in the
  # original Transformer.
  if _fused():  # Softmax and dropout in one kernel, in float32 inside it.
    bias = None if attention_mask is None else _mask_to_bias(attention_mask)
    rate = attention_probs_dropout_prob or 0.0
    weights = fused_ops.scaled_masked_softmax(scores, bias, scale, rate)
  else:
    scores = tf.multiply(_cast_if_needed(scores, tf.float32), scale)
    if attention_mask is not None:
      scores = scores + _mask_to_bias(attention_mask)
    weights = _cast_if_needed(tf.nn.softmax(scores), query.dtype)
    weights = dropout(weights, attention_probs_dropout_prob)  # [B, N, F, T]
  value = _split_heads(value, batch_size, to_seq_length, num_attention_heads, size_per_head)
  context = tf.transpose(tf.matmul(weights, value), [0, 2, 1, 3])  # [B, F, N, H]

  if do_return_2d_tensor:
    return tf.reshape(context, [batch_size * from_seq_length, width])
  return tf.reshape(context, [batch_size, from_seq_length, width])


def _add_and_norm(sublayer_output, residual, hidden_size, dropout_prob, initializer_range):
  """The exit of a sublayer: dense to `hidden_size`, dropout, + residual, LayerNorm (post-LN)."""
  projected = dense_layer(
    sublayer_output, hidden_size, kernel_initializer=create_initializer(initializer_range)
  )
  return layer_norm(dropout(projected, dropout_prob) + residual)


def _transformer_block(
  layer_input,
  attention_mask,
  batch_size,
  seq_length,
  hidden_size,
  num_attention_heads,
  size_per_head,
  intermediate_size,
  intermediate_act_fn,
  hidden_dropout_prob,
  attention_probs_dropout_prob,
  initializer_range,
):
  """One encoder layer on [B*S, hidden_size] rows: self-attention, then the feed-forward part."""
  with _variable_scope("attention"):
    with _variable_scope("self"):
      context = attention_layer(
        from_tensor=layer_input,
        to_tensor=layer_input,
        attention_mask=attention_mask,
        num_attention_heads=num_attention_heads,
        size_per_head=size_per_head,
        attention_probs_dropout_prob=attention_probs_dropout_prob,
        initializer_range=initializer_range,
        do_return_2d_tensor=True,
        batch_size=batch_size,
        from_seq_length=seq_length,
        to_seq_length=seq_length,
      )
    with _variable_scope("output"):
      attended = _add_and_norm(
        context, layer_input, hidden_size, hidden_dropout_prob, initializer_range
      )
  # The feed-forward part widens to `intermediate_size`, where the block's activation sits.
  with _variable_scope("intermediate"):
    widened = dense_layer(
      attended,
      intermediate_size,
      activation=intermediate_act_fn,
      kernel_initializer=create_initializer(initializer_range),
    )
  with _variable_scope("output"):
    return _add_and_norm(widened, attended, hidden_size, hidden_dropout_prob, initializer_range)


def transformer_model(
  input_tensor: tf.Tensor,
  attention_mask: tf.Tensor | None = None,
  hidden_size: int = 768,
  num_hidden_layers: int = 12,
  num_attention_heads: int = 12,
  intermediate_size: int = 3072,
  intermediate_act_fn: Activation | None = gelu,
  hidden_dropout_prob: float = 0.1,
  attention_probs_dropout_prob: float = 0.1,
  initializer_range: float = 0.02,
  do_return_all_layers: bool = False,
) -> tf.Tensor | list[tf.Tensor]:
  """The Transformer encoder of "Attention Is All You Need", post-LN as in BERT.

  Layer i's variables live in scope `layer_i` (`attention/self`, `attention/output`,
  `intermediate`, `output`).

  Args:
    input_tensor: float [batch_size, seq_length, hidden_size].
    attention_mask: optional [batch_size, seq_length, seq_length], 1 where a position may
      attend to another and 0 where not.
    hidden_size: width of every layer; must equal the input's width.
    num_hidden_layers: how many layers are stacked.
    num_attention_heads: heads per layer; must divide `hidden_size`.
    intermediate_size: width of the feed-forward layer.
    intermediate_act_fn: activation of the feed-forward layer.
    hidden_dropout_prob: dropout rate after each sublayer.
    attention_probs_dropout_prob: dropout rate on the attention weights.
    initializer_range: stddev of the kernels' truncated-normal initializer.
    do_return_all_layers: return the list of every layer's output instead of the last.

  Returns:
    float [batch_size, seq_length, hidden_size], or a list of them, one per layer.

  Raises:
    ValueError: the heads do not divide `hidden_size`, or the input has the wrong rank or
      width.
  """
  size_per_head, leftover = divmod(hidden_size, num_attention_heads)
  if leftover:
    raise ValueError(
      "The hidden size (%d) is not a multiple of the number of attention heads (%d)"
      % (hidden_size, num_attention_heads)
    )
  original_shape = get_shape_list(input_tensor, expected_rank=3)
  batch_size, seq_length, width = original_shape
  # Each sublayer adds its input back, so the input must already be `hidden_size` wide.
  if width != hidden_size:
    raise ValueError(
      "The width of the input tensor (%d) != hidden size (%d)" % (width, hidden_size)
    )

  # Between layers the activations stay 2-D, [B*S, hidden_size], saving reshapes.
  hidden = reshape_to_matrix(input_tensor)
  layer_outputs = []
  for index in range(num_hidden_layers):
    with _variable_scope("layer_%d" % index):
      hidden = _transformer_block(
        hidden,
        attention_mask,
        batch_size,
        seq_length,
        hidden_size,
        num_attention_heads,
        size_per_head,
        intermediate_size,
        intermediate_act_fn,
        hidden_dropout_prob,
        attention_probs_dropout_prob,
        initializer_range,
      )
    layer_outputs.append(hidden)

  if do_return_all_layers:
    return [reshape_from_matrix(output, original_shape) for output in layer_outputs]
  return reshape_from_matrix(hidden, original_shape)


def get_shape_list(
  tensor: tf.Tensor, expected_rank: int | Sequence[int] | None = None, name: str | None = None
) -> list[Dim]:
  """The shape of `tensor` as a list, each size static where possible.

  Sizes known while building are Python ints; the others are scalar tensors taken from
  `tf.shape(tensor)` at run time.

  Args:
    tensor: the tensor to measure.
    expected_rank: optional rank, or list of allowed ranks, checked by `assert_rank`.
    name: optional tensor name for that check's error message.
  """
  if expected_rank is not None:
    assert_rank(tensor, expected_rank, name=name)
  dims = tensor.shape.as_list()
  unknown = [axis for axis, size in enumerate(dims) if size is None]
  if unknown:
    runtime_shape = tf.shape(tensor)
    for axis in unknown:
      dims[axis] = runtime_shape[axis]
  return dims


def reshape_to_matrix(input_tensor: tf.Tensor) -> tf.Tensor:
  """Merges all leading axes: [..., width] -> [rows, width]; a matrix is returned as it is."""
  rank = input_tensor.shape.ndims
  if rank < 2:
    raise ValueError(
      "reshape_to_matrix needs a tensor of rank 2 or more, got shape %s" % input_tensor.shape
    )
  if rank == 2:
    return input_tensor
  return tf.reshape(input_tensor, [-1, input_tensor.shape[-1]])


def reshape_from_matrix(output_tensor: tf.Tensor, orig_shape_list: list[Dim]) -> tf.Tensor:
  """Undoes `reshape_to_matrix`: [rows, width] -> `orig_shape_list[:-1] + [width]`."""
  if len(orig_shape_list) == 2:
    return output_tensor
  width = get_shape_list(output_tensor)[-1]
  return tf.reshape(output_tensor, orig_shape_list[:-1] + [width])


def assert_rank(
  tensor: tf.Tensor, expected_rank: int | Sequence[int], name: str | None = None
) -> None:
  """Checks the static rank of `tensor`.

  Args:
    tensor: the tensor to check.
    expected_rank: the rank, or a list of allowed ranks.
    name: tensor name for the message; the tensor's own name when omitted.

  Raises:
    ValueError: the rank is not an allowed one; the message names the tensor and scope.
  """
  allowed = {expected_rank} if isinstance(expected_rank, int) else set(expected_rank)
  actual_rank = tensor.shape.ndims
  if actual_rank in allowed:
    return
  if name is None:
    name = getattr(tensor, "name", "tensor")
  raise ValueError(
    "For the tensor `%s` in scope `%s`, the actual rank `%d` (shape = %s) is not equal to the "
    "expected rank `%s`" % (name, _current_scope_name(), actual_rank, tensor.shape, expected_rank)
  )
