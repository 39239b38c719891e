"""Running a `bert-export-onnx` folder with ONNX Runtime; no TensorFlow.

An ONNX folder holds:

    model.onnx         float32 BERT (+ classifier head), fused for ONNX Runtime's CPU kernels
    model.int8.onnx    the same with int8 weights (dynamic quantization), when asked for
    onnx_info.json     what it was made from (checkpoint and its fingerprint), labels,
                       multi_label, the check against TensorFlow, the int8 report
    vocab.txt, bert_config.json, labels.json   copies of the model folder's

Inputs and outputs are those of `onnx_bert.graph`. `current_model` tells
whether a folder still matches a checkpoint, so that the serving and predict
backends re-export only when the checkpoint has changed.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os

import numpy as np

from bert.errors import InputError, UsageError, first_line, os_reason
from onnx_bert.graph import INPUT_NAMES

INFO_NAME = "onnx_info.json"
# Increase when a change of the graph makes older folders unusable.
FORMAT_VERSION = 1
MODEL_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
# The backends' names (run_classifier --predict_backend, bert-serving-start -backend).
BACKENDS = ("tensorflow", "onnxruntime", "onnxruntime_int8")
DEFAULT_ONNX_SUBDIR = "onnx"
INSTALL_HINT = "pip install 'bert-classic[onnx]' (onnx and onnxruntime)"


def precision_of(backend: str) -> str:
  """ "fp32" or "int8" for an ONNX Runtime backend name."""
  return "int8" if backend.endswith("_int8") else "fp32"


def check_installed(what: str) -> None:
  """Imports onnxruntime and onnx, so that a missing or broken install ends here.

  Raises:
    UsageError: naming `what` (a flag) when a package is not installed.
    InputError: when one is installed but fails to import (the cause in one line).
  """
  missing = [name for name in ("onnxruntime", "onnx") if importlib.util.find_spec(name) is None]
  if missing:
    raise UsageError("%s needs %s: %s" % (what, " and ".join(missing), INSTALL_HINT))
  for name in ("onnxruntime", "onnx"):
    try:
      importlib.import_module(name)
    except Exception as e:  # Any failure of a broken install.
      raise InputError(
        "%s needs %s, which is installed but does not import (%s: %s): reinstall it, "
        "e.g. pip install --force-reinstall %s"
        % (what, name, type(e).__name__, first_line(e), name)
      ) from None


def default_onnx_dir(checkpoint: str) -> str:
  """Where the backends keep the export of `checkpoint`: `onnx/` beside it."""
  return os.path.join(os.path.dirname(os.path.abspath(checkpoint)), DEFAULT_ONNX_SUBDIR)


def checkpoint_fingerprint(checkpoint: str) -> str:
  """sha256 of the checkpoint's .index file, which records every tensor's checksum."""
  digest = hashlib.sha256()
  with open(checkpoint + ".index", "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def read_info(onnx_dir: str) -> dict | None:
  """The folder's onnx_info.json, or None when it has none or it is not readable JSON."""
  try:
    with open(os.path.join(onnx_dir, INFO_NAME), encoding="utf-8") as f:
      info = json.load(f)
  except (OSError, ValueError):
    return None
  return info if isinstance(info, dict) else None


def damage(onnx_dir: str, info: dict, precision: str) -> str | None:
  """What is wrong with the model file of `precision` (say, cut short), or None.

  onnx_info.json records each model file's size; a file of another size is damaged.
  """
  name = MODEL_FILES[precision]
  recorded = (info.get("files") or {}).get(name)
  path = os.path.join(onnx_dir, name)
  try:
    size = os.path.getsize(path)
  except OSError as e:
    return "%s cannot be read: %s" % (path, os_reason(e))
  if isinstance(recorded, int) and size != recorded:
    return "%s has %d bytes, %s records %d" % (path, size, INFO_NAME, recorded)
  return None


def current_model(onnx_dir: str, checkpoint: str, multi_label: bool, precision: str) -> str | None:
  """The model file of `precision` in `onnx_dir` if it was exported from this very
  checkpoint with this head; None when it is missing or out of date."""
  info = read_info(onnx_dir)
  path = os.path.join(onnx_dir, MODEL_FILES[precision])
  if info is None or not os.path.isfile(path) or damage(onnx_dir, info, precision):
    return None
  if info.get("format") != FORMAT_VERSION or bool(info.get("multi_label")) != multi_label:
    return None
  if precision not in info.get("precisions", []):
    return None
  try:
    fingerprint = checkpoint_fingerprint(checkpoint)
  except OSError:
    return None
  return path if info.get("checkpoint_fingerprint") == fingerprint else None


def has_head(model_path: str) -> bool:
  """Whether the export holding `model_path` has the classifier head (logits, probabilities)."""
  info = read_info(os.path.dirname(model_path)) or {}
  return bool(info.get("has_classifier_head"))


def session_options(threads: int = 0):
  """ONNX Runtime options: every graph optimization, `threads` intra-op threads (0: its default)."""
  import onnxruntime as ort

  options = ort.SessionOptions()
  options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
  options.intra_op_num_threads = max(0, int(threads))
  return options


def pruned_model(path: str, outputs) -> bytes:
  """The serialized model of `path` cut down to the nodes that `outputs` depend on.

  ONNX Runtime runs every node of a model whatever outputs are asked for; a server
  pooling layer -2 would also pay for the last layer, the pooler and the head.
  """
  import onnx

  model = onnx.load(path)
  graph = model.graph
  producer = {name: node for node in graph.node for name in node.output}
  needed, pending, kept = set(), list(outputs), set()
  while pending:
    name = pending.pop()
    if name in needed:
      continue
    needed.add(name)
    node = producer.get(name)
    if node is not None and id(node) not in kept:
      kept.add(id(node))
      pending.extend(node.input)
  nodes = [node for node in graph.node if id(node) in kept]
  initializers = [t for t in graph.initializer if t.name in needed]
  graph_outputs = [o for o in graph.output if o.name in set(outputs)]
  for field, values in (("node", nodes), ("initializer", initializers), ("output", graph_outputs)):
    del getattr(graph, field)[:]
    getattr(graph, field).extend(values)
  return model.SerializeToString()


class OnnxBert:
  """One ONNX Runtime session of an exported model (CPU).

  Attributes:
    path: the .onnx file.
    outputs: the names the model can return.
  """

  def __init__(self, path: str, threads: int = 0, only=None):
    """Opens `path`; with `only` (output names), just the part of the model they need."""
    import onnxruntime as ort

    self.path = path
    try:
      source = pruned_model(path, list(only)) if only else path
      self.session = ort.InferenceSession(
        source, session_options(threads), providers=["CPUExecutionProvider"]
      )
    except Exception as e:  # onnx/ORT raise their own kinds.
      raise InputError(
        "cannot load the ONNX model %s (%s: %s); delete its folder to export it again"
        % (path, type(e).__name__, first_line(e))
      ) from None
    self.outputs = [output.name for output in self.session.get_outputs()]

  def run(self, names, input_ids, input_mask, segment_ids) -> list[np.ndarray]:
    """The outputs `names` for int [B, T] inputs (converted to int32)."""
    feed = {
      name: np.ascontiguousarray(value, dtype=np.int32)
      for name, value in zip(INPUT_NAMES, (input_ids, input_mask, segment_ids))
    }
    return self.session.run(list(names), feed)
