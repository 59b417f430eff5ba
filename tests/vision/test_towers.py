"""The vision-tower contract, registry and config factory, on tiny towers of every built-in type."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from mvlm.errors import ConfigError, DuplicateNameError, ShapeError, UnknownNameError
from mvlm.vision import (
    VISION_TOWERS,
    AutoVisionTower,
    CLIPVisionTower,
    SiglipVisionTower,
    VisionTower,
    create_vision_tower,
    get_vision_tower_class,
    list_vision_towers,
    register_vision_tower,
    resolve_select_layer,
)

TINY_CLIP = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "image_size": 56,
    "patch_size": 14,
}
TINY_SIGLIP = {**TINY_CLIP, "image_size": 32, "patch_size": 8}


def test_builtin_towers_are_registered():
    assert {"clip", "siglip", "timm"} <= set(list_vision_towers())
    assert get_vision_tower_class("clip") is CLIPVisionTower
    assert get_vision_tower_class("siglip") is SiglipVisionTower
    assert CLIPVisionTower.tower_type == "clip"


def test_unknown_tower_type_suggests_close_names():
    with pytest.raises(UnknownNameError, match="did you mean 'clip'"):
        create_vision_tower("clipp", TINY_CLIP)


def test_unknown_option_is_a_config_error_listing_the_accepted_ones():
    with pytest.raises(ConfigError, match="select_layer"):
        create_vision_tower("clip", TINY_CLIP, select_layers=-2)


@pytest.mark.parametrize("kind", ["clip", "siglip", "timm"])
def test_contract_shapes_dtype_and_frozen_forward(make_tower, kind):
    tower = make_tower(kind)
    assert isinstance(tower, VisionTower)
    size = tower.image_size
    assert tower.grid == (size // tower.patch_size, size // tower.patch_size)
    assert tower.num_patches == tower.grid[0] * tower.grid[1]
    assert tower.num_tokens == tower.num_patches  # "patch" drops the CLS token
    assert tower.frozen and not tower.training
    assert not any(p.requires_grad for p in tower.parameters())
    pixels = torch.randn(2, 3, size, size, requires_grad=True)
    features = tower(pixels)
    assert features.shape == (2, tower.num_tokens, tower.hidden_size)
    assert features.dtype == torch.float32
    assert not features.requires_grad  # frozen: computed under no_grad
    # bf16 input, fp32 tower: features come back in the input dtype
    assert tower(pixels.detach().bfloat16()).dtype == torch.bfloat16
    # an empty batch is fine
    assert tower(torch.zeros(0, 3, size, size)).shape == (0, tower.num_tokens, tower.hidden_size)


@pytest.mark.parametrize("kind", ["clip", "timm"])
def test_cls_patch_keeps_the_cls_token_first(make_tower, kind):
    patch_tower = make_tower(kind)
    cls_tower = make_tower(kind, select_feature="cls_patch")
    cls_tower.load_state_dict(patch_tower.state_dict())
    pixels = torch.randn(1, 3, patch_tower.image_size, patch_tower.image_size)
    with_cls, without = cls_tower(pixels), patch_tower(pixels)
    assert cls_tower.num_tokens == patch_tower.num_tokens + 1 == with_cls.shape[1]
    torch.testing.assert_close(with_cls[:, 1:], without, rtol=0, atol=0)


def test_tower_in_bf16_returns_fp32_for_fp32_input(make_tower):
    tower = make_tower("clip").to(torch.bfloat16)
    assert tower.dtype == torch.bfloat16
    assert tower(torch.randn(1, 3, 56, 56)).dtype == torch.float32


def test_frozen_tower_stays_in_eval_mode_and_unfreeze_trains(make_tower):
    tower = make_tower("clip")
    parent = nn.Sequential(tower)
    parent.train()
    assert not tower.training and not tower.vision_tower.training
    tower.unfreeze().train()
    assert tower.training and all(p.requires_grad for p in tower.parameters())
    features = tower(torch.randn(1, 3, 56, 56))
    features.sum().backward()
    assert tower.vision_model.encoder.layers[0].mlp.fc1.weight.grad is not None
    # the last layer is not run at select_layer -2, so it gets no gradient
    assert tower.vision_model.encoder.layers[-1].mlp.fc1.weight.grad is None
    tower.freeze()
    assert not tower.training and not any(p.requires_grad for p in tower.parameters())


def test_freeze_false_builds_a_trainable_tower(make_tower):
    tower = make_tower("clip", freeze=False)
    assert not tower.frozen and all(p.requires_grad for p in tower.parameters())
    assert tower(torch.randn(1, 3, 56, 56)).requires_grad


@pytest.mark.parametrize(
    "bad",
    [
        torch.randn(3, 56, 56),
        torch.randn(1, 1, 56, 56),
        torch.randn(1, 3, 64, 64),
        torch.zeros(1, 3, 56, 56, dtype=torch.uint8),
    ],
)
def test_bad_pixel_values_are_shape_errors_that_point_to_the_processor(make_tower, bad):
    with pytest.raises(ShapeError, match=r"ImageProcessor\.for_tower"):
        make_tower("clip")(bad)


@pytest.mark.parametrize(
    ("select_layer", "layers", "expected"),
    [(-2, 24, 23), (-1, 24, 24), (23, 24, 23), (0, 24, 0), (-25, 24, 0), (24, 24, 24)],
)
def test_resolve_select_layer(select_layer, layers, expected):
    assert resolve_select_layer(select_layer, layers) == expected


@pytest.mark.parametrize("bad", [25, -26, 1.0, True, "-2"])
def test_resolve_select_layer_rejects_out_of_range_and_non_ints(bad):
    with pytest.raises(ConfigError, match="select_layer"):
        resolve_select_layer(bad, 24)


def test_out_of_range_select_layer_and_bad_feature_fail_at_construction(make_tower):
    with pytest.raises(ConfigError, match=r"out of range for a 3-layer tower; use -4..-1 or 0..3"):
        make_tower("clip", select_layer=-5)
    with pytest.raises(ConfigError, match="select_feature"):
        make_tower("clip", select_feature="cls")


def test_auto_vision_tower_reads_the_mobilevlm_fields():
    config = {
        "mm_vision_tower": TINY_CLIP,  # a preset name in published configs; a mapping works too
        "vision_tower_type": "clip",
        "mm_vision_select_layer": -1,
        "mm_vision_select_feature": "cls_patch",
    }
    tower = AutoVisionTower.from_config(config)
    assert isinstance(tower, CLIPVisionTower)
    assert (tower.select_layer, tower.select_feature, tower.num_tokens) == (-1, "cls_patch", 17)


def test_auto_vision_tower_defaults_and_overrides():
    class Config:  # an object with attributes, like a transformers config
        mm_vision_tower = TINY_SIGLIP
        vision_tower_type = "siglip"

    tower = AutoVisionTower.from_config(Config(), freeze=False)
    assert isinstance(tower, SiglipVisionTower)
    assert (tower.select_layer, tower.select_feature, tower.frozen) == (-2, "patch", False)
    no_type = AutoVisionTower.from_config({"mm_vision_tower": TINY_CLIP, "vision_tower_type": None})
    assert isinstance(no_type, CLIPVisionTower)  # the reference's default type


def test_auto_vision_tower_passes_tower_options():
    pytest.importorskip("timm")
    config = {
        "mm_vision_tower": "vit_tiny_patch16_224",
        "vision_tower_type": "timm",
        "mm_vision_tower_options": {"img_size": 32, "depth": 2},
    }
    tower = AutoVisionTower.from_config(config)
    assert (tower.image_size, tower.num_layers, tower.hidden_size) == (32, 2, 192)


def test_auto_vision_tower_needs_mm_vision_tower():
    with pytest.raises(ConfigError, match="mm_vision_tower"):
        AutoVisionTower.from_config({"vision_tower_type": "clip"})


def test_a_user_tower_registers_and_builds_from_a_config():
    @register_vision_tower("test_mean_pool")
    class MeanPoolTower(VisionTower):
        def __init__(
            self, config: int = 8, *, select_layer: int = -1, select_feature: str = "patch", freeze: bool = True
        ):
            super().__init__(select_layer, select_feature, freeze)
            self.proj = nn.Conv2d(3, config, 4, stride=4)
            self.post_init()

        hidden_size = property(lambda self: self.proj.out_channels)
        image_size = property(lambda self: 16)
        patch_size = property(lambda self: 4)
        num_layers = property(lambda self: 1)

        def encode(self, pixel_values: Tensor) -> tuple[Tensor | None, Tensor]:
            return None, self.proj(pixel_values).flatten(2).transpose(1, 2)

        def processor_config(self) -> dict[str, Any]:
            return {"size": {"shortest_edge": 16}, "crop_size": 16}

    try:
        assert MeanPoolTower.tower_type == "test_mean_pool"
        tower = AutoVisionTower.from_config({"vision_tower_type": "test_mean_pool", "mm_vision_tower": 6})
        assert tower(torch.randn(2, 3, 16, 16)).shape == (2, 16, 6)
        with pytest.raises(DuplicateNameError):
            register_vision_tower("test_mean_pool")(MeanPoolTower)
        with pytest.raises(ConfigError, match="no CLS token"):
            MeanPoolTower(select_feature="cls_patch")
    finally:
        VISION_TOWERS.unregister("test_mean_pool")


def test_register_rejects_non_towers():
    with pytest.raises(ConfigError, match=r"subclass of mvlm\.vision\.VisionTower"):
        register_vision_tower("test_not_a_tower")(nn.Linear)
    assert "test_not_a_tower" not in VISION_TOWERS
