"""Writing tensors into a GGUF file one at a time, in the storage type each one asks for.

A writer first plans every tensor (:class:`PlannedTensor`: its GGUF name, its shape and storage type,
and a function that produces its float32 values), then :func:`write_gguf_file` writes the header, the
metadata and the tensor table, and streams the tensors: only one tensor's values are in memory at a
time, so a 7B checkpoint exports in little more memory than its largest tensor.

Storage types and who encodes them: ``f32`` and ``f16`` are numpy casts; ``bf16`` and ``q8_0`` are
encoded by the ``gguf`` package's own quantizer (``gguf.quants.quantize``). Other quantized types are
not written here: :mod:`mvlm.export.gguf_quantize` hands an ``f32`` file to llama.cpp's quantizer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mvlm.errors import ConfigError, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["STORAGE_TYPES", "PlannedTensor", "encode_tensor", "import_gguf", "storage_fits", "write_gguf_file"]

STORAGE_TYPES: tuple[str, ...] = ("f32", "f16", "bf16", "q8_0")
"""The storage types this module encodes itself (``bf16`` and ``q8_0`` through the ``gguf`` package)."""

Q8_0_BLOCK = 32
"""Values per ``q8_0`` block: a row must be a multiple of it."""


def import_gguf() -> Any:
    """The ``gguf`` package (llama.cpp's GGUF reader/writer), imported on first use.

    Raises:
        MissingDependencyError: ``gguf`` is not installed (``pip install "mvlm[export]"``).
    """
    try:
        import gguf
    except ImportError:
        raise MissingDependencyError.for_package("gguf", "GGUF export", extra="export") from None
    return gguf


@dataclass(frozen=True)
class PlannedTensor:
    """One tensor to write: where it goes, how it is stored, and how to get its values.

    Attributes:
        name: The GGUF tensor name (``blk.0.attn_q.weight``).
        shape: The numpy shape of the values (row-major, as PyTorch stores them).
        storage: ``f32``, ``f16``, ``bf16`` or ``q8_0``.
        values: Returns the float32 values, of shape ``shape``; called once, while writing.
    """

    name: str
    shape: tuple[int, ...]
    storage: str
    values: Callable[[], np.ndarray]


def storage_fits(shape: Sequence[int], storage: str) -> bool:
    """Whether a tensor of ``shape`` can be stored as ``storage`` (``q8_0`` needs rows of a multiple of 32)."""
    if storage == "q8_0":
        return len(shape) >= 2 and shape[-1] % Q8_0_BLOCK == 0
    return True


def _ggml_type(storage: str) -> Any:
    gguf = import_gguf()
    types = {
        "f32": gguf.GGMLQuantizationType.F32,
        "f16": gguf.GGMLQuantizationType.F16,
        "bf16": gguf.GGMLQuantizationType.BF16,
        "q8_0": gguf.GGMLQuantizationType.Q8_0,
    }
    if storage not in types:
        raise ConfigError(f"storage type {storage!r} is not one of {STORAGE_TYPES}")
    return types[storage]


def encode_tensor(values: np.ndarray, storage: str) -> np.ndarray:
    """Float values -> the array whose bytes GGUF stores for ``storage``.

    Args:
        values: Any float array.
        storage: ``f32`` / ``f16`` (numpy casts) or ``bf16`` / ``q8_0`` (uint8 blocks from
            ``gguf.quants.quantize``, with the last axis counting bytes).

    Raises:
        ConfigError: Unknown storage type, or a ``q8_0`` row that is not a multiple of 32 values.
    """
    import numpy as np

    values = np.ascontiguousarray(values, dtype=np.float32)
    if storage == "f32":
        return values
    if storage == "f16":
        return values.astype(np.float16)
    if not storage_fits(values.shape, storage):
        raise ConfigError(f"a {list(values.shape)} tensor cannot be stored as {storage}: rows must be multiples of 32")
    return import_gguf().quants.quantize(values, _ggml_type(storage))


def _byte_shape(shape: tuple[int, ...], storage: str) -> tuple[int, ...]:
    if storage in ("f32", "f16"):
        return shape
    return tuple(import_gguf().quant_shape_to_byte_shape(shape, _ggml_type(storage)))


def write_gguf_file(
    path: str | Path,
    architecture: str,
    metadata: Callable[[Any], None],
    tensors: Iterable[PlannedTensor],
) -> Path:
    """Write a GGUF file: ``metadata(writer)`` adds the key/values, then the tensors are streamed in order.

    The file is written under a temporary name beside ``path`` and renamed when complete, so a
    failure never leaves a truncated file that llama.cpp would try to load.

    Args:
        path: The ``.gguf`` file to write (its folder is created).
        architecture: ``general.architecture`` (``llama``, ``clip``).
        metadata: Adds the key/values to the ``gguf.GGUFWriter`` it is given.
        tensors: The planned tensors, in file order.

    Returns:
        ``path``.

    Raises:
        ConfigError: A tensor's values do not have its planned shape.
    """
    import numpy as np

    gguf = import_gguf()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    plans = list(tensors)
    writer = gguf.GGUFWriter(partial, architecture)
    try:
        metadata(writer)
        for plan in plans:
            byte_shape = _byte_shape(plan.shape, plan.storage)
            dtype = {"f32": np.float32, "f16": np.float16}.get(plan.storage, np.uint8)
            nbytes = int(np.prod(byte_shape)) * np.dtype(dtype).itemsize
            raw = None if plan.storage in ("f32", "f16") else _ggml_type(plan.storage)
            writer.add_tensor_info(plan.name, byte_shape, np.dtype(dtype), nbytes, raw_dtype=raw)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for plan in plans:
            values = plan.values()
            if tuple(values.shape) != plan.shape:
                raise ConfigError(
                    f"tensor {plan.name}: planned shape {list(plan.shape)}, got values of shape {list(values.shape)}"
                )
            writer.write_tensor_data(encode_tensor(values, plan.storage))
        writer.close()
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
    return path
