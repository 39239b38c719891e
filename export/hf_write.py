"""bert-import-hf's last step: writing the Google-layout folder.

bert_config.json, vocab.txt, bert_model.ckpt.* (and labels.json and
run_config.json for a classifier) are written to a staging folder beside
--output_dir, checked there, and only then moved into place, so that a failed
import leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable

from bert import model_folder
from bert.errors import WriteError
from bert.target_folder import TargetRules, lies_within, staging_beside, writing
from export.hf_head import ClassifierHead
from export.hf_source import GOOGLE_CHECKPOINT_NAME, VOCAB_NAME, HFImportError, ImportLog
from export.hf_vocab import Vocab

# --output_dir may be replaced when it is empty, or with --overwrite whatever it holds.
_TARGET = TargetRules(error=HFImportError, flag="--output_dir")
# How a failure to write --output_dir starts its message.
_WRITE_FAILURE = "cannot write --output_dir"


def prepare_output_dir(output_dir: str, overwrite: bool, sources: list[str]) -> None:
  """Refuses an --output_dir that may not be replaced, or that holds one of `sources`."""
  _TARGET.check(None, output_dir, overwrite)
  for source in sources:
    if lies_within(source, output_dir):
      raise HFImportError(
        "--output_dir %s holds the source model %s: choose another folder" % (output_dir, source)
      )


def _write_model_files(
  folder: str, output_dir: str, google_config: dict, vocab: Vocab, written: dict
) -> None:
  """Writes bert_config.json, vocab.txt and bert_model.ckpt.* into the staging `folder`."""
  from bert import checkpoint as bert_checkpoint

  with writing(_WRITE_FAILURE, output_dir):
    with open(os.path.join(folder, model_folder.BERT_CONFIG_FILENAME), "w", encoding="utf-8") as f:
      f.write(json.dumps(google_config, indent=2, sort_keys=True) + "\n")
    if vocab.path is not None:
      shutil.copyfile(vocab.path, os.path.join(folder, VOCAB_NAME))
    else:
      with open(os.path.join(folder, VOCAB_NAME), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab.tokens))
  try:
    bert_checkpoint.save_variables(written, os.path.join(folder, GOOGLE_CHECKPOINT_NAME))
  except bert_checkpoint.CheckpointError as e:
    raise WriteError(str(e)) from None


def write_folder(
  output_dir: str,
  overwrite: bool,
  google_config: dict,
  vocab: Vocab,
  written: dict,
  head: ClassifierHead | None,
  check_staged: Callable[[str], dict] | None,
  log: ImportLog,
) -> dict | None:
  """Writes the folder, checks it while it is staged, then moves it to `output_dir`.

  Args:
    output_dir: the folder to (re)place; `prepare_output_dir` has accepted it.
    overwrite: replace a non-empty `output_dir`.
    google_config: bert_config.json's content.
    vocab: the vocab to write.
    written: Google name -> array, the checkpoint's variables.
    head: the classifier head, whose labels.json and run_config.json are written.
    check_staged: runs the check on the staging folder and returns its result,
      or None for --no_check.
    log: the import's log.

  Returns:
    The check's result, or None when it was skipped.
  """
  with staging_beside(output_dir, _WRITE_FAILURE) as tmp_dir:
    _write_model_files(tmp_dir, output_dir, google_config, vocab, written)
    if head is not None:
      with writing(_WRITE_FAILURE, output_dir):
        model_folder.write_labels(tmp_dir, head.labels)
        model_folder.write_json(
          os.path.join(tmp_dir, model_folder.RUN_CONFIG_FILENAME), head.run_config
        )
    check_result = None
    if check_staged is not None:
      check_result = check_staged(tmp_dir)
    else:
      log.info("Check skipped (--no_check).")
    _TARGET.move_into_place(tmp_dir, None, output_dir, overwrite, _WRITE_FAILURE)
  return check_result
