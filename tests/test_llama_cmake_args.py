"""scripts/llama-cmake-args: the llama.cpp build flags README command 1 and .ci/run use name
only the kernels the CPU has (a fixed AVX-512 list crashed with "Illegal instruction" on an
AMD EPYC Zen 3), and never the native build or AMX (which segfaults on Xeons)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "llama-cmake-args"
pytestmark = pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")

ZEN3 = ("fpu vme sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi1 bmi2 sha_ni vaes "
        "vpclmulqdq")
SAPPHIRE_RAPIDS = ("fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 avx512f avx512dq "
                   "avx512cd avx512bw avx512vl avx512_bf16 avx512_vnni avx512vbmi amx_bf16 "
                   "amx_tile amx_int8 avx_vnni")
OLD_SSE = "fpu sse sse2 ssse3 sse4_1 sse4_2"


def flags(tmp_path: Path, cpu_flags: str) -> dict[str, str]:
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nvendor_id\t: X\nflags\t\t: {cpu_flags}\n\n"
                    f"processor\t: 1\nflags\t\t: {cpu_flags}\n")
    out = subprocess.run(["sh", str(SCRIPT)], env={"CPUINFO": str(info), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True).stdout
    assert out.endswith("\n") and out.count("\n") == 1
    pairs = dict(a.removeprefix("-D").split("=") for a in out.split())
    assert pairs.pop("LLAVA_BUILD") == "OFF"  # no multimodal library, on every CPU
    return pairs


def test_zen3_gets_avx2_kernels_and_no_avx512(tmp_path: Path) -> None:
    got = flags(tmp_path, ZEN3)
    assert got["GGML_NATIVE"] == "OFF"
    assert {k: got[k] for k in ("GGML_AVX", "GGML_AVX2", "GGML_FMA", "GGML_F16C")} == dict.fromkeys(
        ("GGML_AVX", "GGML_AVX2", "GGML_FMA", "GGML_F16C"), "ON")
    assert got["GGML_AVX512"] == got["GGML_AVX512_VNNI"] == got["GGML_AVX512_BF16"] == "OFF"


def test_avx512_cpu_gets_the_flags_the_earlier_reports_were_built_with(tmp_path: Path) -> None:
    got = flags(tmp_path, SAPPHIRE_RAPIDS)
    on = sorted(k for k, v in got.items() if v == "ON")
    assert on == sorted(f"GGML_{k}" for k in
                        ("AVX", "AVX2", "FMA", "F16C", "AVX512", "AVX512_VNNI", "AVX512_BF16"))
    assert got["GGML_NATIVE"] == "OFF"
    assert not any("AMX" in k for k in got)


def test_a_cpu_without_avx_gets_no_simd_kernel_it_lacks(tmp_path: Path) -> None:
    got = flags(tmp_path, OLD_SSE)
    assert all(v == "OFF" for v in got.values())


def test_this_machine_gets_flags_it_has() -> None:
    info = Path("/proc/cpuinfo")
    if not info.exists() or "flags" not in info.read_text():
        pytest.skip("no x86 /proc/cpuinfo here")
    have = set(next(line for line in info.read_text().splitlines()
                    if line.startswith("flags")).split(":", 1)[1].split())
    out = subprocess.run(["sh", str(SCRIPT)], capture_output=True, text=True, check=True).stdout
    if out.split() == ["-DLLAVA_BUILD=OFF"]:
        pytest.skip("not an x86 machine: llama.cpp's default build")
    names = {"AVX": "avx", "AVX2": "avx2", "FMA": "fma", "F16C": "f16c", "AVX512": "avx512f",
             "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16"}
    assert out.split()[0] == "-DGGML_NATIVE=OFF" and out.split()[-1] == "-DLLAVA_BUILD=OFF"
    for arg in out.split()[1:-1]:
        key, value = arg.removeprefix("-DGGML_").split("=")
        assert (value == "ON") == (names[key] in have), arg
