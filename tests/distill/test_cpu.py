"""distill/core/cpu.py: the CPU's name, flags and class, parsed from a /proc/cpuinfo text."""

from __future__ import annotations

import subprocess
import sys

from distill.core import cpu

SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile amx_int8
processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile amx_int8
"""
COOPER_LAKE = "model name\t: Xeon\nflags\t\t: avx2 avx512f avx512_vnni avx512_bf16\n"
ZEN3 = "model name\t: AMD EPYC 7B13\nflags\t\t: avx avx2 fma\n"
ALDER_LAKE = "model name\t: Core i7\nflags\t\t: avx2 avx_vnni\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes\n"


def test_flags_name_the_matrix_extensions_in_report_order():
    assert cpu.cpu_flags(SAPPHIRE_RAPIDS) == [
        "avx2",
        "avx512f",
        "avx512_vnni",
        "avx512_bf16",
        "amx_tile",
        "amx_bf16",
        "amx_int8",
    ]
    assert cpu.cpu_flags(ALDER_LAKE) == ["avx2", "avx_vnni"]
    assert cpu.cpu_flags(ARM) == [] and cpu.cpu_flags("") == []
    assert cpu.cpu_model(SAPPHIRE_RAPIDS) == "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"


def test_flags_are_read_from_a_path_and_a_missing_file_gives_none(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text(COOPER_LAKE, encoding="utf-8")
    assert cpu.cpu_flags(path=f) == ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"]
    assert cpu.cpu_model(path=f) == "Xeon"
    assert cpu.cpu_flags(path=tmp_path / "absent") == []


def test_matrix_engines_names_one_class_per_cpu():
    classes = {
        name: cpu.matrix_engines(cpu.cpu_flags(text))
        for name, text in {
            "spr": SAPPHIRE_RAPIDS,
            "cpl": COOPER_LAKE,
            "zen3": ZEN3,
            "adl": ALDER_LAKE,
            "arm": ARM,
        }.items()
    }
    assert classes == {
        "spr": "amx_bf16+amx_int8",
        "cpl": "avx512_bf16+avx512_vnni",
        "zen3": "avx2",
        "adl": "avx_vnni",
        "arm": "none",
    }
    assert cpu.matrix_engines(["avx2", "avx512f", "avx512_vnni"]) == "avx512_vnni"
    assert cpu.matrix_engines(["avx2", "avx512f"]) == "avx512f"
    assert cpu.int8_isa(cpu.cpu_flags(SAPPHIRE_RAPIDS)) == "amx_int8"


def test_the_cpu_facts_import_no_torch():
    """recipe_report.py --readme and run's metrics read them without loading torch."""
    code = "import sys, distill.core.cpu; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_machine_facts_of_bench_and_run_carry_the_class():
    from distill.compress.machine import machine_facts

    facts = machine_facts(1)
    assert facts["cpu_flags"] == cpu.cpu_flags()
    assert facts["matrix_engines"] == cpu.matrix_engines(cpu.cpu_flags())
