"""The CLIP tower: published state-dict keys, truncated forward == transformers' hidden states, presets,
local folders and the original weights through ``from_pretrained``."""

from __future__ import annotations

import json

import pytest
import torch

from mvlm.errors import CheckpointError, ConfigError
from mvlm.vision import CLIPVisionTower, ImageProcessor, create_vision_tower, get_vision_tower_preset

TINY = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "image_size": 28,
    "patch_size": 14,
}


def published_keys(num_layers: int) -> list[str]:
    """The keys a MobileVLM checkpoint stores under ``model.vision_tower.`` (transformers 4.33 layout)."""
    body = "vision_tower.vision_model."
    keys = [
        body + "embeddings.class_embedding",
        body + "embeddings.patch_embedding.weight",
        body + "embeddings.position_embedding.weight",
        body + "pre_layrnorm.weight",
        body + "pre_layrnorm.bias",
    ]
    for i in range(num_layers):
        layer = f"{body}encoder.layers.{i}."
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            keys += [f"{layer}self_attn.{proj}.weight", f"{layer}self_attn.{proj}.bias"]
        keys += [f"{layer}layer_norm1.weight", f"{layer}layer_norm1.bias"]
        keys += [f"{layer}mlp.fc1.weight", f"{layer}mlp.fc1.bias", f"{layer}mlp.fc2.weight", f"{layer}mlp.fc2.bias"]
        keys += [f"{layer}layer_norm2.weight", f"{layer}layer_norm2.bias"]
    return [*keys, body + "post_layernorm.weight", body + "post_layernorm.bias"]


def test_state_dict_keys_are_exactly_the_published_ones():
    tower = create_vision_tower("clip", TINY)
    assert sorted(tower.state_dict()) == sorted(published_keys(2))
    assert len(tower.state_dict()) == len(published_keys(2)) == 5 + 2 * 16 + 2


def test_a_published_style_checkpoint_loads_strictly_and_saves_back_identically():
    from transformers import CLIPVisionConfig, CLIPVisionModel

    reference = CLIPVisionModel(CLIPVisionConfig(**TINY)).eval()
    body = getattr(reference, "vision_model", reference)  # 4.x has the child, 5.x is the body
    checkpoint = {f"model.vision_tower.vision_tower.vision_model.{k}": v for k, v in body.state_dict().items()}
    tower_part = {k.removeprefix("model.vision_tower."): v for k, v in checkpoint.items()}

    tower = create_vision_tower("clip", TINY)
    result = tower.load_state_dict(tower_part, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    saved = {f"model.vision_tower.{k}": v for k, v in tower.state_dict().items()}
    assert list(saved) == list(checkpoint)
    assert all(torch.equal(saved[k], checkpoint[k]) for k in checkpoint)
    pixels = torch.randn(1, 3, 28, 28)
    with torch.no_grad():
        expected = reference(pixels, output_hidden_states=True).hidden_states[-2][:, 1:]
    torch.testing.assert_close(tower(pixels), expected, rtol=0, atol=0)


@pytest.mark.parametrize("select_layer", [-1, -2, -3, 0, 1, 2, 3])
@pytest.mark.parametrize("select_feature", ["patch", "cls_patch"])
def test_truncated_forward_equals_the_full_models_hidden_state(select_layer, select_feature):
    config = {**TINY, "num_hidden_layers": 3}
    tower = create_vision_tower("clip", config, select_layer=select_layer, select_feature=select_feature)
    pixels = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        hidden_states = tower.vision_tower(pixels, output_hidden_states=True).hidden_states
    assert len(hidden_states) == 4  # embeddings + 3 layers
    expected = hidden_states[select_layer]
    if select_feature == "patch":
        expected = expected[:, 1:]
    torch.testing.assert_close(tower(pixels), expected, rtol=0, atol=0)


def test_layers_after_the_selected_one_are_never_run():
    tower = create_vision_tower("clip", {**TINY, "num_hidden_layers": 4}, select_layer=-2)
    calls = [0] * 4
    for index, layer in enumerate(tower.vision_model.encoder.layers):
        layer.register_forward_hook(lambda *_, i=index: calls.__setitem__(i, calls[i] + 1))
    tower(torch.randn(1, 3, 28, 28))
    assert calls == [1, 1, 1, 0]
    tower.select_layer = 1
    tower(torch.randn(1, 3, 28, 28))
    assert calls == [2, 1, 1, 0]


def test_mobilevlm_preset_builds_vit_l14_336_without_downloading():
    with torch.device("meta"):
        tower = create_vision_tower("clip", "openai/clip-vit-large-patch14-336")
    assert (tower.hidden_size, tower.image_size, tower.patch_size, tower.num_layers) == (1024, 336, 14, 24)
    assert tower.grid == (24, 24) and tower.num_patches == 576 and tower.num_tokens == 576
    assert tower.selected_layer == 23
    assert sum(p.numel() for p in tower.parameters()) == 303_507_456
    assert tower.hf_config.hidden_act == "quick_gelu" and tower.hf_config.layer_norm_eps == 1e-5
    assert tower.name_or_path == "openai/clip-vit-large-patch14-336"
    # the default is MobileVLM's tower
    with torch.device("meta"):
        assert CLIPVisionTower().name_or_path == "openai/clip-vit-large-patch14-336"


def test_224_preset_and_its_alias():
    with torch.device("meta"):
        tower = create_vision_tower("clip", "openai/clip-vit-large-patch14-224")
    assert (tower.image_size, tower.num_patches) == (224, 256)
    assert ImageProcessor.for_tower(tower).image_size == 224


def test_preset_processor_is_clips_preprocessor_config():
    processor = get_vision_tower_preset("openai/clip-vit-large-patch14-336")["processor"]
    assert processor["size"] == {"shortest_edge": 336} and processor["crop_size"] == {"height": 336, "width": 336}
    assert processor["resample"] == 3
    assert processor["image_mean"] == [0.48145466, 0.4578275, 0.40821073]
    assert processor["image_std"] == [0.26862954, 0.26130258, 0.27577711]


def test_an_unknown_name_is_a_config_error_and_nothing_is_downloaded():
    with pytest.raises(ConfigError, match=r"never downloads.*from_pretrained\('openai/clip-vit-base-patch32'\)"):
        create_vision_tower("clip", "openai/clip-vit-base-patch32")


def test_a_siglip_preset_is_refused_with_the_right_type():
    with pytest.raises(ConfigError, match="create_vision_tower\\('siglip'"):
        create_vision_tower("clip", "google/siglip-base-patch16-224")


def test_bad_config_fields_are_config_errors():
    with pytest.raises(ConfigError):
        create_vision_tower("clip", 42)


def test_a_transformers_config_or_full_clip_config_is_accepted():
    from transformers import CLIPConfig, CLIPVisionConfig

    assert create_vision_tower("clip", CLIPVisionConfig(**TINY)).hidden_size == 32
    full = CLIPConfig(
        vision_config=TINY, text_config={"hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32}
    )
    assert create_vision_tower("clip", full).num_patches == 4
    assert create_vision_tower("clip", {"vision_config": TINY, "text_config": {}}).num_layers == 2


def test_local_folder_builds_the_architecture_and_from_pretrained_loads_the_weights(tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    original = CLIPVisionModel(CLIPVisionConfig(**TINY)).eval()
    original.save_pretrained(tmp_path)
    ImageProcessor(image_size=28, pad_to_square=False).save_pretrained(tmp_path)

    architecture_only = create_vision_tower("clip", str(tmp_path))
    assert architecture_only.hidden_size == 32 and architecture_only.name_or_path == str(tmp_path)
    assert ImageProcessor.for_tower(architecture_only).image_size == 28

    tower = CLIPVisionTower.from_pretrained(tmp_path, select_layer=-1, select_feature="cls_patch")
    assert tower.frozen and tower.name_or_path == str(tmp_path)
    pixels = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        expected = original(pixels, output_hidden_states=True).hidden_states[-1]
    torch.testing.assert_close(tower(pixels), expected, rtol=0, atol=0)
    assert ImageProcessor.for_tower(tower).pad_to_square is False  # read from the folder's preprocessor_config.json


def test_a_built_transformers_model_is_wrapped_as_is():
    from transformers import CLIPVisionConfig, CLIPVisionModel

    model = CLIPVisionModel(CLIPVisionConfig(**TINY))
    tower = CLIPVisionTower(model)
    assert tower.hf_model is model
    assert sorted(tower.state_dict()) == sorted(published_keys(2))


def test_from_pretrained_of_a_missing_folder_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="could not load CLIPVisionModel weights"):
        CLIPVisionTower.from_pretrained(tmp_path / "nothing-here", local_files_only=True)


def test_config_json_file_path_is_accepted(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "clip_vision_model", **TINY}))
    assert create_vision_tower("clip", str(tmp_path / "config.json")).num_layers == 2


def test_a_missing_folder_named_after_a_preset_builds_that_preset_with_a_warning():
    expected = "building the preset 'openai/clip-vit-large-patch14-336'"
    with pytest.warns(UserWarning, match=expected), torch.device("meta"):
        tower = create_vision_tower("clip", "/data/checkpoints/clip-vit-large-patch14-336/")
    assert tower.num_patches == 576 and tower.name_or_path == "/data/checkpoints/clip-vit-large-patch14-336/"


def test_a_published_mobilevlm_config_builds_its_tower():
    from mvlm.vision import AutoVisionTower

    published = {  # the vision fields of mtgv/MobileVLM_V2-1.7B's config.json
        "mm_vision_tower": "openai/clip-vit-large-patch14-336",
        "vision_tower_type": "clip",
        "mm_hidden_size": 1024,
        "mm_vision_select_layer": -2,
        "mm_vision_select_feature": "patch",
        "image_aspect_ratio": "pad",
    }
    with torch.device("meta"):
        tower = AutoVisionTower.from_config(published)
    assert isinstance(tower, CLIPVisionTower)
    assert (tower.num_tokens, tower.hidden_size, tower.selected_layer) == (576, published["mm_hidden_size"], 23)
    assert ImageProcessor.for_tower(tower) == ImageProcessor()
