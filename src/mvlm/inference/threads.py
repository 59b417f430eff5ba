"""CPU thread count for inference: one thread per physical core, unless the user chose.

PyTorch starts with one OpenMP thread per logical CPU it may run on. On CPUs with simultaneous
multithreading two threads then share each core's vector units and caches, which slows the
memory-bound matrix-vector products of decoding. :func:`configure_threads` (called by
:func:`~mvlm.inference.loading.load_model_for_inference`) sets one thread per physical core, and
leaves the count alone when the user chose one: an explicit ``threads``, ``OMP_NUM_THREADS`` /
``MKL_NUM_THREADS`` in the environment, or an earlier ``torch.set_num_threads`` (any count other than
PyTorch's default).
"""

from __future__ import annotations

import os

__all__ = ["configure_threads", "physical_cores"]


def physical_cores() -> int:
    """Physical cores this process may run on (``psutil`` when installed, else ``/proc/cpuinfo``, else logical CPUs)."""
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cores: int | None = None
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except ImportError:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as handle:
                pairs, physical, core = set(), None, None
                for line in handle:
                    key, _, value = line.partition(":")
                    key = key.strip()
                    if key == "physical id":
                        physical = value.strip()
                    elif key == "core id":
                        core = value.strip()
                    elif not key and core is not None:
                        pairs.add((physical, core))
                        physical, core = None, None
                if core is not None:
                    pairs.add((physical, core))
                cores = len(pairs) or None
        except OSError:
            cores = None
    total = os.cpu_count() or logical
    if not cores:
        return logical
    # scale to the CPUs this process may use (containers, taskset)
    return max(1, min(logical, round(cores * logical / total)))


def configure_threads(threads: int | None = None) -> int:
    """Set PyTorch's intra-op threads for inference and return the count in force.

    Args:
        threads: An explicit count (always applied). ``None``: one per physical core, unless
            ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` is set or ``torch.set_num_threads`` was already
            called with a count other than PyTorch's default; then the count is left as it is.
    """
    import torch

    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
        return threads
    if os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS"):
        return torch.get_num_threads()
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if torch.get_num_threads() != logical:  # the user (or a library) already chose
        return torch.get_num_threads()
    cores = physical_cores()
    if cores != torch.get_num_threads():
        torch.set_num_threads(cores)
    return torch.get_num_threads()
