"""The errors old code meets where this package stops: each one line, naming
the name or argument and what to do instead (`bert-run-tf1` prints it with
the script's file and line)."""

from __future__ import annotations

from bert import errors

README_SECTION = "see the README's \"Old TF1 scripts\""


class NotProvided(errors.ProjectError, AttributeError):
  """Old code asked for a TensorFlow name that neither TensorFlow 2 nor this
  package provides. Also an AttributeError, so `hasattr(tf, name)` still
  answers False."""


class NotSupported(errors.ProjectError, ValueError):
  """An argument or setting of TF1's API that this package does not carry
  out (a distribution strategy, a TPU, ...)."""


class NoTPU(NotSupported, errors.UsageError):
  """`use_tpu=True` or a TPU cluster resolver: the runner trains on CPU/GPU
  (a usage error: the script's --use_tpu flag asked for it)."""


class ScriptError(errors.ProjectError, ValueError):
  """The script used TF1's API in a way TF1 refused too (an EstimatorSpec
  without the loss its mode needs, `steps` and `max_steps` together, a
  prediction with no checkpoint to load, ...). A ValueError, as TF1 raised
  it; bert-run-tf1 prints it as one line with the script's file and line."""


class ScriptTypeError(errors.ProjectError, TypeError):
  """The same for what TF1 refused with a TypeError (a model_fn that returns
  no EstimatorSpec, a metric that is no `(value, update_op)` pair)."""
