"""Exports a model folder as a SavedModel for TensorFlow Serving.

The source is a run_classifier.py output_dir (fine-tuned: the classifier head is
exported) or a pre-trained folder in Google's layout (`bert_model.ckpt`, `vocab.txt`,
`bert_config.json`: sentence vectors only). TensorFlow Serving's layout is written:

    export_dir/
      <version>/                    the next number unless --version names one
        saved_model.pb
        variables/
        assets/vocab.txt
        assets.extra/export_info.json   source checkpoint, tokenizer settings, labels

Signatures (inputs -> outputs; B = batch size, T = sequence length, L = labels):

    serving_default     input_ids, input_mask, segment_ids (int32 [B, T], T up to
                        max_position_embeddings) -> probabilities (float32 [B, L]),
                        label_ids (int32 [B]), labels (string [B])
    classify_text       text_a (string [B]) -> the same outputs
    classify_text_pair  text_a, text_b (string [B]) -> the same outputs
    encode              text (string [B]) -> embeddings (float32 [B, H]): the mean of a
                        hidden layer over the tokens, as bert-as-service's REDUCE_MEAN

A pre-trained folder has no classifier head and gets `encode` only. The text signatures
tokenize inside the graph with Google's rules (`export.text_graph`), using the run's
do_lower_case and max_seq_length; a client needs no tokenizer. A run trained with
--doc_stride classifies each text in the same windows, pooled as --window_pooling says.
Loading the SavedModel takes `import tensorflow_text` before `tf.saved_model.load`
(TensorFlow Serving's model server has those ops built in).

Everything that can be checked without TensorFlow is checked first, so a refused
command ends at once. The version folder is built beside its final place, loaded back
and compared with the model in memory, then renamed into place: a failed export leaves
nothing behind.

Usage:

    bert-export-savedmodel --output_dir output --export_dir exported
    docker run -p 8501:8501 -v "$PWD/exported:/models/bert" -e MODEL_NAME=bert tensorflow/serving
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
import sys

from bert import errors, model_config, model_folder
from bert.console import run_command
from bert.errors import WriteError
from bert.model_folder import ModelFolder
from bert.target_folder import (
  TargetRules,
  outermost_missing,
  staging_beside,
  target_path,
  writing,
)
from export import common

PROGRAM = "bert-export-savedmodel"

SAVED_MODEL_FILENAME = "saved_model.pb"
INFO_FILENAME = os.path.join("assets.extra", "export_info.json")
# Google's run_classifier.py default, for folders whose run_config.json does not say.
DEFAULT_MAX_SEQ_LENGTH = 128
# bert-as-service's default -pooling_layer: the second-to-last encoder layer.
DEFAULT_POOLING_LAYER = -2
# Sample texts run through the written model and the one in memory before the rename.
_PROBE_TEXTS = ("Hello, World! This is a probe.", "Ein schöner Tag. 今天天气很好。", "")

_VERSION_NAME = re.compile(r"^\d+$")

logger = logging.getLogger(__name__)


class ExportError(errors.InputError):
  """The export cannot be made from these inputs; nothing was written."""


NAMING = model_folder.Naming(
  error=ExportError, folder_flag="output_dir", checkpoint_flag="--ckpt_name"
)

# A version folder may be replaced when it is empty, or with --overwrite when it holds a SavedModel.
_TARGET = TargetRules(
  error=ExportError,
  source_flag="output_dir",
  markers=(SAVED_MODEL_FILENAME,),
  busy_hint=" (pass --overwrite to replace it, or another --version)",
)


@dataclasses.dataclass
class ExportPlan:
  """What an export reads and writes, settled before TensorFlow is imported.

  Attributes:
    model: the source folder: checkpoint, bert_config.json, vocab.txt (shipped in
      the SavedModel's assets), labels (None: pre-trained folder), multi-label
      threshold and --doc_stride windows, as the run recorded them.
    do_lower_case: the tokenizer's setting.
    max_seq_length: the longest sequence the text signatures build.
    pooling_layer: the encoder layer `encode` averages.
    target: the version folder to create, `<export_dir>/<version>`.
    created: the outermost folder above `target` that did not exist when the
      plan was made, if any (writing works it out again when it starts).
  """

  model: ModelFolder
  do_lower_case: bool
  max_seq_length: int
  pooling_layer: int
  target: str
  created: str | None = None


def export_savedmodel(output_dir: str, export_dir: str, **settings) -> str:
  """Writes `<export_dir>/<version>/`, a SavedModel of the folder's model.

  Args:
    output_dir, export_dir, **settings: `plan_export`'s arguments (ckpt_name, version,
      overwrite, do_lower_case, max_seq_length, pooling_layer), by name.

  Returns:
    The absolute path of the version folder.

  Raises:
    ExportError, bert.errors.UsageError: a bad input or setting; nothing was written.
    bert.errors.WriteError: writing failed; nothing was left behind.
  """
  plan = plan_export(output_dir, export_dir, **settings)
  write_export(plan, settings.get("overwrite", False))
  return plan.target


# -- checks without TensorFlow ------------------------------------------------


def plan_export(
  output_dir: str,
  export_dir: str,
  ckpt_name: str | None = None,
  version: int | None = None,
  overwrite: bool = False,
  do_lower_case: bool | None = None,
  max_seq_length: int | None = None,
  pooling_layer: int = DEFAULT_POOLING_LAYER,
) -> ExportPlan:
  """Reads and checks everything `export_savedmodel` needs, without importing TensorFlow.

  Args:
    output_dir: a run_classifier.py output_dir, or a pre-trained model folder.
    export_dir: TensorFlow Serving's model base path; created if missing.
    ckpt_name: the checkpoint, relative to output_dir (`model.ckpt-343`) or a full
      prefix. Default: the newest in the `checkpoint` state file, else `bert_model.ckpt`.
    version: the version number; default one more than the highest in export_dir (1).
    overwrite: replace an earlier SavedModel of the same version.
    do_lower_case: default run_config.json's, else True.
    max_seq_length: default run_config.json's, else 128 (or max_position_embeddings, if
      smaller).
    pooling_layer: the encoder layer that `encode` averages (-1 is the last).

  Raises:
    ExportError, bert.errors.UsageError: a bad input or setting.
  """
  model_dir = os.path.abspath(output_dir)
  if not os.path.isdir(model_dir):
    raise ExportError("output_dir %s is not a directory" % output_dir)
  export_dir = target_path(export_dir)
  if os.path.exists(export_dir) and not os.path.isdir(export_dir):
    raise ExportError("export_dir %s exists and is not a directory" % export_dir)
  target = os.path.join(export_dir, str(_next_version(export_dir) if version is None else version))
  _TARGET.check(model_dir, target, overwrite)
  model = model_folder.open_folder(model_dir, ckpt_name, NAMING)
  config = model.bert_config

  if do_lower_case is None:
    do_lower_case = model.trained.get("do_lower_case", True)
  from bert import tokenization  # TensorFlow-free.

  try:  # A released cased model (e.g. cased_L-12_H-768_A-12) must not be lower-cased.
    tokenization.validate_case_matches_checkpoint(
      do_lower_case, model.settings.get("init_checkpoint") or model.checkpoint
    )
  except ValueError as e:
    raise errors.UsageError(errors.first_line(e)) from None

  positions = config["max_position_embeddings"]
  if max_seq_length is None:
    max_seq_length = model.trained.get("max_seq_length", min(DEFAULT_MAX_SEQ_LENGTH, positions))
  if not 3 <= max_seq_length <= positions:
    raise errors.UsageError(
      "max_seq_length %d is out of range: at least 3 and at most the model's "
      "max_position_embeddings %d" % (max_seq_length, positions)
    )
  layers = config["num_hidden_layers"]
  if not -layers <= pooling_layer < layers:
    raise errors.UsageError(
      "pooling_layer %d is out of range: the model has %d layers (-%d to %d)"
      % (pooling_layer, layers, layers, layers - 1)
    )
  tokens = model_config.read_vocab_tokens(model.vocab_file)
  vocab = {token: i for i, token in enumerate(tokens)}
  model_config.check_vocab(vocab, model.vocab_file, config, model.config_file, ExportError)
  return ExportPlan(
    model=model,
    do_lower_case=do_lower_case,
    max_seq_length=max_seq_length,
    pooling_layer=pooling_layer,
    target=target,
    created=outermost_missing(export_dir),
  )


def _next_version(export_dir: str) -> int:
  """One more than the highest numbered folder in export_dir, or 1."""
  if not os.path.isdir(export_dir):
    return 1
  numbers = [int(name) for name in os.listdir(export_dir) if _VERSION_NAME.match(name)]
  return max(numbers, default=0) + 1


# -- building and writing (TensorFlow) ----------------------------------------


def write_export(plan: ExportPlan, overwrite: bool = False) -> None:
  """Builds the SavedModel of `plan`, checks it and moves it into place."""
  from bert import tf_startup

  tf = tf_startup.import_tensorflow()
  try:
    import tensorflow_text  # noqa: F401  (the text signatures' ops)
  except ImportError:
    raise ExportError(
      "tensorflow-text is not installed: pip install 'bert-classic[savedmodel]'"
    ) from None

  module = _build(plan)
  signatures = module.signatures()
  with staging_beside(plan.target) as staging:
    with writing("cannot write the SavedModel into", plan.target, tf.errors.OpError):
      tf.saved_model.save(module, staging, signatures=signatures)
      _write_info(plan, staging, module, sorted(signatures), tf)
    _check_written(signatures, staging, tf)
    replaced = _TARGET.move_into_place(staging, plan.model.folder, plan.target, overwrite)
  if replaced:
    logger.info("Replaced the earlier SavedModel in %s", plan.target)
  logger.info("Exported %s to %s", plan.model.checkpoint, plan.target)
  logger.info("Signatures: %s", ", ".join(sorted(signatures)))
  logger.info(
    "Serve it: docker run -p 8501:8501 -v %s:/models/bert -e MODEL_NAME=bert tensorflow/serving",
    os.path.dirname(plan.target),
  )


def _build(plan: ExportPlan):
  """The module to save: the checkpoint's model, its tokenizer and signatures."""
  from bert import checkpoint, classifier_model, modeling, tokenization
  from export import savedmodel_signatures
  from export.text_graph import TextEncoder

  source = plan.model
  shapes = checkpoint.checkpoint_shapes(source.checkpoint, ExportError)
  try:
    text_encoder = TextEncoder(
      tokenization.load_vocab(source.vocab_file), plan.do_lower_case, plan.max_seq_length
    )
  except ValueError as e:
    raise ExportError("%s: %s" % (source.vocab_file, e)) from None
  bert_config = modeling.BertConfig.from_dict(source.bert_config)
  serving = dict(
    text_encoder=text_encoder, pooling_layer=plan.pooling_layer, vocab_file=source.vocab_file
  )
  num_labels = model_config.head_size(
    source.checkpoint, shapes, bert_config.hidden_size, ExportError, source.labels
  )
  if num_labels is None:
    logger.warning(
      "Checkpoint %s has no classifier head (%s): the export has the encode signature only",
      source.checkpoint,
      " and ".join(model_config.HEAD_NAMES),
    )
    encoder = classifier_model.load_classifier(source.checkpoint, bert_config, None)
    return savedmodel_signatures.EncoderServingModule(encoder, **serving)
  labels = list(source.labels) if source.labels is not None else None
  if labels is None:
    labels = [str(i) for i in range(num_labels)]
    logger.warning("No labels.json in %s: the labels are named %s", source.folder, labels)
  classifier = classifier_model.load_classifier(
    source.checkpoint, bert_config, num_labels, source.multi_label
  )
  if source.doc_stride:
    logger.info(
      "The text signatures classify in windows, as the run was trained: every %d tokens, "
      "logits pooled by %s",
      source.doc_stride,
      source.window_pooling,
    )
  return savedmodel_signatures.ClassifierServingModule(
    classifier,
    labels,
    threshold=source.multi_label_threshold if source.multi_label else None,
    doc_stride=source.doc_stride,
    window_pooling=source.window_pooling,
    **serving,
  )


def _probe_inputs(tf) -> dict:
  """Arguments for each signature, made of `_PROBE_TEXTS`."""
  texts = tf.constant(_PROBE_TEXTS)
  ids = tf.constant([[2, 3, 4, 3], [2, 5, 3, 0], [2, 3, 0, 0]], tf.int32)
  return {
    "serving_default": {"input_ids": ids, "input_mask": tf.sign(ids), "segment_ids": ids * 0},
    "classify_text": {"text_a": texts},
    "classify_text_pair": {"text_a": texts, "text_b": tf.reverse(texts, [0])},
    "encode": {"text": texts},
  }


def _check_written(signatures: dict, saved_dir: str, tf) -> None:
  """Loads the SavedModel back and runs every signature against the model in memory."""
  import numpy as np

  loaded = tf.saved_model.load(saved_dir)
  for name, inputs in _probe_inputs(tf).items():
    if name not in signatures:
      continue
    want = signatures[name](**inputs)
    got = loaded.signatures[name](**inputs)
    for key, value in want.items():
      same = (
        np.array_equal(got[key].numpy(), value.numpy())
        if value.dtype in (tf.string, tf.int32)
        else np.allclose(got[key].numpy(), value.numpy(), rtol=0, atol=1e-6)
      )
      if not same:
        raise WriteError(
          "the written SavedModel %s does not reproduce the model: signature %s, output %s"
          % (saved_dir, name, key)
        )


def _write_info(plan: ExportPlan, saved_dir: str, module, signatures: list, tf) -> None:
  """assets.extra/export_info.json: where the export came from and how it tokenizes."""
  from bert import checkpoint as ckpt_lib

  os.makedirs(os.path.join(saved_dir, os.path.dirname(INFO_FILENAME)), exist_ok=True)
  model_folder.write_json(
    os.path.join(saved_dir, INFO_FILENAME),
    {
      "source_checkpoint": plan.model.checkpoint,
      "global_step": ckpt_lib.checkpoint_step(plan.model.checkpoint),
      "signatures": signatures,
      "labels": getattr(module, "labels", None),
      "do_lower_case": plan.do_lower_case,
      "max_seq_length": plan.max_seq_length,
      "doc_stride": plan.model.doc_stride,
      "window_pooling": plan.model.window_pooling,
      "pooling_layer": plan.pooling_layer,
      "tensorflow_version": tf.__version__,
    },
  )


# -- command line -------------------------------------------------------------


def _version(text: str) -> int:
  if not _VERSION_NAME.match(text):
    raise argparse.ArgumentTypeError("expected a non-negative integer, got %r" % text)
  return int(text)


def build_parser() -> argparse.ArgumentParser:
  """The `bert-export-savedmodel` flags; a bad command line is one line and exit status 2."""
  parser = errors.ArgumentParser(
    prog=PROGRAM,
    description="Export a run_classifier.py output_dir (or a pre-trained model folder) as a "
    "SavedModel for TensorFlow Serving: <export_dir>/<version>/saved_model.pb with the "
    "signatures serving_default (ids), classify_text, classify_text_pair and encode.",
  )
  parser.add_argument(
    "--output_dir", required=True, help="the run_classifier.py output_dir or pre-trained folder"
  )
  parser.add_argument(
    "--export_dir", required=True, help="TensorFlow Serving's model folder (holds the versions)"
  )
  parser.add_argument(
    "--ckpt_name",
    default=None,
    help="checkpoint prefix, relative to output_dir (model.ckpt-343) or full; default: the newest",
  )
  parser.add_argument(
    "--version",
    type=_version,
    default=None,
    help="version folder number; default: one more than the highest there (1 in a new folder)",
  )
  common.add_bool_flag(parser, "--overwrite", "replace an earlier SavedModel of the same version")
  common.add_bool_flag(
    parser,
    "--do_lower_case",
    "tokenizer setting; default: run_config.json's, else true",
    default=None,
  )
  parser.add_argument(
    "--max_seq_length",
    type=int,
    default=None,
    help="longest sequence the text signatures build; default: run_config.json's, else %d "
    "(at most max_position_embeddings)" % DEFAULT_MAX_SEQ_LENGTH,
  )
  parser.add_argument(
    "--pooling_layer",
    type=int,
    default=DEFAULT_POOLING_LAYER,
    help="encoder layer that the encode signature averages (bert-as-service's default -2)",
  )
  return parser


def main(argv=None) -> int:
  """`bert-export-savedmodel` console script; returns the exit status.

  A bad command line exits 2; a bad input or a failed write prints one line and
  returns 1 (2 for a bad setting).
  """
  args = build_parser().parse_args(argv)
  # Each flag is named after the export_savedmodel argument it sets.
  return run_command(PROGRAM, logger, lambda: export_savedmodel(**vars(args)))


if __name__ == "__main__":
  sys.exit(main())
