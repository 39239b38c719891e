"""Writes a model folder as a TF Model Garden BertEncoder checkpoint: bert-import-tf2 run backwards.

    bert-export-tf2 --output_dir DIR --tfm_dir DIR [--checkpoint model.ckpt-N] [--overwrite]
                    [--no_check]

--output_dir is a run_classifier.py output folder (its newest checkpoint, labels.json and
run_config.json) or a pre-trained Google folder (`bert_model.ckpt`). --tfm_dir gets:

    encoder_config.yaml       Model Garden's EncoderConfig (type: bert), for
                              `tfm.nlp.encoders.build_encoder` and the trainer's YAML
    encoder/ckpt-1.*          tf.train.Checkpoint(encoder=BertEncoder): what a Model Garden
                              task's init_checkpoint restores
    classifier/ckpt-1.*       tf.train.Checkpoint(model=BertClassifier) with run_classifier.py's
                              head (sentence_prediction/logits), only for a fine-tuned folder
    bert_config.json, vocab.txt, and labels.json + run_config.json of a fine-tuned folder

The weights are put into tf-models-official's own `BertEncoder` (and `BertClassifier`),
built from the config, and saved by TensorFlow. Unless --no_check, the written files are
then loaded back into fresh tfm models and their outputs (sequence, pooled, every layer,
logits) compared with our model's on the checkpoint, before the folder is moved into place.
Needs `pip install 'bert-classic[tfm]'`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

from bert import errors, model_config, model_folder, tf_startup
from bert.console import run_command
from bert.model_folder import ModelFolder
from bert.target_folder import TargetRules, copy_file, staging_beside, target_path, writing
from export import common, hf_common, tf2_check, tf2_common
from export.summary import diff_text, print_check, size_text

logger = logging.getLogger(__name__)

PROG = "bert-export-tf2"
DEFAULT_TOLERANCE = 1e-4
CONFIG_NAME = "encoder_config.yaml"
ENCODER_DIR = "encoder"
CLASSIFIER_DIR = "classifier"


class TF2ExportError(errors.InputError):
  """The model folder cannot be exported (the message says why)."""


# --tfm_dir may be replaced when it is empty, or with --overwrite when it holds an earlier export.
_TARGET = TargetRules(
  error=TF2ExportError, flag="--tfm_dir", markers=(CONFIG_NAME,), kind="Model Garden export"
)


@dataclasses.dataclass
class ExportPlan:
  """Everything found and checked before TensorFlow starts and anything is written."""

  model: ModelFolder  # the folder to export
  tfm_dir: str
  overwrite: bool
  tokens: list[str]
  encoder_config: dict  # the `bert` section of Model Garden's EncoderConfig


def plan_export(
  output_dir: str, tfm_dir: str, checkpoint: str | None = None, overwrite: bool = False
) -> ExportPlan:
  """Finds and checks every input of an export; imports no TensorFlow, writes nothing.

  Raises:
    TF2ExportError (or another bert.errors.InputError) naming the problem.
  """
  tfm_dir = target_path(tfm_dir)
  model = common.open_source(output_dir, tfm_dir, _TARGET, checkpoint, overwrite)
  try:
    encoder_config = tf2_common.garden_encoder_config(model.bert_config)
  except errors.InputError as e:
    raise TF2ExportError("%s: %s" % (model.config_file, e)) from None
  tokens = model_config.read_vocab_tokens(model.vocab_file)
  vocab = {t: i for i, t in enumerate(tokens)}
  model_config.check_vocab(vocab, model.vocab_file, model.bert_config, model.config_file)
  return ExportPlan(model, tfm_dir, overwrite, tokens, encoder_config)


def _run_config(model: ModelFolder, labels: list[str]) -> dict:
  """The run_config.json of the export: the folder's own (when it has one), with the labels."""
  name = os.path.basename(model.settings_file or "")
  return dict(model.settings if name == model_folder.RUN_CONFIG_FILENAME else {}, label_list=labels)


# ---------------------------------------------------------------------------
# Building the Model Garden models.
# ---------------------------------------------------------------------------


def _by_garden_name(num_layers: int) -> dict:
  """Model Garden name -> Google name, the head included."""
  pairs = tf2_common.name_pairs(num_layers) + list(tf2_common.HEAD_PAIRS)
  return {garden: google for google, garden in pairs}


def fill_garden_model(model, values: dict, num_layers: int, heads: int) -> None:
  """Assigns Google-named `values` to every variable of a tfm BertEncoder or BertClassifier.

  Raises:
    TF2ExportError: a tfm variable with no Google tensor, or one whose shape does not fit.
  """
  google_of = _by_garden_name(num_layers)
  for variable in model.variables:
    name = variable.name.rsplit(":", 1)[0]
    google = google_of.get(name)
    if google is None or google not in values:
      raise TF2ExportError("tf-models-official's model has %s, which has no Google tensor" % name)
    value = values[google]
    if google == "output_weights":  # [labels, hidden] -> a Keras Dense kernel [hidden, labels]
      value = value.T
    elif google != "output_bias":
      value = value.reshape(tf2_common.garden_shape(google, value.shape, heads))
    if list(value.shape) != variable.shape.as_list():
      raise TF2ExportError(
        "%s (%s) has shape %s; tf-models-official's %s is %s"
        % (google, name, list(values[google].shape), name, variable.shape.as_list())
      )
    variable.assign(value)


def _save(folder: str, **items) -> str:
  """`tf.train.Checkpoint(**items).save` into `folder`: ckpt-1 with its `checkpoint` state file."""
  import tensorflow as tf

  return tf.train.Checkpoint(**items).save(os.path.join(folder, "ckpt"))


def _write_files(staging: str, plan: ExportPlan, encoder, classifier, labels) -> None:
  """Fills the staging folder (`labels`: the head's, with `classifier`)."""
  import yaml  # comes with tf-models-official

  encoders = tf2_common.import_tfm(PROG)
  section = encoders.BertEncoderConfig(**plan.encoder_config).as_dict()
  with writing("cannot write --tfm_dir", plan.tfm_dir):
    with open(os.path.join(staging, CONFIG_NAME), "w", encoding="utf-8") as f:
      yaml.safe_dump({"type": "bert", "bert": section}, f, sort_keys=False)
    copy_file(
      plan.model.config_file,
      os.path.join(staging, model_folder.BERT_CONFIG_FILENAME),
      TF2ExportError,
    )
    copy_file(
      plan.model.vocab_file, os.path.join(staging, model_folder.VOCAB_FILENAME), TF2ExportError
    )
    _save(os.path.join(staging, ENCODER_DIR), encoder=encoder)
    if classifier is not None:
      _save(os.path.join(staging, CLASSIFIER_DIR), model=classifier)
  if classifier is not None:
    model_folder.write_labels(staging, labels)
    model_folder.write_json(
      os.path.join(staging, model_folder.RUN_CONFIG_FILENAME), _run_config(plan.model, labels)
    )


def _load_back(staging: str, num_labels: int | None, inputs) -> dict:
  """The outputs of fresh tfm models built from the written config and restored from the
  written checkpoints: the encoder's from encoder/, the logits from classifier/."""
  import tensorflow as tf

  encoders = tf2_common.import_tfm(PROG)
  config = encoders.EncoderConfig.from_yaml(os.path.join(staging, CONFIG_NAME))

  def restore(folder: str, **items) -> None:
    path = tf.train.latest_checkpoint(os.path.join(staging, folder))
    tf.train.Checkpoint(**items).read(path).assert_existing_objects_matched().expect_partial()

  encoder = encoders.build_encoder(config)
  restore(ENCODER_DIR, encoder=encoder)
  classifier = None
  if num_labels is not None:
    classifier = tf2_check.build_classifier(encoders.build_encoder(config), num_labels, 0.1)
    restore(CLASSIFIER_DIR, model=classifier)
  return tf2_check.garden_outputs(encoder, classifier, inputs)


# ---------------------------------------------------------------------------
# The export.
# ---------------------------------------------------------------------------


def write_tfm_folder(
  plan: ExportPlan, check: bool = True, tolerance: float = DEFAULT_TOLERANCE
) -> dict:
  """Writes the Model Garden folder that `plan` describes (imports TensorFlow and tfm).

  Returns:
    A summary dict: "tfm_dir", "files", "checkpoint", "encoder_config", "labels" (None
    without a head), "tensors" (Google names exported), "left_out" (checkpoint variables
    with no place: optimizer slots, pre-training heads) and "check" (None when skipped).

  Raises:
    TF2ExportError or another bert.errors.InputError for a checkpoint that does not fit
    or a failed check; bert.errors.WriteError when --tfm_dir cannot be written. Nothing
    is left in --tfm_dir then.
  """
  from bert import checkpoint, classifier_model, modeling
  from export.hf_check import check_inputs
  from export.hf_export import log_left_out

  tf2_common.import_tfm(PROG)
  source = plan.model
  bert_config = modeling.BertConfig.from_dict(source.bert_config)
  shapes = checkpoint.checkpoint_shapes(source.checkpoint, TF2ExportError)
  num_labels = model_config.head_size(
    source.checkpoint, shapes, bert_config.hidden_size, TF2ExportError, source.labels
  )
  model = classifier_model.load_classifier(source.checkpoint, bert_config, num_labels)
  values = {name: variable.numpy() for name, variable in model.variables_by_name.items()}
  left_out = sorted(name for name in shapes if name not in values)
  log_left_out(left_out, "BertClassifier" if num_labels is not None else "BertEncoder")
  logger.info("Read %d tensors from %s", len(values), source.checkpoint)

  layers, heads = bert_config.num_hidden_layers, bert_config.num_attention_heads
  encoder = tf2_check.build_encoder(plan.encoder_config)
  fill_garden_model(encoder, values, layers, heads)
  classifier, labels = None, None
  if num_labels is not None:
    labels = list(source.labels or [str(row) for row in range(num_labels)])
    classifier = tf2_check.build_classifier(encoder, num_labels, source.classifier_dropout)
    fill_garden_model(classifier, values, layers, heads)

  with staging_beside(plan.tfm_dir) as staging:
    _write_files(staging, plan, encoder, classifier, labels)
    logger.info(
      "Wrote encoder_config.yaml, %s", "encoder/ and classifier/" if classifier else "encoder/"
    )
    result = None
    if check:
      inputs = check_inputs(source.bert_config, plan.tokens)
      result = tf2_check.compare(
        tf2_check.model_outputs(model, num_labels, inputs),
        _load_back(staging, num_labels, inputs),
        tolerance,
      )
      if not result["passed"]:
        raise TF2ExportError(
          "check failed: the written Model Garden model, loaded back with tf-models-official, "
          "differs from our model on the checkpoint by up to %.3g relative to the output "
          "scale (max |diff| %s; tolerance %g); nothing was written (--no_check skips the "
          "check)" % (result["max_rel_diff"], diff_text(result), tolerance)
        )
      logger.info("Check passed: max |diff| %s", diff_text(result))
    else:
      logger.info("Check skipped (--no_check).")
    _TARGET.move_into_place(staging, source.folder, plan.tfm_dir, plan.overwrite)
  return {
    "tfm_dir": plan.tfm_dir,
    "files": sorted(os.listdir(plan.tfm_dir)),
    "checkpoint": source.checkpoint,
    "encoder_config": plan.encoder_config,
    "labels": labels,
    "tensors": list(values),
    "left_out": left_out,
    "check": result,
  }


def export_to_tfm(
  output_dir: str,
  tfm_dir: str,
  checkpoint: str | None = None,
  overwrite: bool = False,
  check: bool = True,
  tolerance: float = DEFAULT_TOLERANCE,
) -> dict:
  """`plan_export` then `write_tfm_folder`: the whole export from Python."""
  plan = plan_export(output_dir, tfm_dir, checkpoint, overwrite)
  return write_tfm_folder(plan, check=check, tolerance=tolerance)


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
  """The `bert-export-tf2` flags; a bad command line is one line and exit status 2."""
  parser = errors.ArgumentParser(
    prog=PROG,
    description="Write a model folder (run_classifier.py output, pre-trained BERT) as a TF "
    "Model Garden BertEncoder checkpoint (+ BertClassifier for a fine-tuned folder) and "
    "its encoder config.",
  )
  common.add_folder_flags(parser, "--tfm_dir")
  parser.add_argument(
    "--overwrite", action="store_true", help="replace an earlier export in --tfm_dir"
  )
  hf_common.add_check_flags(
    parser, "tf-models-official's models loaded from the written files", DEFAULT_TOLERANCE
  )
  return parser


def _print_summary(summary: dict) -> None:
  config = summary["encoder_config"]
  labels = summary["labels"]
  print("Wrote %s (%s)" % (summary["tfm_dir"], ", ".join(summary["files"])))
  print(
    "  from %s: BertEncoder%s, %d tensors, %s, hidden_activation %s"
    % (
      summary["checkpoint"],
      " + BertClassifier with %d labels" % len(labels) if labels else "",
      len(summary["tensors"]),
      size_text(config, "num_layers"),
      config["hidden_activation"],
    )
  )
  print_check(summary["check"])


def main(argv=None) -> int:
  """Console script `bert-export-tf2`; returns the exit status (2: bad command line, else 1).

  A missing tf-models-official and every check of the folders come before TensorFlow starts.
  """
  args = build_parser().parse_args(argv)

  def export() -> dict:
    common.check_tolerance(args.tolerance)
    tf2_common.check_installed(PROG)
    plan = plan_export(args.output_dir, args.tfm_dir, args.checkpoint, args.overwrite)
    tf_startup.import_tensorflow()
    return write_tfm_folder(plan, check=not args.no_check, tolerance=args.tolerance)

  return run_command(PROG, logger, export, _print_summary)


if __name__ == "__main__":
  sys.exit(main())
