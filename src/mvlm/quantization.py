"""Weight-only int8 quantization for CPU inference: no bitsandbytes, no CUDA, plain PyTorch.

:func:`quantize_int8` replaces the ``nn.Linear`` layers of a model's language model by
:class:`Int8Linear`: each weight row (one output channel) is stored as int8 with one float scale,
``W[j, :] ~= scale[j] * Q[j, :]``, ``scale[j] = max|W[j, :]| / 127`` (symmetric, no zero point).
Activations stay in floating point; a layer computes ``y = (x @ Q^T) * scale + bias``, which equals
``x @ (scale * Q)^T + bias`` exactly in real arithmetic, so the only error is the rounding of each
weight to the nearest of 255 levels of its row (at most ``scale[j] / 2`` per weight).

The vision tower, the projector, the token embeddings and (by default) the language-model head stay
in floating point: they are a small part of the weights and the most sensitive to rounding.

Memory: the quantized layers take one byte per weight (a quarter of float32, half of bf16) plus
one scale per row. Speed: on CPU with bf16 activations the matmul runs in PyTorch's fused int8
weight kernel; otherwise the int8 weight is converted to the activation dtype on the fly, one
layer at a time.

Example:
    >>> import torch
    >>> from mvlm.quantization import quantize_int8
    >>> lm = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    >>> _ = quantize_int8(lm, skip=())
    >>> type(lm[0]).__name__, lm[0].weight_int8.dtype
    ('Int8Linear', torch.int8)
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from mvlm.errors import ConfigError

__all__ = ["DEFAULT_SKIP", "Int8Linear", "is_int8_quantized", "quantize_int8", "quantize_weight_int8"]

DEFAULT_SKIP: tuple[str, ...] = ("vision_tower", "mm_projector", "lm_head")
"""Module name parts left in floating point by :func:`quantize_int8` (tower, projector, LM head)."""


def quantize_weight_int8(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Per-output-channel symmetric int8 quantization of a weight matrix.

    Args:
        weight: ``[out_features, in_features]`` floating weight.

    Returns:
        ``(q, scale)``: ``q`` int8 ``[out_features, in_features]`` in ``[-127, 127]`` and ``scale``
        float32 ``[out_features]``, with ``weight ~= scale[:, None] * q``. An all-zero row gets scale 1
        (and zeros).

    Raises:
        ConfigError: ``weight`` is not a 2-D floating tensor.
    """
    if weight.dim() != 2 or not weight.is_floating_point():
        raise ConfigError(f"int8 quantization takes a 2-D floating weight, got {weight.dtype} {list(weight.shape)}")
    w = weight.detach().float()
    peak = w.abs().amax(dim=1)
    scale = torch.where(peak > 0, peak / 127.0, torch.ones_like(peak))
    q = torch.round(w / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return q, scale


class Int8Linear(nn.Module):
    """A linear layer with an int8 weight and one float scale per output channel (weight-only int8).

    Build one with :meth:`from_linear`. The forward pass takes and returns floating tensors
    ``[..., in_features] -> [..., out_features]`` in the input's dtype.

    Args:
        weight_int8: ``[out_features, in_features]`` int8.
        scale: ``[out_features]`` float scales.
        bias: Optional ``[out_features]`` float bias (kept in its dtype).
    """

    weight_int8: Tensor
    scale: Tensor

    def __init__(self, weight_int8: Tensor, scale: Tensor, bias: Tensor | None = None) -> None:
        super().__init__()
        if weight_int8.dtype != torch.int8 or weight_int8.dim() != 2:
            raise ConfigError(
                f"weight_int8 must be a 2-D int8 tensor, got {weight_int8.dtype} {list(weight_int8.shape)}"
            )
        if scale.shape != (weight_int8.shape[0],):
            raise ConfigError(f"scale must be [{weight_int8.shape[0]}], got {list(scale.shape)}")
        self.out_features, self.in_features = weight_int8.shape
        self.register_buffer("weight_int8", weight_int8)
        self.register_buffer("scale", scale.float())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        """Quantize ``linear``'s weight (see :func:`quantize_weight_int8`); the bias is copied as is."""
        q, scale = quantize_weight_int8(linear.weight)
        return cls(q.to(linear.weight.device), scale.to(linear.weight.device), linear.bias)

    def dequantized_weight(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """The float weight this layer stands for: ``scale[:, None] * weight_int8`` ``[out, in]``."""
        return self.weight_int8.to(dtype) * self.scale.to(dtype)[:, None]

    def forward(self, x: Tensor) -> Tensor:
        """``x @ (scale * Q)^T + bias`` for ``x`` ``[..., in_features]``."""
        shape = x.shape
        flat = x.reshape(-1, self.in_features)
        if flat.device.type == "cpu" and flat.dtype == torch.bfloat16 and hasattr(torch, "_weight_int8pack_mm"):
            out = torch._weight_int8pack_mm(flat.contiguous(), self.weight_int8, self.scale.to(flat.dtype))
        else:
            out = nn.functional.linear(flat, self.weight_int8.to(flat.dtype)) * self.scale.to(flat.dtype)
        if self.bias is not None:
            out = out + self.bias.to(out.dtype)
        return out.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, int8"


def _skipped(name: str, skip: Iterable[str]) -> bool:
    parts = name.split(".")
    return any(part in parts or name == part or name.startswith(part + ".") for part in skip)


def quantize_int8(model: nn.Module, *, skip: Iterable[str] = DEFAULT_SKIP) -> nn.Module:
    """Replace every ``nn.Linear`` of ``model`` (in place) by an :class:`Int8Linear`, except those under ``skip``.

    For a MobileVLM (:class:`~mvlm.model.modeling.MobileVLMForCausalLM`) the default quantizes the
    language model's attention and MLP projections and keeps the vision tower, the projector and
    ``lm_head`` in floating point.
    A quantized model is for inference: its state dict holds ``weight_int8`` / ``scale`` buffers in
    place of the weights, so save the float model, not this one.

    Args:
        model: The model to quantize in place.
        skip: Module names (or dotted prefixes, or single name parts such as ``"vision_tower"``) to
            leave in floating point.

    Returns:
        ``model`` (quantized), for chaining.

    Raises:
        ConfigError: ``model`` has no ``nn.Linear`` layer outside ``skip``.
    """
    skip = tuple(skip)
    targets = [
        name
        for name, module in model.named_modules()
        if type(module) is nn.Linear and not _skipped(name, skip)  # subclasses (LoRA, bnb...) are left alone
    ]
    if not targets:
        raise ConfigError("quantize_int8 found no nn.Linear layer to quantize (already quantized, or all skipped)")
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, Int8Linear.from_linear(getattr(parent, child)))
    model._mvlm_int8 = True  # type: ignore[assignment]
    return model


def is_int8_quantized(model: nn.Module) -> bool:
    """Whether :func:`quantize_int8` quantized ``model`` (any :class:`Int8Linear` inside)."""
    return any(isinstance(module, Int8Linear) for module in model.modules())
