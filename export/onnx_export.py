"""`bert-export-onnx`: a model folder as ONNX models for ONNX Runtime.

    bert-export-onnx --output_dir output --onnx_dir model_onnx [--quantize int8]
                     [--checkpoint model.ckpt-N] [--eval_file output/eval.tf_record] [--overwrite]

--output_dir is a run_classifier.py output folder (its newest checkpoint, labels.json and
run_config.json are used), a bert-export-serving export or a pre-trained folder. --onnx_dir gets
the files `export.onnx_runtime` describes: one model with every output (the encoder layers
for pooling, the pooled output and, with a classifier head, logits and probabilities), dynamic
batch and sequence axes.

How it is made: `export.onnx_graph` writes the graph with the `onnx` helper API from the
checkpoint's weights, and ONNX Runtime's transformer optimizer fuses it (attention, LayerNorm
with the residual add, GELU). tf2onnx 1.17 does convert our TF2 forward on TensorFlow 2.20, but
its graph keeps our LayerNorm and attention as chains of small ops that ONNX Runtime cannot fuse,
and ran slower than TensorFlow itself (15.7 against 21.5 examples/s for MiniLM at batch 32 x 128
on 2 cores), so it is not used.

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
import collections
import contextlib
import dataclasses
import logging
import os
import sys
import time
from typing import Iterator

import numpy as np

from bert import errors, model_folder, tf_startup
from bert.errors import InputError, UsageError, WriteError
from export import common, onnx_graph, onnx_runtime
from export.onnx_runtime import INFO_NAME, MODEL_FILES

logger = logging.getLogger(__name__)

PROG = "bert-export-onnx"
DEFAULT_TOLERANCE = 1e-4
EVAL_RECORD_NAME = "eval.tf_record"
EVAL_BATCH_SIZE = 32
# (batch, sequence) of the batches the export is checked on (sequence capped by the model).
CHECK_SHAPES = ((4, 32), (1, 9))
FUSED_OPS = ("Attention", "SkipLayerNormalization", "FastGelu", "BiasGelu", "Gelu")


class OnnxExportError(InputError):
  """The folder cannot be exported, or the export does not reproduce TensorFlow's outputs."""


# --onnx_dir may be replaced when it is empty, or with --overwrite when it holds an earlier
# export; a folder that holds something else is refused at once, --overwrite or not.
_TARGET = common.TargetRules(
  error=OnnxExportError,
  flag="--onnx_dir",
  markers=(INFO_NAME,),
  kind="ONNX export",
  foreign_first=True,
)


@dataclasses.dataclass
class OnnxPlan:
  """What an export reads and writes, found and checked before TensorFlow starts."""

  onnx_dir: str
  checkpoint: str
  bert_config_file: str
  vocab_file: str
  config: dict
  labels: list[str] | None = None
  multi_label: bool = False
  multi_label_threshold: float = 0.5
  quantize: bool = False
  eval_file: str | None = None
  max_seq_length: int | None = None
  with_example_id: bool = False
  tolerance: float = DEFAULT_TOLERANCE
  overwrite: bool = False


# ---------------------------------------------------------------------------
# Planning: no TensorFlow, nothing written.
# ---------------------------------------------------------------------------


def _check_config(config: dict, config_file: str) -> None:
  try:
    onnx_graph.activation_kind(config.get("hidden_act", "gelu"))
  except ValueError as e:
    raise OnnxExportError("%s: %s" % (config_file, e)) from None


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
  from classifier import checks  # pylint: disable=import-outside-toplevel
  from export.hf_export import find_checkpoint  # pylint: disable=import-outside-toplevel
  from serving import files as serving_files  # pylint: disable=import-outside-toplevel

  output_dir = os.path.abspath(output_dir)
  onnx_dir = common.target_path(onnx_dir)
  if not os.path.isdir(output_dir):
    raise OnnxExportError("--output_dir %s is not a directory" % output_dir)
  _TARGET.check(output_dir, onnx_dir, overwrite)
  run_config = model_folder.read_run_config(output_dir) or {}
  prefix = find_checkpoint(output_dir, checkpoint)
  config_file, vocab_file = common.model_files(output_dir, run_config, OnnxExportError)
  config = checks.read_bert_config(config_file)
  _check_config(config, config_file)
  multi_label, threshold = serving_files.read_multi_label([output_dir])

  if eval_file is None and quantize:
    default = os.path.join(output_dir, EVAL_RECORD_NAME)
    eval_file = default if os.path.isfile(default) else None
  if eval_file is not None:
    if not os.path.isfile(eval_file):
      raise OnnxExportError("--eval_file %s does not exist" % eval_file)
    max_seq_length = max_seq_length or run_config.get("max_seq_length")
    if not isinstance(max_seq_length, int) or max_seq_length < 1:
      raise UsageError(
        "--eval_file needs --max_seq_length: %s records none in its run_config.json" % output_dir
      )
  return OnnxPlan(
    onnx_dir=onnx_dir,
    checkpoint=prefix,
    bert_config_file=config_file,
    vocab_file=vocab_file,
    config=config,
    labels=model_folder.read_folder_labels(output_dir, run_config),
    multi_label=multi_label,
    multi_label_threshold=threshold,
    quantize=quantize,
    eval_file=os.path.abspath(eval_file) if eval_file else None,
    max_seq_length=max_seq_length,
    with_example_id=bool(run_config.get("doc_stride")),
    tolerance=tolerance,
    overwrite=overwrite,
  )


# ---------------------------------------------------------------------------
# Building, checking and quantizing.
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_tools() -> Iterator[None]:
  """Hides the advice ONNX Runtime's optimizer and quantizer log at WARNING level."""
  previous = logging.root.manager.disable
  logging.disable(logging.WARNING)
  try:
    yield
  finally:
    logging.disable(previous)


def _load_model(plan: OnnxPlan):
  """(TF model, weights by checkpoint name, has a head): the checkpoint in BertClassifier
  when it has a classifier head, else in BertEncoder."""
  from bert import modeling  # pylint: disable=import-outside-toplevel

  shapes = common.checkpoint_shapes(plan.checkpoint, OnnxExportError)
  bert_config = modeling.BertConfig.from_dict(plan.config)
  num_labels = common.head_size(
    plan.checkpoint, shapes, bert_config.hidden_size, OnnxExportError, plan.labels
  )
  model = common.load_model(plan.checkpoint, bert_config, num_labels, plan.multi_label)
  weights = {name: variable.numpy() for name, variable in model.variables_by_name.items()}
  return model, weights, num_labels is not None


def _fuse(model, config: dict):
  """The model after ONNX Runtime's transformer fusions, and the fused op counts."""
  # pylint: disable=import-outside-toplevel
  import onnx
  from onnxruntime.transformers import optimizer
  from onnxruntime.transformers.fusion_options import AttentionMaskFormat, FusionOptions

  work = onnx.ModelProto()
  work.CopyFrom(model)  # the optimizer rewrites its input; `model` stays the plain graph
  options = FusionOptions("bert")
  # The raw 0/1 mask: a mask with holes (-mask_cls_sep) stays exact.
  options.attention_mask_format = AttentionMaskFormat.AttentionMask
  with _quiet_tools():
    fused = optimizer.optimize_model(
      work,
      model_type="bert",
      num_heads=int(config["num_attention_heads"]),
      hidden_size=int(config["hidden_size"]),
      optimization_options=options,
      opt_level=0,
    )
  result = fused.model
  domains = {node.domain for node in result.graph.node} - {"", "ai.onnx"}
  declared = {opset.domain for opset in result.opset_import}
  for domain in sorted(domains - declared):  # the fused ops' domain, com.microsoft
    result.opset_import.add(domain=domain, version=1)
  counts = collections.Counter(node.op_type for node in result.graph.node)
  return result, {name: counts[name] for name in FUSED_OPS if counts[name]}


def _check_batches(config: dict, seed: int = 7) -> list[tuple[np.ndarray, ...]]:
  """Padded batches with two segments, of the shapes in CHECK_SHAPES."""
  rng = np.random.default_rng(seed)
  batches = []
  for batch, length in CHECK_SHAPES:
    length = min(length, int(config["max_position_embeddings"]))
    ids = rng.integers(1, int(config["vocab_size"]), size=(batch, length), dtype=np.int32)
    lengths = np.maximum(1, length - rng.integers(0, length // 2 + 1, size=batch))
    lengths[0] = length  # one row without padding
    mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int32)
    segments = (np.arange(length)[None, :] >= (lengths // 2)[:, None]).astype(np.int32) * mask
    batches.append((ids * mask, mask, segments))
  return batches


def _tf_outputs(model, has_head: bool, batch) -> dict:
  """The TensorFlow model's outputs on `batch`, under the ONNX output names."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  ids, mask, segments = (tf.constant(a) for a in batch)
  encoder = model.bert if has_head else model
  out = encoder(ids, mask, segments, training=False)
  values = {onnx_graph.POOLED_OUTPUT: out["pooled_output"].numpy()}
  for index, layer in enumerate(out["all_encoder_layers"]):
    values[onnx_graph.layer_output(index)] = layer.numpy()
  if has_head:
    # The loss needs labels: none of the outputs compared depends on them.
    label_shape = [ids.shape[0], model.num_labels] if model.multi_label else [ids.shape[0]]
    _, _, logits, probabilities = model(ids, mask, segments, tf.zeros(label_shape, tf.int32))
    values[onnx_graph.LOGITS] = logits.numpy()
    values[onnx_graph.PROBABILITIES] = probabilities.numpy()
  return values


def _scaled_difference(got: np.ndarray, want: np.ndarray) -> float:
  """max |got - want| over max(1, max |want|)."""
  return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


def _compare(path: str, references: list, batches: list) -> dict:
  """Largest scaled difference per output between the ONNX model and TensorFlow."""
  session = onnx_runtime.OnnxBert(path)
  worst: dict = {}
  for batch, reference in zip(batches, references):
    names = list(reference)
    for name, value in zip(names, session.run(names, *batch)):
      worst[name] = max(worst.get(name, 0.0), _scaled_difference(value, reference[name]))
  return worst


def _predicted(probabilities: np.ndarray, multi_label: bool, threshold: float) -> np.ndarray:
  if multi_label:
    return (probabilities >= threshold).astype(np.int32)
  return np.argmax(probabilities, axis=-1)


def _same_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  return a == b if a.ndim == 1 else np.all(a == b, axis=-1)


def _eval_batches(plan: OnnxPlan, num_labels: int) -> Iterator[dict]:
  """The dev set's batches as NumPy dicts (padding trimmed per batch)."""
  from classifier import input_pipeline  # pylint: disable=import-outside-toplevel

  dataset = input_pipeline.file_based_dataset(
    plan.eval_file,
    plan.max_seq_length,
    is_training=False,
    drop_remainder=False,
    batch_size=EVAL_BATCH_SIZE,
    dynamic_padding=True,
    num_labels=num_labels if plan.multi_label else 0,
    with_example_id=plan.with_example_id,
  )
  for features in dataset.as_numpy_iterator():
    yield features


def _dev_report(plan: OnnxPlan, fp32: str, int8: str, num_labels: int) -> dict:
  """Accuracy of both models on the dev set, their label agreement and their speed."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  models = {"fp32": onnx_runtime.OnnxBert(fp32), "int8": onnx_runtime.OnnxBert(int8)}
  correct = {"fp32": 0.0, "int8": 0.0}
  seconds = {"fp32": 0.0, "int8": 0.0}
  agree = total = 0.0
  try:
    for features in _eval_batches(plan, num_labels):
      weights = features["is_real_example"].astype(np.float64)
      gold = features["label_ids"]
      inputs = (features["input_ids"], features["input_mask"], features["segment_ids"])
      predicted = {}
      for name, model in models.items():
        start = time.perf_counter()
        (probabilities,) = model.run([onnx_graph.PROBABILITIES], *inputs)
        seconds[name] += time.perf_counter() - start
        predicted[name] = _predicted(probabilities, plan.multi_label, plan.multi_label_threshold)
        correct[name] += float(np.sum(weights * _same_rows(predicted[name], gold)))
      agree += float(np.sum(weights * _same_rows(predicted["fp32"], predicted["int8"])))
      total += float(np.sum(weights))
  except tf.errors.OpError as e:  # not a tf_record, or records of another length
    raise OnnxExportError(
      "cannot read --eval_file %s: %s" % (plan.eval_file, errors.first_line(e))
    ) from None
  if not total:
    raise OnnxExportError("--eval_file %s holds no example" % plan.eval_file)
  accuracy = {name: value / total for name, value in correct.items()}
  return {
    "eval_file": plan.eval_file,
    "examples": int(total),
    "label_agreement": agree / total,
    "fp32_accuracy": accuracy["fp32"],
    "int8_accuracy": accuracy["int8"],
    "accuracy_delta_points": 100.0 * (accuracy["int8"] - accuracy["fp32"]),
    "int8_speedup": seconds["fp32"] / seconds["int8"] if seconds["int8"] else None,
  }


def _quantize(plan: OnnxPlan, staging: str, batches: list, num_labels: int) -> dict:
  """Writes model.int8.onnx; returns the comparison with the float model (num_labels 0:
  no classifier head)."""
  import onnx  # pylint: disable=import-outside-toplevel
  from onnxruntime.quantization import QuantType, quantize_dynamic  # pylint: disable=C0415

  fp32 = os.path.join(staging, MODEL_FILES["fp32"])
  int8 = os.path.join(staging, MODEL_FILES["int8"])
  with _quiet_tools():
    # Fused ops (Attention, ...) have no ONNX shape inference: their outputs are float32.
    quantize_dynamic(
      fp32,
      int8,
      weight_type=QuantType.QInt8,
      extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
  report: dict = {"method": "onnxruntime.quantization.quantize_dynamic, int8 weights (QInt8)"}
  has_head = num_labels > 0
  name = onnx_graph.PROBABILITIES if has_head else onnx_graph.POOLED_OUTPUT
  models = [onnx_runtime.OnnxBert(fp32), onnx_runtime.OnnxBert(int8)]
  differences, agreement, rows = [], 0, 0
  for batch in batches:
    want, got = (model.run([name], *batch)[0] for model in models)
    differences.append(_scaled_difference(got, want))
    if has_head:
      same = _same_rows(
        _predicted(want, plan.multi_label, plan.multi_label_threshold),
        _predicted(got, plan.multi_label, plan.multi_label_threshold),
      )
      agreement += int(np.sum(same))
      rows += len(same)
  report["check_max_difference"] = {name: max(differences)}
  if has_head:
    report["check_label_agreement"] = agreement / rows
    if plan.eval_file:
      report["dev"] = _dev_report(plan, fp32, int8, num_labels)
  elif plan.eval_file:
    report["dev"] = "skipped: the checkpoint has no classifier head"
  return report


def _save(model, path: str) -> None:
  import onnx  # pylint: disable=import-outside-toplevel

  try:
    onnx.save_model(model, path)
  except OSError as e:
    raise WriteError("cannot write %s: %s" % (path, e.strerror or e)) from None


def _build_and_check(plan: OnnxPlan, staging: str) -> tuple[dict, int, list]:
  """Writes model.onnx (fused when the fused model passes the check); returns
  (facts for onnx_info.json, the head's number of labels or 0, the check batches)."""
  model, weights, has_head = _load_model(plan)
  graph = onnx_graph.build_model(weights, plan.config, plan.multi_label, with_head=has_head)
  batches = _check_batches(plan.config)
  references = [_tf_outputs(model, has_head, batch) for batch in batches]
  path = os.path.join(staging, MODEL_FILES["fp32"])

  fused, fused_ops = _fuse(graph, plan.config)
  _save(fused, path)
  differences = _compare(path, references, batches)
  if max(differences.values()) > plan.tolerance:
    logger.warning(
      "The fused model is %.3g away from TensorFlow; keeping the unfused graph",
      max(differences.values()),
    )
    fused_ops = {}
    _save(graph, path)
    differences = _compare(path, references, batches)
  worst = max(differences, key=differences.get)
  if differences[worst] > plan.tolerance:
    raise OnnxExportError(
      "the ONNX model does not reproduce TensorFlow's outputs: %s differs by %.3g "
      "(relative to its scale; tolerance %g)" % (worst, differences[worst], plan.tolerance)
    )
  facts = {
    "fused_ops": fused_ops,
    "check": {
      "shapes": [list(batch[0].shape) for batch in batches],
      "max_difference": differences,
      "tolerance": plan.tolerance,
    },
  }
  num_labels = int(np.shape(weights["output_bias"])[0]) if has_head else 0
  return facts, num_labels, batches


def write_onnx_folder(plan: OnnxPlan) -> dict:
  """Exports, checks (and quantizes) into a staging folder renamed to plan.onnx_dir.

  Returns the onnx_info.json written. Needs TensorFlow, onnx and onnxruntime.

  Raises:
    OnnxExportError: the checkpoint cannot be read or the check fails; nothing is written.
    bert.errors.WriteError: writing failed; nothing is left half-written.
  """
  import onnxruntime  # pylint: disable=import-outside-toplevel

  with common.staging_beside(plan.onnx_dir) as staging:
    facts, num_labels, batches = _build_and_check(plan, staging)
    precisions = ["fp32"]
    info = {
      "format": onnx_runtime.FORMAT_VERSION,
      "source_checkpoint": plan.checkpoint,
      "checkpoint_fingerprint": onnx_runtime.checkpoint_fingerprint(plan.checkpoint),
      "bert_config_file": plan.bert_config_file,
      "vocab_file": plan.vocab_file,
      "labels": plan.labels,
      "multi_label": plan.multi_label,
      "multi_label_threshold": plan.multi_label_threshold,
      "has_classifier_head": num_labels > 0,
      "num_hidden_layers": int(plan.config["num_hidden_layers"]),
      "hidden_size": int(plan.config["hidden_size"]),
      "opset": onnx_graph.OPSET,
      "onnxruntime_version": onnxruntime.__version__,
      **facts,
    }
    if plan.quantize:
      info["int8"] = _quantize(plan, staging, batches, num_labels)
      precisions.append("int8")
    info["precisions"] = precisions
    info["files"] = {
      MODEL_FILES[p]: os.path.getsize(os.path.join(staging, MODEL_FILES[p])) for p in precisions
    }
    for source, name in (
      (plan.vocab_file, model_folder.VOCAB_FILENAME),
      (plan.bert_config_file, model_folder.BERT_CONFIG_FILENAME),
    ):
      common.copy_file(source, os.path.join(staging, name), OnnxExportError)
    if plan.labels is not None:
      model_folder.write_labels(staging, plan.labels)
    model_folder.write_json(os.path.join(staging, INFO_NAME), info)
    _TARGET.move_into_place(staging, None, plan.onnx_dir, plan.overwrite)
  logger.info("Exported %s to %s", plan.checkpoint, plan.onnx_dir)
  return info


# ---------------------------------------------------------------------------
# For the backends: the export of a checkpoint, made when missing or stale.
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _folder_lock(folder: str) -> Iterator[None]:
  """An exclusive lock on `folder` (a directory), so that processes export one at a time."""
  try:
    import fcntl  # pylint: disable=import-outside-toplevel
  except ImportError:  # not POSIX: no lock
    yield
    return
  fd = os.open(folder, os.O_RDONLY)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield
  finally:
    os.close(fd)


def ensure_export(
  checkpoint: str,
  bert_config_file: str,
  vocab_file: str,
  labels: list[str] | None,
  multi_label: bool,
  precision: str = "fp32",
  onnx_dir: str | None = None,
  multi_label_threshold: float = 0.5,
  log: logging.Logger | None = None,
) -> str:
  """The .onnx file of `precision` for `checkpoint`, exported first when `onnx_dir`
  (default: `onnx/` beside the checkpoint) lacks it, holds another checkpoint's, or
  holds a damaged one (a model file of another size than onnx_info.json records).
  `log` (default: this module's logger) tells when an export is made.

  Raises:
    OnnxExportError: an export is needed and fails, or `onnx_dir` holds something else.
  """
  from classifier import checks  # pylint: disable=import-outside-toplevel

  onnx_dir = os.path.abspath(onnx_dir or onnx_runtime.default_onnx_dir(checkpoint))
  found = onnx_runtime.current_model(onnx_dir, checkpoint, multi_label, precision)
  if found:
    return found
  info = onnx_runtime.read_info(onnx_dir)
  damage = info and onnx_runtime.damage(onnx_dir, info, precision)
  if damage:
    (log or logger).warning("The ONNX export is damaged (%s): exporting it again", damage)
  parent = os.path.dirname(onnx_dir)
  try:
    os.makedirs(parent, exist_ok=True)
  except OSError as e:
    raise WriteError("cannot create %s: %s" % (parent, e.strerror or e)) from None
  with _folder_lock(parent):
    found = onnx_runtime.current_model(onnx_dir, checkpoint, multi_label, precision)
    if found:  # another process exported it while we waited
      return found
    config = checks.read_bert_config(bert_config_file)
    _check_config(config, bert_config_file)
    from bert import tf_startup  # pylint: disable=import-outside-toplevel

    tf_startup.import_tensorflow()  # without its start-up noise
    (log or logger).info("Exporting %s to ONNX in %s", checkpoint, onnx_dir)
    plan = OnnxPlan(
      onnx_dir=onnx_dir,
      checkpoint=os.path.abspath(checkpoint),
      bert_config_file=bert_config_file,
      vocab_file=vocab_file,
      config=config,
      labels=list(labels) if labels is not None else None,
      multi_label=multi_label,
      multi_label_threshold=multi_label_threshold,
      quantize=precision == "int8",
      overwrite=True,
    )
    _TARGET.check(None, onnx_dir, True)
    write_onnx_folder(plan)
  return os.path.join(onnx_dir, MODEL_FILES[precision])


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
    common.check_tolerance(args.tolerance)
    onnx_runtime.check_installed(PROG)
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

  return common.run_command(PROG, logger, export, lambda done: print(_summary(*done)))


if __name__ == "__main__":
  sys.exit(main())
