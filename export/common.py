"""What the export tools share: their source folder opened once (`open_source`), and
their flags (booleans as absl writes them, --tolerance).

The rest lives below them: reading a model folder (`bert.model_folder`,
`bert.model_config`), the checkpoint and the models on it (`bert.checkpoint`,
`bert.classifier_model`), the folder a tool writes (`bert.target_folder`) and
running as a console script (`bert.console`).
"""

from __future__ import annotations

import argparse
import os

from bert import errors, model_folder
from bert.model_folder import ModelFolder
from bert.target_folder import TargetRules

_YES = ("1", "true", "t", "yes", "y")
_NO = ("0", "false", "f", "no", "n")


def parse_bool(text: str) -> bool:
  """A flag's boolean: 1, true, t, yes, y or 0, false, f, no, n in any case."""
  word = text.lower()
  if word in _YES:
    return True
  if word in _NO:
    return False
  raise argparse.ArgumentTypeError("expected true or false, got %r" % text)


def add_bool_flag(
  parser: argparse.ArgumentParser, name: str, help_text: str, default: bool | None = False
) -> None:
  """Adds a boolean flag that is true when given alone (`--name`) or set as `--name=false`."""
  parser.add_argument(
    name, nargs="?", const=True, default=default, type=parse_bool, metavar="BOOL", help=help_text
  )


def add_folder_flags(parser: argparse.ArgumentParser, target_flag: str) -> None:
  """Adds an export's folders: --output_dir (the model folder read), `target_flag` (the
  folder written) and --checkpoint (alias --ckpt_name), in that order."""
  parser.add_argument(
    "--output_dir", required=True, metavar="DIR", help="the model folder to export"
  )
  parser.add_argument(
    target_flag, required=True, metavar="DIR", help="folder to write (must not exist or be empty)"
  )
  parser.add_argument(
    "--checkpoint",
    "--ckpt_name",
    dest="checkpoint",
    default=None,
    metavar="PREFIX",
    help="checkpoint prefix, relative to --output_dir (model.ckpt-343) or full; "
    "default: the newest",
  )


def check_tolerance(tolerance: float) -> None:
  """Refuses a negative --tolerance (NaN too) as a usage error."""
  if not tolerance >= 0:
    raise errors.UsageError("--tolerance=%s: must be >= 0" % tolerance)


def open_source(
  output_dir: str,
  target: str,
  rules: TargetRules,
  checkpoint: str | None = None,
  overwrite: bool = False,
) -> ModelFolder:
  """The model folder `output_dir` that an export reads, once `rules` have accepted
  its `target`; no TensorFlow.

  Raises:
    `rules.error` (or another bert.errors.InputError) naming the problem.
  """
  output_dir = os.path.abspath(output_dir)
  if not os.path.isdir(output_dir):
    raise rules.error(
      "%s %s %s"
      % (
        rules.source_flag,
        output_dir,
        "is not a directory" if os.path.exists(output_dir) else "does not exist",
      )
    )
  rules.check(output_dir, target, overwrite)
  naming = model_folder.Naming(error=rules.error, folder_flag=rules.source_flag)
  return model_folder.open_folder(output_dir, checkpoint, naming)
