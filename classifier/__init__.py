"""The engine behind run_classifier.py: features, records, training and reports.

`RunConfig` (in sections) and `run_workflow` run the whole job from Python
(see `classifier.workflow`); `plan_run` checks a config without running it.
Importing the package does not import TensorFlow.
"""

from classifier.plan import RunPlan, plan_run
from classifier.run_config import (
  DataSettings,
  EvaluationSettings,
  ModelFiles,
  PredictionSettings,
  RunConfig,
  RuntimeSettings,
  TrainingSettings,
)
from classifier.workflow import run_workflow

__all__ = [
  "DataSettings",
  "EvaluationSettings",
  "ModelFiles",
  "PredictionSettings",
  "RunConfig",
  "RunPlan",
  "RuntimeSettings",
  "TrainingSettings",
  "plan_run",
  "run_workflow",
]
