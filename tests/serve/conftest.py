"""Fixtures of the server tests: the chatty tiny checkpoint in float32 and images no other test module uses."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

_HERE = Path(__file__).resolve().parent
for folder in (_HERE, _HERE.parent / "inference"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from inference_testdata import chatty_checkpoint  # noqa: E402

from helpers.torch_threads import one_thread  # noqa: E402, F401  (autouse)
from mvlm import MobileVLM  # noqa: E402


@pytest.fixture(scope="session")
def model(tmp_path_factory: pytest.TempPathFactory) -> MobileVLM:
    """The chatty checkpoint in float32 (shared: tests must not change it)."""
    return MobileVLM.from_pretrained(chatty_checkpoint(tmp_path_factory), dtype=torch.float32).eval()


@pytest.fixture(scope="session")
def images() -> list[Image.Image]:
    """Ten random RGB images of different sizes; each test uses its own (the server keeps conversations)."""
    rng = np.random.default_rng(7)
    sizes = [(64, 80), (48, 48), (90, 30), (40, 72), (56, 56), (70, 44), (32, 60), (50, 50), (36, 36), (60, 40)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in sizes]
