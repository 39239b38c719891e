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

The steps, in the order `import_hf_bert` takes them: `hf_source` (find the
model folder, check config.json, read the weights files), `hf_vocab` (vocab and
tokenizer facts), `hf_weights` (Google names, shapes, pooler), `hf_head` (a
sequence classifier's labels and settings), `hf_write` (staging, writing, moving
into place) and `hf_check` (the comparison with the source).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from bert import errors, tf_startup
from bert.console import run_command
from bert.model_config import CONFIG_KEYS as GOOGLE_CONFIG_KEYS
from export import common, hf_check, hf_common, hf_head, hf_source, hf_vocab, hf_weights, hf_write
from export.hf_check import check_inputs
from export.hf_common import google_bert_names
from export.hf_source import (
  CONFIG_NAME,
  GOOGLE_CHECKPOINT_NAME,
  MINILM_DISTRIBUTION,
  MINILM_MODULE,
  OTHER_WEIGHT_NAMES,
  PYTORCH_INDEX_NAME,
  PYTORCH_NAME,
  SAFETENSORS_INDEX_NAME,
  SAFETENSORS_NAME,
  VOCAB_NAME,
  WEIGHT_NAMES,
  HFImportError,
  find_minilm_package_dir,
  find_model_dir,
  hf_config_to_google,
  read_hf_weights,
)
from export.hf_weights import map_hf_names
from export.summary import print_import_tail, size_text

# The steps live in hf_source, hf_vocab, hf_weights, hf_head, hf_write and hf_check;
# these names stay importable from here.
__all__ = [
  "CONFIG_NAME",
  "DEFAULT_TOLERANCE",
  "GOOGLE_CHECKPOINT_NAME",
  "GOOGLE_CONFIG_KEYS",
  "MINILM_DISTRIBUTION",
  "MINILM_MODULE",
  "OTHER_WEIGHT_NAMES",
  "PROG",
  "PYTORCH_INDEX_NAME",
  "PYTORCH_NAME",
  "SAFETENSORS_INDEX_NAME",
  "SAFETENSORS_NAME",
  "VOCAB_NAME",
  "WEIGHT_NAMES",
  "HFImportError",
  "build_parser",
  "check_inputs",
  "find_minilm_package_dir",
  "find_model_dir",
  "google_bert_names",
  "hf_config_to_google",
  "import_hf_bert",
  "main",
  "map_hf_names",
  "read_hf_weights",
]

logger = logging.getLogger(__name__)

PROG = "bert-import-hf"
DEFAULT_TOLERANCE = 1e-4


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
  log = hf_source.ImportLog(logger)
  source = hf_source.read_source(hf_dir, log)
  hf_write.prepare_output_dir(output_dir, overwrite, [hf_dir, source.model_dir])
  vocab = hf_vocab.read_vocab(source.search_dirs, source.google_config["vocab_size"], log)
  hf_source.note_config(source, log)
  weights = hf_weights.read_weights(source.model_dir, source.google_config, log)
  hf_weights.add_missing_pooler(weights, source.google_config, log)
  hf_weights.note_leftovers(weights, log)
  facts = hf_vocab.read_tokenizer_facts(source.search_dirs, log)
  head = _classifier_head(weights.written, source, facts, log)
  google_config = source.google_config
  if head is not None:
    google_config = dict(google_config, **head.config_extra)

  def check_staged(folder: str) -> dict:
    return hf_check.check_import(
      folder, weights.written, weights.reference, source.hf_config, vocab.tokens, tolerance, log
    )

  check_result = hf_write.write_folder(
    output_dir,
    overwrite,
    google_config,
    vocab,
    weights.written,
    head,
    check_staged if check else None,
    log,
  )
  return _summary(output_dir, source, google_config, vocab, weights, head, facts, log, check_result)


def _classifier_head(
  written: dict, source: hf_source.Source, facts: dict, log: hf_source.ImportLog
) -> hf_head.ClassifierHead | None:
  """`hf_head.read_head` for this import, its warnings and labels logged; a head
  that does not fit is an HFImportError."""
  google_config = source.google_config
  try:
    head = hf_head.read_head(
      written,
      source.hf_config,
      google_config["hidden_size"],
      facts["do_lower_case"],
      facts["model_max_length"],
      google_config["max_position_embeddings"],
      os.path.abspath(source.model_dir),
    )
  except ValueError as e:
    raise HFImportError(str(e)) from None
  if head is not None:
    for message in head.warnings:
      log.warn(message)
    log.info(
      "Classifier head: %d labels (%s)%s",
      len(head.labels),
      ", ".join(head.labels),
      ", multi-label" if head.run_config["multi_label"] else "",
    )
  return head


def _summary(
  output_dir: str,
  source: hf_source.Source,
  google_config: dict,
  vocab: hf_vocab.Vocab,
  weights: hf_weights.GoogleWeights,
  head: hf_head.ClassifierHead | None,
  facts: dict,
  log: hf_source.ImportLog,
  check_result: dict | None,
) -> dict:
  """The dict `import_hf_bert` returns (its keys are listed there)."""
  names = weights.names
  mapping = names["mapping"]
  return {
    "output_dir": output_dir,
    "checkpoint": os.path.join(output_dir, GOOGLE_CHECKPOINT_NAME),
    "files": sorted(os.listdir(output_dir)),
    "model_dir": os.path.abspath(source.model_dir),
    "weights_files": [os.path.abspath(f) for f in weights.files],
    "source_dtypes": sorted(set(weights.dtypes[h] for h, _ in mapping.values())),
    "config": google_config,
    "hidden_act_source": source.hf_config["hidden_act"],
    "layer_norm_eps": float(source.hf_config["layer_norm_eps"]),
    "name_prefix": names["prefix"],
    "mapped": {g: h for g, (h, _) in mapping.items()},
    "num_variables": len(weights.written),
    "skipped": [list(s) for s in names["skipped"]],
    "unmapped": list(names["unmapped"]),
    "pooler_initialised": weights.pooler_initialised,
    "labels": head.labels if head else None,
    "vocab_size_file": len(vocab.tokens),
    "do_lower_case": facts["do_lower_case"],
    "sentence_transformers": facts["sentence_transformers"],
    "warnings": log.warnings,
    "check": check_result,
    "max_abs_diff": check_result["max_abs_diff"] if check_result else None,
  }


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
    "  from %s: %d variables, %s, hidden_act %s -> %s"
    % (
      summary["model_dir"],
      summary["num_variables"],
      size_text(config),
      summary["hidden_act_source"],
      config["hidden_act"],
    )
  )
  print_import_tail(summary)


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

  return run_command(PROG, logger, convert, _print_summary)


if __name__ == "__main__":
  sys.exit(main())
