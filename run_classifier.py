"""BERT finetuning runner (Google's run_classifier.py, on TensorFlow 2.20).

Same 25 flags, defaults, checks and output files as google-research/bert's
script. Tasks come from the `processors/` folder: drop a `.py` file with a
`DataProcessor` subclass into it (or into a folder named by
--processors_dir / $BERT_PROCESSORS_PATH) and it is a new --task_name.

As a module it offers the names old code imports from Google's script
(`from run_classifier import DataProcessor, InputExample`,
`run_classifier.convert_examples_to_features`, `input_fn_builder`, ...; see
`__all__`). Those that need TensorFlow are loaded on first use, so `--help`
stays fast. Importing it more than once, or as `bert.run_classifier`, gives the
same module and defines every flag once.
"""

from __future__ import annotations

import os  # noqa: F401  (one of Google's module-level names, in __all__)
import sys

from absl import app, flags
from absl import logging as absl_logging

from bert import errors
from bert.errors import ProjectError

if __name__ == "__main__":
  # Plugins that `import run_classifier` get this running module, not a
  # second copy that would define every flag again.
  sys.modules.setdefault("run_classifier", sys.modules[__name__])

import processors as processor_registry  # noqa: E402
from legacy import google_names  # noqa: E402
from processors import TaskError  # noqa: E402

FLAGS = flags.FLAGS

# Google's module-level names (see the module doc); those needing TensorFlow load on first use.
globals().update(google_names.eager_names())
__all__ = list(google_names.ALL)
__getattr__ = google_names.lazy_name


# Google's 25 flags: same names, types and defaults; the help is ours.
# The five without a default are required (marked at the bottom of the file).
flags.DEFINE_string(
  "data_dir", None, "Folder with the task's data files (the .tsv files or whatever the task reads)."
)

flags.DEFINE_string(
  "bert_config_file",
  None,
  "bert_config.json of the pre-trained model: the sizes of the network to build.",
)

flags.DEFINE_string("task_name", None, "Task to run (a processor name; see --list_tasks).")

flags.DEFINE_string("vocab_file", None, "vocab.txt of the pre-trained model.")

flags.DEFINE_string("output_dir", None, "Folder for checkpoints, tf_record files and results.")

flags.DEFINE_string(
  "init_checkpoint",
  None,
  "Checkpoint to start from, usually the pre-trained model's bert_model.ckpt.",
)

flags.DEFINE_bool(
  "do_lower_case",
  True,
  "Lower-case and strip accents before WordPiece: true for uncased models, false for cased ones.",
)

flags.DEFINE_integer(
  "max_seq_length",
  128,
  "Length of every example in WordPiece tokens, [CLS] and [SEP] included: "
  "longer texts are cut, shorter ones padded.",
)

flags.DEFINE_bool("do_train", False, "Fine-tune on the train set.")

flags.DEFINE_bool("do_eval", False, "Evaluate on the dev set (eval_results.txt).")

flags.DEFINE_bool(
  "do_predict",
  False,
  "Predict the test set (test_results.tsv, one row of probabilities per example).",
)

flags.DEFINE_integer("train_batch_size", 32, "Examples per training step.")

flags.DEFINE_integer("eval_batch_size", 8, "Examples per evaluation batch.")

flags.DEFINE_integer("predict_batch_size", 8, "Examples per prediction batch.")

flags.DEFINE_float(
  "learning_rate", 5e-5, "Peak learning rate of the Adam (weight decay) optimizer."
)

flags.DEFINE_float("num_train_epochs", 3.0, "Passes over the train set (may be fractional).")

flags.DEFINE_float(
  "warmup_proportion",
  0.1,
  "Share of the training steps over which the learning rate rises linearly from 0 (0.1 = 10%).",
)

flags.DEFINE_integer("save_checkpoints_steps", 1000, "Write a checkpoint every this many steps.")

flags.DEFINE_integer(
  "iterations_per_loop", 1000, "Steps run per call into the training loop (a TPUEstimator setting)."
)

flags.DEFINE_bool("use_tpu", False, "Train and predict on a Cloud TPU instead of CPU/GPU.")

flags.DEFINE_string(
  "tpu_name",
  None,
  "With --use_tpu: the Cloud TPU, by its name or as a grpc://host:8470 address.",
)

flags.DEFINE_string(
  "tpu_zone",
  None,
  "With --use_tpu: GCE zone of the TPU (optional; found from the VM's metadata when left out).",
)

flags.DEFINE_string(
  "gcp_project",
  None,
  "With --use_tpu: GCP project of the TPU (optional; found from the VM's metadata when left out).",
)

flags.DEFINE_string("master", None, "Address of a TensorFlow master (optional).")

flags.DEFINE_integer("num_tpu_cores", 8, "With --use_tpu: how many TPU cores to use in all.")

## Flags beyond Google's (each fixes a known pain; defaults keep Google's behaviour)

flags.DEFINE_string(
  "processors_dir",
  None,
  "[Extra] Folder(s) with DataProcessor plugin files (os.pathsep-separated), "
  "besides processors/ and $BERT_PROCESSORS_PATH.",
)

flags.DEFINE_bool(
  "list_tasks", False, "[Extra] Print the available --task_name values and their files, then exit."
)

flags.DEFINE_bool(
  "allow_partial_checkpoint",
  False,
  "[Extra] Accept an --init_checkpoint that lacks some bert/* variables (they "
  "stay random, as Google's code silently did). Default: stop with a list.",
)

flags.DEFINE_integer(
  "shuffle_buffer_size",
  100,
  "[Extra] Shuffle buffer of the training records. Google's 100 barely "
  "shuffles files sorted by label; use e.g. 10000 for those.",
)

flags.DEFINE_bool(
  "dynamic_padding",
  False,
  "[Extra] Pad each batch only to its longest example, batching examples "
  "of similar length together (train, eval and predict; predictions keep "
  "the input order). Same tf_record files; much faster on short texts. "
  "Off by default: Google padded every example to max_seq_length.",
)

flags.DEFINE_integer(
  "num_conversion_workers",
  0,
  "[Extra] Processes for example -> tf_record conversion, this one "
  "included (0: one per core for large inputs). The files are the same "
  "whatever the number.",
)

flags.DEFINE_integer(
  "seed",
  None,
  "[Extra] Random seed for weight init, dropout and shuffling (Google's runs were unseeded).",
)

flags.DEFINE_integer(
  "gradient_accumulation_steps",
  1,
  "[Extra] Batches of --train_batch_size per optimizer step (their gradients are averaged): "
  "a batch too big for memory, in K pieces. Steps and the learning-rate schedule count "
  "optimizer steps.",
)

flags.DEFINE_integer(
  "eval_every_steps",
  0,
  "[Extra] Evaluate the dev set every N optimizer steps while training (eval_history.tsv, "
  "TensorBoard eval/). 0: only after training, as Google's script.",
)

flags.DEFINE_bool(
  "eval_every_epoch", False, "[Extra] Evaluate the dev set after every epoch while training."
)

flags.DEFINE_enum(
  "keep_best_checkpoint",
  None,
  ["eval_accuracy", "macro_f1", "eval_loss"],
  "[Extra] With evaluation during training: keep the best checkpoint by this metric in "
  "<output_dir>/best/ (a model folder export and serving take as it is).",
)

flags.DEFINE_integer(
  "early_stopping_patience",
  0,
  "[Extra] With evaluation during training: stop after this many evaluations without a better "
  "--keep_best_checkpoint metric (eval_accuracy if not given). 0: never stop early.",
)

flags.DEFINE_enum(
  "precision",
  "float32",
  ["float32", "mixed_float16", "mixed_bfloat16", "auto"],
  "[Extra] What training, evaluation and prediction compute in: mixed_* keep float32 "
  "weights, optimizer and checkpoints and compute in float16 (with dynamic loss scaling) or "
  "bfloat16; auto picks mixed_bfloat16 where the matmuls have a bf16 unit (CPUs with "
  "AMX-BF16 or AVX512-BF16, GPUs of compute capability 8.0+, TPUs), else float32, and logs "
  "its choice.",
)

flags.DEFINE_bool(
  "fused_kernels",
  True,
  "[Extra] Train with XLA-fused dropout, GELU, LayerNorm and attention softmax and one fused "
  "optimizer update (same formulas; faster on CPUs; one compilation per padded length). "
  "--nofused_kernels trains with the plain TensorFlow ops.",
)

flags.DEFINE_bool(
  "multi_label",
  False,
  "[Extra] Each example may have several labels (a list in InputExample.label; for the tabular "
  "task, --label_separator splits the label column): a sigmoid per label and binary "
  "cross-entropy. Also on automatically when a processor gives list labels.",
)

flags.DEFINE_float(
  "multi_label_threshold",
  0.5,
  "[Extra] With --multi_label: a label is predicted when its probability is at least this.",
)

flags.DEFINE_string(
  "label_separator",
  ",",
  "[Extra, tabular task] With --multi_label: separator of the labels in one cell.",
)

flags.DEFINE_integer(
  "doc_stride",
  0,
  "[Extra] Texts longer than --max_seq_length are split into overlapping windows starting every "
  "this many tokens (as Google's run_squad); each window is trained on, and eval/predict combine "
  "a text's windows into one prediction. 0: cut long texts, as Google's script.",
)

flags.DEFINE_enum(
  "window_pooling",
  "mean",
  ["mean", "max"],
  "[Extra] With --doc_stride: how the logits of a text's windows are combined.",
)

flags.DEFINE_enum(
  "predict_backend",
  "tensorflow",
  ["tensorflow", "onnxruntime", "onnxruntime_int8"],
  "[Extra] What runs --do_predict: TensorFlow, or ONNX Runtime on the checkpoint exported to "
  "<output_dir>/onnx (float32, or int8 weights; exported when missing or out of date). "
  "Needs the onnx extra.",
)

flags.DEFINE_string(
  "class_weights",
  None,
  "[Extra] Weighted cross-entropy for imbalanced data: 'balanced' (n / (num_labels * count)) "
  "or one weight per label in get_labels() order, comma-separated.",
)

flags.DEFINE_enum(
  "distribution_strategy",
  "auto",
  ["auto", "one_device", "mirrored", "multi_worker_mirrored", "tpu"],
  "[Extra] tf.distribute strategy. auto: TPU with --use_tpu, multi-worker when TF_CONFIG "
  "names several workers (every worker runs the same command), mirrored on 2+ GPUs, else one "
  "device.",
)

flags.DEFINE_integer(
  "num_gpus", None, "[Extra] GPUs for one_device/mirrored (default: all visible; 0: the CPU)."
)

flags.DEFINE_string(
  "train_file", "train.tsv", "[Extra, tabular task] Training file inside --data_dir."
)
flags.DEFINE_string("dev_file", "dev.tsv", "[Extra, tabular task] Dev file inside --data_dir.")
flags.DEFINE_string("test_file", "test.tsv", "[Extra, tabular task] Test file inside --data_dir.")
flags.DEFINE_string(
  "text_column",
  None,
  "[Extra, tabular task] Column of the text: a header name, or a 0-based "
  "index with --nohas_header.",
)
flags.DEFINE_string(
  "text_b_column", None, "[Extra, tabular task] Optional column of a second text."
)
flags.DEFINE_string("label_column", None, "[Extra, tabular task] Column of the label.")
flags.DEFINE_string("delimiter", "\t", "[Extra, tabular task] Field delimiter ('\\t' or ',').")
flags.DEFINE_bool("has_header", True, "[Extra, tabular task] The files start with a header row.")

PROGRAM = "run_classifier.py"
REQUIRED_FLAGS = ["data_dir", "task_name", "vocab_file", "bert_config_file", "output_dir"]


def _log_plugin_problems():
  for problem in processor_registry.plugin_problems(FLAGS.processors_dir):
    absl_logging.warning("%s", problem)


def _run() -> None:
  """Google's main() on the TF2 engine: `classifier.run_workflow` with the flags."""
  from classifier import RunConfig, run_workflow

  absl_logging.set_verbosity(max(absl_logging.INFO, absl_logging.get_verbosity()))
  _log_plugin_problems()
  run_workflow(RunConfig.from_flags(FLAGS))


def _fail(error: BaseException) -> int:
  """Logs the traceback (seen with --verbosity=1), prints one line, returns the exit status.

  Our own errors print their message; an error raised in a plugin's code is
  described with the plugin's file and line.
  """
  absl_logging.debug("Traceback:", exc_info=error)
  if not isinstance(error, ProjectError):
    error = TaskError(processor_registry.describe_error(error))
  return errors.report(PROGRAM, error)


def main(_):
  if FLAGS.list_tasks:
    for name, source in processor_registry.available_tasks(FLAGS.processors_dir).items():
      print("%-16s %s" % (name, source))
    _log_plugin_problems()
    return 0
  try:
    _run()
  except Exception as e:
    if isinstance(e, ProjectError) or processor_registry.plugin_location(e) is not None:
      return _fail(e)
    raise  # Anything else is a bug of ours: its traceback is the report.
  return 0


def _flag_from_argv(argv, name):
  """The value of --name in an unparsed command line (absl's spellings)."""
  value = None
  for i, arg in enumerate(argv[1:], 1):
    if arg == "--":
      break
    key, equals, text = arg.lstrip("-").partition("=")
    if not arg.startswith("-") or key != name:
      continue
    if equals:
      value = text
    elif i + 1 < len(argv):
      value = argv[i + 1]
  return value


def _import_requested_task(argv):
  """Imports the plugin of --task_name before the flags are parsed, so the
  flags it defines (`flags.DEFINE_string(...)`) can be given on the command
  line. A task that is not found is reported later, in main()'s order."""
  task_name = _flag_from_argv(argv, "task_name")
  if not task_name:
    return
  try:
    processor_registry.load_task_class(task_name, _flag_from_argv(argv, "processors_dir"))
  except TaskError as e:
    if not str(e).startswith("Task not found"):
      verbosity = _flag_from_argv(argv, "verbosity") or _flag_from_argv(argv, "v")
      if verbosity and verbosity.lstrip("-").isdigit() and int(verbosity) > 0:
        import traceback

        traceback.print_exception(e.__cause__ or e)
      sys.exit(_fail(e))


if __name__ == "__main__":
  if any(a.lstrip("-").split("=")[0] == "list_tasks" for a in sys.argv[1:]):
    app.run(main, flags_parser=errors.absl_flags_parser(PROGRAM))
  _import_requested_task(sys.argv)
  flags.mark_flags_as_required(REQUIRED_FLAGS)
  app.run(main, flags_parser=errors.absl_flags_parser(PROGRAM))
