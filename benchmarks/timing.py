"""Shared timing and reporting for the scripts in benchmarks/ (not part of the installed package)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated runs of one thing."""

    median_s: float
    min_s: float
    max_s: float
    runs: int


def time_call(fn: Callable[[], Any], *, warmup: int = 2, repeats: int = 7) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed; median, min and max seconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return Timing(statistics.median(samples), min(samples), max(samples), repeats)


_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_flags() -> list[str]:
    """The vector-unit flags of this CPU that decide mvlm's kernels and dtype (from ``/proc/cpuinfo``)."""
    from mvlm.inference.cpu_kernels import cpu_supports

    return [flag for flag in _FLAGS if cpu_supports(flag)]


def capability_line() -> str:
    """One line naming the machine, so that figures from different machines are never mixed."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        pass
    return (
        f"machine: {model}; torch {torch.__version__} capability {torch.backends.cpu.get_cpu_capability()}; "
        f"flags {' '.join(cpu_flags()) or 'none'}; {os.cpu_count()} cores; {torch.get_num_threads()} threads"
    )


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "capability_line": capability_line(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus machine info) as indented JSON, creating the folder; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": machine_info(), **payload}
    path.write_text(
        json.dumps(document, indent=2, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o))
    )
    return path
