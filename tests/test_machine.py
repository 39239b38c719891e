"""bert/machine.py: the CPU facts the bench prints and runs log at start."""

import os

import pytest

from bert import machine

ZEN4 = {
  "vendor_id": "AuthenticAMD",
  "cpu family": "25",
  "model": "17",
  "model name": "AMD EPYC 9R14",
  "flags": "fma avx2 avx512f avx512_vnni avx512_bf16",
}
ZEN5 = {"vendor_id": "AuthenticAMD", "cpu family": "26", "model": "2", "flags": "fma avx2 avx512f"}
SAPPHIRE_RAPIDS = {
  "vendor_id": "GenuineIntel",
  "cpu family": "6",
  "model": "143",
  "model name": "Intel(R) Xeon(R) Platinum 8488C",
  "flags": "fma avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8",
}
AVX2_ONLY = {"vendor_id": "GenuineIntel", "cpu family": "6", "flags": "fma avx2"}


@pytest.mark.parametrize(
  "info, bits", [(ZEN4, 256), (ZEN5, 512), (SAPPHIRE_RAPIDS, 512), (AVX2_ONLY, 256), ({}, None)]
)
def test_fma_width_follows_the_core_not_the_instruction_set(info, bits):
  assert machine.fma_width_bits(info) == bits


def test_features_and_the_bf16_matmul_unit():
  assert machine.features(ZEN4) == ["AVX2", "FMA", "AVX-512", "AVX512-VNNI", "AVX512-BF16"]
  assert machine.features(SAPPHIRE_RAPIDS)[-3:] == ["AMX", "AMX-BF16", "AMX-INT8"]
  assert machine.has_amx_bf16(SAPPHIRE_RAPIDS) and not machine.has_amx_bf16(ZEN4)
  assert machine.features({}) == []


def test_summary_line():
  line = machine.summary(SAPPHIRE_RAPIDS)
  assert line.startswith("CPU: Intel(R) Xeon(R) Platinum 8488C (family/model 6/143), ")
  assert line.endswith("ISA: AVX2 FMA AVX-512 AVX512-VNNI AVX512-BF16 AMX AMX-BF16 AMX-INT8")


def test_cpu_facts_on_this_machine():
  facts = machine.cpu_facts()
  assert set(facts) >= {"cpu_model", "cpu_family_model", "cpu_isa", "fp32_flops_per_cycle_core"}
  assert facts["usable_cores"] >= 1
  if os.path.exists("/proc/cpuinfo") and "AVX2" in facts["cpu_isa"]:
    assert facts["fp32_flops_per_cycle_core"] in (32, 64)


def test_onednn_verbose_lines_are_read():
  text = "\n".join(
    [
      "onednn_verbose,v1,info,oneDNN v3.7.3 (commit N/A)",
      "onednn_verbose,v1,info,cpu,isa:Intel AVX-512 with AVX512BW, AVX512VL, AVX512DQ, "
      "AVX512_VNNI and AVX512_BF16 and Intel AMX with bfloat16 and 8-bit integer support",
      "onednn_verbose,v1,primitive,exec,cpu,gemm_api,,undef,src_f32::blocked:ab:f0 "
      "wei_f32::blocked:ab:f0 dst_f32::blocked:ab:f0,,,64x64:64x64,24.6",
      "onednn_verbose,v1,primitive,exec,cpu,matmul,brg_matmul:avx512_core_amx,undef,"
      "src:bf16::blocked:ab::f0 wei:bf16::blocked:ab::f0 dst:bf16::blocked:ab::f0,,,"
      "64x64:64x64,0.01",
      "unrelated line",
    ]
  )
  found = machine.parse_onednn_verbose(text)
  assert found["isa"].endswith("Intel AMX with bfloat16 and 8-bit integer support")
  assert found["matmul_kernels"] == {
    "float32": "gemm_api",
    "bfloat16": "brg_matmul:avx512_core_amx",
  }
  assert machine.parse_onednn_verbose("") == {"isa": "", "matmul_kernels": {}}
