"""The lines the export and import tools print after their work (no TensorFlow, no NumPy).

Each tool prints its own "Wrote ..." and "from ..." lines; the pieces they share are here:
the model's size, the check's verdict, the tokenizer and head lines of an import and the
warnings.
"""

from __future__ import annotations

# The outputs a forward check may compare, in the order they are reported.
OUTPUT_KEYS = ("sequence_output", "pooled_output", "encoder_outputs", "logits")


def diff_text(result: dict) -> str:
  """ "sequence_output 1e-06, pooled_output ..." for a check result's `<key>_max_abs_diff`s."""
  return ", ".join(
    "%s %.3g" % (key, result[key + "_max_abs_diff"])
    for key in OUTPUT_KEYS
    if key + "_max_abs_diff" in result
  )


def size_text(config: dict, layers_key: str = "num_hidden_layers") -> str:
  """ "L=12 H=768 A=12 I=3072 V=30522" for a config (`layers_key` names its layer count)."""
  return "L=%d H=%d A=%d I=%d V=%d" % (
    config[layers_key],
    config["hidden_size"],
    config["num_attention_heads"],
    config["intermediate_size"],
    config["vocab_size"],
  )


def print_check(check: dict | None) -> None:
  """The check line: the largest differences against the tolerance, or "skipped"."""
  if check:
    print(
      "  check: max |diff| %s (%.3g relative; tolerance %g)"
      % (diff_text(check), check["max_rel_diff"], check["tolerance"])
    )
  else:
    print("  check: skipped")


def print_warnings(warnings: list[str]) -> None:
  """One "WARNING:" line for each message."""
  for message in warnings:
    print("  WARNING: %s" % message)


def print_import_tail(summary: dict) -> None:
  """What an import prints after its "from" line: the tokenizer's lower-casing (when the
  source says it), the classifier head's labels (when it has one), the check, the warnings."""
  if summary["do_lower_case"] is not None:
    print("  tokenizer: --do_lower_case=%s" % str(summary["do_lower_case"]).lower())
  if summary["labels"]:
    print("  classifier head: labels %s (labels.json, run_config.json)" % summary["labels"])
  print_check(summary["check"])
  print_warnings(summary["warnings"])
