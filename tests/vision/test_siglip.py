"""The SigLIP tower: no CLS token, truncated forward == transformers' hidden states, presets, keys."""

from __future__ import annotations

import pytest
import torch

from mvlm.errors import ConfigError
from mvlm.vision import ImageProcessor, SiglipVisionTower, create_vision_tower

TINY = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "image_size": 32,
    "patch_size": 8,
}


@pytest.mark.parametrize("select_layer", [-1, -2, 0, 2])
def test_truncated_forward_equals_the_full_models_hidden_state(select_layer):
    tower = create_vision_tower("siglip", TINY, select_layer=select_layer)
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = tower.vision_tower(pixels, output_hidden_states=True).hidden_states[select_layer]
    features = tower(pixels)
    assert features.shape == (2, 16, 32)  # every token is a patch: nothing is dropped
    torch.testing.assert_close(features, expected, rtol=0, atol=0)


def test_cls_patch_is_refused_because_siglip_has_no_cls_token():
    with pytest.raises(ConfigError, match=r"no CLS token.*select_feature='patch'"):
        create_vision_tower("siglip", TINY, select_feature="cls_patch")


def test_keys_use_the_vision_model_layout_and_keep_the_head():
    tower = create_vision_tower("siglip", TINY)
    keys = list(tower.state_dict())
    assert all(k.startswith("vision_tower.vision_model.") for k in keys)
    assert "vision_tower.vision_model.embeddings.patch_embedding.weight" in keys
    assert "vision_tower.vision_model.encoder.layers.2.mlp.fc2.bias" in keys
    assert "vision_tower.vision_model.post_layernorm.weight" in keys
    assert any(".head." in k for k in keys)  # the pooling head is kept (never run), so checkpoints load


def test_so400m_preset_without_downloading():
    with torch.device("meta"):
        tower = SiglipVisionTower()
    assert tower.name_or_path == "google/siglip-so400m-patch14-384"
    assert (tower.hidden_size, tower.image_size, tower.patch_size, tower.num_layers) == (1152, 384, 14, 27)
    assert tower.num_patches == 729 and not tower.has_cls_token
    processor = ImageProcessor.for_tower(tower)
    assert (processor.image_size, processor.resize_mode, processor.mean) == (384, "squash", (0.5, 0.5, 0.5))
    assert processor.pad_color == (127, 127, 127)


def test_a_clip_preset_is_refused():
    with pytest.raises(ConfigError, match="is a clip tower"):
        create_vision_tower("siglip", "openai/clip-vit-large-patch14-336")


def test_from_pretrained_local_folder(tmp_path):
    from transformers import SiglipVisionConfig, SiglipVisionModel

    original = SiglipVisionModel(SiglipVisionConfig(**TINY)).eval()
    original.save_pretrained(tmp_path)
    tower = SiglipVisionTower.from_pretrained(tmp_path, select_layer=-1)
    pixels = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = original(pixels, output_hidden_states=True).hidden_states[-1]
    torch.testing.assert_close(tower(pixels), expected, rtol=0, atol=0)
