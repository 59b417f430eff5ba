"""The vision tower + projector exported with torch.export to ONNX and run by ONNX Runtime, against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="onnx is not installed")
pytest.importorskip("onnxscript", reason="onnxscript is not installed (torch.onnx.export with dynamo=True needs it)")
pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")


def check_against_pytorch(model: Any, path: Path) -> float:
    from PIL import Image

    from mvlm.export.onnx import run_vision_onnx

    picture = Image.fromarray(np.random.default_rng(1).integers(0, 256, size=(240, 320, 3), dtype=np.uint8))
    pixels = model.image_processor([picture]).float()
    with torch.no_grad():
        expected = model.encode_images(pixels).numpy()
    got = run_vision_onnx(path, pixels.numpy(), threads=1)
    assert got.shape == expected.shape == (1, 144, model.config.hidden_size)
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def test_onnx_vision_encoder_ldpv2(load_model: Any, tmp_path: Path, record_property: Any) -> None:
    from mvlm.export.onnx import export_vision_onnx

    model = load_model("v2")
    path = export_vision_onnx(model, tmp_path / "vision.onnx")
    difference = check_against_pytorch(model, path)
    record_property("relative_difference", difference)
    assert difference < 1e-4
    assert next(model.parameters()).dtype == torch.float32  # the model itself is untouched


@pytest.mark.slow
def test_onnx_vision_encoder_ldp_from_the_command(
    checkpoints: dict[str, Path], load_model: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from mvlm.export.cli import add_export_commands

    parser = argparse.ArgumentParser(prog="mvlm")
    add_export_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["export", "onnx", "--model", str(checkpoints["v1"]), "--output", str(tmp_path / "v.onnx")]
    )
    assert args.handler(args) == 0
    assert "vision tower + projector" in capsys.readouterr().out
    assert check_against_pytorch(load_model("v1"), tmp_path / "v.onnx") < 1e-4
