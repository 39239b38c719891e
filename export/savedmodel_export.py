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
import json
import logging
import os
import re
import sys

from bert import errors, model_folder
from bert.errors import WriteError
from export import common
from export.common import HEAD_NAMES
from export.serving_export import count_vocab_lines

PROGRAM = "bert-export-savedmodel"

SAVED_MODEL_FILENAME = "saved_model.pb"
INFO_FILENAME = os.path.join("assets.extra", "export_info.json")
PRETRAINED_CHECKPOINT = "bert_model.ckpt"
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


# A version folder may be replaced when it is empty, or with --overwrite when it holds a SavedModel.
_TARGET = common.TargetRules(
  error=ExportError,
  source_flag="output_dir",
  markers=(SAVED_MODEL_FILENAME,),
  busy_hint=" (pass --overwrite to replace it, or another --version)",
)


@dataclasses.dataclass
class ExportPlan:
  """What an export reads and writes, settled before TensorFlow is imported.

  Attributes:
    model_dir: the source folder (absolute).
    checkpoint: the checkpoint prefix to export.
    config: bert_config.json as a dict.
    labels: the label strings in output order, or None (pre-trained folder).
    do_lower_case: the tokenizer's setting.
    max_seq_length: the longest sequence the text signatures build.
    pooling_layer: the encoder layer `encode` averages.
    target: the version folder to create, `<export_dir>/<version>`.
    created: the outermost folder above `target` that did not exist when the
      plan was made, if any (writing works it out again when it starts).
    multi_label_threshold: for a multi-label run (run_config.json), the
      probability at which a label is predicted; None for single-label runs.
    doc_stride: a run trained with --doc_stride windows (run_config.json): the
      text signatures cut texts into the same windows; 0 for none.
    window_pooling: how the windows' logits are pooled ("mean" or "max").
  """

  model_dir: str
  checkpoint: str
  config: dict
  labels: list | None
  do_lower_case: bool
  max_seq_length: int
  pooling_layer: int
  target: str
  created: str | None = None
  multi_label_threshold: float | None = None
  doc_stride: int = 0
  window_pooling: str = "mean"

  @property
  def vocab_file(self) -> str:
    """The vocab.txt of the source folder, shipped in the SavedModel's assets."""
    return os.path.join(self.model_dir, model_folder.VOCAB_FILENAME)


def export_savedmodel(
  output_dir: str,
  export_dir: str,
  ckpt_name: str | None = None,
  version: int | None = None,
  overwrite: bool = False,
  do_lower_case: bool | None = None,
  max_seq_length: int | None = None,
  pooling_layer: int = DEFAULT_POOLING_LAYER,
) -> str:
  """Writes `<export_dir>/<version>/`, a SavedModel of the folder's model.

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

  Returns:
    The absolute path of the version folder.

  Raises:
    ExportError, bert.errors.UsageError: a bad input or setting; nothing was written.
    bert.errors.WriteError: writing failed; nothing was left behind.
  """
  plan = plan_export(
    output_dir,
    export_dir,
    ckpt_name,
    version,
    overwrite,
    do_lower_case,
    max_seq_length,
    pooling_layer,
  )
  write_export(plan, overwrite)
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
  """Reads and checks everything `export_savedmodel` needs, without importing TensorFlow."""
  model_dir = os.path.abspath(output_dir)
  if not os.path.isdir(model_dir):
    raise ExportError("output_dir %s is not a directory" % output_dir)
  export_dir = common.target_path(export_dir)
  if os.path.exists(export_dir) and not os.path.isdir(export_dir):
    raise ExportError("export_dir %s exists and is not a directory" % export_dir)
  target = os.path.join(export_dir, str(_next_version(export_dir) if version is None else version))
  _TARGET.check(model_dir, target, overwrite)

  for name in (model_folder.VOCAB_FILENAME, model_folder.BERT_CONFIG_FILENAME):
    if not os.path.isfile(os.path.join(model_dir, name)):
      raise ExportError("%s has no %s" % (model_dir, name))
  config = _read_config(os.path.join(model_dir, model_folder.BERT_CONFIG_FILENAME))
  run_config = model_folder.read_run_config(model_dir) or {}
  checkpoint = _find_checkpoint(model_dir, ckpt_name)

  if do_lower_case is None:
    do_lower_case = bool(run_config.get("do_lower_case", True))
  from bert import tokenization  # TensorFlow-free.

  try:  # A released cased model (e.g. cased_L-12_H-768_A-12) must not be lower-cased.
    tokenization.validate_case_matches_checkpoint(
      do_lower_case, run_config.get("init_checkpoint") or checkpoint
    )
  except ValueError as e:
    raise errors.UsageError(errors.first_line(e)) from None

  positions = config["max_position_embeddings"]
  if max_seq_length is None:
    max_seq_length = int(run_config.get("max_seq_length", min(DEFAULT_MAX_SEQ_LENGTH, positions)))
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
  vocab_file = os.path.join(model_dir, model_folder.VOCAB_FILENAME)
  if count_vocab_lines(vocab_file) > config["vocab_size"]:
    raise ExportError(
      "%s has more tokens than the vocab_size %d of %s"
      % (vocab_file, config["vocab_size"], model_folder.BERT_CONFIG_FILENAME)
    )

  return ExportPlan(
    model_dir=model_dir,
    checkpoint=checkpoint,
    config=config,
    labels=model_folder.read_folder_labels(model_dir, run_config),
    do_lower_case=do_lower_case,
    max_seq_length=max_seq_length,
    pooling_layer=pooling_layer,
    target=target,
    created=common.outermost_missing(export_dir),
    multi_label_threshold=(
      float(run_config.get("multi_label_threshold", 0.5)) if run_config.get("multi_label") else None
    ),
    doc_stride=int(run_config.get("doc_stride") or 0),
    window_pooling=run_config.get("window_pooling") or "mean",
  )


def _next_version(export_dir: str) -> int:
  """One more than the highest numbered folder in export_dir, or 1."""
  if not os.path.isdir(export_dir):
    return 1
  numbers = [int(name) for name in os.listdir(export_dir) if _VERSION_NAME.match(name)]
  return max(numbers, default=0) + 1


def _read_config(path: str) -> dict:
  """bert_config.json with the fields the checks need."""
  try:
    with open(path, encoding="utf-8-sig") as f:
      config = json.load(f)
  except ValueError as e:
    raise ExportError("%s: not valid JSON: %s" % (path, e)) from None
  needed = ("max_position_embeddings", "num_hidden_layers", "vocab_size", "hidden_size")
  if not isinstance(config, dict) or not all(isinstance(config.get(key), int) for key in needed):
    raise ExportError("%s: expected a JSON object with the integers %s" % (path, ", ".join(needed)))
  return config


def _find_checkpoint(model_dir: str, name: str | None) -> str:
  """The prefix to export: `name`, else the newest one recorded, else bert_model.ckpt."""
  if name is not None:
    for prefix in (os.path.join(model_dir, name), os.path.abspath(name)):
      if os.path.isfile(prefix + ".index"):
        return prefix
    raise ExportError(
      "no checkpoint %s: neither %s.index nor %s.index exists"
      % (name, os.path.join(model_dir, name), os.path.abspath(name))
    )
  try:
    newest = model_folder.newest_local_checkpoint(model_dir)
  except (OSError, UnicodeDecodeError) as e:
    state = os.path.join(model_dir, model_folder.CHECKPOINT_STATE_FILENAME)
    raise ExportError("cannot read %s: %s" % (state, getattr(e, "strerror", None) or e)) from None
  if newest is not None:
    return newest
  pretrained = os.path.join(model_dir, PRETRAINED_CHECKPOINT)
  if os.path.isfile(pretrained + ".index"):
    return pretrained
  raise ExportError(
    "no checkpoint in %s: no `checkpoint` state file naming an existing one, and no %s.index"
    % (model_dir, PRETRAINED_CHECKPOINT)
  )


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
  with common.staging_beside(plan.target) as staging:
    with common.writing("cannot write the SavedModel into", plan.target, tf.errors.OpError):
      tf.saved_model.save(module, staging, signatures=signatures)
      _write_info(plan, staging, module, sorted(signatures), tf)
    _check_written(signatures, staging, tf)
    replaced = _TARGET.move_into_place(staging, plan.model_dir, plan.target, overwrite)
  if replaced:
    logger.info("Replaced the earlier SavedModel in %s", plan.target)
  logger.info("Exported %s to %s", plan.checkpoint, plan.target)
  logger.info("Signatures: %s", ", ".join(sorted(signatures)))
  logger.info(
    "Serve it: docker run -p 8501:8501 -v %s:/models/bert -e MODEL_NAME=bert tensorflow/serving",
    os.path.dirname(plan.target),
  )


def _build(plan: ExportPlan):
  """The module to save: the checkpoint's model, its tokenizer and signatures."""
  from bert import modeling, tokenization
  from export import savedmodel_signatures
  from export.text_graph import TextEncoder

  shapes = common.checkpoint_shapes(plan.checkpoint, ExportError)
  try:
    text_encoder = TextEncoder(
      tokenization.load_vocab(plan.vocab_file), plan.do_lower_case, plan.max_seq_length
    )
  except ValueError as e:
    raise ExportError("%s: %s" % (plan.vocab_file, e)) from None
  bert_config = modeling.BertConfig.from_dict(plan.config)
  serving = dict(
    text_encoder=text_encoder, pooling_layer=plan.pooling_layer, vocab_file=plan.vocab_file
  )
  num_labels = common.head_size(
    plan.checkpoint, shapes, bert_config.hidden_size, ExportError, plan.labels
  )
  if num_labels is None:
    logger.warning(
      "Checkpoint %s has no classifier head (%s): the export has the encode signature only",
      plan.checkpoint,
      " and ".join(HEAD_NAMES),
    )
    encoder = common.load_model(plan.checkpoint, bert_config, None)
    return savedmodel_signatures.EncoderServingModule(encoder, **serving)
  labels = plan.labels
  if labels is None:
    labels = [str(i) for i in range(num_labels)]
    logger.warning("No labels.json in %s: the labels are named %s", plan.model_dir, labels)
  multi_label = plan.multi_label_threshold is not None
  classifier = common.load_model(plan.checkpoint, bert_config, num_labels, multi_label)
  if plan.doc_stride:
    logger.info(
      "The text signatures classify in windows, as the run was trained: every %d tokens, "
      "logits pooled by %s",
      plan.doc_stride,
      plan.window_pooling,
    )
  return savedmodel_signatures.ClassifierServingModule(
    classifier,
    labels,
    threshold=plan.multi_label_threshold,
    doc_stride=plan.doc_stride,
    window_pooling=plan.window_pooling,
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
      "source_checkpoint": plan.checkpoint,
      "global_step": ckpt_lib.checkpoint_step(plan.checkpoint),
      "signatures": signatures,
      "labels": getattr(module, "labels", None),
      "do_lower_case": plan.do_lower_case,
      "max_seq_length": plan.max_seq_length,
      "doc_stride": plan.doc_stride,
      "window_pooling": plan.window_pooling,
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
  return common.run_command(PROGRAM, logger, lambda: export_savedmodel(**vars(args)))


if __name__ == "__main__":
  sys.exit(main())
