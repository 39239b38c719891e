"""bert-import-tf2's reading step: the weights of a Model Garden checkpoint or a TF Hub encoder.

Both keep the weights in an object-based (TF2) checkpoint: a Model Garden `ckpt-N`
(`tf.train.Checkpoint(encoder=...)`, a trainer's `model=...`), and the `variables/` of a
TF Hub SavedModel. Their keys are object paths (`encoder/layer_with_weights-4/...`,
`variables/17/...`) that change with how the model was built, but the checkpoint's object
graph also records each variable's own name (`transformer/layer_0/self_attention/query/
kernel`); the encoder is found by those names (`tf2_common` holds their table). Optimizer
slots, counters and Hub's `do_lower_case` are set aside by name with a reason; any other
variable is reported as not imported.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

import numpy as np

from bert import errors, model_config
from export import tf2_common

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
# A TF Hub text encoder's tokenizer setting, a bool variable beside the model (`do_lower_case`).
HUB_LOWER_CASE_KEY = "do_lower_case/.ATTRIBUTES/VARIABLE_VALUE"
HUB_VOCAB = os.path.join("assets", "vocab.txt")
_COUNTERS = ("save_counter", "global_step")
# Keras' serialized activations in keras_metadata.pb -> bert_config.json's hidden_act.
# "Text>gelu" is Model Garden's (the tanh form); Keras' own "gelu" is the exact erf form.
_KERAS_TO_GOOGLE_ACT = {
  "Text>gelu": "gelu",
  "gelu": "gelu_exact",
  "relu": "relu",
  "tanh": "tanh",
  "linear": "linear",
}


class TF2ImportError(errors.InputError):
  """The TF2 model cannot be imported (the message says why)."""


@dataclasses.dataclass
class TF2Variables:
  """The variables of an object-based checkpoint, by their own names.

  Attributes:
    prefix: the checkpoint prefix read.
    keys: variable name (without ":0") -> checkpoint key.
    shapes: variable name -> shape.
    set_aside: [(checkpoint key, reason)] for optimizer state and counters.
  """

  prefix: str
  keys: dict
  shapes: dict
  set_aside: list


@dataclasses.dataclass
class EncoderNames:
  """Where the encoder's tensors are among a checkpoint's variable names.

  Attributes:
    prefix: what comes before `word_embeddings/embeddings` ("" for a plain encoder).
    num_layers: how many transformer layers there are.
    mapping: Google name -> variable name, in Google's creation order, the head last.
    unmapped: variable names with no Google place.
  """

  prefix: str
  num_layers: int
  mapping: dict
  unmapped: list


def read_variables(prefix: str) -> TF2Variables:
  """Every variable of the object-based checkpoint `prefix`, by its own name.

  Raises:
    TF2ImportError: an unreadable or name-based checkpoint, or two variables of one name.
  """
  import tensorflow as tf
  from tensorflow.core.protobuf import trackable_object_graph_pb2

  from bert import checkpoint

  with checkpoint.reading_checkpoint(prefix, TF2ImportError):
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    if OBJECT_GRAPH_KEY not in shapes:
      hint = ""
      if "bert/embeddings/word_embeddings" in shapes:
        hint = ": it is in Google's layout already (run_classifier.py takes it as it is)"
      raise TF2ImportError(
        "checkpoint %s is name-based, not an object-based TF2 checkpoint%s" % (prefix, hint)
      )
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor(OBJECT_GRAPH_KEY))
  slots = {slot.slot_variable_node_id for node in graph.nodes for slot in node.slot_variables}
  under_optimizer = _nodes_under(graph, "optimizer")
  keys, set_aside = {}, []
  for node_id, node in enumerate(graph.nodes):
    for attribute in node.attributes:
      key = attribute.checkpoint_key
      if attribute.name != "VARIABLE_VALUE" or key not in shapes:
        continue
      name = re.sub(r":\d+$", "", attribute.full_name)
      if node_id in slots or node_id in under_optimizer:
        set_aside.append((key, "optimizer state"))
      elif name in _COUNTERS or key == HUB_LOWER_CASE_KEY:
        set_aside.append((key, "counter" if name in _COUNTERS else "tokenizer setting"))
      elif name in keys and keys[name] != key:
        raise TF2ImportError(
          "checkpoint %s holds two variables named %s (%s and %s): more than one model?"
          % (prefix, name, keys[name], key)
        )
      else:
        keys[name] = key
  return TF2Variables(prefix, keys, {n: list(shapes[k]) for n, k in keys.items()}, set_aside)


def _nodes_under(graph, child_name: str) -> set[int]:
  """The ids of the nodes reachable from the root's child `child_name` only through it."""
  root = graph.nodes[0]
  start = [c.node_id for c in root.children if c.local_name == child_name]
  others = [c.node_id for c in root.children if c.local_name != child_name]
  return _reachable(graph, start) - _reachable(graph, others)


def _reachable(graph, start: list[int]) -> set[int]:
  seen, todo = set(start), list(start)
  while todo:
    for child in graph.nodes[todo.pop()].children:
      if child.node_id not in seen:
        seen.add(child.node_id)
        todo.append(child.node_id)
  return seen


# ---------------------------------------------------------------------------
# Names.
# ---------------------------------------------------------------------------


def _encoder_prefix(names) -> str:
  """What comes before the one `word_embeddings/embeddings` among `names`."""
  marker = tf2_common.WORD_EMBEDDINGS
  prefixes = sorted(n[: -len(marker)] for n in names if n == marker or n.endswith("/" + marker))
  if not prefixes:
    shown = sorted(names)[:6]
    raise TF2ImportError(
      "no variable named %s: not a Model Garden BERT encoder (its variables: %s%s)"
      % (marker, ", ".join(shown) or "none", ", ..." if len(names) > 6 else "")
    )
  if len(prefixes) > 1:
    raise TF2ImportError(
      "%d encoders in one checkpoint (%s): import one at a time"
      % (len(prefixes), ", ".join(p + marker for p in prefixes))
    )
  return prefixes[0]


def map_encoder_names(names) -> EncoderNames:
  """Finds the encoder among the variable `names` and maps each of its tensors to Google's name.

  A classifier head of `tfm.nlp.models.BertClassifier` (`sentence_prediction/logits`) maps to
  run_classifier.py's `output_weights` / `output_bias`.

  Raises:
    TF2ImportError: no encoder or several, a missing tensor, or factorized embeddings.
  """
  names = set(names)
  prefix = _encoder_prefix(names)
  layer_ids = {
    int(m.group(1))
    for m in (re.match(re.escape(prefix) + r"transformer/layer_(\d+)/", n) for n in names)
    if m
  }
  num_layers = max(layer_ids) + 1 if layer_ids else 0
  if prefix + "embedding_projection/kernel" in names:
    raise TF2ImportError(
      "the encoder has factorized embeddings (%sembedding_projection, ALBERT style): "
      "Google's BERT has no place for them" % prefix
    )
  mapping, missing = {}, []
  for google, garden in tf2_common.name_pairs(num_layers):
    if prefix + garden in names:
      mapping[google] = prefix + garden
    else:
      missing.append(prefix + garden)
  if missing or not num_layers:
    raise TF2ImportError(
      "the encoder lacks %s"
      % (", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "") or "transformer layers")
    )
  head = [(g, n) for g, n in tf2_common.HEAD_PAIRS if n in names]
  if len(head) == 1:
    raise TF2ImportError("%s has no %s beside it" % (head[0][1], "kernel or bias"))
  mapping.update(head)
  used = set(mapping.values())
  return EncoderNames(prefix, num_layers, mapping, sorted(n for n in names if n not in used))


# ---------------------------------------------------------------------------
# Sizes and settings.
# ---------------------------------------------------------------------------


def sizes_from_shapes(variables: TF2Variables, names: EncoderNames) -> dict:
  """bert_config.json's sizes as the tensors' shapes give them.

  Raises:
    TF2ImportError: the query kernel is not Model Garden's [hidden, heads, head_size].
  """
  shape = {google: variables.shapes[name] for google, name in names.mapping.items()}
  query = shape["bert/encoder/layer_0/attention/self/query/kernel"]
  if len(query) != 3:
    raise TF2ImportError(
      "%s has shape %s; Model Garden keeps it as [hidden, heads, head_size]"
      % (names.mapping["bert/encoder/layer_0/attention/self/query/kernel"], query)
    )
  return {
    "vocab_size": shape["bert/embeddings/word_embeddings"][0],
    "hidden_size": shape["bert/embeddings/word_embeddings"][1],
    "num_hidden_layers": names.num_layers,
    "num_attention_heads": query[1],
    "intermediate_size": shape["bert/encoder/layer_0/intermediate/dense/kernel"][-1],
    "max_position_embeddings": shape["bert/embeddings/position_embeddings"][0],
    "type_vocab_size": shape["bert/embeddings/token_type_embeddings"][0],
  }


def read_config_file(path: str) -> dict:
  """A Model Garden encoder config (YAML or JSON) or a bert_config.json, in bert_config's keys.

  Takes an EncoderConfig (`type: bert` with a `bert:` section), one nested in an experiment
  config (`task: model: encoder:`), a bare BertEncoderConfig, or Google's bert_config.json.
  Only the keys the file has are returned.

  Raises:
    TF2ImportError: unreadable, not a BERT encoder, or settings Google's BERT cannot take.
  """
  content = _parse_config(path)
  if "num_hidden_layers" in content:  # Google's own bert_config.json
    return {
      k: content[k] for k in ("hidden_act", *tf2_common.GARDEN_CONFIG_KEYS.values()) if k in content
    }
  section = _nested(content, "task", "model", "encoder") or content.get("encoder", content)
  if isinstance(section, dict) and "type" in section:
    kind = section["type"]
    if kind not in tf2_common.GARDEN_BERT_TYPES:
      raise TF2ImportError(
        "%s: encoder type %r is not BERT (expected %s)"
        % (path, kind, " or ".join(tf2_common.GARDEN_BERT_TYPES))
      )
    section = section.get(kind) or {}
  elif isinstance(section, dict) and isinstance(section.get("bert"), dict):
    section = section["bert"]
  if not isinstance(section, dict) or "num_layers" not in section:
    raise TF2ImportError(
      "%s has no BERT encoder config (expected type: bert with a bert: section holding "
      "num_layers, hidden_size, ...)" % path
    )
  return _google_keys(section, path)


def _nested(content: dict, *keys: str):
  """content[keys[0]][keys[1]]..., or None where a level is missing or not a mapping."""
  for key in keys:
    content = content.get(key) if isinstance(content, dict) else None
  return content


def _parse_config(path: str) -> dict:
  try:
    with open(path, encoding="utf-8") as f:
      text = f.read()
  except OSError as e:
    raise TF2ImportError(errors.cannot("read", path, e)) from None
  except UnicodeDecodeError as e:
    raise TF2ImportError("%s is not UTF-8: %s" % (path, e.reason)) from None
  try:
    import yaml  # comes with tf-models-official
  except ImportError:
    yaml = None
  try:
    content = yaml.safe_load(text) if yaml is not None else json.loads(text)
  except ValueError as e:
    if yaml is None and not path.endswith(".json"):
      raise TF2ImportError(
        "%s is not JSON, and reading YAML needs PyYAML (%s)" % (path, tf2_common.INSTALL_HINT)
      ) from None
    raise TF2ImportError("%s: %s" % (path, " ".join(str(e).split()))) from None
  if not isinstance(content, dict):
    raise TF2ImportError("%s does not hold a mapping of settings" % path)
  return content


def _google_keys(section: dict, path: str) -> dict:
  """A BertEncoderConfig section in bert_config.json's keys, checked for what BERT cannot take."""
  width = section.get("embedding_size")
  if width is not None and width != section.get("hidden_size"):
    raise TF2ImportError(
      "%s: embedding_size %s differs from hidden_size %s (factorized embeddings): "
      "Google's BERT has no place for them" % (path, width, section.get("hidden_size"))
    )
  if section.get("norm_first"):
    raise TF2ImportError(
      "%s: norm_first is true (pre-LayerNorm): Google's BERT normalizes after each block" % path
    )
  config = {
    google: section[garden]
    for garden, google in tf2_common.GARDEN_CONFIG_KEYS.items()
    if garden in section
  }
  act = section.get("hidden_activation")
  if act is not None:
    if str(act).lower() not in tf2_common.GARDEN_TO_GOOGLE_ACT:
      raise TF2ImportError(
        "%s: hidden_activation %r has no bert_config.json name (known: %s)"
        % (path, act, ", ".join(sorted(tf2_common.GARDEN_TO_GOOGLE_ACT)))
      )
    config["hidden_act"] = tf2_common.GARDEN_TO_GOOGLE_ACT[str(act).lower()]
  return config


def hub_activation(hub_dir: str) -> str | None:
  """The hidden_act that a Hub SavedModel's keras_metadata.pb records for its encoder, if any."""
  path = os.path.join(hub_dir, "keras_metadata.pb")
  if not os.path.isfile(path):
    return None
  from tf_keras.protobuf import saved_metadata_pb2

  metadata = saved_metadata_pb2.SavedMetadata()
  with open(path, "rb") as f:
    metadata.ParseFromString(f.read())
  found = set()
  for node in metadata.nodes:
    try:
      config = json.loads(node.metadata).get("config")
    except ValueError:
      continue
    if isinstance(config, dict) and isinstance(config.get("inner_activation"), str):
      found.add(config["inner_activation"])
  if len(found) != 1 or next(iter(found)) not in _KERAS_TO_GOOGLE_ACT:
    return None
  return _KERAS_TO_GOOGLE_ACT[found.pop()]


def hub_lower_case(prefix: str) -> bool | None:
  """A Hub encoder's `do_lower_case` variable, or None when it has none."""
  import tensorflow as tf

  from bert import checkpoint

  with checkpoint.reading_checkpoint(prefix, TF2ImportError):
    reader = tf.train.load_checkpoint(prefix)
    if not reader.has_tensor(HUB_LOWER_CASE_KEY):
      return None
    return bool(reader.get_tensor(HUB_LOWER_CASE_KEY))


# ---------------------------------------------------------------------------
# Google's tensors.
# ---------------------------------------------------------------------------


def google_tensors(variables: TF2Variables, names: EncoderNames, config: dict) -> dict:
  """Google name -> float32 array: each tensor read, its shape checked and brought to Google's.

  Raises:
    TF2ImportError: a tensor whose shape does not fit `config`, or one that is not float.
  """
  import tensorflow as tf

  from bert import checkpoint, modeling
  from export.serving_export import expected_bert_shapes

  expected = expected_bert_shapes(modeling.BertConfig.from_dict(config))
  heads = config["num_attention_heads"]
  written, mismatched = {}, []
  with checkpoint.reading_checkpoint(variables.prefix, TF2ImportError):
    reader = tf.train.load_checkpoint(variables.prefix)
    for google, name in names.mapping.items():
      value = reader.get_tensor(variables.keys[name])
      if not np.issubdtype(value.dtype, np.floating):
        raise TF2ImportError("%s has dtype %s; expected a float tensor" % (name, value.dtype))
      if google in ("output_weights", "output_bias"):
        # A Keras Dense kernel is [hidden, labels]; Google's output_weights is [labels, hidden].
        value = value.T if value.ndim == 2 else value
        written[google] = np.ascontiguousarray(value, dtype=np.float32)
        continue
      garden = list(tf2_common.garden_shape(google, tuple(expected[google]), heads))
      if list(value.shape) != garden:
        mismatched.append("%s %s (expected %s)" % (name, list(value.shape), garden))
        continue
      written[google] = np.ascontiguousarray(value.reshape(expected[google]), dtype=np.float32)
  if mismatched:
    raise TF2ImportError(
      "the tensors do not fit the model's sizes: %s" % "; ".join(mismatched[:6])
      + ("; ..." if len(mismatched) > 6 else "")
    )
  if "output_weights" in written:
    shapes = {google: list(value.shape) for google, value in written.items()}
    model_config.head_size(variables.prefix, shapes, config["hidden_size"], TF2ImportError)
  return written
