# coding=utf-8
"""BERT finetuning runner (Google's run_classifier.py, on TensorFlow 2.20).

Same 25 flags, defaults, checks and output files as google-research/bert's
script. Tasks come from the `processors/` folder: drop a `.py` file with a
`DataProcessor` subclass into it (or into a folder named by
--processors_dir / $BERT_PROCESSORS_PATH) and it is a new --task_name.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags
from absl import logging as absl_logging

from processors import (DataError, DataProcessor, InputExample,  # noqa: F401
                        InputFeatures, PaddingInputExample, TaskError)
import processors as processor_registry

flags = flags
FLAGS = flags.FLAGS

## Required parameters
flags.DEFINE_string(
    "data_dir", None,
    "The input data dir. Should contain the .tsv files (or other data files) "
    "for the task.")

flags.DEFINE_string(
    "bert_config_file", None,
    "The config json file corresponding to the pre-trained BERT model. "
    "This specifies the model architecture.")

flags.DEFINE_string("task_name", None, "The name of the task to train.")

flags.DEFINE_string("vocab_file", None,
                    "The vocabulary file that the BERT model was trained on.")

flags.DEFINE_string(
    "output_dir", None,
    "The output directory where the model checkpoints will be written.")

## Other parameters

flags.DEFINE_string(
    "init_checkpoint", None,
    "Initial checkpoint (usually from a pre-trained BERT model).")

flags.DEFINE_bool(
    "do_lower_case", True,
    "Whether to lower case the input text. Should be True for uncased "
    "models and False for cased models.")

flags.DEFINE_integer(
    "max_seq_length", 128,
    "The maximum total input sequence length after WordPiece tokenization. "
    "Sequences longer than this will be truncated, and sequences shorter "
    "than this will be padded.")

flags.DEFINE_bool("do_train", False, "Whether to run training.")

flags.DEFINE_bool("do_eval", False, "Whether to run eval on the dev set.")

flags.DEFINE_bool(
    "do_predict", False,
    "Whether to run the model in inference mode on the test set.")

flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")

flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval.")

flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict.")

flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")

flags.DEFINE_float("num_train_epochs", 3.0,
                   "Total number of training epochs to perform.")

flags.DEFINE_float(
    "warmup_proportion", 0.1,
    "Proportion of training to perform linear learning rate warmup for. "
    "E.g., 0.1 = 10% of training.")

flags.DEFINE_integer("save_checkpoints_steps", 1000,
                     "How often to save the model checkpoint.")

flags.DEFINE_integer("iterations_per_loop", 1000,
                     "How many steps to make in each estimator call.")

flags.DEFINE_bool("use_tpu", False, "Whether to use TPU or GPU/CPU.")

flags.DEFINE_string(
    "tpu_name", None,
    "The Cloud TPU to use for training. This should be either the name "
    "used when creating the Cloud TPU, or a grpc://ip.address.of.tpu:8470 "
    "url.")

flags.DEFINE_string(
    "tpu_zone", None,
    "[Optional] GCE zone where the Cloud TPU is located in. If not "
    "specified, we will attempt to automatically detect the GCE project from "
    "metadata.")

flags.DEFINE_string(
    "gcp_project", None,
    "[Optional] Project name for the Cloud TPU-enabled project. If not "
    "specified, we will attempt to automatically detect the GCE project from "
    "metadata.")

flags.DEFINE_string("master", None, "[Optional] TensorFlow master URL.")

flags.DEFINE_integer(
    "num_tpu_cores", 8,
    "Only used if `use_tpu` is True. Total number of TPU cores to use.")

## Flags beyond Google's (each fixes a known pain; defaults keep Google's behaviour)

flags.DEFINE_string(
    "processors_dir", None,
    "[Extra] Folder(s) with DataProcessor plugin files (os.pathsep-separated), "
    "besides processors/ and $BERT_PROCESSORS_PATH.")

flags.DEFINE_bool(
    "list_tasks", False,
    "[Extra] Print the available --task_name values and their files, then exit.")

flags.DEFINE_bool(
    "allow_partial_checkpoint", False,
    "[Extra] Accept an --init_checkpoint that lacks some bert/* variables (they "
    "stay random, as Google's code silently did). Default: stop with a list.")

flags.DEFINE_integer(
    "shuffle_buffer_size", 100,
    "[Extra] Shuffle buffer of the training records. Google's 100 barely "
    "shuffles files sorted by label; use e.g. 10000 for those.")

flags.DEFINE_bool(
    "dynamic_padding", False,
    "[Extra] Pad each batch only to its longest example, batching examples "
    "of similar length together (train, eval and predict; predictions keep "
    "the input order). Same tf_record files; much faster on short texts. "
    "Off by default: Google padded every example to max_seq_length.")

flags.DEFINE_integer(
    "num_conversion_workers", 0,
    "[Extra] Processes for example -> tf_record conversion, this one "
    "included (0: one per core for large inputs). The files are the same "
    "whatever the number.")

flags.DEFINE_integer(
    "seed", None,
    "[Extra] Random seed for weight init, dropout and shuffling (Google's "
    "runs were unseeded).")

flags.DEFINE_string("train_file", "train.tsv",
                    "[Extra, tabular task] Training file inside --data_dir.")
flags.DEFINE_string("dev_file", "dev.tsv",
                    "[Extra, tabular task] Dev file inside --data_dir.")
flags.DEFINE_string("test_file", "test.tsv",
                    "[Extra, tabular task] Test file inside --data_dir.")
flags.DEFINE_string(
    "text_column", None,
    "[Extra, tabular task] Column of the text: a header name, or a 0-based "
    "index with --nohas_header.")
flags.DEFINE_string("text_b_column", None,
                    "[Extra, tabular task] Optional column of a second text.")
flags.DEFINE_string("label_column", None,
                    "[Extra, tabular task] Column of the label.")
flags.DEFINE_string("delimiter", "\t",
                    "[Extra, tabular task] Field delimiter ('\\t' or ',').")
flags.DEFINE_bool("has_header", True,
                  "[Extra, tabular task] The files start with a header row.")

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


def _run():
  """Google's main(), check for check, then the TF2 train/eval/predict."""
  # Keep TensorFlow out of --help and --list_tasks.
  from bert import modeling, tokenization
  from classifier import pipeline

  absl_logging.set_verbosity(absl_logging.INFO)
  _log_plugin_problems()

  tokenization.validate_case_matches_checkpoint(FLAGS.do_lower_case,
                                                FLAGS.init_checkpoint)

  if not FLAGS.do_train and not FLAGS.do_eval and not FLAGS.do_predict:
    raise ValueError(
        "At least one of `do_train`, `do_eval` or `do_predict' must be True.")

  bert_config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)

  if FLAGS.max_seq_length > bert_config.max_position_embeddings:
    raise ValueError(
        "Cannot use sequence length %d because the BERT model "
        "was only trained up to sequence length %d" %
        (FLAGS.max_seq_length, bert_config.max_position_embeddings))

  os.makedirs(FLAGS.output_dir, exist_ok=True)

  task_name = FLAGS.task_name.lower()
  processor = processor_registry.get_processor(task_name, FLAGS.processors_dir)
  if hasattr(processor, "configure"):
    processor.configure(_processor_options())

  label_list = processor.get_labels()

  tokenizer = tokenization.FullTokenizer(
      vocab_file=FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case)

  pipeline.run(FLAGS, processor, label_list, tokenizer, bert_config)


def main(_):
  if FLAGS.list_tasks:
    for name, source in processor_registry.available_tasks(
        FLAGS.processors_dir).items():
      print("%-16s %s" % (name, source))
    _log_plugin_problems()
    return 0
  try:
    _run()
  except (DataError, TaskError, ValueError, OSError, KeyError) as e:
    absl_logging.debug("Traceback:", exc_info=True)
    message = str(e) if not isinstance(e, KeyError) else "KeyError: %s" % e
    sys.stderr.write("%s: error: %s\n" % (PROGRAM, message.splitlines()[0]
                                          if message else type(e).__name__))
    return 1
  return 0


if __name__ == "__main__":
  if any(a.lstrip("-").split("=")[0] == "list_tasks" for a in sys.argv[1:]):
    app.run(main)
  flags.mark_flag_as_required("data_dir")
  flags.mark_flag_as_required("task_name")
  flags.mark_flag_as_required("vocab_file")
  flags.mark_flag_as_required("bert_config_file")
  flags.mark_flag_as_required("output_dir")
  app.run(main)
