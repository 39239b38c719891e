"""What CPU this is, as far as the speed of BERT on it goes.

The instruction sets that decide which matmul kernels oneDNN (TensorFlow's
CPU backend) and ONNX Runtime can use: AVX2/FMA, AVX-512, its VNNI (int8)
and BF16 (bf16 dot products) extensions, and AMX, the tile units of Intel's
4th-generation Xeons and later, whose BF16/INT8 matmuls are many times faster
than the vector units. Read from /proc/cpuinfo (Linux; elsewhere every fact
is unknown) without TensorFlow, so logging them costs nothing at start-up.
`onednn_isa()` asks oneDNN itself which ISA it dispatches to (it starts a
TensorFlow process, for the bench).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

# /proc/cpuinfo flag -> the name the log and the bench print.
FEATURES = (
  ("avx2", "AVX2"),
  ("fma", "FMA"),
  ("avx512f", "AVX-512"),
  ("avx512_vnni", "AVX512-VNNI"),
  ("avx512_bf16", "AVX512-BF16"),
  ("amx_tile", "AMX"),
  ("amx_bf16", "AMX-BF16"),
  ("amx_int8", "AMX-INT8"),
)
# FMA units per core (2 on every x86 server core met so far): with the width of their
# data path they give the fp32 FLOPs a core can retire per cycle.
FMA_UNITS = 2


def cpuinfo() -> dict:
  """The first processor's block of /proc/cpuinfo as a dict (empty elsewhere)."""
  facts = {}
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if not line.strip():
          if facts:
            break
          continue
        key, _, value = line.partition(":")
        facts[key.strip()] = value.strip()
  except OSError:
    pass
  return facts


def fma_width_bits(info: dict) -> int | None:
  """Width in bits of one FMA data path of this CPU, where it is known.

  AVX-512 instructions do not mean 512-bit units: AMD's Zen 4 (family 25) runs
  them as two 256-bit halves, Zen 5 (family 26) has full 512-bit units; Intel
  server cores with AVX-512 have 512-bit units. None when the flags and family
  do not say.
  """
  flags = set(info.get("flags", "").split())
  vendor = info.get("vendor_id", "")
  family = int(info.get("cpu family", "0") or 0)
  if "avx512f" in flags:
    if vendor == "AuthenticAMD":
      return 512 if family >= 26 else 256
    return 512
  if "fma" in flags and "avx2" in flags:
    return 256
  return None


def usable_cores() -> int:
  """The cores this process may run on (its affinity mask), else os.cpu_count()."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


def features(info: dict | None = None) -> list[str]:
  """The FEATURES names this CPU has, in FEATURES order."""
  flags = set((cpuinfo() if info is None else info).get("flags", "").split())
  return [name for flag, name in FEATURES if flag in flags]


def has_amx_bf16(info: dict | None = None) -> bool:
  """Whether the CPU has AMX-BF16 tiles: bf16 matmuls far faster than fp32 ones."""
  return "AMX-BF16" in features(info)


def cpu_facts(info: dict | None = None) -> dict:
  """Vendor, model, family/model, the ISA features, usable cores and the fp32
  FLOPs per cycle and core that the FMA units allow (a property, not a measurement)."""
  info = cpuinfo() if info is None else info
  width = fma_width_bits(info)
  return {
    "cpu_model": info.get("model name", "?"),
    "cpu_vendor": info.get("vendor_id", "?"),
    "cpu_family_model": "%s/%s" % (info.get("cpu family", "?"), info.get("model", "?")),
    "cpu_isa": " ".join(features(info)) or "?",
    "cpu_mhz_reported": info.get("cpu MHz", "?"),
    "usable_cores": usable_cores(),
    "fp32_flops_per_cycle_core": FMA_UNITS * 2 * (width // 32) if width else None,
  }


def summary(info: dict | None = None) -> str:
  """One log line: model, family/model, usable cores and ISA features."""
  facts = cpu_facts(info)
  return "CPU: %s (family/model %s), %d usable cores, ISA: %s" % (
    facts["cpu_model"],
    facts["cpu_family_model"],
    facts["usable_cores"],
    facts["cpu_isa"],
  )


_ONEDNN_PROBE = (
  "import tensorflow as tf\n"
  "a = tf.random.uniform([64, 64])\n"
  "print(float(tf.reduce_sum(tf.matmul(a, a))))\n"
  "b = tf.cast(a, tf.bfloat16)\n"
  "print(float(tf.reduce_sum(tf.cast(tf.matmul(b, b), tf.float32))))\n"
)


def onednn_isa(timeout: float = 120.0) -> dict:
  """What oneDNN reports in a TensorFlow process with ONEDNN_VERBOSE=1.

  Returns {"isa": the ISA line oneDNN prints (e.g. "Intel AVX-512 with Intel DL
  Boost and bfloat16 support"), "matmul_kernels": {"float32": ..., "bfloat16":
  ...}, the implementation oneDNN ran for a matmul of each type (e.g.
  "brg_matmul:avx512_core_amx" where AMX is used; "gemm_api" for its sgemm)};
  empty values when TensorFlow did not print them (oneDNN off, another build).
  """
  env = dict(os.environ, ONEDNN_VERBOSE="1", TF_CPP_MIN_LOG_LEVEL="2")
  try:
    out = subprocess.run(
      [sys.executable, "-c", _ONEDNN_PROBE],
      env=env,
      capture_output=True,
      text=True,
      timeout=timeout,
    ).stdout
  except (OSError, subprocess.TimeoutExpired):
    out = ""
  return parse_onednn_verbose(out)


def parse_onednn_verbose(text: str) -> dict:
  """`onednn_isa`'s result from the text of a ONEDNN_VERBOSE=1 run."""
  isa, kernels = "", {}
  for line in text.splitlines():
    if not line.startswith(("onednn_verbose", "dnnl_verbose")):
      continue
    match = re.search(r",isa:(.*)$", line)
    if match and not isa:
      isa = match.group(1).strip()
    parts = line.split(",")
    if "exec" not in parts:
      continue
    primitive = next((p for p in parts if p in ("matmul", "inner_product", "gemm_api")), None)
    if primitive is None:
      continue
    dtype = re.search(r"src[_:](f32|bf16|s8|u8|f16)", line)
    name = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}.get(
      dtype.group(1) if dtype else "", "int8"
    )
    implementation = parts[parts.index(primitive) + 1] if primitive != "gemm_api" else ""
    kernels.setdefault(name, implementation or primitive)
  return {"isa": isa, "matmul_kernels": kernels}
