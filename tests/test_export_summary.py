"""The summary lines the export and import tools share (export/summary.py), to the byte."""

from export import summary

CHECK = {
  "sequence_output_max_abs_diff": 1.2345e-6,
  "pooled_output_max_abs_diff": 3e-7,
  "logits_max_abs_diff": 4.4e-7,
  "max_rel_diff": 2.5e-6,
  "tolerance": 1e-4,
}


def test_size_text_names_the_layer_count_key():
  config = {
    "num_hidden_layers": 2,
    "num_layers": 3,
    "hidden_size": 32,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "vocab_size": 99,
  }
  assert summary.size_text(config) == "L=2 H=32 A=4 I=37 V=99"
  assert summary.size_text(config, "num_layers") == "L=3 H=32 A=4 I=37 V=99"


def test_check_lines(capsys):
  summary.print_check(CHECK)
  summary.print_check(None)
  assert capsys.readouterr().out == (
    "  check: max |diff| sequence_output 1.23e-06, pooled_output 3e-07, logits 4.4e-07 "
    "(2.5e-06 relative; tolerance 0.0001)\n"
    "  check: skipped\n"
  )


def test_import_tail(capsys):
  summary.print_import_tail(
    {"do_lower_case": False, "labels": ["a", "b"], "check": None, "warnings": ["w1", "w2"]}
  )
  summary.print_import_tail({"do_lower_case": None, "labels": [], "check": CHECK, "warnings": []})
  assert capsys.readouterr().out == (
    "  tokenizer: --do_lower_case=false\n"
    "  classifier head: labels ['a', 'b'] (labels.json, run_config.json)\n"
    "  check: skipped\n"
    "  WARNING: w1\n"
    "  WARNING: w2\n"
    "  check: max |diff| sequence_output 1.23e-06, pooled_output 3e-07, logits 4.4e-07 "
    "(2.5e-06 relative; tolerance 0.0001)\n"
  )
