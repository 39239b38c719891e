"""The engine behind run_classifier.py: features, records, training and reports.

`RunConfig` and `run_workflow` run the whole job from Python (see
`classifier.workflow`). Importing the package does not import TensorFlow.
"""

from classifier.run_config import RunConfig
from classifier.workflow import run_workflow

__all__ = ["RunConfig", "run_workflow"]
