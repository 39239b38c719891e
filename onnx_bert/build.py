"""An ONNX export of a model folder's checkpoint, built and checked against TensorFlow.

`write_onnx_folder` builds the graph (`onnx_bert.graph`) from the checkpoint's
weights, lets ONNX Runtime's transformer optimizer fuse it (attention, LayerNorm
with the residual add, GELU), compares its outputs with the TensorFlow model on
the same checkpoint (`bert.classifier_model`) on padded two-segment batches, and
with `quantize` adds ONNX Runtime's dynamic int8 quantization and how far it is
from the float model. The folder is built beside its place and renamed into it.
`ensure_export` is what the predict and serving backends call: the export of a
checkpoint, made when it is missing, stale or damaged.

Needs onnx and onnxruntime, and TensorFlow to read the checkpoint; importing this
module needs neither.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from bert import errors, model_config, model_folder
from bert.errors import InputError, WriteError
from bert.model_folder import ModelFolder
from bert.target_folder import TargetRules, copy_file, staging_beside
from onnx_bert import graph as onnx_graph
from onnx_bert import runtime as onnx_runtime
from onnx_bert.runtime import INFO_NAME, MODEL_FILES

logger = logging.getLogger(__name__)

DEFAULT_TOLERANCE = 1e-4
# (batch, sequence) of the batches the export is checked on (sequence capped by the model).
CHECK_SHAPES = ((4, 32), (1, 9))
FUSED_OPS = ("Attention", "SkipLayerNormalization", "FastGelu", "BiasGelu", "Gelu")


class OnnxExportError(InputError):
  """The folder cannot be exported, or the export does not reproduce TensorFlow's outputs."""


# --onnx_dir may be replaced when it is empty, or with --overwrite when it holds an earlier
# export; a folder that holds something else is refused at once, --overwrite or not.
TARGET = TargetRules(
  error=OnnxExportError,
  flag="--onnx_dir",
  markers=(INFO_NAME,),
  kind="ONNX export",
  foreign_first=True,
)


@dataclasses.dataclass
class OnnxPlan:
  """What an export reads and writes, found and checked before TensorFlow starts.

  Attributes:
    model: the model folder to export (checkpoint, config, labels, head kind).
    onnx_dir: the folder to write.
    quantize: add model.int8.onnx and the report on how far it is from model.onnx.
    tolerance: the largest accepted difference from TensorFlow, relative to the
      output's scale.
    overwrite: replace an earlier export in `onnx_dir`.
    eval_file: the dev set that the int8 report scores (its name, for the report).
    eval_batches: the dev set's batches for a head of N labels: dicts of NumPy
      arrays as run_classifier's records hold them (input_ids, input_mask,
      segment_ids, label_ids, is_real_example).
  """

  model: ModelFolder
  onnx_dir: str
  quantize: bool = False
  tolerance: float = DEFAULT_TOLERANCE
  overwrite: bool = False
  eval_file: str | None = None
  eval_batches: Callable[[int], Iterable[dict]] | None = None


def check_config(config: dict, config_file: str) -> None:
  """Refuses a `hidden_act` that the graph cannot draw (OnnxExportError naming the file)."""
  try:
    onnx_graph.activation_kind(config.get("hidden_act", "gelu"))
  except ValueError as e:
    raise OnnxExportError("%s: %s" % (config_file, e)) from None


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
  from bert import checkpoint, classifier_model, modeling

  folder = plan.model
  shapes = checkpoint.checkpoint_shapes(folder.checkpoint, OnnxExportError)
  bert_config = modeling.BertConfig.from_dict(folder.bert_config)
  num_labels = model_config.head_size(
    folder.checkpoint, shapes, bert_config.hidden_size, OnnxExportError, folder.labels
  )
  model = classifier_model.load_classifier(
    folder.checkpoint, bert_config, num_labels, folder.multi_label
  )
  weights = {name: variable.numpy() for name, variable in model.variables_by_name.items()}
  return model, weights, num_labels is not None


def _fuse(model, config: dict):
  """The model after ONNX Runtime's transformer fusions, and the fused op counts."""
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
  import tensorflow as tf

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


def _dev_report(plan: OnnxPlan, fp32: str, int8: str, num_labels: int) -> dict:
  """Accuracy of both models on the dev set, their label agreement and their speed."""
  import tensorflow as tf

  models = {"fp32": onnx_runtime.OnnxBert(fp32), "int8": onnx_runtime.OnnxBert(int8)}
  correct = {"fp32": 0.0, "int8": 0.0}
  seconds = {"fp32": 0.0, "int8": 0.0}
  agree = total = 0.0
  try:
    for features in plan.eval_batches(num_labels):
      weights = features["is_real_example"].astype(np.float64)
      gold = features["label_ids"]
      inputs = (features["input_ids"], features["input_mask"], features["segment_ids"])
      predicted = {}
      for name, model in models.items():
        start = time.perf_counter()
        (probabilities,) = model.run([onnx_graph.PROBABILITIES], *inputs)
        seconds[name] += time.perf_counter() - start
        predicted[name] = _predicted(
          probabilities, plan.model.multi_label, plan.model.multi_label_threshold
        )
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
  import onnx
  from onnxruntime.quantization import QuantType, quantize_dynamic

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
        _predicted(want, plan.model.multi_label, plan.model.multi_label_threshold),
        _predicted(got, plan.model.multi_label, plan.model.multi_label_threshold),
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
  import onnx

  try:
    onnx.save_model(model, path)
  except OSError as e:
    raise WriteError(errors.cannot("write", path, e)) from None


def _build_and_check(plan: OnnxPlan, staging: str) -> tuple[dict, int, list]:
  """Writes model.onnx (fused when the fused model passes the check); returns
  (facts for onnx_info.json, the head's number of labels or 0, the check batches)."""
  model, weights, has_head = _load_model(plan)
  graph = onnx_graph.build_model(
    weights, plan.model.bert_config, plan.model.multi_label, with_head=has_head
  )
  batches = _check_batches(plan.model.bert_config)
  references = [_tf_outputs(model, has_head, batch) for batch in batches]
  path = os.path.join(staging, MODEL_FILES["fp32"])

  fused, fused_ops = _fuse(graph, plan.model.bert_config)
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
  import onnxruntime

  with staging_beside(plan.onnx_dir) as staging:
    facts, num_labels, batches = _build_and_check(plan, staging)
    precisions = ["fp32"]
    info = {
      "format": onnx_runtime.FORMAT_VERSION,
      "source_checkpoint": plan.model.checkpoint,
      "checkpoint_fingerprint": onnx_runtime.checkpoint_fingerprint(plan.model.checkpoint),
      "bert_config_file": plan.model.config_file,
      "vocab_file": plan.model.vocab_file,
      "labels": None if plan.model.labels is None else list(plan.model.labels),
      "multi_label": plan.model.multi_label,
      "multi_label_threshold": plan.model.multi_label_threshold,
      "has_classifier_head": num_labels > 0,
      "num_hidden_layers": int(plan.model.bert_config["num_hidden_layers"]),
      "hidden_size": int(plan.model.bert_config["hidden_size"]),
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
      (plan.model.vocab_file, model_folder.VOCAB_FILENAME),
      (plan.model.config_file, model_folder.BERT_CONFIG_FILENAME),
    ):
      copy_file(source, os.path.join(staging, name), OnnxExportError)
    if plan.model.labels is not None:
      model_folder.write_labels(staging, plan.model.labels)
    model_folder.write_json(os.path.join(staging, INFO_NAME), info)
    TARGET.move_into_place(staging, None, plan.onnx_dir, plan.overwrite)
  logger.info("Exported %s to %s", plan.model.checkpoint, plan.onnx_dir)
  return info


# ---------------------------------------------------------------------------
# For the backends: the export of a checkpoint, made when missing or stale.
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _folder_lock(folder: str) -> Iterator[None]:
  """An exclusive lock on `folder` (a directory), so that processes export one at a time."""
  try:
    import fcntl
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
    raise WriteError(errors.cannot("create", parent, e)) from None
  with _folder_lock(parent):
    found = onnx_runtime.current_model(onnx_dir, checkpoint, multi_label, precision)
    if found:  # another process exported it while we waited
      return found
    config = model_config.read_bert_config(bert_config_file)
    check_config(config, bert_config_file)
    from bert import tf_startup

    tf_startup.import_tensorflow()  # without its start-up noise
    (log or logger).info("Exporting %s to ONNX in %s", checkpoint, onnx_dir)
    model = ModelFolder(
      vocab_file,
      bert_config_file,
      os.path.abspath(checkpoint),
      config,
      tuple(labels) if labels is not None else None,
      multi_label,
      multi_label_threshold,
    )
    plan = OnnxPlan(model, onnx_dir, quantize=precision == "int8", overwrite=True)
    TARGET.check(None, onnx_dir, True)
    write_onnx_folder(plan)
  return os.path.join(onnx_dir, MODEL_FILES[precision])
