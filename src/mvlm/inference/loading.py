"""Loading a model for inference: device, dtype, and 8-/4-bit weights.

* CUDA: float16 by default (as the reference); ``load_8bit`` / ``load_4bit`` use bitsandbytes
  (LLM.int8, or NF4 with double quantization and float16 compute, as the reference), with the
  vision tower, the projector and ``lm_head`` kept in floating point.
* CPU (and other devices): float32 by default; ``load_8bit`` uses mvlm's weight-only int8
  (:func:`mvlm.quantization.quantize_int8`); ``load_4bit`` has no CPU kernel, so it warns and uses
  the int8 path instead.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from typing import TYPE_CHECKING, Any

from mvlm.errors import ConfigError, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from mvlm.model import MobileVLM

__all__ = ["DTYPE_NAMES", "load_model_for_inference", "resolve_device", "resolve_dtype"]

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


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None`` or ``"auto"``: float16 on CUDA (as the reference), float32 elsewhere; else the named dtype.

    Raises:
        ConfigError: Not a floating dtype name.
    """
    import torch

    if dtype is None or dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
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
    **from_pretrained_kwargs: Any,
) -> MobileVLM:
    """Load a MobileVLM checkpoint (folder or hub id) ready for :func:`~mvlm.inference.generation.chat`, in eval mode.

    Args:
        model_path: ``mtgv/MobileVLM_V2-1.7B``, a local folder, ...
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``... (default: CUDA if available, else CPU).
        dtype: ``"float32"``, ``"float16"``, ``"bfloat16"`` or a torch dtype (default: float16 on
            CUDA, float32 elsewhere).
        load_8bit: 8-bit weights: bitsandbytes on CUDA, weight-only int8 elsewhere.
        load_4bit: 4-bit NF4 weights (bitsandbytes, CUDA only; elsewhere: a warning and int8).
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
    if resolved_device.type == "cuda" and (load_8bit or load_4bit):
        quantization = _bitsandbytes_config(load_8bit, resolved_dtype)
        model = MobileVLM.from_pretrained(
            model_path,
            dtype=resolved_dtype,
            quantization_config=quantization,
            device_map={"": resolved_device.index or 0},
            **from_pretrained_kwargs,
        )
        return model.eval()
    if load_4bit:
        warnings.warn(
            f"4-bit loading (bitsandbytes NF4) needs a CUDA GPU; on {resolved_device.type} mvlm loads the language "
            "model with weight-only int8 instead (load_8bit)",
            UserWarning,
            stacklevel=2,
        )
        load_8bit = True
    model = MobileVLM.from_pretrained(model_path, dtype=resolved_dtype, **from_pretrained_kwargs)
    model = model.to(resolved_device).eval()
    if load_8bit:
        from mvlm.quantization import quantize_int8

        quantize_int8(model)
    return model
