"""Facts about the machine a benchmark ran on, and the one-line errors for absent accelerators.

Speed figures mean nothing without the machine behind them, and this project's benchmark machines
are shared, so the load average at the time of the run is recorded with them.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess

import torch

from distill.core.cpu import cpu_flags, cpu_model, int8_isa, matrix_engines
from distill.core.errors import ConfigError

__all__ = [  # the CPU facts live torch-free in distill.core.cpu; re-exported for the bench's callers
    "cpu_flags",
    "cpu_model",
    "gpu_facts",
    "int8_isa",
    "machine_facts",
    "matrix_engines",
    "pin_threads",
    "require_device",
    "require_ort_cuda",
]


def gpu_facts() -> dict | None:
    """Name, memory and driver of GPU 0, or None when CUDA is absent."""
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    driver = None
    with contextlib.suppress(OSError, subprocess.SubprocessError, IndexError):
        driver = (
            subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
            .stdout.strip()
            .splitlines()[0]
        )
    return {
        "name": props.name,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "capability": f"{props.major}.{props.minor}",
        "driver": driver,
        "cuda": torch.version.cuda,
    }


def machine_facts(threads: int) -> dict:
    """Everything a reader needs to reproduce or discount a timing."""
    import onnxruntime
    import transformers

    return {
        "cpu": cpu_model(),
        "cpu_flags": (flags := cpu_flags()),
        "matrix_engines": matrix_engines(flags),
        "cores": os.cpu_count(),
        "threads": threads,
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnxruntime": onnxruntime.__version__,
        "ort_providers": onnxruntime.get_available_providers(),
        "gpu": gpu_facts(),
    }


def pin_threads(threads: int) -> None:
    """Pin PyTorch's intra-op pool; ORT sessions take the same number via ``ort_session``."""
    torch.set_num_threads(threads)


def require_device(device: str) -> None:
    """Fail with one line when a device is asked for that this machine does not have."""
    if device == "cpu":
        return
    if device != "cuda":
        raise ConfigError(f"devices: {device!r} is not a device; use cpu or cuda")
    if not torch.cuda.is_available():
        raise ConfigError("devices: cuda asked for, but no CUDA GPU is visible to torch on this machine")


def require_ort_cuda() -> None:
    """ORT's CUDA provider needs the onnxruntime-gpu wheel, not only a GPU."""
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        raise ConfigError(
            "ORT on cuda asked for, but onnxruntime has no CUDAExecutionProvider "
            "(install onnxruntime-gpu instead of onnxruntime)"
        )
