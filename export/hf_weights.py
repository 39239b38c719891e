"""bert-import-hf's weights step: HuggingFace tensors -> Google's checkpoint variables.

Each HF name is mapped to Google's (the per-name tables live in
`export.hf_common`), the BERT tensors the config asks for are checked to be all
there with the shapes it implies, dense kernels are transposed to [in, out],
and a source without a pooler gets a freshly initialised one (with a warning).
No TensorFlow.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from export.hf_common import google_bert_names, hf_bert_name, map_bert_name, map_head_name
from export.hf_source import HFImportError, ImportLog, read_hf_weights
from export.safetensors_io import FLOAT_DTYPES

_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")
POOLER_NAMES = ("bert/pooler/dense/kernel", "bert/pooler/dense/bias")


@dataclasses.dataclass
class GoogleWeights:
  """The source's weights under Google's names.

  Attributes:
    written: Google name -> float32 array to write, in Google's creation order,
      then the heads by name.
    reference: HF canonical name -> source array, for `numpy_bert`'s forward pass.
    names: `map_hf_names`' result.
    dtypes: HF name -> stored dtype tag ("F32", "BF16", ...).
    files: the weights files read.
    pooler_initialised: True when the source had no pooler and one was made up.
  """

  written: dict
  reference: dict
  names: dict
  dtypes: dict
  files: list[str]
  pooler_initialised: bool = False


# ---------------------------------------------------------------------------
# Name mapping.
# ---------------------------------------------------------------------------


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
# Shapes and conversion.
# ---------------------------------------------------------------------------


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


def _check_complete(names: dict, config: dict) -> None:
  """Every BERT tensor of `config` is mapped (the pooler may be missing, but not half of it)."""
  mapping = names["mapping"]
  num_layers = config["num_hidden_layers"]
  missing = [n for n in google_bert_names(num_layers) if n not in mapping and n not in POOLER_NAMES]
  if missing:
    raise HFImportError(
      "the weights lack %d BERT tensor(s) for %s: %s"
      % (
        len(missing),
        ", ".join("%s (%s)" % (n, hf_bert_name(n, names["prefix"])) for n in missing[:6])
        + (", ..." if len(missing) > 6 else ""),
        "num_hidden_layers=%d" % num_layers,
      )
    )
  pooler_present = [n for n in POOLER_NAMES if n in mapping]
  if len(pooler_present) == 1:
    raise HFImportError(
      "the weights have %s but not the rest of the pooler" % mapping[pooler_present[0]][0]
    )


def _convert(tensors: dict, dtypes: dict, mapping: dict, config: dict) -> dict:
  """Google name -> float32 array, kernels transposed; shapes checked against `config`."""
  expected = _expected_shapes(config)
  required = google_bert_names(config["num_hidden_layers"])
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
  return written


def read_weights(model_dir: str, config: dict, log: ImportLog) -> GoogleWeights:
  """Reads the weights of `model_dir` and converts them to Google's names and layout.

  Raises:
    HFImportError: a BERT tensor of `config` is missing, half a pooler, a
      tensor that is not float, or shapes that do not fit `config`.
  """
  tensors, dtypes, files = read_hf_weights(model_dir)
  log.info("Read %d tensors from %s", len(tensors), ", ".join(files))
  names = map_hf_names(tensors, config["num_hidden_layers"])
  _check_complete(names, config)
  written = _convert(tensors, dtypes, names["mapping"], config)
  reference = {canonical: tensors[hf] for canonical, hf in names["reference"].items()}
  return GoogleWeights(written, reference, names, dtypes, files)


# ---------------------------------------------------------------------------
# The pooler, and what is left over.
# ---------------------------------------------------------------------------


def _truncated_normal(rng, shape, stddev):
  values = rng.normal(0.0, stddev, size=shape)
  while True:
    bad = np.abs(values) > 2 * stddev
    if not bad.any():
      return values.astype(np.float32)
    values[bad] = rng.normal(0.0, stddev, size=int(bad.sum()))


def add_missing_pooler(weights: GoogleWeights, config: dict, log: ImportLog) -> None:
  """Gives a source without a pooler a freshly initialised one (and warns), then
  puts `weights.written` in Google's creation order, the heads after it by name."""
  weights.pooler_initialised = POOLER_NAMES[0] not in weights.written
  written = weights.written
  if weights.pooler_initialised:
    stddev = float(config["initializer_range"])
    rng = np.random.default_rng(0)
    h = config["hidden_size"]
    written["bert/pooler/dense/kernel"] = _truncated_normal(rng, (h, h), stddev)
    written["bert/pooler/dense/bias"] = np.zeros([h], np.float32)
    weights.reference["pooler.dense.weight"] = written["bert/pooler/dense/kernel"].T
    weights.reference["pooler.dense.bias"] = written["bert/pooler/dense/bias"]
    log.warn(
      "THE SOURCE HAS NO POOLER (pooler.dense.*): wrote a freshly "
      "initialised bert/pooler/dense (truncated normal stddev=%g, zero "
      "bias). pooled_output, and so run_classifier's [CLS] classifier, "
      "starts from a random pooler" % stddev
    )
  required = google_bert_names(config["num_hidden_layers"])
  weights.written = {
    n: written[n] for n in required + sorted(n for n in written if n not in required)
  }


def note_leftovers(weights: GoogleWeights, log: ImportLog) -> None:
  """Warns about source tensors without a Google name; logs the ones skipped on purpose."""
  names = weights.names
  if names["unmapped"]:
    log.warn(
      "%d source tensor(s) not imported (no Google name): %s"
      % (len(names["unmapped"]), ", ".join(names["unmapped"]))
    )
  for name, reason in names["skipped"]:
    log.info("Skipped %s (%s)", name, reason)
