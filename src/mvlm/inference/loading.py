"""Loading a model for inference: device, dtype, and 8-/4-bit weights.

* CUDA: float16 by default (as the reference); ``load_8bit`` / ``load_4bit`` use bitsandbytes
  (LLM.int8, or NF4 with double quantization and float16 compute, as the reference), with the
  vision tower, the projector and ``lm_head`` kept in floating point.
* CPU: bfloat16 by default where the CPU computes in bf16 natively (AVX-512 BF16 or AMX), float32
  elsewhere: on an AVX2-only CPU PyTorch emulates bf16 and its matmuls run 5-300x slower than float32
  (:func:`default_cpu_dtype`). ``load_8bit`` / ``load_4bit`` use mvlm's weight-only int8 / group-wise
  int4 (:func:`mvlm.inference.quantization.quantize_int8`, :func:`mvlm.inference.quantization.quantize_int4`) for the
  language model's layers.
* Other devices: float32 by default; 8-/4-bit as on CPU.

The intra-op thread count is set to one per physical core unless the user chose one
(:func:`mvlm.inference.threads.configure_threads`), and ``fast_decode=True`` makes every later
``chat`` decode with a static KV cache and a compiled step (:mod:`mvlm.inference.fast_decode`): the
choice is a decoding default, kept in the model's ``generation_config`` as ``mvlm_fast_decode``
(and saved with it).
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING, Any

from mvlm.errors import ConfigError, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from mvlm.model import MobileVLM

__all__ = ["DTYPE_NAMES", "default_cpu_dtype", "load_model_for_inference", "resolve_device", "resolve_dtype"]

DTYPE_NAMES: dict[str, str] = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}
"""Accepted dtype spellings (``--dtype``) and the torch dtype each names."""

_FLOAT_SKIP = ["vision_tower", "mm_projector", "lm_head"]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"``: the first CUDA GPU if there is one, else the CPU; otherwise ``torch.device(device)``.

    Raises:
        ConfigError: Not a device name, or CUDA asked for where there is none.
    """
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ConfigError(f"unknown device {device!r} ({error}); use cpu, cuda, cuda:1, mps or auto") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but no CUDA GPU is available; use --device cpu")
    return resolved


def default_cpu_dtype() -> torch.dtype:
    """bfloat16 where the CPU reports native bf16 arithmetic (``avx512_bf16`` or ``amx_bf16``), else float32.

    Measured on an AVX2-only CPU (PyTorch capability ``AVX2``): a bf16 matrix product ran at a fifth of
    float32's speed and a bf16 matrix-vector product (decoding) at a fifth to a tenth, so float32 is
    the fast choice there; on CPUs with AVX-512 BF16, bf16 matmuls ran 4x faster than float32.
    """
    import torch

    from mvlm.inference.cpu_kernels import cpu_supports

    native = cpu_supports("avx512_bf16") or cpu_supports("amx_bf16")
    return torch.bfloat16 if native else torch.float32


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None`` or ``"auto"``: float16 on CUDA (as the reference), :func:`default_cpu_dtype` on CPU, float32
    elsewhere; else the named dtype.

    Raises:
        ConfigError: Not a floating dtype name.
    """
    import torch

    if dtype is None or dtype == "auto":
        if device.type == "cuda":
            return torch.float16
        return default_cpu_dtype() if device.type == "cpu" else torch.float32
    if isinstance(dtype, torch.dtype):
        if not dtype.is_floating_point:
            raise ConfigError(f"dtype must be a floating dtype, got {dtype}")
        return dtype
    name = DTYPE_NAMES.get(str(dtype).lower().removeprefix("torch."))
    if name is None:
        raise ConfigError(f"unknown dtype {dtype!r}; use one of auto, {', '.join(sorted(set(DTYPE_NAMES)))}")
    return getattr(torch, name)


def _bitsandbytes_config(load_8bit: bool, dtype: torch.dtype) -> Any:
    if importlib.util.find_spec("bitsandbytes") is None:
        raise MissingDependencyError.for_package("bitsandbytes", "8-/4-bit loading on CUDA (load_8bit / load_4bit)")
    from transformers import BitsAndBytesConfig

    if load_8bit:
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=_FLOAT_SKIP)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_compute_dtype=dtype,
        bnb_4bit_use_double_quant=True,
        bnb_4bit_quant_type="nf4",
        llm_int8_skip_modules=_FLOAT_SKIP,
    )


def load_model_for_inference(
    model_path: str | os.PathLike[str],
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    load_8bit: bool = False,
    load_4bit: bool = False,
    fast_decode: bool = False,
    threads: int | None = None,
    **from_pretrained_kwargs: Any,
) -> MobileVLM:
    """Load a MobileVLM checkpoint (folder or hub id) ready for :func:`~mvlm.inference.generation.chat`, in eval mode.

    Args:
        model_path: ``mtgv/MobileVLM_V2-1.7B``, a local folder, ...
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``... (default: CUDA if available, else CPU).
        dtype: ``"float32"``, ``"float16"``, ``"bfloat16"`` or a torch dtype (default: float16 on
            CUDA; on CPU bfloat16 where the CPU has native bf16, else float32; float32 elsewhere).
        load_8bit: 8-bit weights: bitsandbytes on CUDA, weight-only int8 elsewhere.
        load_4bit: 4-bit weights: NF4 (bitsandbytes) on CUDA, group-wise int4 (mvlm) elsewhere.
        fast_decode: Make ``chat`` decode with a static KV cache and a compiled step by default.
        threads: CPU threads (default: one per physical core, unless ``OMP_NUM_THREADS`` or an
            earlier ``torch.set_num_threads`` chose).
        **from_pretrained_kwargs: Passed to ``MobileVLM.from_pretrained``
            (:meth:`~mvlm.model.modeling.MobileVLMForCausalLM.from_pretrained`: ``revision``,
            ``local_files_only``, ``vision_weights``...).

    Raises:
        ConfigError: Both ``load_8bit`` and ``load_4bit``, or an unknown device / dtype.
        MissingDependencyError: 8-/4-bit on CUDA without bitsandbytes installed.
        CheckpointError: The checkpoint cannot be loaded.
    """
    from mvlm.model import MobileVLM

    if load_8bit and load_4bit:
        raise ConfigError("choose one of load_8bit and load_4bit, not both")
    resolved_device = resolve_device(device)
    resolved_dtype = resolve_dtype(dtype, resolved_device)
    if resolved_device.type == "cpu":
        from mvlm.inference.threads import configure_threads

        configure_threads(threads)
    if resolved_device.type == "cuda" and (load_8bit or load_4bit):
        quantization = _bitsandbytes_config(load_8bit, resolved_dtype)
        model = MobileVLM.from_pretrained(
            model_path,
            dtype=resolved_dtype,
            quantization_config=quantization,
            device_map={"": resolved_device.index or 0},
            **from_pretrained_kwargs,
        )
        model.generation_config.mvlm_fast_decode = fast_decode
        return model.eval()
    model = MobileVLM.from_pretrained(model_path, dtype=resolved_dtype, **from_pretrained_kwargs)
    model = model.to(resolved_device).eval()
    if load_8bit:
        from mvlm.inference.quantization import quantize_int8

        quantize_int8(model)
    elif load_4bit:
        from mvlm.inference.quantization import quantize_int4

        quantize_int4(model)
    model.generation_config.mvlm_fast_decode = fast_decode
    return model
