"""What the CPU is and which matrix instructions it has, read from /proc/cpuinfo (torch-free).

Speed-ups of INT8 and BF16 kinds differ by CPU class: VNNI makes INT8 GEMMs ~2x faster than AVX2,
AVX-512 BF16 and AMX (tile matrix multiply, BF16 and INT8) make BF16 faster than FP32, and without
them BF16 is correct but only slower. Every report names these, and pages are kept per class.
"""

from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = "/proc/cpuinfo"
# the flags that decide INT8/BF16 speed on x86, in the order reports list them
WANTED = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def _cpuinfo(text: str | None, path: str | Path) -> str:
    if text is not None:
        return text
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_model(text: str | None = None, path: str | Path = CPUINFO) -> str:
    """The CPU's marketing name from /proc/cpuinfo (or ``text``, its contents), else what
    ``platform`` knows."""
    for line in _cpuinfo(text, path).splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags(text: str | None = None, path: str | Path = CPUINFO) -> list[str]:
    """The flags of :data:`WANTED` the first CPU has (``text``: /proc/cpuinfo's contents; else read
    from ``path``); [] where there is no cpuinfo (not Linux) or no such flag (ARM)."""
    for line in _cpuinfo(text, path).splitlines():
        if line.startswith("flags"):
            have = set(line.split(":", 1)[1].split())
            return [w for w in WANTED if w in have]
    return []


def int8_isa(flags: list[str]) -> str | None:
    """The best INT8 instructions among ``flags`` (from :func:`cpu_flags`): INT8 speed-ups differ
    between CPUs with and without VNNI, so reports name it."""
    return next((f for f in ("amx_int8", "avx512_vnni", "avx_vnni", "avx2") if f in flags), None)


def matrix_engines(flags: list[str]) -> str:
    """The CPU class in one name, for one page per class: the AMX units present (``amx_bf16+amx_int8``),
    else the best of avx512_bf16 / VNNI (``avx512_bf16+avx512_vnni``, ``avx512_vnni``, ``avx_vnni``),
    else ``avx512f`` / ``avx2``, else ``none`` (no x86 SIMD flags known, e.g. ARM)."""
    amx = [f for f in ("amx_bf16", "amx_int8") if f in flags]
    if amx:
        return "+".join(amx)
    vector = [f for f in ("avx512_bf16", "avx512_vnni") if f in flags]
    if vector:
        return "+".join(vector)
    return next((f for f in ("avx_vnni", "avx512f", "avx2") if f in flags), "none")
