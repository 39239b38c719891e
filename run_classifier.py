# coding=utf-8
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

import os
import shutil
import sys

from absl import app, flags
from absl import logging as absl_logging

if __name__ == "__main__":
  # Plugins that `import run_classifier` get this running module, not a
  # second copy that would define every flag again.
  sys.modules.setdefault("run_classifier", sys.modules[__name__])

from processors import (
  DataError,
  DataProcessor,
  InputExample,  # noqa: E402
  InputFeatures,
  PaddingInputExample,
  TaskError,
)
from processors.glue import (
  ColaProcessor,
  MnliProcessor,  # noqa: E402
  MrpcProcessor,
  XnliProcessor,
)
from classifier.features import (  # noqa: E402
  _truncate_seq_pair,
  convert_examples_to_features,
  convert_single_example,
  file_based_convert_examples_to_features,
)
import processors as processor_registry  # noqa: E402

FLAGS = flags.FLAGS

# Names of Google's module that load on first use (module name, attribute).
_LAZY_NAMES = {
  "create_model": ("classifier.model", "create_model"),
  "input_fn_builder": ("classifier.input_pipeline", "input_fn_builder"),
  "file_based_input_fn_builder": ("classifier.input_pipeline", "file_based_input_fn_builder"),
  "modeling": ("bert.modeling", None),
  "optimization": ("bert.optimization", None),
  "tokenization": ("bert.tokenization", None),
  "tf": ("processors.legacy", "tensorflow_view"),
  "csv": ("csv", None),
  "collections": ("collections", None),
}

__all__ = [
  "FLAGS",
  "flags",
  "os",
  "InputExample",
  "InputFeatures",
  "PaddingInputExample",
  "DataProcessor",
  "ColaProcessor",
  "MnliProcessor",
  "MrpcProcessor",
  "XnliProcessor",
  "convert_single_example",
  "convert_examples_to_features",
  "file_based_convert_examples_to_features",
  "_truncate_seq_pair",
] + sorted(_LAZY_NAMES)


def __getattr__(name):
  """Loads the TensorFlow-side names of Google's module when first used."""
  if name == "model_fn_builder":
    raise ImportError(
      "run_classifier.model_fn_builder built a model_fn for tf.estimator, "
      "which TensorFlow 2.16 removed; use run_classifier.create_model for "
      "the graph, or classifier.model.BertClassifier (TF2) with "
      "classifier.trainer.ClassifierRunner for training, evaluation and "
      "prediction, as run_classifier.py itself does"
    )
  if name not in _LAZY_NAMES:
    raise AttributeError("module 'run_classifier' has no attribute %r" % name)
  import importlib

  module_name, attribute = _LAZY_NAMES[name]
  value = importlib.import_module(module_name)
  if attribute == "tensorflow_view":
    value = value.tensorflow_view()
  elif attribute:
    value = getattr(value, attribute)
  globals()[name] = value
  return value


## Required parameters
flags.DEFINE_string(
  "data_dir",
  None,
  "The input data dir. Should contain the .tsv files (or other data files) for the task.",
)

flags.DEFINE_string(
  "bert_config_file",
  None,
  "The config json file corresponding to the pre-trained BERT model. "
  "This specifies the model architecture.",
)

flags.DEFINE_string("task_name", None, "The name of the task to train.")

flags.DEFINE_string("vocab_file", None, "The vocabulary file that the BERT model was trained on.")

flags.DEFINE_string(
  "output_dir", None, "The output directory where the model checkpoints will be written."
)

## Other parameters

flags.DEFINE_string(
  "init_checkpoint", None, "Initial checkpoint (usually from a pre-trained BERT model)."
)

flags.DEFINE_bool(
  "do_lower_case",
  True,
  "Whether to lower case the input text. Should be True for uncased "
  "models and False for cased models.",
)

flags.DEFINE_integer(
  "max_seq_length",
  128,
  "The maximum total input sequence length after WordPiece tokenization. "
  "Sequences longer than this will be truncated, and sequences shorter "
  "than this will be padded.",
)

flags.DEFINE_bool("do_train", False, "Whether to run training.")

flags.DEFINE_bool("do_eval", False, "Whether to run eval on the dev set.")

flags.DEFINE_bool(
  "do_predict", False, "Whether to run the model in inference mode on the test set."
)

flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")

flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval.")

flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict.")

flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")

flags.DEFINE_float("num_train_epochs", 3.0, "Total number of training epochs to perform.")

flags.DEFINE_float(
  "warmup_proportion",
  0.1,
  "Proportion of training to perform linear learning rate warmup for. E.g., 0.1 = 10% of training.",
)

flags.DEFINE_integer("save_checkpoints_steps", 1000, "How often to save the model checkpoint.")

flags.DEFINE_integer("iterations_per_loop", 1000, "How many steps to make in each estimator call.")

flags.DEFINE_bool("use_tpu", False, "Whether to use TPU or GPU/CPU.")

flags.DEFINE_string(
  "tpu_name",
  None,
  "The Cloud TPU to use for training. This should be either the name "
  "used when creating the Cloud TPU, or a grpc://ip.address.of.tpu:8470 "
  "url.",
)

flags.DEFINE_string(
  "tpu_zone",
  None,
  "[Optional] GCE zone where the Cloud TPU is located in. If not "
  "specified, we will attempt to automatically detect the GCE project from "
  "metadata.",
)

flags.DEFINE_string(
  "gcp_project",
  None,
  "[Optional] Project name for the Cloud TPU-enabled project. If not "
  "specified, we will attempt to automatically detect the GCE project from "
  "metadata.",
)

flags.DEFINE_string("master", None, "[Optional] TensorFlow master URL.")

flags.DEFINE_integer(
  "num_tpu_cores", 8, "Only used if `use_tpu` is True. Total number of TPU cores to use."
)

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


def _processor_options() -> dict:
  """Options for processors that take them (`configure`), e.g. tabular."""
  delimiter = FLAGS.delimiter
  if delimiter in ("\\t", "tab", "TAB"):
    delimiter = "\t"
  return {
    "data_dir": FLAGS.data_dir,
    "output_dir": FLAGS.output_dir,
    "train_file": FLAGS.train_file,
    "dev_file": FLAGS.dev_file,
    "test_file": FLAGS.test_file,
    "delimiter": delimiter,
    "has_header": FLAGS.has_header,
    "text_column": FLAGS.text_column,
    "text_b_column": FLAGS.text_b_column,
    "label_column": FLAGS.label_column,
  }


def _log_plugin_problems():
  for problem in processor_registry.plugin_problems(FLAGS.processors_dir):
    absl_logging.warning("%s", problem)


def _has_checkpoint(folder: str) -> bool:
  return any(
    name.startswith("model.ckpt-") and name.endswith(".index") for name in os.listdir(folder)
  )


def _run():
  """Google's main(), check for check, then the TF2 train/eval/predict.

  Everything that can be checked without TensorFlow is checked first (flag
  values, bert_config.json, vocab.txt, --init_checkpoint, the task and all
  requested data), so a usage or data mistake ends in well under 2 seconds
  and before anything is written to --output_dir.
  """
  from bert import tokenization
  from classifier import checks, data_sets

  absl_logging.set_verbosity(max(absl_logging.INFO, absl_logging.get_verbosity()))
  _log_plugin_problems()

  tokenization.validate_case_matches_checkpoint(FLAGS.do_lower_case, FLAGS.init_checkpoint)

  if not FLAGS.do_train and not FLAGS.do_eval and not FLAGS.do_predict:
    raise ValueError("At least one of `do_train`, `do_eval` or `do_predict' must be True.")

  config = checks.read_bert_config(FLAGS.bert_config_file)

  if FLAGS.max_seq_length > config["max_position_embeddings"]:
    raise ValueError(
      "Cannot use sequence length %d because the BERT model "
      "was only trained up to sequence length %d"
      % (FLAGS.max_seq_length, config["max_position_embeddings"])
    )
  checks.check_flag_values(FLAGS)
  checks.check_init_checkpoint(FLAGS.init_checkpoint)

  task_name = FLAGS.task_name.lower()
  processor = processor_registry.get_processor(task_name, FLAGS.processors_dir)
  if hasattr(processor, "configure"):
    processor.configure(_processor_options())

  label_list = processor_registry.labels_of(processor, FLAGS.data_dir)

  tokenizer = tokenization.FullTokenizer(
    vocab_file=FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case
  )
  checks.check_vocab(tokenizer.vocab, FLAGS.vocab_file, config, FLAGS.bert_config_file)

  data = data_sets.read_data_sets(FLAGS, processor, label_list)

  from bert import tf_startup

  tf_startup.import_tensorflow()
  from bert import modeling
  from classifier import pipeline

  bert_config = modeling.BertConfig.from_dict(config)

  new_output_dir = not os.path.isdir(FLAGS.output_dir)
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  try:
    pipeline.run(FLAGS, data, tokenizer, bert_config)
  except BaseException:
    # A run that fails before its first checkpoint leaves no new folder.
    if new_output_dir and not _has_checkpoint(FLAGS.output_dir):
      shutil.rmtree(FLAGS.output_dir, ignore_errors=True)
    raise


def _error_line(error: BaseException) -> str:
  """The one line that a failed run prints (after "run_classifier.py: error: ")."""
  if isinstance(error, (DataError, TaskError)):
    return str(error).splitlines()[0]
  if processor_registry.plugin_location(error) is None:
    if isinstance(error, KeyError):
      return "KeyError: %s" % error
    if isinstance(error, (ValueError, OSError)) and str(error):
      return str(error).splitlines()[0]
  return processor_registry.describe_error(error)


def _fail(error: BaseException) -> int:
  """Logs the traceback (seen with --verbosity=1), prints one line, returns 1."""
  absl_logging.debug("Traceback:", exc_info=error)
  sys.stderr.write("%s: error: %s\n" % (PROGRAM, _error_line(error)))
  return 1


def main(_):
  if FLAGS.list_tasks:
    for name, source in processor_registry.available_tasks(FLAGS.processors_dir).items():
      print("%-16s %s" % (name, source))
    _log_plugin_problems()
    return 0
  try:
    _run()
  except Exception as e:  # Every failure ends as one line, exit status 1.
    return _fail(e)
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
    app.run(main)
  _import_requested_task(sys.argv)
  flags.mark_flag_as_required("data_dir")
  flags.mark_flag_as_required("task_name")
  flags.mark_flag_as_required("vocab_file")
  flags.mark_flag_as_required("bert_config_file")
  flags.mark_flag_as_required("output_dir")
  app.run(main)
