"""The compute precisions of the TF2 model, and what `auto` picks on this machine.

Every entry point takes the same names (run_classifier.py and extract_features.py
`--precision`, bert-serving-start `-precision`): "float32", "mixed_float16",
"mixed_bfloat16" (the weights stay float32, the matmuls and element-wise work
run in the 16-bit type; LayerNorm, the attention softmax and the loss stay
float32) and "auto". `auto` picks mixed_bfloat16 where the matmuls have a bf16
unit that makes it pay: a TPU, NVIDIA GPUs of compute capability 8.0 or more,
and CPUs with AMX-BF16 tiles or AVX512-BF16 dot products (on a Zen 4 CPU with
AVX512-BF16 and no AMX, bf16 trained 1.65x and predicted 1.57x as fast as
float32 with the same dev accuracy: README, Performance); float32 elsewhere.
TensorFlow is imported only to list the GPUs (`gpu_capabilities`).
"""

from __future__ import annotations

from collections.abc import Sequence

from bert import machine

# Flag value -> the dtype the model computes in.
COMPUTE_DTYPES = {
  "float32": "float32",
  "mixed_float16": "float16",
  "mixed_bfloat16": "bfloat16",
}
AUTO = "auto"
CHOICES = tuple(COMPUTE_DTYPES) + (AUTO,)
# CPU features that give bf16 matmuls a unit of their own, best first.
BF16_CPU_FEATURES = ("AMX-BF16", "AVX512-BF16")
# The first NVIDIA compute capability with bf16 tensor cores (Ampere).
BF16_GPU_CAPABILITY = (8, 0)


def compute_dtype(precision: str) -> str:
  """The dtype name ("float32", "float16", "bfloat16") that `precision` computes in.

  Raises:
    ValueError: `precision` is not one of COMPUTE_DTYPES (resolve "auto" first).
  """
  if precision not in COMPUTE_DTYPES:
    raise ValueError("precision must be one of %s, not %r" % (", ".join(COMPUTE_DTYPES), precision))
  return COMPUTE_DTYPES[precision]


def choose(
  cpu_info: dict | None = None,
  gpus: Sequence[tuple[int, int] | None] = (),
  tpu: bool = False,
) -> tuple[str, str]:
  """What `auto` picks, and why (for the log).

  Args:
    cpu_info: /proc/cpuinfo's first block (`bert.machine.cpuinfo`; None: this machine's).
    gpus: the compute capability (major, minor) of each GPU the model runs on
      (None where unknown); empty on a CPU.
    tpu: the model runs on a TPU.
  """
  if tpu:
    return "mixed_bfloat16", "TPU matrix units compute in bfloat16"
  if gpus:
    if all(c is not None and tuple(c) >= BF16_GPU_CAPABILITY for c in gpus):
      return "mixed_bfloat16", "GPU(s) of compute capability %s have bf16 tensor cores" % (
        ", ".join("%d.%d" % tuple(c) for c in gpus)
      )
    return "float32", "GPU(s) without bf16 tensor cores (compute capability below %d.%d)" % (
      BF16_GPU_CAPABILITY
    )
  features = machine.features(cpu_info)
  for feature in BF16_CPU_FEATURES:
    if feature in features:
      return "mixed_bfloat16", "this CPU has %s for bf16 matmuls" % feature
  return "float32", "this CPU has no bf16 matmul unit (%s)" % " or ".join(BF16_CPU_FEATURES)


def gpu_capabilities() -> list[tuple[int, int] | None]:
  """The compute capability of each GPU visible to TensorFlow (a server worker run with
  -cpu hides them; imports TensorFlow)."""
  import tensorflow as tf

  found = []
  for gpu in tf.config.get_visible_devices("GPU"):
    try:
      found.append(tf.config.experimental.get_device_details(gpu).get("compute_capability"))
    except (ValueError, RuntimeError):
      found.append(None)
  return found


def resolve(requested: str, tpu: bool = False, gpus: Sequence | None = None) -> tuple[str, str]:
  """`requested` as a precision to compute in, and the reason when `auto` chose it
  ("" otherwise). `gpus`: as `choose` takes them (None: ask TensorFlow, for `auto`
  only)."""
  if requested != AUTO:
    compute_dtype(requested)  # Checks the name.
    return requested, ""
  if gpus is None and not tpu:
    gpus = gpu_capabilities()
  return choose(gpus=gpus or (), tpu=tpu)
