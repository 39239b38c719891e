"""Turns a fine-tuned `output_dir` into a servable model folder.

run_classifier.py leaves `model.ckpt-N.*` files (3x the pre-trained size: Adam
slots), a `checkpoint` state file, `labels.json` and `run_config.json` in its
output_dir. bert-as-service (`-model_dir`) and `--init_checkpoint` want one
folder in Google's released layout instead:

    export_dir/
      bert_model.ckpt.index                  the checkpoint, classifier head kept
      bert_model.ckpt.data-00000-of-00001
      bert_model.ckpt.meta                   only when the source had one
      vocab.txt                              copied byte for byte
      bert_config.json                       copied byte for byte
      labels.json                            JSON list of label strings
      export_info.json                       source checkpoint, global_step, multi_label, ...

Without `strip_optimizer` the checkpoint files are copied byte for byte under
the new name. With it, every `*/adam_m`, `*/adam_v` and `global_step` is
dropped and the rest rewritten (about a third of the size).

Before anything is written, every `bert/*` variable that bert_config.json
implies (as built by `bert.modeling.BertEncoder`) must be in the checkpoint
with its shape, and vocab.txt must have `vocab_size` lines. The folder is
assembled beside `export_dir` and renamed into place, so a failed export
leaves nothing half-written.

Usage:

    bert-export-serving --output_dir=output --export_dir=served [--strip_optimizer]
    python run_classifier.py ... --init_checkpoint=served/bert_model.ckpt
    bert-serving-start -model_dir served
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import logging
import os
import re
import sys

from bert import errors, model_config, model_folder, tf_startup
from bert.console import run_command
from bert.errors import WriteError
from bert.model_folder import ModelFolder
from bert.target_folder import TargetRules, copy_file, staging_beside, target_path
from export import common

PROGRAM = "bert-export-serving"

CKPT_NAME = model_folder.PRETRAINED_CHECKPOINT
INFO_NAME = model_folder.EXPORT_INFO_FILENAME

OPTIMIZER_PATTERN = re.compile(r"(^|/)(adam_m|adam_v)$|^global_step$")

logger = logging.getLogger(__name__)


class ExportError(errors.InputError):
  """The export cannot be made from these inputs (a user error: one-line message)."""


NAMING = model_folder.Naming(error=ExportError, folder_flag="output_dir")


# export_dir may be replaced when it is empty, or with --overwrite when it holds an earlier export.
_TARGET = TargetRules(
  error=ExportError,
  flag="export_dir",
  source_flag="output_dir",
  markers=(INFO_NAME, CKPT_NAME + ".index"),
  kind="export",
  busy_hint=" (pass --overwrite to replace it)",
)


@dataclasses.dataclass
class _Plan:
  """Everything read and checked before the first byte is written."""

  model: ModelFolder  # its vocab.txt and bert_config.json are the files shipped
  checkpoint_files: dict  # source path -> file name in export_dir
  shapes: dict  # variable name -> shape
  global_step: int | None


def is_optimizer_variable(name: str) -> bool:
  """True for `<var>/adam_m`, `<var>/adam_v` and `global_step`."""
  return OPTIMIZER_PATTERN.search(name) is not None


def export_for_serving(
  output_dir: str,
  export_dir: str,
  checkpoint: str | None = None,
  strip_optimizer: bool = False,
  vocab_file: str | None = None,
  bert_config_file: str | None = None,
  overwrite: bool = False,
) -> str:
  """Writes a servable model folder from a fine-tuning output_dir.

  Args:
    output_dir: a run_classifier.py output_dir (`model.ckpt-N.*`, `checkpoint`,
      `labels.json`, `run_config.json`).
    export_dir: the folder to create (bert-as-service `-model_dir`).
    checkpoint: the checkpoint to export: a prefix relative to output_dir
      (`model.ckpt-343`) or a full prefix. Default: the newest one named by
      output_dir's `checkpoint` state file.
    strip_optimizer: drop the Adam slots and `global_step` (about 1/3 size).
    vocab_file: vocab.txt to ship; default: the one run_config.json records.
    bert_config_file: bert_config.json to ship; default: run_config.json's.
    overwrite: replace an existing non-empty export_dir (one that holds an
      export: `export_info.json` or `bert_model.ckpt.index`).

  Returns:
    The absolute path of export_dir. `<export_dir>/bert_model.ckpt` is the
    `--init_checkpoint` prefix.

  Raises:
    ExportError: an input is missing, unreadable or does not fit; nothing
      was written.
    bert.errors.WriteError: writing failed; nothing was left half-written.
  """
  output_dir = os.path.abspath(output_dir)
  export_dir = target_path(export_dir)
  if not os.path.isdir(output_dir):
    raise ExportError("output_dir %s is not a directory" % output_dir)
  _TARGET.check(output_dir, export_dir, overwrite)

  plan = _plan(output_dir, checkpoint, vocab_file, bert_config_file)
  with staging_beside(export_dir) as staging:
    source_size, export_size = _write(plan, staging, strip_optimizer)
    if _TARGET.move_into_place(staging, output_dir, export_dir, overwrite):
      logger.info("Replaced the earlier export in %s", export_dir)

  logger.info(
    "Exported %s (global_step %s%s) to %s",
    plan.model.checkpoint,
    plan.global_step,
    ", optimizer variables stripped" if strip_optimizer else "",
    export_dir,
  )
  logger.info(
    "Checkpoint size: %s -> %s%s",
    _human(source_size),
    _human(export_size),
    " (%.1f%%)" % (100.0 * export_size / source_size) if source_size else "",
  )
  logger.info(
    "Use it as --init_checkpoint=%s or bert-serving-start -model_dir %s",
    os.path.join(export_dir, CKPT_NAME),
    export_dir,
  )
  return export_dir


# -- checks (nothing written yet) ---------------------------------------------


def _checkpoint_files(prefix: str) -> dict:
  """Source file -> export file name, for the files of checkpoint `prefix`."""
  files = {prefix + ".index": CKPT_NAME + ".index"}
  shards = glob.glob(glob.escape(prefix) + ".data-*-of-*")
  shards = [s for s in shards if re.search(r"\.data-\d+-of-\d+$", s)]
  if not shards:
    raise ExportError("checkpoint %s has an .index but no .data-*-of-* file" % prefix)
  for shard in sorted(shards):
    files[shard] = CKPT_NAME + shard[len(prefix) :]
  if os.path.isfile(prefix + ".meta"):
    files[prefix + ".meta"] = CKPT_NAME + ".meta"
  return files


def _shipped_file(output_dir: str, found: tuple | None, key: str, given: str | None) -> str:
  """The file given as --<key>, else the one run_config.json records under `key`; it must exist."""
  if given:
    path = os.path.abspath(given)
    if not os.path.isfile(path):
      raise ExportError("--%s %s does not exist" % (key, given))
    return path
  settings_path, settings = found or (
    os.path.join(output_dir, model_folder.RUN_CONFIG_FILENAME),
    {},
  )
  recorded = model_folder.recorded_file(output_dir, settings, key)
  if recorded is None:
    if found:
      why = "%s records no %s" % (settings_path, key)
    else:
      why = "%s does not exist" % settings_path
    raise ExportError("no %s to ship: pass --%s (%s)" % (key, key, why))
  if not os.path.isfile(recorded):
    raise ExportError(
      "%s %s recorded in %s does not exist: pass --%s" % (key, recorded, settings_path, key)
    )
  return recorded


def expected_bert_shapes(bert_config) -> dict:
  """`bert/*` name -> shape, as `bert.modeling.BertEncoder` creates them.

  The encoder is built in a throwaway graph, so no weights are allocated.
  """
  import tensorflow as tf

  from bert import modeling

  with tf.Graph().as_default():
    encoder = modeling.BertEncoder(bert_config)
    return {name: variable.shape.as_list() for name, variable in encoder.variables_by_name.items()}


def _check_variables(
  prefix: str, shapes: dict, bert_config, config_file: str, labels: list | None
) -> None:
  """Every bert/* variable with its shape; a head that fits the labels."""
  problems = []
  for name, shape in expected_bert_shapes(bert_config).items():
    if name not in shapes:
      problems.append("%s missing" % name)
    elif list(shapes[name]) != shape:
      problems.append(
        "%s has shape %s, %s implies %s"
        % (name, list(shapes[name]), os.path.basename(config_file), shape)
      )
  if problems:
    raise ExportError(
      "checkpoint %s does not fit %s (%d problem(s)): %s"
      % (
        prefix,
        config_file,
        len(problems),
        "; ".join(problems[:20]) + ("; ..." if len(problems) > 20 else ""),
      )
    )
  if model_config.head_size(prefix, shapes, bert_config.hidden_size, ExportError, labels) is None:
    logger.warning(
      "Checkpoint %s has no classifier head (%s): the export serves embeddings only.",
      prefix,
      " and ".join(model_config.HEAD_NAMES),
    )


def _plan(output_dir, checkpoint, vocab_file, bert_config_file) -> _Plan:
  """Finds and checks every input; writes nothing."""
  import tensorflow as tf

  from bert import checkpoint as ckpt_lib
  from bert import modeling

  try:
    found = model_folder.find_settings([output_dir])
  except errors.InputError as e:
    raise ExportError(str(e)) from None
  model = model_folder.open_folder(
    output_dir,
    checkpoint,
    NAMING,
    vocab_file=_shipped_file(output_dir, found, "vocab_file", vocab_file),
    config_file=_shipped_file(output_dir, found, "bert_config_file", bert_config_file),
  )
  prefix = os.path.abspath(model.checkpoint)
  files = _checkpoint_files(prefix)
  if model.labels is None:
    logger.warning(
      "No %s or label_list in %s: the export has no labels.",
      model_folder.LABELS_FILENAME,
      model.settings_file or os.path.join(output_dir, model_folder.RUN_CONFIG_FILENAME),
    )

  bert_config = modeling.BertConfig.from_dict(model.bert_config)
  num_tokens = len(model_config.read_vocab_tokens(model.vocab_file))
  if num_tokens != bert_config.vocab_size:
    raise ExportError(
      "%s has %d tokens but %s says vocab_size=%d: they must belong to the "
      "same model" % (model.vocab_file, num_tokens, model.config_file, bert_config.vocab_size)
    )

  shapes = ckpt_lib.checkpoint_shapes(prefix, ExportError)
  _check_variables(prefix, shapes, bert_config, model.config_file, model.labels)

  global_step = ckpt_lib.checkpoint_step(prefix)
  if "global_step" in shapes:  # The saved counter wins over the file name.
    with ckpt_lib.reading_checkpoint(prefix, ExportError):
      global_step = int(tf.train.load_checkpoint(prefix).get_tensor("global_step"))
  return _Plan(
    model=dataclasses.replace(model, checkpoint=prefix),
    checkpoint_files=files,
    shapes=shapes,
    global_step=global_step,
  )


# -- writing ------------------------------------------------------------------


def _write(plan: _Plan, staging: str, strip_optimizer: bool) -> tuple:
  """Fills `staging`; returns (source, export) checkpoint sizes in bytes."""
  import tensorflow as tf

  from bert import checkpoint as ckpt_lib

  source_size = sum(os.path.getsize(p) for p in plan.checkpoint_files)
  export_prefix = os.path.join(staging, CKPT_NAME)
  dropped = []
  if strip_optimizer:
    with ckpt_lib.reading_checkpoint(plan.model.checkpoint, ExportError):
      reader = tf.train.load_checkpoint(plan.model.checkpoint)
      kept = {}
      for name in sorted(plan.shapes):
        if is_optimizer_variable(name):
          dropped.append(name)
        else:
          kept[name] = reader.get_tensor(name)
    try:
      ckpt_lib.save_variables(kept, export_prefix)
    except ckpt_lib.CheckpointError as e:
      raise WriteError(str(e)) from None
    if any(name.endswith(".meta") for name in plan.checkpoint_files.values()):
      # A .meta graph names the dropped variables; the stripped checkpoint,
      # like Google's released ones, ships without one.
      logger.info(
        "Not shipping %s.meta: its graph names the dropped optimizer variables",
        plan.model.checkpoint,
      )
    logger.info(
      "Kept %d variables, dropped %d optimizer variables (adam_m/adam_v/global_step)",
      len(kept),
      len(dropped),
    )
  else:
    for source, name in plan.checkpoint_files.items():
      copy_file(source, os.path.join(staging, name), ExportError)
  written = sorted(f for f in os.listdir(staging) if f.startswith(CKPT_NAME))
  export_size = sum(os.path.getsize(os.path.join(staging, f)) for f in written)

  # The written checkpoint must read back with every variable kept.
  try:
    names = set(name for name, _ in tf.train.list_variables(export_prefix))
  except (tf.errors.OpError, IndexError, ValueError) as e:
    raise WriteError(
      "the written checkpoint %s does not read back: %s" % (export_prefix, errors.first_line(e))
    ) from None
  expected = set(n for n in plan.shapes if n not in dropped)
  if names != expected:
    raise WriteError(
      "the written checkpoint %s does not read back: %d "
      "variables instead of %d" % (export_prefix, len(names), len(expected))
    )

  for source, name in (
    (plan.model.vocab_file, model_folder.VOCAB_FILENAME),
    (plan.model.config_file, model_folder.BERT_CONFIG_FILENAME),
  ):
    copy_file(source, os.path.join(staging, name), ExportError)
  if plan.model.labels is not None:
    model_folder.write_json(os.path.join(staging, model_folder.LABELS_FILENAME), plan.model.labels)

  files = {f: os.path.getsize(os.path.join(staging, f)) for f in sorted(os.listdir(staging))}
  info = {
    "source_checkpoint": plan.model.checkpoint,
    "global_step": plan.global_step,
    "stripped_optimizer": bool(strip_optimizer),
    "labels": plan.model.labels,
    "checkpoint": CKPT_NAME,
    "num_variables": len(names),
    "source_checkpoint_bytes": source_size,
    "checkpoint_bytes": export_size,
    "vocab_file": plan.model.vocab_file,
    "bert_config_file": plan.model.config_file,
  }
  # multi_label and its threshold tell bert-serving-start how to read the head.
  for key in (
    "task_name",
    "do_lower_case",
    "max_seq_length",
    "multi_label",
    "multi_label_threshold",
    "doc_stride",
    "window_pooling",
  ):
    if key in plan.model.settings:
      info[key] = plan.model.settings[key]
  info["files"] = files
  model_folder.write_json(os.path.join(staging, INFO_NAME), info)
  for name in sorted(os.listdir(staging)):
    logger.info("  %-40s %10s", name, _human(os.path.getsize(os.path.join(staging, name))))
  return source_size, export_size


def _human(num_bytes: int) -> str:
  size = float(num_bytes)
  for unit in ("B", "KiB", "MiB"):
    if size < 1024:
      return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
    size /= 1024
  return "%.2f GiB" % size


# -- command line -------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
  """The `bert-export-serving` flags; a bad command line is one line and exit status 2."""
  parser = errors.ArgumentParser(
    prog=PROGRAM,
    description="Turn a run_classifier.py output_dir into a model folder "
    "for bert-as-service (-model_dir) and --init_checkpoint: "
    "bert_model.ckpt.*, vocab.txt, bert_config.json, labels.json.",
  )
  parser.add_argument(
    "--output_dir", required=True, help="the fine-tuning output_dir to export from"
  )
  parser.add_argument("--export_dir", required=True, help="the model folder to create")
  parser.add_argument(
    "--checkpoint",
    default=None,
    help="checkpoint prefix, relative to output_dir (model.ckpt-343) or full; default: the newest",
  )
  common.add_bool_flag(
    parser, "--strip_optimizer", "drop adam_m/adam_v/global_step (about 1/3 size)"
  )
  parser.add_argument(
    "--vocab_file", default=None, help="default: the vocab_file run_config.json records"
  )
  parser.add_argument(
    "--bert_config_file", default=None, help="default: the bert_config_file run_config.json records"
  )
  common.add_bool_flag(parser, "--overwrite", "replace an earlier export in export_dir")
  return parser


def main(argv=None) -> int:
  """`bert-export-serving` console script; returns the exit status.

  A bad command line exits 2 (argparse's SystemExit); a bad input or a
  failed write prints one line and returns 1.
  """
  args = build_parser().parse_args(argv)

  def export() -> str:
    tf_startup.import_tensorflow()
    # Each flag is named after the export_for_serving argument it sets.
    return export_for_serving(**vars(args))

  return run_command(PROGRAM, logger, export)


if __name__ == "__main__":
  sys.exit(main())
