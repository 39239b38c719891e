"""`bert-export-onnx`: a model folder as ONNX models for ONNX Runtime.

    bert-export-onnx --output_dir output --onnx_dir model_onnx [--quantize int8]
                     [--checkpoint model.ckpt-N] [--eval_file output/eval.tf_record] [--overwrite]

--output_dir is a run_classifier.py output folder (its newest checkpoint, labels.json and
run_config.json are used), a bert-export-serving export or a pre-trained folder. --onnx_dir gets
the files `onnx_bert.runtime` describes: one model with every output (the encoder layers
for pooling, the pooled output and, with a classifier head, logits and probabilities), dynamic
batch and sequence axes.

How it is made (`onnx_bert.build`): `onnx_bert.graph` writes the graph with the `onnx` helper
API from the checkpoint's weights, and ONNX Runtime's transformer optimizer fuses it (attention,
LayerNorm with the residual add, GELU). tf2onnx 1.17 does convert our TF2 forward on TensorFlow
2.20, but its graph keeps our LayerNorm and attention as chains of small ops that ONNX Runtime
cannot fuse, and ran slower than TensorFlow itself (15.7 against 21.5 examples/s for MiniLM at
batch 32 x 128 on 2 cores), so it is not used.

Before the folder is renamed into place, the model's outputs are compared with the TensorFlow
forward pass of the same checkpoint (`bert.modeling.BertEncoder`, `BertClassifier`) on padded
two-segment batches of two shapes; a difference above --tolerance (relative to the output's
scale) stops the export. `--quantize int8` adds ONNX Runtime's dynamic int8 quantization of the
fused model and reports how far it is from the float model: label agreement on the check batches
and, on a dev set (--eval_file, by default the output folder's eval.tf_record when it has one),
label agreement, both accuracies and their difference.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Iterator

from bert import errors, model_folder, tf_startup
from bert.console import run_command
from bert.errors import UsageError
from bert.target_folder import target_path
from export.common import check_tolerance
from onnx_bert import build, runtime
from onnx_bert.build import DEFAULT_TOLERANCE, OnnxExportError, OnnxPlan
from onnx_bert.build import write_onnx_folder as write_onnx_folder

logger = logging.getLogger(__name__)

PROG = "bert-export-onnx"
EVAL_RECORD_NAME = "eval.tf_record"
EVAL_BATCH_SIZE = 32
NAMING = model_folder.Naming(error=OnnxExportError)


def plan_export(
  output_dir: str,
  onnx_dir: str,
  checkpoint: str | None = None,
  quantize: bool = False,
  eval_file: str | None = None,
  max_seq_length: int | None = None,
  tolerance: float = DEFAULT_TOLERANCE,
  overwrite: bool = False,
) -> OnnxPlan:
  """Finds and checks everything `write_onnx_folder` needs; imports no TensorFlow.

  `eval_file` (a run_classifier tf_record) defaults, with `quantize`, to the folder's
  eval.tf_record when there is one; its sequence length is `max_seq_length`, else
  run_config.json's.

  Raises:
    bert.errors.InputError (OnnxExportError, ...) or UsageError naming the problem.
  """
  output_dir = os.path.abspath(output_dir)
  onnx_dir = target_path(onnx_dir)
  if not os.path.isdir(output_dir):
    raise OnnxExportError("--output_dir %s is not a directory" % output_dir)
  build.TARGET.check(output_dir, onnx_dir, overwrite)
  model = model_folder.open_folder(output_dir, checkpoint, NAMING)
  build.check_config(model.bert_config, model.config_file)

  if eval_file is None and quantize:
    default = os.path.join(output_dir, EVAL_RECORD_NAME)
    eval_file = default if os.path.isfile(default) else None
  eval_batches = None
  if eval_file is not None:
    if not os.path.isfile(eval_file):
      raise OnnxExportError("--eval_file %s does not exist" % eval_file)
    max_seq_length = max_seq_length or model.trained.get("max_seq_length")
    if not isinstance(max_seq_length, int) or max_seq_length < 1:
      raise UsageError(
        "--eval_file needs --max_seq_length: %s records none in its run_config.json" % output_dir
      )
    eval_file = os.path.abspath(eval_file)
    eval_batches = functools.partial(
      _eval_batches, eval_file, max_seq_length, model.multi_label, model.doc_stride > 0
    )
  return OnnxPlan(
    model,
    onnx_dir,
    quantize=quantize,
    tolerance=tolerance,
    overwrite=overwrite,
    eval_file=eval_file,
    eval_batches=eval_batches,
  )


def _eval_batches(
  eval_file: str, max_seq_length: int, multi_label: bool, with_example_id: bool, num_labels: int
) -> Iterator[dict]:
  """The dev set's batches as NumPy dicts (padding trimmed per batch)."""
  from classifier import input_pipeline

  dataset = input_pipeline.file_based_dataset(
    eval_file,
    max_seq_length,
    is_training=False,
    drop_remainder=False,
    batch_size=EVAL_BATCH_SIZE,
    dynamic_padding=True,
    num_labels=num_labels if multi_label else 0,
    with_example_id=with_example_id,
  )
  yield from dataset.as_numpy_iterator()


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
  """The `bert-export-onnx` flags; a bad command line is one line and exit status 2."""
  parser = errors.ArgumentParser(
    prog=PROG,
    description="Export a model folder (run_classifier.py output, export, pre-trained BERT) "
    "as an ONNX model for ONNX Runtime, checked against TensorFlow; optionally int8.",
  )
  parser.add_argument("--output_dir", required=True, metavar="DIR", help="the model folder")
  parser.add_argument(
    "--onnx_dir", required=True, metavar="DIR", help="folder to write (must not exist or be empty)"
  )
  parser.add_argument(
    "--checkpoint",
    default=None,
    metavar="PREFIX",
    help="checkpoint prefix, relative to --output_dir or full; default: the newest",
  )
  parser.add_argument(
    "--quantize",
    choices=("none", "int8"),
    default="none",
    help="also write model.int8.onnx (dynamic int8 quantization) and report its accuracy",
  )
  parser.add_argument(
    "--eval_file",
    default=None,
    metavar="TF_RECORD",
    help="dev set for the int8 report, as run_classifier writes it; "
    "default: --output_dir's eval.tf_record, if any",
  )
  parser.add_argument(
    "--max_seq_length",
    type=int,
    default=None,
    help="sequence length of --eval_file's records; default: run_config.json's",
  )
  parser.add_argument(
    "--tolerance",
    type=float,
    default=DEFAULT_TOLERANCE,
    help="largest accepted difference from TensorFlow, relative to the output's scale "
    "(default %(default)g)",
  )
  parser.add_argument("--overwrite", action="store_true", help="replace an earlier ONNX export")
  return parser


def _summary(info: dict, onnx_dir: str) -> str:
  check = info["check"]["max_difference"]
  worst = max(check, key=check.get)
  fused = ", ".join("%d %s" % (n, op) for op, n in info["fused_ops"].items()) or "none"
  lines = [
    "Wrote %s (%s)"
    % (onnx_dir, ", ".join("%s %.1f MiB" % (f, s / 2**20) for f, s in info["files"].items())),
    "  from %s; fused ops: %s" % (info["source_checkpoint"], fused),
    "  check against TensorFlow: max difference %.2g (%s; tolerance %g)"
    % (check[worst], worst, info["check"]["tolerance"]),
  ]
  int8 = info.get("int8")
  if int8:
    if "check_label_agreement" in int8:
      lines.append(
        "  int8: label agreement %.4f on the check batches" % int8["check_label_agreement"]
      )
    dev = int8.get("dev")
    if isinstance(dev, dict):
      lines.append(
        "  int8 on %s (%d examples): label agreement %.4f, accuracy %.4f (float %.4f, "
        "%+.2f points)"
        % (
          dev["eval_file"],
          dev["examples"],
          dev["label_agreement"],
          dev["int8_accuracy"],
          dev["fp32_accuracy"],
          dev["accuracy_delta_points"],
        )
      )
    elif dev:
      lines.append("  int8 dev set: %s" % dev)
  return "\n".join(lines)


def main(argv=None) -> int:
  """Console script `bert-export-onnx`; returns the exit status.

  A bad command line exits 2; a folder that cannot be exported prints one line and
  returns 1. The folders are checked before TensorFlow is imported.
  """
  args = build_parser().parse_args(argv)

  def export() -> tuple[dict, str]:
    check_tolerance(args.tolerance)
    runtime.check_installed(PROG)
    plan = plan_export(
      args.output_dir,
      args.onnx_dir,
      checkpoint=args.checkpoint,
      quantize=args.quantize == "int8",
      eval_file=args.eval_file,
      max_seq_length=args.max_seq_length,
      tolerance=args.tolerance,
      overwrite=args.overwrite,
    )
    tf_startup.import_tensorflow()
    return write_onnx_folder(plan), plan.onnx_dir

  return run_command(
    PROG, logger, export, lambda done: print(_summary(*done)), packages=("onnx_bert",)
  )


if __name__ == "__main__":
  sys.exit(main())
