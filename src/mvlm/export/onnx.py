"""The vision tower + projector as ONNX (through ``torch.export``), run and checked with ONNX Runtime.

The exported graph takes the processed pixels ``[1, 3, S, S]`` (float32; what
:attr:`MobileVLM.image_processor <mvlm.model.MobileVLM.image_processor>` returns) and gives the image
embeddings ``[1, M, hidden]`` the language model takes at the image position (144 for LDP / LDPv2 on a
336-pixel CLIP tower). With the GGUF language model this is the whole MobileVLM for runtimes that
run ONNX beside llama.cpp. The export is ``float32`` whatever the model's dtype (the model itself is
not changed).

Needs ``onnx`` and ``onnxscript`` (``torch.onnx.export(..., dynamo=True)``) and, for the check,
``onnxruntime``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mvlm.errors import MissingDependencyError, MvlmError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from torch import Tensor, nn

__all__ = ["export_vision_onnx", "run_vision_onnx", "vision_encoder"]


def vision_encoder(model: Any) -> nn.Module:
    """A float32 copy of the model's tower + projector as one module: ``[B, 3, S, S] -> [B, M, hidden]``."""
    from torch import nn

    class VisionEncoder(nn.Module):
        def __init__(self, tower: nn.Module, projector: nn.Module) -> None:
            super().__init__()
            self.tower = tower
            self.projector = projector

        def forward(self, pixel_values: Tensor) -> Tensor:
            return self.projector(self.tower(pixel_values))

    return VisionEncoder(copy.deepcopy(model.vision_tower), copy.deepcopy(model.mm_projector)).float().eval()


def _require(package: str, feature: str) -> Any:
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise MissingDependencyError.for_package(package, feature) from None


def run_vision_onnx(path: str | Path, pixel_values: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """Run an exported vision encoder with ONNX Runtime (CPU): pixels ``[1, 3, S, S]`` -> ``[1, M, hidden]``.

    Raises:
        MissingDependencyError: onnxruntime is not installed.
    """
    import numpy as np

    ort = _require("onnxruntime", "running the ONNX vision encoder")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.ascontiguousarray(pixel_values, dtype=np.float32)})[0]


def export_vision_onnx(
    model: Any, path: str | Path, *, check: bool = True, tolerance: float = 1e-3, opset: int = 18
) -> Path:
    """Export the vision tower + projector of ``model`` to ONNX with ``torch.export``.

    Args:
        model: A :class:`~mvlm.MobileVLM` (any tower and projector ``torch.export`` can trace).
        path: The ``.onnx`` file to write (weights inline).
        check: Run the file with ONNX Runtime on random pixels and compare with PyTorch.
        tolerance: Largest allowed absolute difference in the check, relative to the largest output.
        opset: The ONNX opset.

    Returns:
        ``path``.

    Raises:
        MissingDependencyError: onnx / onnxscript (or, with ``check``, onnxruntime) is not installed.
        MvlmError: The check found ONNX Runtime's output different from PyTorch's.
    """
    import torch

    _require("onnx", "ONNX export")
    _require("onnxscript", "ONNX export (torch.onnx with dynamo=True)")
    if check:
        _require("onnxruntime", "checking the ONNX export")
    encoder = vision_encoder(model)
    tower = model.vision_tower
    pixels = torch.randn(1, 3, tower.image_size, tower.image_size, generator=torch.Generator().manual_seed(0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        program = torch.onnx.export(
            encoder,
            (pixels,),
            dynamo=True,
            opset_version=opset,
            input_names=["pixel_values"],
            output_names=["image_embeddings"],
            verbose=False,
        )
        if program is None:  # only the legacy exporter returns None
            raise MvlmError("torch.onnx.export returned no program")
        program.save(str(path), external_data=False)
        expected = encoder(pixels).numpy()
    if check:
        got = run_vision_onnx(path, pixels.numpy())
        difference = float(abs(got - expected).max())
        scale = float(abs(expected).max()) or 1.0
        if got.shape != expected.shape or difference > tolerance * scale:
            raise MvlmError(
                f"ONNX Runtime's output of {path} differs from PyTorch's: shape {list(got.shape)} vs "
                f"{list(expected.shape)}, largest difference {difference:.3g} (allowed {tolerance * scale:.3g})"
            )
    return path
