"""Writes a model folder as a HuggingFace BERT folder: bert-import-hf run backwards.

    bert-export-hf --output_dir DIR --hf_dir DIR [--checkpoint model.ckpt-N]
                   [--do_lower_case BOOL] [--overwrite] [--no_check]

--output_dir is a run_classifier.py output folder (its newest checkpoint, labels.json and
run_config.json are used), or any folder with a `checkpoint` state file or a
`bert_model.ckpt` (a pre-trained model, a bert-export-serving export). --hf_dir gets:

    config.json              BertForSequenceClassification with id2label/label2id from the
                             labels, or BertModel when the checkpoint has no classifier head;
                             hidden_act "gelu_new" for Google's tanh "gelu", "gelu" for the erf form
    model.safetensors        float32, HF names (bert.encoder.layer.0.attention.self.query.weight,
                             ..., classifier.weight); dense kernels transposed to [out, in]
    vocab.txt                the tokens as Google's tokenizer reads them
    tokenizer_config.json    BertTokenizer with the run's do_lower_case
    special_tokens_map.json

Writing needs NumPy only, no torch. The folder is built beside --hf_dir and renamed into place
at the end. Before that, model.safetensors is read back and must hold every tensor bit for
bit, and (unless --no_check) an independent NumPy forward pass of it with HF's semantics
(`export.numpy_bert`) must reproduce what our TensorFlow model computes from the checkpoint:
sequence output, pooled output and logits.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

import numpy as np

from bert import errors, model_config, model_folder, tf_startup
from bert.console import run_command
from bert.errors import WriteError
from bert.model_folder import ModelFolder
from bert.target_folder import TargetRules, staging_beside, target_path, writing
from export import common, hf_common, numpy_bert
from export.hf_import import CONFIG_NAME, DEFAULT_TOLERANCE, SAFETENSORS_NAME, check_inputs
from export.safetensors_io import SafetensorsFile, read_safetensors, write_safetensors
from export.serving_export import is_optimizer_variable
from export.summary import diff_text, print_check, print_warnings, size_text

logger = logging.getLogger(__name__)

PROG = "bert-export-hf"
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"
SPECIAL_TOKENS_NAME = "special_tokens_map.json"
# BertForSequenceClassification keeps the encoder under "bert."; BertModel has no prefix.
CLASSIFIER_PREFIX = "bert."
SPECIAL_TOKENS = {
  "unk_token": "[UNK]",
  "sep_token": "[SEP]",
  "pad_token": "[PAD]",
  "cls_token": "[CLS]",
  "mask_token": "[MASK]",
}


class HFExportError(errors.InputError):
  """The model folder cannot be exported (the message says why)."""


# --hf_dir may be replaced when it is empty, or with --overwrite when it holds a config.json.
_TARGET = TargetRules(
  error=HFExportError, flag="--hf_dir", markers=(CONFIG_NAME,), kind="HuggingFace model"
)


@dataclasses.dataclass
class ExportPlan:
  """Everything found and checked before TensorFlow starts and anything is written."""

  model: ModelFolder  # the folder to export
  hf_dir: str
  overwrite: bool
  tokens: list[str]  # vocab.txt's lines as Google's tokenizer reads them
  do_lower_case: bool
  do_lower_case_source: str
  warnings: list[str]


def hf_activation(google_act: str | None) -> str:
  """The HF `hidden_act` of a bert_config.json `hidden_act` (None and "" are linear)."""
  key = (google_act or "linear").lower()
  if key not in hf_common.GOOGLE_TO_HF_ACT:
    raise HFExportError(
      "hidden_act %r has no HuggingFace equivalent (supported: %s)"
      % (google_act, ", ".join(sorted(hf_common.GOOGLE_TO_HF_ACT)))
    )
  return hf_common.GOOGLE_TO_HF_ACT[key]


# ---------------------------------------------------------------------------
# Planning: no TensorFlow, nothing written.
# ---------------------------------------------------------------------------


def _lower_case(flag: bool | None, model: ModelFolder, warnings: list) -> tuple[bool, str]:
  """(do_lower_case, where it comes from): the flag, else the folder's settings, else True."""
  recorded = model.trained.get("do_lower_case")
  settings = os.path.basename(model.settings_file or model_folder.RUN_CONFIG_FILENAME)
  if flag is not None:
    if recorded is not None and recorded != flag:
      warnings.append(
        "--do_lower_case=%s differs from do_lower_case=%s in %s, which the model was "
        "fine-tuned with" % (str(flag).lower(), str(recorded).lower(), settings)
      )
    return flag, "--do_lower_case"
  if recorded is not None:
    return recorded, settings
  warnings.append(
    "no %s records do_lower_case: the tokenizer lower-cases (Google's default); pass "
    "--do_lower_case=false for a cased model" % model_folder.RUN_CONFIG_FILENAME
  )
  return True, "default"


def plan_export(
  output_dir: str,
  hf_dir: str,
  checkpoint: str | None = None,
  do_lower_case: bool | None = None,
  overwrite: bool = False,
) -> ExportPlan:
  """Finds and checks every input of an export; imports no TensorFlow, writes nothing.

  Raises:
    HFExportError (or another bert.errors.InputError) naming the problem.
  """
  hf_dir = target_path(hf_dir)
  model = common.open_source(output_dir, hf_dir, _TARGET, checkpoint, overwrite)
  config = model.bert_config
  hf_activation(config.get("hidden_act", "gelu"))  # refuses one that HF has no name for
  tokens = model_config.read_vocab_tokens(model.vocab_file)
  vocab = {t: i for i, t in enumerate(tokens)}
  model_config.check_vocab(vocab, model.vocab_file, config, model.config_file)
  warnings = []
  lower, lower_source = _lower_case(do_lower_case, model, warnings)
  missing = [t for t in SPECIAL_TOKENS.values() if t not in tokens]
  if missing:
    warnings.append(
      "%s lacks %s: HF's tokenizer would add them as new tokens past the vocabulary"
      % (model.vocab_file, ", ".join(missing))
    )
  for message in warnings:
    logger.warning("%s", message)
  return ExportPlan(model, hf_dir, overwrite, tokens, lower, lower_source, warnings)


def run_settings(model: ModelFolder) -> dict:
  """What a classifier's predictions depend on beyond HF's keys: the recorded
  max_seq_length, --doc_stride windows and (multi-label) threshold."""
  settings = {key: model.trained[key] for key in hf_common.RUN_SETTINGS if key in model.trained}
  if model.multi_label and model.settings.get("multi_label_threshold") is not None:
    settings["multi_label_threshold"] = model.multi_label_threshold
  return settings


# ---------------------------------------------------------------------------
# Reading the checkpoint and building the HF files.
# ---------------------------------------------------------------------------


def _load_model(prefix: str, bert_config, labels: list[str] | None):
  """(model, num_labels or None, names not exported): the checkpoint loaded into
  BertClassifier when it has a classifier head, else into BertEncoder. A head must
  have a row per label of `labels` (when there are labels)."""
  from bert import checkpoint, classifier_model

  shapes = checkpoint.checkpoint_shapes(prefix, HFExportError)
  num_labels = model_config.head_size(
    prefix, shapes, bert_config.hidden_size, HFExportError, labels
  )
  model = classifier_model.load_classifier(prefix, bert_config, num_labels)
  left_out = sorted(name for name in shapes if name not in model.variables_by_name)
  return model, num_labels, left_out


def log_left_out(left_out: list[str], place: str) -> None:
  """Logs the checkpoint variables an export leaves out: optimizer state counted, the rest named."""
  optimizer = [name for name in left_out if is_optimizer_variable(name)]
  others = [name for name in left_out if name not in optimizer]
  if others:
    logger.info("Not exported (no place in %s): %s", place, ", ".join(others))
  if optimizer:
    logger.info(
      "Not exported: %d optimizer variables (adam_m, adam_v, global_step)", len(optimizer)
    )


def hf_config(
  bert_config: dict,
  labels: list[str] | None,
  pad_token_id: int = 0,
  multi_label: bool = False,
  run_settings: dict | None = None,
) -> dict:
  """config.json for a bert_config dict: BertForSequenceClassification when `labels`
  is given (one per row of output_weights), else BertModel. Keys sorted, as HF writes them.
  `multi_label` runs (sigmoid head) get HF's multi_label_classification problem type;
  a classifier's `run_settings` (max_seq_length, windows, threshold) are kept under
  `hf_common.RUN_SETTINGS_KEY` for bert-import-hf."""
  config = {key: bert_config[key] for key in model_config.CONFIG_KEYS}
  config["hidden_act"] = hf_activation(bert_config["hidden_act"])
  config["model_type"] = "bert"
  config["layer_norm_eps"] = hf_common.GOOGLE_LAYER_NORM_EPS
  config["position_embedding_type"] = "absolute"
  config["pad_token_id"] = pad_token_id
  if labels is None:
    config["architectures"] = ["BertModel"]
  else:
    config["architectures"] = ["BertForSequenceClassification"]
    config["id2label"] = {str(i): label for i, label in enumerate(labels)}
    config["label2id"] = {label: i for i, label in enumerate(labels)}
    config["problem_type"] = (
      "multi_label_classification" if multi_label else "single_label_classification"
    )
    # The rate the head trained with: bert_config.json's classifier_dropout, else Google's 0.1.
    config["classifier_dropout"] = model_config.head_dropout(bert_config)
    if run_settings:
      config[hf_common.RUN_SETTINGS_KEY] = dict(sorted(run_settings.items()))
  return dict(sorted(config.items()))


def tokenizer_config(tokens: list[str], do_lower_case: bool, max_length: int) -> dict:
  """tokenizer_config.json: BertTokenizer set up to tokenize as Google's FullTokenizer."""
  config = {
    "tokenizer_class": "BertTokenizer",
    "do_lower_case": do_lower_case,
    "tokenize_chinese_chars": True,
    "strip_accents": None,  # None: strip accents exactly when lower-casing, as Google does
    "model_max_length": max_length,
  }
  config.update(special_tokens(tokens))
  return config


def special_tokens(tokens: list[str]) -> dict:
  """special_tokens_map.json: the BERT special tokens that the vocabulary has."""
  present = set(tokens)
  return {key: token for key, token in SPECIAL_TOKENS.items() if token in present}


def hf_tensors(values: dict, num_layers: int, head: bool) -> dict[str, np.ndarray]:
  """Google name -> array becomes HF name -> array, in Google's creation order."""
  prefix = CLASSIFIER_PREFIX if head else ""
  tensors = {}
  for google, hf_name, transpose in hf_common.bert_name_pairs(num_layers):
    value = values[google]
    tensors[prefix + hf_name] = np.ascontiguousarray(value.T if transpose else value)
  if head:  # output_weights is [num_labels, hidden] like torch's Linear weight.
    tensors["classifier.weight"] = np.ascontiguousarray(values["output_weights"])
    tensors["classifier.bias"] = np.ascontiguousarray(values["output_bias"])
  return tensors


# ---------------------------------------------------------------------------
# Checks of what was written.
# ---------------------------------------------------------------------------


def _check_read_back(path: str, tensors: dict) -> None:
  """The safetensors file must hold exactly `tensors`, float32, bit for bit."""
  stored = SafetensorsFile(path)
  if set(stored.keys()) != set(tensors):
    raise WriteError("%s does not read back with the tensors written" % path)
  for name, value in tensors.items():
    back = stored.get(name)
    same = (
      stored.dtype(name) == "F32"
      and back.shape == value.shape
      and np.array_equal(back.view(np.uint32), value.view(np.uint32))
    )
    if not same:
      raise WriteError("%s does not read back: %s differs from what was written" % (path, name))


def _max_abs_diff(a, b) -> float:
  return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def _reference_outputs(path: str, config: dict, head: bool, ids, mask, types) -> dict:
  """NumPy float64 outputs of the written safetensors with HF's semantics, and
  each output's scale (what a rounding error is relative to)."""
  stored = read_safetensors(path)
  prefix = CLASSIFIER_PREFIX if head else ""
  encoder_weights = {n[len(prefix) :]: v for n, v in stored.items() if n.startswith(prefix)}
  outputs = numpy_bert.bert_forward(encoder_weights, config, ids, mask, types)
  result = {
    key: (outputs[key], float(np.max(np.abs(outputs[key]))))
    for key in ("sequence_output", "pooled_output")
  }
  if head:
    pooled = outputs["pooled_output"]
    weight = stored["classifier.weight"].astype(np.float64)
    bias = stored["classifier.bias"].astype(np.float64)
    # The size of the terms summed into each logit bounds its rounding error.
    scale = float(np.max(np.abs(pooled) @ np.abs(weight).T + np.abs(bias)))
    result["logits"] = (pooled @ weight.T + bias, scale)
  return result


def _compare_outputs(
  model,
  num_labels: int | None,
  path: str,
  config: dict,
  tokens: list[str],
  bert_config: dict,
  tolerance: float,
) -> dict:
  """Our TensorFlow model on the checkpoint against the NumPy pass of the written file."""
  head = num_labels is not None
  ids, mask, types = check_inputs(bert_config, tokens)
  encoder = model.bert if head else model
  outputs = encoder(ids, mask, types)
  ours = {key: outputs[key].numpy() for key in ("sequence_output", "pooled_output")}
  if head:
    ours["logits"] = model(ids, mask, types, np.zeros([ids.shape[0]], np.int32))[2].numpy()
  reference = _reference_outputs(path, config, head, ids, mask, types)
  result = {"inputs_shape": list(ids.shape), "tolerance": tolerance}
  worst = 0.0
  for key, (expected, scale) in reference.items():
    diff = _max_abs_diff(ours[key], expected)
    relative = diff / scale if scale > 0 else diff
    result[key + "_max_abs_diff"] = diff
    result[key + "_scale"] = scale
    worst = max(worst, relative)
  result["max_rel_diff"] = worst
  result["passed"] = worst <= tolerance
  if not result["passed"]:
    raise HFExportError(
      "check failed: the written weights, run by HuggingFace's rules, differ from our "
      "model's outputs on the checkpoint by up to %.3g relative to the output scale (max "
      "|diff| %s; tolerance %g); nothing was written (--no_check skips the check)"
      % (worst, diff_text(result), tolerance)
    )
  return result


# ---------------------------------------------------------------------------
# Writing.
# ---------------------------------------------------------------------------


def _write_files(folder: str, plan: ExportPlan, config: dict, tensors: dict, max_length: int):
  """Fills the staging `folder`."""
  with writing("cannot write --hf_dir", plan.hf_dir):
    write_safetensors(os.path.join(folder, SAFETENSORS_NAME), tensors, metadata={"format": "pt"})
    with open(os.path.join(folder, model_folder.VOCAB_FILENAME), "w", encoding="utf-8") as f:
      f.write("".join(token + "\n" for token in plan.tokens))
  model_folder.write_json(os.path.join(folder, CONFIG_NAME), config)
  model_folder.write_json(
    os.path.join(folder, TOKENIZER_CONFIG_NAME),
    tokenizer_config(plan.tokens, plan.do_lower_case, max_length),
  )
  model_folder.write_json(os.path.join(folder, SPECIAL_TOKENS_NAME), special_tokens(plan.tokens))


def _head_labels(plan: ExportPlan, num_labels: int | None) -> tuple[list[str] | None, str | None]:
  """(the labels of the head's rows or None without a head, a warning or None)."""
  labels = plan.model.labels
  if num_labels is None:
    if labels is None:
      return None, None
    return None, (
      "checkpoint %s has no classifier head (output_weights, output_bias): the %d labels are "
      "left out and the export is a BertModel" % (plan.model.checkpoint, len(labels))
    )
  if labels is None:
    return ["LABEL_%d" % i for i in range(num_labels)], (
      "no %s: the %d classes are named LABEL_0, LABEL_1, ... in config.json"
      % (model_folder.LABELS_FILENAME, num_labels)
    )
  return list(labels), None  # _load_model has made sure that they fit the head


def write_hf_folder(
  plan: ExportPlan, check: bool = True, tolerance: float = DEFAULT_TOLERANCE
) -> dict:
  """Writes the HF folder that `plan` describes (imports TensorFlow to read the checkpoint).

  Returns:
    A summary dict: "hf_dir", "files", "checkpoint", "architecture", "labels"
    (None for a BertModel), "config" (config.json), "hidden_act" (bert_config's),
    "do_lower_case", "do_lower_case_source", "tensors" (HF names written),
    "left_out" (checkpoint variables with no HF place: optimizer slots,
    pre-training heads), "warnings" and "check" (None with check=False).

  Raises:
    HFExportError or another bert.errors.InputError for a checkpoint that does
    not fit, a failed check; bert.errors.WriteError when --hf_dir cannot be
    written. Nothing is left in --hf_dir then.
  """
  from bert import modeling

  bert_config = modeling.BertConfig.from_dict(plan.model.bert_config)
  model, num_labels, left_out = _load_model(plan.model.checkpoint, bert_config, plan.model.labels)
  labels, warning = _head_labels(plan, num_labels)
  warnings = list(plan.warnings)
  if warning:
    logger.warning("%s", warning)
    warnings.append(warning)

  settings = bert_config.to_dict()
  pad_id = plan.tokens.index("[PAD]") if "[PAD]" in plan.tokens else 0
  config = hf_config(settings, labels, pad_id, plan.model.multi_label, run_settings(plan.model))
  values = {name: variable.numpy() for name, variable in model.variables_by_name.items()}
  tensors = hf_tensors(values, bert_config.num_hidden_layers, num_labels is not None)
  log_left_out(left_out, config["architectures"][0])

  with staging_beside(plan.hf_dir) as staging:
    _write_files(staging, plan, config, tensors, settings["max_position_embeddings"])
    weights_file = os.path.join(staging, SAFETENSORS_NAME)
    _check_read_back(weights_file, tensors)
    result = None
    if check:
      result = _compare_outputs(
        model, num_labels, weights_file, config, plan.tokens, settings, tolerance
      )
      logger.info(
        "Check passed: max |diff| %s (largest relative %.3g)",
        diff_text(result),
        result["max_rel_diff"],
      )
    else:
      logger.info("Check skipped (--no_check).")
    _TARGET.move_into_place(staging, plan.model.folder, plan.hf_dir, plan.overwrite)
  return {
    "hf_dir": plan.hf_dir,
    "files": sorted(os.listdir(plan.hf_dir)),
    "checkpoint": plan.model.checkpoint,
    "architecture": config["architectures"][0],
    "labels": labels,
    "config": config,
    "hidden_act": settings["hidden_act"],
    "do_lower_case": plan.do_lower_case,
    "do_lower_case_source": plan.do_lower_case_source,
    "tensors": list(tensors),
    "left_out": left_out,
    "warnings": warnings,
    "check": result,
  }


def export_to_hf(
  output_dir: str,
  hf_dir: str,
  checkpoint: str | None = None,
  do_lower_case: bool | None = None,
  overwrite: bool = False,
  check: bool = True,
  tolerance: float = DEFAULT_TOLERANCE,
) -> dict:
  """`plan_export` then `write_hf_folder`: the whole export from Python.

  Args:
    output_dir: the model folder to export (run_classifier.py output, pre-trained
      folder, bert-export-serving export).
    hf_dir: the HF folder to create; it must not exist or be empty unless
      `overwrite`, which replaces only an earlier HF folder (one with config.json).
    checkpoint: prefix relative to output_dir or a path; default: the newest.
    do_lower_case: the tokenizer's; default: run_config.json's, else True.
    overwrite: see `hf_dir`.
    check: compare our model's outputs with a NumPy pass of the written weights.
    tolerance: the largest accepted difference relative to the output scale.

  Returns:
    `write_hf_folder`'s summary.
  """
  plan = plan_export(output_dir, hf_dir, checkpoint, do_lower_case, overwrite)
  return write_hf_folder(plan, check=check, tolerance=tolerance)


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
  """The `bert-export-hf` flags; a bad command line is one line and exit status 2."""
  parser = errors.ArgumentParser(
    prog=PROG,
    description="Write a model folder (run_classifier.py output, pre-trained BERT) as a "
    "HuggingFace BERT folder: config.json, model.safetensors, vocab.txt, tokenizer_config.json.",
  )
  common.add_folder_flags(parser, "--hf_dir")
  common.add_bool_flag(
    parser,
    "--do_lower_case",
    "the tokenizer's lower-casing; default: run_config.json's, else true",
    default=None,
  )
  parser.add_argument(
    "--overwrite", action="store_true", help="replace an earlier HuggingFace folder in --hf_dir"
  )
  hf_common.add_check_flags(
    parser, "a NumPy forward pass of the written weights", DEFAULT_TOLERANCE
  )
  return parser


def _print_summary(summary: dict) -> None:
  config = summary["config"]
  labels = summary["labels"]
  print("Wrote %s (%s)" % (summary["hf_dir"], ", ".join(summary["files"])))
  print(
    "  from %s: %s%s, %d tensors, %s, hidden_act %s -> %s, do_lower_case=%s (%s)"
    % (
      summary["checkpoint"],
      summary["architecture"],
      " with %d labels" % len(labels) if labels is not None else "",
      len(summary["tensors"]),
      size_text(config),
      summary["hidden_act"],
      config["hidden_act"],
      str(summary["do_lower_case"]).lower(),
      summary["do_lower_case_source"],
    )
  )
  print_check(summary["check"])
  print_warnings(summary["warnings"])


def main(argv=None) -> int:
  """Console script `bert-export-hf`; returns the exit status.

  A bad command line exits 2; a folder that cannot be exported or written
  prints one line and returns 1. Every check of the folders runs before
  TensorFlow is imported, so a refused --hf_dir costs well under a second.
  """
  args = build_parser().parse_args(argv)

  def export() -> dict:
    common.check_tolerance(args.tolerance)
    plan = plan_export(
      args.output_dir, args.hf_dir, args.checkpoint, args.do_lower_case, args.overwrite
    )
    tf_startup.import_tensorflow()
    return write_hf_folder(plan, check=not args.no_check, tolerance=args.tolerance)

  return run_command(PROG, logger, export, _print_summary)


if __name__ == "__main__":
  sys.exit(main())
