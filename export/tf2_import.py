"""Imports a TF2 BERT encoder (Model Garden checkpoint, TF Hub SavedModel) into Google's layout.

    bert-import-tf2 --hub_dir DIR --output_dir DIR [--overwrite] [--no_check]
    bert-import-tf2 --checkpoint PATH [--encoder_config FILE] [--vocab_file FILE]
                    [--hidden_act NAME] --output_dir DIR [--overwrite] [--no_check]

--hub_dir is a TF Hub BERT encoder SavedModel folder (the `bert_en_uncased_L-12_H-768_A-12`
family: inputs `input_word_ids`, `input_mask`, `input_type_ids`, outputs `pooled_output`,
`sequence_output`, `encoder_outputs`; `assets/vocab.txt`; a `do_lower_case` variable).
--checkpoint is a TF Model Garden checkpoint holding a `BertEncoder` (`ckpt-N`, or a folder
with a `checkpoint` state file), optionally within a `BertClassifier` (its head becomes
run_classifier.py's `output_weights` / `output_bias`, with labels.json and run_config.json).
The sizes come from the tensors' shapes; --encoder_config (an EncoderConfig YAML/JSON, or a
bert_config.json) adds the activation and dropouts and is checked against them; without it,
such a file beside the checkpoint or one folder up is used. --output_dir gets:

    bert_config.json                      Google's keys
    bert_model.ckpt.index / .data-*       Google's names, attention kernels [hidden, hidden]
    vocab.txt

Unless --no_check, the written checkpoint is loaded into our `BertEncoder` and its outputs
(sequence, pooled, every layer) are compared with the source's own on fixed inputs: the
SavedModel run by TensorFlow, or tf-models-official's `BertEncoder` holding the checkpoint's
tensors (which needs `pip install 'bert-classic[tfm]'`). The folder is built beside
--output_dir and renamed into place only after that.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

from bert import errors, model_config, model_folder, tf_startup
from bert.console import run_command
from export import common, hf_common, hf_write, tf2_check, tf2_common, tf2_source
from export.hf_check import check_inputs
from export.hf_head import ClassifierHead
from export.hf_source import GOOGLE_CHECKPOINT_NAME, ImportLog
from export.hf_vocab import Vocab
from export.summary import diff_text, print_import_tail, size_text
from export.tf2_source import TF2ImportError

logger = logging.getLogger(__name__)

PROG = "bert-import-tf2"
DEFAULT_TOLERANCE = 1e-4
# bert_config.json's settings that the shapes do not give, as Model Garden's defaults have them.
_DEFAULT_SETTINGS = {
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "attention_probs_dropout_prob": 0.1,
  "initializer_range": 0.02,
}
# The files that describe a Model Garden checkpoint, looked for beside it and one folder up.
CONFIG_NAMES = (
  "encoder_config.yaml",
  "encoder_config.yml",
  "encoder_config.json",
  model_folder.BERT_CONFIG_FILENAME,
)


@dataclasses.dataclass
class Source:
  """The TF2 model being imported.

  Attributes:
    kind: "hub" or "garden".
    path: the folder or checkpoint the user named.
    variables: the checkpoint's variables by name.
    names: where the encoder (and head) are among them.
    config: bert_config.json's content.
    config_source: where the settings beyond the sizes come from.
    vocab_file: the vocab.txt to copy.
    do_lower_case: the tokenizer's setting when the source records it.
    labels_dir: where labels.json / run_config.json of a head are looked for.
  """

  kind: str
  path: str
  variables: tf2_source.TF2Variables
  names: tf2_source.EncoderNames
  config: dict
  config_source: str
  vocab_file: str
  do_lower_case: bool | None = None
  labels_dir: str | None = None


# ---------------------------------------------------------------------------
# Reading the source.
# ---------------------------------------------------------------------------


def _first_file(folders: list[str], names) -> str | None:
  for folder in folders:
    for name in names:
      path = os.path.join(folder, name)
      if os.path.isfile(path):
        return path
  return None


def _first_folder(folders: list[str], names) -> str | None:
  found = _first_file(folders, names)
  return os.path.dirname(found) if found else None


def _garden_prefix(path: str) -> str:
  """The checkpoint prefix `path` names: itself, or a folder's newest checkpoint."""
  return os.path.abspath(model_folder.local_checkpoint(path, TF2ImportError))


def _settings(sizes: dict, given: dict, given_source: str | None, hidden_act: str | None) -> dict:
  """bert_config.json: the sizes from the shapes, the rest from the config file or the defaults.

  A size the config file states must be the one the shapes have.
  """
  for key, value in sizes.items():
    if key in given and given[key] != value:
      raise TF2ImportError(
        "%s says %s %s but the checkpoint's tensors have %s"
        % (given_source, key, given[key], value)
      )
  config = dict(_DEFAULT_SETTINGS, **{k: v for k, v in given.items() if k not in sizes})
  if hidden_act is not None:
    config["hidden_act"] = hidden_act
  config.update(sizes)
  return {key: config[key] for key in model_config.CONFIG_KEYS}


def read_garden(
  checkpoint: str,
  encoder_config: str | None = None,
  vocab_file: str | None = None,
  hidden_act: str | None = None,
) -> Source:
  """A Model Garden checkpoint, its config and vocab (found beside it when not given)."""
  prefix = _garden_prefix(checkpoint)
  folders = [os.path.dirname(prefix), os.path.dirname(os.path.dirname(prefix))]
  config_file = encoder_config or _first_file(folders, CONFIG_NAMES)
  vocab_file = vocab_file or _first_file(folders, [model_folder.VOCAB_FILENAME])
  if vocab_file is None:
    raise TF2ImportError("no vocab.txt beside %s or one folder up: pass --vocab_file" % checkpoint)
  variables = tf2_source.read_variables(prefix)
  names = tf2_source.map_encoder_names(variables.keys)
  sizes = tf2_source.sizes_from_shapes(variables, names)
  given = tf2_source.read_config_file(config_file) if config_file else {}
  if hidden_act is not None:
    source = "--hidden_act"
  elif "hidden_act" in given:
    source = config_file
  else:
    source = "Model Garden's default"
  config = _settings(sizes, given, config_file, hidden_act)
  return Source(
    kind="garden",
    path=prefix,
    variables=variables,
    names=names,
    config=config,
    config_source=source,
    vocab_file=os.path.abspath(vocab_file),
    labels_dir=_first_folder(
      folders, [model_folder.LABELS_FILENAME, model_folder.RUN_CONFIG_FILENAME]
    ),
  )


def read_hub(hub_dir: str) -> Source:
  """A TF Hub BERT encoder SavedModel folder."""
  hub_dir = os.path.abspath(hub_dir)
  if not os.path.isdir(hub_dir):
    raise TF2ImportError(
      "--hub_dir %s %s"
      % (hub_dir, "is not a directory" if os.path.exists(hub_dir) else "does not exist")
    )
  if not any(
    os.path.isfile(os.path.join(hub_dir, n)) for n in ("saved_model.pb", "saved_model.pbtxt")
  ):
    raise TF2ImportError("--hub_dir %s has no saved_model.pb: not a SavedModel folder" % hub_dir)
  prefix = os.path.join(hub_dir, "variables", "variables")
  if not os.path.isfile(prefix + ".index"):
    raise TF2ImportError("--hub_dir %s has no variables/variables.index" % hub_dir)
  vocab_file = os.path.join(hub_dir, tf2_source.HUB_VOCAB)
  if not os.path.isfile(vocab_file):
    raise TF2ImportError(
      "--hub_dir %s has no %s (a SentencePiece model is not BERT's WordPiece)"
      % (hub_dir, tf2_source.HUB_VOCAB)
    )
  variables = tf2_source.read_variables(prefix)
  names = tf2_source.map_encoder_names(variables.keys)
  sizes = tf2_source.sizes_from_shapes(variables, names)
  act = tf2_source.hub_activation(hub_dir)
  config = _settings(sizes, {}, None, act)
  return Source(
    kind="hub",
    path=hub_dir,
    variables=variables,
    names=names,
    config=config,
    config_source="keras_metadata.pb" if act else "Model Garden's default",
    vocab_file=vocab_file,
    do_lower_case=tf2_source.hub_lower_case(prefix),
  )


def _head(source: Source, written: dict, log: ImportLog) -> ClassifierHead | None:
  """labels.json and run_config.json for a checkpoint with a classifier head (else None)."""
  if "output_weights" not in written:
    return None
  rows = written["output_weights"].shape[0]
  folder = source.labels_dir
  recorded = (model_folder.read_run_config(folder) or {}) if folder else {}
  settings_file = os.path.join(folder, model_folder.RUN_CONFIG_FILENAME) if folder else None
  labels = model_folder.find_labels([folder], recorded, settings_file) if folder else None
  labels = None if labels is None else list(labels)
  warnings = []
  if labels is None or len(labels) != rows:
    labels = [str(row) for row in range(rows)]
    warnings.append(
      "no labels.json with %d labels beside the checkpoint: the labels are named 0..%d"
      % (rows, rows - 1)
    )
  kept = ("do_lower_case", "multi_label") + hf_common.RUN_SETTINGS
  run_config = {key: recorded[key] for key in kept if key in recorded}
  run_config.update(imported_from=source.path, label_list=labels)
  run_config.setdefault("multi_label", False)
  for message in warnings:
    log.warn(message)
  return ClassifierHead(labels, run_config, {}, warnings)


# ---------------------------------------------------------------------------
# The import.
# ---------------------------------------------------------------------------


def _reference(source: Source, num_labels: int | None, inputs) -> dict:
  """The source model's own outputs on `inputs`."""
  if source.kind == "hub":
    return tf2_check.hub_outputs(source.path, inputs, TF2ImportError)
  import tensorflow as tf

  section = tf2_common.garden_encoder_config(source.config)
  encoder = tf2_check.build_encoder(section)
  classifier = None
  if num_labels is not None:
    classifier = tf2_check.build_classifier(encoder, num_labels, 0.1)
  model = classifier or encoder
  reader = tf.train.load_checkpoint(source.variables.prefix)
  for variable in model.variables:
    name = variable.name.rsplit(":", 1)[0]
    full = name if name.startswith(tf2_common.HEAD_NAME + "/") else source.names.prefix + name
    if full not in source.variables.keys:
      raise TF2ImportError(
        "tf-models-official's BertEncoder for this config has %s, which the checkpoint lacks" % name
      )
    variable.assign(reader.get_tensor(source.variables.keys[full]))
  return tf2_check.garden_outputs(encoder, classifier, inputs)


def _check(
  folder: str,
  source: Source,
  tokens: list[str],
  num_labels: int | None,
  tolerance: float,
  log: ImportLog,
) -> dict:
  """Compares our model on the staged checkpoint with the source model; raises above tolerance."""
  inputs = check_inputs(source.config, tokens)
  prefix = os.path.join(folder, GOOGLE_CHECKPOINT_NAME)
  result = tf2_check.compare(
    tf2_check.ours(prefix, source.config, num_labels, inputs),
    _reference(source, num_labels, inputs),
    tolerance,
  )
  if not result["passed"]:
    raise TF2ImportError(
      "check failed: the imported model's outputs differ from the source's by up to %.3g "
      "relative to the output scale (max |diff| %s; tolerance %g); nothing was written "
      "(--no_check skips the check)" % (result["max_rel_diff"], diff_text(result), tolerance)
    )
  log.info("Check passed: max |diff| %s", diff_text(result))
  return result


def import_tf2_bert(
  source: Source,
  output_dir: str,
  overwrite: bool = False,
  check: bool = True,
  tolerance: float = DEFAULT_TOLERANCE,
) -> dict:
  """Writes `source` in Google's layout to `output_dir` (checked, then moved into place).

  Returns:
    A summary dict: "output_dir", "files", "source", "kind", "config", "config_source",
    "mapped" (Google name -> source variable name), "set_aside" ([key, reason]),
    "unmapped" (source variables not written), "labels", "do_lower_case",
    "warnings" and "check" (None when skipped).

  Raises:
    TF2ImportError (a bert.errors.InputError) for a source that cannot be imported or a
    failed check, bert.errors.WriteError when `output_dir` cannot be written; the message
    is one line and nothing is left in `output_dir`.
  """
  output_dir = os.path.abspath(output_dir)
  log = ImportLog(logger)
  hf_write.prepare_output_dir(output_dir, overwrite, [source.path])
  tokens = model_config.read_vocab_tokens(source.vocab_file)
  model_config.check_vocab(
    {t: i for i, t in enumerate(tokens)}, source.vocab_file, source.config, "the checkpoint"
  )
  log.info(
    "Read %d variables from %s; hidden_act %s (%s)",
    len(source.variables.keys),
    source.variables.prefix,
    source.config["hidden_act"],
    source.config_source,
  )
  written = tf2_source.google_tensors(source.variables, source.names, source.config)
  for key, reason in source.variables.set_aside:
    log.info("Skipped %s (%s)", key, reason)
  if source.names.unmapped:
    log.warn(
      "%d variable(s) not imported (no place in Google's BERT): %s"
      % (len(source.names.unmapped), ", ".join(source.names.unmapped))
    )
  head = _head(source, written, log)
  num_labels = len(head.labels) if head else None

  def check_staged(folder: str) -> dict:
    return _check(folder, source, tokens, num_labels, tolerance, log)

  vocab = Vocab(tokens, source.vocab_file)
  result = hf_write.write_folder(
    output_dir, overwrite, source.config, vocab, written, head, check_staged if check else None, log
  )
  return {
    "output_dir": output_dir,
    "files": sorted(os.listdir(output_dir)),
    "source": source.path,
    "kind": source.kind,
    "config": source.config,
    "config_source": source.config_source,
    "mapped": dict(source.names.mapping),
    "set_aside": [list(item) for item in source.variables.set_aside],
    "unmapped": list(source.names.unmapped),
    "labels": head.labels if head else None,
    "do_lower_case": source.do_lower_case,
    "warnings": log.warnings,
    "check": result,
  }


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
  """The `bert-import-tf2` flags; a bad command line is one line and exit status 2."""
  parser = errors.ArgumentParser(
    prog=PROG,
    description="Import a TF2 BERT encoder, a TF Hub SavedModel folder or a TF Model Garden "
    "checkpoint, into Google's BERT layout: bert_config.json, bert_model.ckpt.*, vocab.txt.",
  )
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument("--hub_dir", metavar="DIR", help="TF Hub BERT encoder SavedModel folder")
  source.add_argument(
    "--checkpoint",
    metavar="PATH",
    help="Model Garden checkpoint (ckpt-N prefix, or a folder with a checkpoint state file)",
  )
  parser.add_argument(
    "--encoder_config",
    metavar="FILE",
    help="with --checkpoint: its encoder config (YAML/JSON) or bert_config.json; default: "
    "one beside the checkpoint or one folder up",
  )
  parser.add_argument(
    "--vocab_file", metavar="FILE", help="with --checkpoint: default vocab.txt beside it"
  )
  parser.add_argument(
    "--hidden_act",
    choices=sorted(set(tf2_common.GARDEN_TO_GOOGLE_ACT.values())),
    help="with --checkpoint: the activation, when no config says (default gelu, the tanh form)",
  )
  parser.add_argument("--output_dir", required=True, metavar="DIR", help="folder to write")
  parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output_dir")
  hf_common.add_check_flags(parser, "the source model's own", DEFAULT_TOLERANCE)
  return parser


def _read_source(args) -> Source:
  """The source the flags name; flags that would be ignored, or a check tfm cannot run, are
  refused before TensorFlow starts."""
  if args.hub_dir is not None:
    given = [f for f in ("encoder_config", "vocab_file", "hidden_act") if getattr(args, f)]
    if given:
      raise errors.UsageError(
        "--%s would be ignored with --hub_dir (the SavedModel says it)" % given[0]
      )
    tf_startup.import_tensorflow()
    return read_hub(args.hub_dir)
  if not args.no_check:
    tf2_common.check_installed("checking a Model Garden import (--no_check skips it)")
  tf_startup.import_tensorflow()
  return read_garden(args.checkpoint, args.encoder_config, args.vocab_file, args.hidden_act)


def _print_summary(summary: dict) -> None:
  config = summary["config"]
  print("Wrote %s (%s)" % (summary["output_dir"], ", ".join(summary["files"])))
  print(
    "  from %s: %d tensors, %s, hidden_act %s (%s)"
    % (
      summary["source"],
      len(summary["mapped"]),
      size_text(config),
      config["hidden_act"],
      summary["config_source"],
    )
  )
  print_import_tail(summary)


def main(argv=None) -> int:
  """Console script `bert-import-tf2`; returns the exit status (2: bad command line, else 1)."""
  args = build_parser().parse_args(argv)

  def convert() -> dict:
    common.check_tolerance(args.tolerance)
    source = _read_source(args)
    return import_tf2_bert(
      source, args.output_dir, args.overwrite, check=not args.no_check, tolerance=args.tolerance
    )

  return run_command(PROG, logger, convert, _print_summary)


if __name__ == "__main__":
  sys.exit(main())
