"""Fixtures for the vision tests: tiny towers (a few layers, small widths) and random test images."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

TINY_CLIP = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "image_size": 56,
    "patch_size": 14,
    "hidden_act": "quick_gelu",
}
"""A 3-layer CLIP ViT: 4x4 = 16 patches + CLS, hidden 32."""

TINY_SIGLIP = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "image_size": 32,
    "patch_size": 8,
}
"""A 3-layer SigLIP ViT: 4x4 = 16 patches, no CLS, hidden 32."""


@pytest.fixture
def tiny_clip_config() -> dict:
    return dict(TINY_CLIP)


@pytest.fixture
def tiny_siglip_config() -> dict:
    return dict(TINY_SIGLIP)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def make_tower() -> Callable[..., Any]:
    """``make_tower(kind, **options)``: a tiny ``clip``, ``siglip`` or ``timm`` tower (random weights)."""
    from mvlm.vision import create_vision_tower

    def build(kind: str, **options: Any) -> Any:
        if kind == "clip":
            return create_vision_tower("clip", dict(TINY_CLIP), **options)
        if kind == "siglip":
            return create_vision_tower("siglip", dict(TINY_SIGLIP), **options)
        pytest.importorskip("timm")
        return create_vision_tower("timm", "vit_tiny_patch16_224", img_size=32, depth=3, **options)

    return build


@pytest.fixture
def make_image() -> Callable[..., Image.Image]:
    """``make_image(width, height, mode="RGB", seed=0)``: a random image in that Pillow mode."""
    return noise_image


def noise_image(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A random image of the given size and Pillow mode."""
    rng = np.random.default_rng(seed)
    rgba = rng.integers(0, 256, size=(height, width, 4), dtype=np.uint8)
    base = Image.fromarray(rgba)
    if mode == "RGBA":
        return base
    if mode == "LA":
        return base.convert("LA")
    if mode == "P":
        return base.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    if mode == "I;16":
        values = rng.integers(0, 65536, size=(height, width), dtype=np.uint16)
        return Image.fromarray(values)
    return base.convert("RGB").convert(mode)
