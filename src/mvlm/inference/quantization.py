"""Weight-only int8 and int4 quantization for CPU inference: no bitsandbytes, no CUDA, plain PyTorch.

:func:`quantize_int8` replaces the ``nn.Linear`` layers of a model's language model by
:class:`Int8Linear`: each weight row (one output channel) is stored as int8 with one float scale,
``W[j, :] ~= scale[j] * Q[j, :]``, ``scale[j] = max|W[j, :]| / 127`` (symmetric, no zero point).
Activations stay in floating point; a layer computes ``y = (x @ Q^T) * scale + bias``, which equals
``x @ (scale * Q)^T + bias`` exactly in real arithmetic, so the only error is the rounding of each
weight to the nearest of 255 levels of its row (at most ``scale[j] / 2`` per weight).

:func:`quantize_int4` does the same with :class:`Int4Linear`: 4-bit weights with one scale and one
minimum per group of ``group_size`` consecutive input weights of a row (asymmetric,
``W ~= q * scale + min``, ``q`` in ``0..15``), two weights per byte.

The vision tower, the projector, the token embeddings and (by default) the language-model head stay
in floating point: they are a small part of the weights and the most sensitive to rounding.

Memory: int8 layers take one byte per weight (a quarter of float32, half of bf16) plus one scale
per row; int4 layers half a byte plus 8 bytes per group (``group_size=32``: 0.75 byte per weight).
Speed (CPU): with float32 activations and a few rows (decoding one token) both run mvlm's AVX2
kernels (:mod:`mvlm.inference.cpu_kernels`), which stream the small weights instead of dequantizing them;
with bf16 activations (a bf16 model) int8 runs PyTorch's fused int8 kernel (``_weight_int8pack_mm``) and
int4 PyTorch's int4 GEMM (``_weight_int4pack_mm_for_cpu``, on a second layout of the same codes that
:func:`quantize_int4` builds for bf16 models), decoding and prefill alike; anything else (float32
prefill, other devices) dequantizes one layer at a time and runs a float matmul. ``benchmarks/linear_kernels.py``
measures each choice per CPU.

Example:
    >>> import torch
    >>> from mvlm.inference.quantization import quantize_int8
    >>> lm = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    >>> _ = quantize_int8(lm, skip=())
    >>> type(lm[0]).__name__, lm[0].weight_int8.dtype
    ('Int8Linear', torch.int8)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from mvlm.errors import ConfigError

__all__ = [
    "DECODE_ROWS",
    "DEFAULT_SKIP",
    "Int4Linear",
    "Int8Linear",
    "is_int4_quantized",
    "is_int8_quantized",
    "quantize_int4",
    "quantize_int8",
    "quantize_weight_int4",
    "quantize_weight_int8",
]

DEFAULT_SKIP: tuple[str, ...] = ("vision_tower", "mm_projector", "lm_head")
"""Module name parts left in floating point by :func:`quantize_int8` (tower, projector, LM head)."""

DECODE_ROWS = 8
"""Inputs with at most this many rows (decoding) take the matrix-vector kernels; more rows (prefill) a float GEMM."""


def _decode_kernels(flat: Tensor, in_features: int) -> Any:
    """What runs ``int8_gemv`` / ``int4_gemv`` for ``flat`` ``[rows, in]``, or ``None`` for plain PyTorch.

    mvlm's compiled CPU kernels take float32 CPU inputs of a few rows (decoding) without gradients.
    Eager code loads (and on first use builds) them here and calls the module directly. Code being
    compiled by ``torch.compile`` calls them through their custom operators (``torch.ops.mvlm``), and
    only when the kernels were loaded before (quantizing a CPU model loads them); otherwise (or on a
    torch without ``torch.library.custom_op``) it dequantizes.
    """
    if (
        flat.dtype != torch.float32
        or flat.device.type != "cpu"
        or flat.shape[0] > DECODE_ROWS
        or in_features % 32
        or flat.requires_grad
    ):
        return None
    from mvlm.inference.cpu_kernels import custom_ops_available, kernels_loaded, load_cpu_kernels

    if torch.compiler.is_compiling():
        return torch.ops.mvlm if kernels_loaded() and custom_ops_available() else None
    return load_cpu_kernels()  # eager: the module itself (no operator dispatch per call)


def _warm_kernels(model: nn.Module) -> None:
    """Load the CPU kernels now when ``model`` runs on the CPU, so compiled decoding steps can use them later."""
    parameter = next(model.parameters(), None)
    if parameter is not None and parameter.device.type == "cpu":
        from mvlm.inference.cpu_kernels import custom_ops_available, load_cpu_kernels

        if load_cpu_kernels() is not None:
            custom_ops_available()


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
        # the scales in the activation dtype of PyTorch's int8 kernel (set by pack_for_torch_kernel)
        self.register_buffer("torch_scale", None, persistent=False)

    def pack_for_torch_kernel(self, dtype: torch.dtype = torch.bfloat16) -> bool:
        """Keep the scales in ``dtype`` too, for PyTorch's CPU int8 kernel (``_weight_int8pack_mm``).

        A compiled step (``fast_decode``) needs them as a tensor of their own: inductor cannot lower the
        kernel on scales converted inside the step.

        Returns:
            Whether this PyTorch has the kernel.
        """
        if not hasattr(torch, "_weight_int8pack_mm"):
            return False
        self.torch_scale = self.scale.to(dtype)
        return True

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
        kernels = _decode_kernels(flat, self.in_features)
        if kernels is not None:  # float32, few rows (decoding): mvlm's AVX2 kernel, exact up to summation order
            out = kernels.int8_gemv(flat, self.weight_int8, self.scale)
        elif self.torch_scale is not None and flat.dtype == self.torch_scale.dtype and flat.device.type == "cpu":
            out = torch._weight_int8pack_mm(flat.contiguous(), self.weight_int8, self.torch_scale)
        elif flat.device.type == "cpu" and flat.dtype == torch.bfloat16 and hasattr(torch, "_weight_int8pack_mm"):
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


def _replace_linears(model: nn.Module, targets: list[str], quantize: Any, caller: str) -> None:
    """Replace each named ``nn.Linear`` by ``quantize(linear)``; a bf16 CPU layer also gets PyTorch's layout.

    bf16 activations (a bf16 model on the CPU) run PyTorch's packed int8 / int4 kernels (see the module
    notes), so the layer keeps what they read (``pack_for_torch_kernel``).

    Raises:
        ConfigError: ``targets`` is empty.
    """
    if not targets:
        raise ConfigError(f"{caller} found no nn.Linear layer to quantize (already quantized, or all skipped)")
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        linear = getattr(parent, child)
        layer = quantize(linear)
        if linear.weight.dtype == torch.bfloat16 and linear.weight.device.type == "cpu":
            layer.pack_for_torch_kernel(torch.bfloat16)
        setattr(parent, child, layer)


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
    _replace_linears(model, targets, Int8Linear.from_linear, "quantize_int8")
    model._mvlm_int8 = True  # type: ignore[assignment]
    _warm_kernels(model)
    return model


def is_int8_quantized(model: nn.Module) -> bool:
    """Whether :func:`quantize_int8` quantized ``model`` (any :class:`Int8Linear` inside)."""
    return any(isinstance(module, Int8Linear) for module in model.modules())


def quantize_weight_int4(weight: Tensor, group_size: int = 32) -> tuple[Tensor, Tensor]:
    """Group-wise asymmetric int4 quantization of a weight matrix.

    Each row is cut into groups of ``group_size`` consecutive weights; a group with minimum ``lo`` and
    maximum ``hi`` gets ``scale = (hi - lo) / 15`` and ``q = round((w - lo) / scale)`` in ``0..15``, so
    ``w ~= q * scale + lo`` with an error of at most ``scale / 2``.

    Args:
        weight: ``[out_features, in_features]`` floating weight, ``in_features`` a multiple of ``group_size``.
        group_size: Weights per group: a multiple of 32 (32, 64, 128...).

    Returns:
        ``(packed, scale_min)``: ``packed`` uint8 ``[out_features, in_features / 2]`` (byte ``j`` of a
        group holds weight ``j`` in its low nibble and weight ``j + group_size / 2`` in its high
        nibble) and ``scale_min`` float32 ``[out_features, in_features / group_size, 2]``
        (``[..., 0]`` the scale, ``[..., 1]`` the minimum). A constant group gets scale 1.

    Raises:
        ConfigError: Not a 2-D floating weight, or ``in_features`` not a multiple of ``group_size``, or
            ``group_size`` not a positive multiple of 32.
    """
    if weight.dim() != 2 or not weight.is_floating_point():
        raise ConfigError(f"int4 quantization takes a 2-D floating weight, got {weight.dtype} {list(weight.shape)}")
    if group_size <= 0 or group_size % 32:
        raise ConfigError(f"group_size must be a positive multiple of 32, got {group_size}")
    rows, columns = weight.shape
    if columns % group_size:
        raise ConfigError(f"in_features {columns} is not a multiple of group_size {group_size}")
    groups = weight.detach().float().reshape(rows, columns // group_size, group_size)
    low = groups.amin(dim=-1, keepdim=True)
    span = groups.amax(dim=-1, keepdim=True) - low
    scale = torch.where(span > 0, span / 15.0, torch.ones_like(span))
    q = torch.round((groups - low) / scale).clamp_(0, 15).to(torch.uint8)
    half = group_size // 2
    packed = (q[..., :half] | (q[..., half:] << 4)).reshape(rows, columns // 2).contiguous()
    return packed, torch.cat([scale, low], dim=-1).contiguous()


def _unpack_int4(packed: Tensor, group_size: int) -> Tensor:
    """``[out, in / 2]`` uint8 -> ``[out, in / group_size, group_size]`` codes ``0..15`` (uint8)."""
    rows = packed.shape[0]
    grouped = packed.reshape(rows, -1, group_size // 2)
    return torch.cat([grouped & 15, grouped >> 4], dim=-1)


class Int4Linear(nn.Module):
    """A linear layer with group-wise int4 weights (see :func:`quantize_weight_int4`).

    Build one with :meth:`from_linear`. The forward pass takes and returns floating tensors
    ``[..., in_features] -> [..., out_features]`` in the input's dtype.

    Args:
        packed: ``[out_features, in_features / 2]`` uint8, two codes per byte.
        scale_min: ``[out_features, in_features / group_size, 2]`` float scales and minimums.
        group_size: Weights per group.
        bias: Optional ``[out_features]`` float bias.

    Raises:
        ConfigError: Inconsistent shapes or dtypes.
    """

    packed: Tensor
    scale_min: Tensor

    def __init__(self, packed: Tensor, scale_min: Tensor, group_size: int, bias: Tensor | None = None) -> None:
        super().__init__()
        if packed.dtype != torch.uint8 or packed.dim() != 2:
            raise ConfigError(f"packed must be a 2-D uint8 tensor, got {packed.dtype} {list(packed.shape)}")
        out_features, in_features = packed.shape[0], packed.shape[1] * 2
        if group_size <= 0 or group_size % 32 or in_features % group_size:
            raise ConfigError(f"group_size {group_size} must be a multiple of 32 dividing in_features {in_features}")
        if scale_min.shape != (out_features, in_features // group_size, 2):
            raise ConfigError(
                f"scale_min must be [{out_features}, {in_features // group_size}, 2], got {list(scale_min.shape)}"
            )
        self.out_features, self.in_features, self.group_size = out_features, in_features, group_size
        self.register_buffer("packed", packed)
        self.register_buffer("scale_min", scale_min.float().contiguous())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        # PyTorch's CPU int4 GEMM layout of the same codes (built by pack_for_torch_kernel, for bf16 activations)
        self.register_buffer("torch_packed", None, persistent=False)
        self.register_buffer("torch_scale_zeros", None, persistent=False)

    def pack_for_torch_kernel(self, dtype: torch.dtype = torch.bfloat16) -> bool:
        """Also lay the weights out for PyTorch's CPU int4 kernel (``_weight_int4pack_mm_for_cpu``).

        That kernel then runs this layer for ``dtype`` activations on the CPU: the same codes, scales
        and minimums (``w = (q - 8) * scale + (min + 8 * scale)``), rounded to ``dtype``. Costs another
        half byte per weight.

        Returns:
            Whether the layout was built (``False``: this PyTorch lacks the kernel, or the layer is not on
            the CPU, or ``group_size`` is not one the kernel takes: 32, 64, 128 or 256).
        """
        if (
            self.packed.device.type != "cpu"
            or self.group_size not in (32, 64, 128, 256)
            or not hasattr(torch, "_convert_weight_to_int4pack_for_cpu")
            or not hasattr(torch, "_weight_int4pack_mm_for_cpu")
        ):
            return False
        codes = _unpack_int4(self.packed, self.group_size).reshape(self.out_features, self.in_features)
        self.torch_packed = torch._convert_weight_to_int4pack_for_cpu(codes.to(torch.int32), 1)
        scale, low = self.scale_min[..., 0], self.scale_min[..., 1]
        self.torch_scale_zeros = torch.stack([scale.t(), (low + 8 * scale).t()], dim=-1).to(dtype).contiguous()
        return True

    @classmethod
    def from_linear(cls, linear: nn.Linear, group_size: int = 32) -> Int4Linear:
        """Quantize ``linear``'s weight (see :func:`quantize_weight_int4`); the bias is copied as is."""
        packed, scale_min = quantize_weight_int4(linear.weight, group_size)
        device = linear.weight.device
        return cls(packed.to(device), scale_min.to(device), group_size, linear.bias)

    def dequantized_weight(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """The float weight this layer stands for: ``q * scale + min`` per group, ``[out, in]``."""
        codes = _unpack_int4(self.packed, self.group_size).to(torch.float32)
        weight = codes * self.scale_min[..., :1] + self.scale_min[..., 1:]
        return weight.reshape(self.out_features, self.in_features).to(dtype)

    def forward(self, x: Tensor) -> Tensor:
        """``x @ W^T + bias`` for ``x`` ``[..., in_features]``, ``W`` the dequantized weight."""
        shape = x.shape
        flat = x.reshape(-1, self.in_features)
        kernels = _decode_kernels(flat, self.in_features)
        if kernels is not None:
            out = kernels.int4_gemv(flat, self.packed, self.scale_min, self.group_size)
        elif self.torch_packed is not None and flat.dtype == self.torch_scale_zeros.dtype and flat.device.type == "cpu":
            out = torch._weight_int4pack_mm_for_cpu(
                flat.contiguous(), self.torch_packed, self.group_size, self.torch_scale_zeros
            )
        else:
            out = nn.functional.linear(flat, self.dequantized_weight(flat.dtype))
        if self.bias is not None:
            out = out + self.bias.to(out.dtype)
        return out.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"int4 group_size={self.group_size}"
        )


def quantize_int4(model: nn.Module, *, group_size: int = 32, skip: Iterable[str] = DEFAULT_SKIP) -> nn.Module:
    """Replace the ``nn.Linear`` layers of ``model`` (in place) by :class:`Int4Linear`, except those under ``skip``.

    Layers whose ``in_features`` is not a multiple of ``group_size`` stay as they are. As with
    :func:`quantize_int8` the default keeps the vision tower, the projector and ``lm_head`` in floating
    point (quantize ``lm_head`` to int8 afterwards with ``quantize_int8(model, skip=("vision_tower",
    "mm_projector"))`` to shrink it too).

    Args:
        model: The model to quantize in place.
        group_size: Weights per group (a multiple of 32; 32 as llama.cpp's ``q4_0``).
        skip: Module names or name parts to leave in floating point.

    Returns:
        ``model``, for chaining.

    Raises:
        ConfigError: No layer to quantize, or an invalid ``group_size``.

    Example:
        >>> lm = torch.nn.Sequential(torch.nn.Linear(64, 8))
        >>> type(quantize_int4(lm, skip=())[0]).__name__
        'Int4Linear'
    """
    if group_size <= 0 or group_size % 32:
        raise ConfigError(f"group_size must be a positive multiple of 32, got {group_size}")
    skip = tuple(skip)
    targets = [
        name
        for name, module in model.named_modules()
        if type(module) is nn.Linear and not _skipped(name, skip) and module.in_features % group_size == 0
    ]
    _replace_linears(model, targets, lambda linear: Int4Linear.from_linear(linear, group_size), "quantize_int4")
    _warm_kernels(model)
    return model


def is_int4_quantized(model: nn.Module) -> bool:
    """Whether :func:`quantize_int4` quantized ``model`` (any :class:`Int4Linear` inside)."""
    return any(isinstance(module, Int4Linear) for module in model.modules())
