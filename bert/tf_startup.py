"""Imports TensorFlow without its start-up noise on the console.

On a machine without a GPU, TensorFlow 2.20's CUDA build prints a handful of
C++ log lines on every start (CUDA drivers not found, oneDNN notice, CPU
feature guard, an ERROR-level "failed call to cuInit"), and one
"Local rendezvous is aborting with status: OUT_OF_RANGE: End of sequence"
after every finished dataset. None of them is actionable.

`import_tensorflow()` hides them when the user has not chosen a level
(`TF_CPP_MIN_LOG_LEVEL` unset): it sets the level to 1 (C++ INFO lines off,
warnings and errors on), and drops the cuInit error, which TensorFlow logs
at ERROR level, from what TensorFlow prints while it probes its devices.
Everything else that TensorFlow writes, and every line of ours, stays.
Setting `TF_CPP_MIN_LOG_LEVEL` (e.g. to 0) shows TensorFlow's output as it is.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"

# Lines of the device probe that carry no information on a CPU-only machine.
_PROBE_NOISE = re.compile(
  rb"failed call to cuInit|cuda_platform\.cc|"
  rb"All log messages before absl::InitializeLog"
)


def import_tensorflow():
  """Returns the `tensorflow` module, imported and its devices probed quietly
  (see the module doc). Later calls just return the module."""
  if "tensorflow" in sys.modules:
    return sys.modules["tensorflow"]
  if LEVEL_VARIABLE in os.environ:
    import tensorflow as tf

    return tf
  os.environ[LEVEL_VARIABLE] = "1"
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      import tensorflow as tf

      tf.config.list_physical_devices()  # The probe that logs cuInit.
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      sys.stderr.buffer.write(b"".join(line for line in captured if not _PROBE_NOISE.search(line)))
      sys.stderr.flush()
  return tf
