"""`tf.estimator` for TF1 scripts under `bert-run-tf1` (TensorFlow 2.16 removed it).

Provided: `Estimator`, `EstimatorSpec`, `ModeKeys`, `RunConfig`,
`WarmStartSettings`, `TrainSpec`, `EvalSpec`, `train_and_evaluate`,
`experimental.stop_if_{no_decrease,no_increase,higher,lower}_hook`,
`export.{ServingInputReceiver, build_raw_serving_input_receiver_fn,
build_parsing_serving_input_receiver_fn, PredictOutput, ClassificationOutput,
RegressionOutput}`, `tpu.{TPUEstimator, TPUEstimatorSpec, RunConfig, TPUConfig,
InputPipelineConfig}` (TF 1.14's spelling of `tf.contrib.tpu`) and the session
hooks TF1 exported here (from `tf.compat.v1.train`). Any other name (canned estimators such as
`DNNClassifier`, `inputs.numpy_input_fn`, exporters, ...) is a `NotProvided`
error that lists what is.
"""

from __future__ import annotations

import types

import tensorflow as tf

from legacy.contrib import PARTS, Namespace
from legacy.errors import README_SECTION, NotProvided
from legacy.estimator import early_stopping, export
from legacy.estimator.estimator import Estimator
from legacy.estimator.run_config import RunConfig
from legacy.estimator.spec import EstimatorSpec, ModeKeys, WarmStartSettings
from legacy.estimator.training import EvalSpec, TrainSpec, train_and_evaluate

_train = tf.compat.v1.train
SessionRunHook = _train.SessionRunHook
SessionRunArgs = _train.SessionRunArgs
SessionRunContext = _train.SessionRunContext
SessionRunValues = _train.SessionRunValues
CheckpointSaverListener = _train.CheckpointSaverListener
LoggingTensorHook = _train.LoggingTensorHook
StopAtStepHook = _train.StopAtStepHook
NanTensorHook = _train.NanTensorHook
NanLossDuringTrainingError = _train.NanLossDuringTrainingError
SummarySaverHook = _train.SummarySaverHook
StepCounterHook = _train.StepCounterHook
FinalOpsHook = _train.FinalOpsHook
FeedFnHook = _train.FeedFnHook
GlobalStepWaiterHook = _train.GlobalStepWaiterHook
ProfilerHook = _train.ProfilerHook
SecondOrStepTimer = _train.SecondOrStepTimer

# TF 1.14's spelling of tf.contrib.tpu's Estimator names (tf.compat.v1.estimator.tpu in TF 2),
# which scripts moved to TF 1.15 use; loaded on first use (legacy.tpu imports this package).
tpu = Namespace(
  "tf.estimator.tpu",
  {name: target for name, target in PARTS["tpu"].items() if name != "CrossShardOptimizer"},
)

experimental = types.ModuleType("tf.estimator.experimental", "Early-stopping hooks.")
for _name in (
  "stop_if_no_decrease_hook",
  "stop_if_no_increase_hook",
  "stop_if_higher_hook",
  "stop_if_lower_hook",
):
  setattr(experimental, _name, getattr(early_stopping, _name))

__all__ = [
  "CheckpointSaverListener",
  "Estimator",
  "EstimatorSpec",
  "EvalSpec",
  "FeedFnHook",
  "FinalOpsHook",
  "GlobalStepWaiterHook",
  "LoggingTensorHook",
  "ModeKeys",
  "NanLossDuringTrainingError",
  "NanTensorHook",
  "ProfilerHook",
  "RunConfig",
  "SecondOrStepTimer",
  "SessionRunArgs",
  "SessionRunContext",
  "SessionRunHook",
  "SessionRunValues",
  "StepCounterHook",
  "StopAtStepHook",
  "SummarySaverHook",
  "TrainSpec",
  "WarmStartSettings",
  "experimental",
  "export",
  "tpu",
  "train_and_evaluate",
]


def __getattr__(name: str):
  """Names of TF1's tf.estimator that are not provided."""
  if name.startswith("__"):
    raise AttributeError(name)
  raise NotProvided(
    "tf.estimator.%s is not provided (tf.estimator here has: %s; %s)"
    % (name, ", ".join(__all__), README_SECTION)
  )
