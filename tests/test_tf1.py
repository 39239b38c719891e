"""bert/tf1.py (bert-run-tf1): its command-line errors; running scripts is in test_legacy.py."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_tf1(*argv):
  """`python -m bert.tf1 ARGV...`: (exit status, stderr lines)."""
  r = subprocess.run(
    [sys.executable, "-m", "bert.tf1"] + list(argv),
    capture_output=True,
    text=True,
    cwd=ROOT,
    timeout=120,
  )
  return r.returncode, r.stderr.splitlines()


def test_no_script_is_a_usage_error():
  assert _run_tf1() == (
    2,
    ["bert-run-tf1: error: no script to run; usage: python -m bert.tf1 SCRIPT.py [ARGUMENTS...]"],
  )


def test_missing_script_is_an_input_error(tmp_path):
  script = str(tmp_path / "old_script.py")
  assert _run_tf1(script, "--flag=1") == (1, ["bert-run-tf1: error: %s: no such script" % script])
  assert _run_tf1(str(tmp_path)) == (1, ["bert-run-tf1: error: %s: no such script" % tmp_path])


def test_help_is_not_an_error():
  assert _run_tf1("--help") == (0, ["usage: python -m bert.tf1 SCRIPT.py [ARGUMENTS...]"])
