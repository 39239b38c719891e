#!/usr/bin/env bash
# Runs the main job end to end (placeholder until the pretrained-weights demo lands).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e .
python3 run_classifier.py --list_tasks
