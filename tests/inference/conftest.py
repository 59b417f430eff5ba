"""Fixtures of the inference tests: one chatty tiny checkpoint per session, loaded once, and a few images."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # so that test_cli_inference.py (one folder up) imports the builder too
    sys.path.insert(0, _HERE)

from inference_testdata import chatty_checkpoint  # noqa: E402

from helpers.torch_threads import one_thread  # noqa: E402, F401 - autouse fixture
from mvlm import MobileVLM  # noqa: E402


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chatty_checkpoint(tmp_path_factory)


@pytest.fixture(scope="session")
def model(checkpoint: Path) -> MobileVLM:
    """The chatty checkpoint in float32 (shared: tests must not change it; quantize a copy)."""
    return MobileVLM.from_pretrained(checkpoint, dtype=torch.float32).eval()


@pytest.fixture(scope="session")
def images() -> list[Image.Image]:
    """Four random RGB images of different sizes (padded to square and resized by the processor)."""
    rng = np.random.default_rng(0)
    sizes = [(64, 80), (48, 48), (90, 30), (40, 72)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in sizes]


@pytest.fixture(scope="session")
def image_file(tmp_path_factory: pytest.TempPathFactory, images: list[Image.Image]) -> Path:
    path = tmp_path_factory.mktemp("images") / "photo.png"
    images[0].save(path)
    return path
