"""Quantizing a GGUF language model with llama.cpp's own quantizer (through llama-cpp-python).

The ``gguf`` Python package encodes ``bf16`` and ``q8_0`` but not the k-quants (``q4_k_s``...), whose
encoders live in llama.cpp's C code. :func:`quantize_gguf` calls ``llama_model_quantize``, as
llama.cpp's ``llama-quantize`` tool does, on an ``f32`` file that mvlm wrote. Tensors whose rows do not
fit a type's block size are given a compatible type by llama.cpp itself (as the tool does).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mvlm.errors import ConfigError, MissingDependencyError, MvlmError

__all__ = ["LLAMACPP_QUANTS", "import_llama_cpp", "quantize_gguf"]

LLAMACPP_QUANTS: dict[str, str] = {
    "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
    "q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1",
    "q5_0": "LLAMA_FTYPE_MOSTLY_Q5_0",
    "q5_1": "LLAMA_FTYPE_MOSTLY_Q5_1",
    "q2_k": "LLAMA_FTYPE_MOSTLY_Q2_K",
    "q3_k_s": "LLAMA_FTYPE_MOSTLY_Q3_K_S",
    "q3_k_m": "LLAMA_FTYPE_MOSTLY_Q3_K_M",
    "q3_k_l": "LLAMA_FTYPE_MOSTLY_Q3_K_L",
    "q4_k_s": "LLAMA_FTYPE_MOSTLY_Q4_K_S",
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "q5_k_s": "LLAMA_FTYPE_MOSTLY_Q5_K_S",
    "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
    "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
}
"""Quantization types made by llama.cpp's quantizer -> the ``llama_ftype`` constant of llama-cpp-python."""


def import_llama_cpp() -> Any:
    """The ``llama_cpp`` module of llama-cpp-python, imported on first use.

    Raises:
        MissingDependencyError: llama-cpp-python is not installed (``pip install "mvlm[llamacpp]"``).
    """
    try:
        import llama_cpp
    except ImportError:
        raise MissingDependencyError(
            "this needs llama.cpp through the optional package 'llama-cpp-python', which is not installed; run: "
            'pip install "mvlm[llamacpp]" (it compiles llama.cpp, a few minutes)'
        ) from None
    return llama_cpp


def quantize_gguf(source: str | Path, target: str | Path, quant: str, *, threads: int | None = None) -> Path:
    """Quantize the GGUF language model ``source`` into ``target`` with llama.cpp's quantizer.

    Args:
        source: An ``f32`` (or ``f16`` / ``bf16``) ``llama`` GGUF file.
        target: The quantized file to write.
        quant: One of :data:`LLAMACPP_QUANTS` (``q4_k_s``, ``q4_k_m``, ``q6_k``, ``q4_0``...).
        threads: Threads for the quantizer (default: all cores).

    Returns:
        ``target``.

    Raises:
        ConfigError: ``quant`` is not a llama.cpp quantization type mvlm knows.
        MissingDependencyError: llama-cpp-python is not installed.
        MvlmError: llama.cpp reported a failure.
    """
    if quant not in LLAMACPP_QUANTS:
        raise ConfigError(f"quant {quant!r} is not one of llama.cpp's types {sorted(LLAMACPP_QUANTS)}")
    llama_cpp = import_llama_cpp()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, LLAMACPP_QUANTS[quant])
    params.nthread = threads or os.cpu_count() or 1
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), params)
    if status != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise MvlmError(f"llama.cpp could not quantize {source} to {quant} (status {status}); see its log above")
    partial.replace(target)
    return target
