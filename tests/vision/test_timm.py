"""The timm tower: forward_intermediates up to the selected block, prefix tokens, convnets, timm's
preprocessing, and the error when timm is missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from mvlm.errors import ConfigError, MissingDependencyError
from mvlm.vision import ImageProcessor, TimmVisionTower, create_vision_tower

timm = pytest.importorskip("timm")


def tiny_vit(**options):
    return create_vision_tower("timm", "vit_tiny_patch16_224", img_size=64, depth=4, **options)


def manual_block_outputs(model, pixels):
    """Every block's output of a timm ViT, computed by hand (no final norm)."""
    x = model.patch_embed(pixels)
    x = model._pos_embed(x)
    x = model.patch_drop(x)
    x = model.norm_pre(x)
    outputs = []
    for block in model.blocks:
        x = block(x)
        outputs.append(x)
    return outputs


@pytest.mark.parametrize("select_layer", [-1, -2, 1, 3])
def test_vit_features_equal_the_block_outputs(select_layer):
    tower = tiny_vit(select_layer=select_layer, select_feature="cls_patch")
    assert (tower.image_size, tower.patch_size, tower.grid, tower.hidden_size) == (64, 16, (4, 4), 192)
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = manual_block_outputs(tower.vision_tower, pixels)[
            select_layer if select_layer < 0 else select_layer - 1
        ]
    features = tower(pixels)
    assert features.shape == (2, 17, 192)
    torch.testing.assert_close(features, expected, rtol=1e-6, atol=1e-6)


def test_blocks_after_the_selected_one_are_never_run():
    tower = tiny_vit(select_layer=-2)
    calls = [0] * 4
    for index, block in enumerate(tower.vision_tower.blocks):
        block.register_forward_hook(lambda *_, i=index: calls.__setitem__(i, calls[i] + 1))
    tower(torch.randn(1, 3, 64, 64))
    assert calls == [1, 1, 1, 0]


def test_select_layer_zero_is_refused():
    with pytest.raises(ConfigError, match="out of range"):
        tiny_vit(select_layer=0)


def test_a_vit_without_cls_token_refuses_cls_patch():
    with pytest.raises(ConfigError, match="no CLS token"):
        create_vision_tower(
            "timm",
            "vit_tiny_patch16_224",
            img_size=32,
            depth=2,
            class_token=False,
            global_pool="avg",
            select_feature="cls_patch",
        )


def test_a_convnet_feature_map_becomes_raster_tokens():
    tower = create_vision_tower("timm", "resnet10t", image_size=64, select_layer=-2)
    assert (tower.num_layers, tower.patch_size, tower.grid, tower.hidden_size) == (5, 16, (4, 4), 256)
    pixels = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        (feature_map,) = tower.vision_tower.forward_intermediates(pixels, indices=[3], intermediates_only=True)
    features = tower(pixels)
    assert features.shape == (1, 16, 256)
    torch.testing.assert_close(features, feature_map.flatten(2).transpose(1, 2), rtol=0, atol=0)
    tower.train()
    assert not tower.training  # frozen: BatchNorm statistics never change


def test_image_size_for_a_vit_must_be_given_as_img_size():
    with pytest.raises(ConfigError, match="img_size=48"):
        create_vision_tower("timm", "vit_tiny_patch16_224", img_size=32, depth=1, image_size=48, select_layer=-1)


def test_unknown_model_is_a_config_error():
    with pytest.raises(ConfigError, match="timm has no model 'vit_nonexistent_model'"):
        create_vision_tower("timm", "vit_nonexistent_model")


def test_processor_follows_timms_pretrained_config():
    tower = tiny_vit()
    processor = ImageProcessor.for_tower(tower)
    data = timm.data.resolve_data_config(model=tower.vision_tower)
    assert processor.image_size == 64
    assert processor.resize_size == int(64 / data["crop_pct"])  # floor(64 / 0.9) = 71
    assert processor.mean == tuple(data["mean"]) and processor.std == tuple(data["std"])
    assert processor.resample == data["interpolation"] == "bicubic"


def test_processor_matches_timms_own_eval_transform_without_padding(make_image):
    tower = tiny_vit()
    processor = ImageProcessor.for_tower(tower, pad_to_square=False)
    config = timm.data.resolve_data_config(model=tower.vision_tower)
    config["input_size"] = (3, 64, 64)
    transform = timm.data.create_transform(**config)
    for seed, (width, height) in enumerate([(90, 70), (64, 64), (33, 101), (200, 81)]):
        image = make_image(width, height, seed=seed)
        expected = transform(image).numpy()
        np.testing.assert_allclose(processor([image])[0].numpy(), expected, rtol=0, atol=1e-5)


def test_missing_timm_is_a_missing_dependency_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "mvlm\[timm\]"'):
        TimmVisionTower("vit_tiny_patch16_224")
