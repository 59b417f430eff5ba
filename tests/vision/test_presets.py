"""The vision-tower presets: JSON data that builds exactly the towers and processors published before.

The expected values below are literals, computed from the presets as they were written in Python
before they became data; they must not change when the data files are edited or reorganised.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from mvlm.errors import ConfigError, DuplicateNameError
from mvlm.model.configuration import MobileVLMConfig, list_model_presets
from mvlm.presets import read_presets
from mvlm.vision import (
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    SIGLIP_MEAN,
    SIGLIP_STD,
    VISION_TOWER_PRESETS,
    AutoVisionTower,
    CLIPVisionTower,
    ImageProcessor,
    SiglipVisionTower,
    create_vision_tower,
    get_vision_tower_preset,
    is_vision_tower_preset,
    list_vision_tower_presets,
)

# The values the Python presets held before they became data (the published config.json and
# preprocessor_config.json of each tower), written out by hand.
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
HALF = [0.5, 0.5, 0.5]

# name: (tower type, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, image_size, patch_size)
ARCHITECTURES = {
    "openai/clip-vit-large-patch14-336": ("clip", 1024, 4096, 24, 16, 336, 14),
    "openai/clip-vit-large-patch14": ("clip", 1024, 4096, 24, 16, 224, 14),
    "google/siglip-base-patch16-224": ("siglip", 768, 3072, 12, 12, 224, 16),
    "google/siglip-so400m-patch14-384": ("siglip", 1152, 4304, 27, 16, 384, 14),
}
ALIASES = {"openai/clip-vit-large-patch14-224": "openai/clip-vit-large-patch14"}
"""The other names checkpoints use for a preset."""

FAMILY_CONFIGS = {
    "clip": dict(hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=768, initializer_factor=1.0),
    "siglip": dict(hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6),
}
COMMON_CONFIG = dict(num_channels=3, attention_dropout=0.0)
CLIP_INIT = dict(initializer_range=0.02)

# tower type: (image_processor_type, resize to the shortest edge (else a square), centre crop, mean, std)
FAMILY_PROCESSORS = {
    "clip": ("CLIPImageProcessor", True, True, CLIP_MEAN, CLIP_STD),
    "siglip": ("SiglipImageProcessor", False, False, HALF, HALF),
}
COMMON_PROCESSOR = dict(do_resize=True, resample=3, do_rescale=True, rescale_factor=1 / 255, do_normalize=True)

# name: what ImageProcessor.for_tower(tower) gave (MobileVLM pads to a square with the mean colour)
IMAGE_PROCESSORS = {
    "openai/clip-vit-large-patch14-336": ImageProcessor(image_size=336, pad_color=(122, 116, 104)),
    "openai/clip-vit-large-patch14": ImageProcessor(image_size=224, pad_color=(122, 116, 104)),
    "google/siglip-base-patch16-224": ImageProcessor(
        image_size=224, resize_mode="squash", mean=(0.5,) * 3, std=(0.5,) * 3, processor_type="SiglipImageProcessor"
    ),
    "google/siglip-so400m-patch14-384": ImageProcessor(
        image_size=384, resize_mode="squash", mean=(0.5,) * 3, std=(0.5,) * 3, processor_type="SiglipImageProcessor"
    ),
}


def expected_config(name: str) -> dict:
    """The transformers vision-config fields of preset ``name``."""
    tower_type, hidden, intermediate, layers, heads, image, patch = ARCHITECTURES[name]
    sizes = dict(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers)
    sizes.update(num_attention_heads=heads, image_size=image, patch_size=patch)
    init = CLIP_INIT if tower_type == "clip" else {}
    return {**sizes, **FAMILY_CONFIGS[tower_type], **COMMON_CONFIG, **init}


def expected_processor(tower_type: str, image_size: int) -> dict:
    """The ``preprocessor_config.json`` of a ``tower_type`` preset at ``image_size``."""
    processor_type, shortest_edge, crop, mean, std = FAMILY_PROCESSORS[tower_type]
    side = {"height": image_size, "width": image_size}
    size = {"shortest_edge": image_size} if shortest_edge else side
    fields = dict(image_processor_type=processor_type, size=size, do_center_crop=crop, image_mean=mean, image_std=std)
    return {**fields, **({"crop_size": side} if crop else {}), **COMMON_PROCESSOR, "do_convert_rgb": True}


def test_the_expected_values_are_the_published_ones():
    clip = expected_config("openai/clip-vit-large-patch14-336")
    assert clip["hidden_size"] == 1024 and clip["image_size"] == 336 and clip["hidden_act"] == "quick_gelu"
    assert len(clip) == 13 and len(expected_config("google/siglip-base-patch16-224")) == 10
    assert IMAGE_PROCESSORS["openai/clip-vit-large-patch14-336"] == ImageProcessor()  # the default is MobileVLM's


def _build(name: str):
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a folder named like a preset warns that it builds the preset
        return create_vision_tower("siglip" if "siglip" in name else "clip", name)


def test_the_presets_and_their_aliases_are_the_published_ones():
    assert list_vision_tower_presets() == sorted(ARCHITECTURES)
    assert list_vision_tower_presets("clip") == ["openai/clip-vit-large-patch14", "openai/clip-vit-large-patch14-336"]
    assert list_vision_tower_presets("siglip") == ["google/siglip-base-patch16-224", "google/siglip-so400m-patch14-384"]
    assert list_vision_tower_presets("timm") == []
    assert VISION_TOWER_PRESETS.aliases() == ALIASES
    assert all(is_vision_tower_preset(name) for name in [*ARCHITECTURES, *ALIASES])
    assert not is_vision_tower_preset("openai/clip-vit-base-patch32") and not is_vision_tower_preset(None)


@pytest.mark.parametrize("name", [*ARCHITECTURES, *ALIASES])
def test_every_preset_holds_the_same_tower_config_and_processor_as_before(name):
    canonical = ALIASES.get(name, name)
    preset = get_vision_tower_preset(name)
    tower_type, image_size = ARCHITECTURES[canonical][0], ARCHITECTURES[canonical][5]
    assert preset == {
        "tower_type": tower_type,
        "config": expected_config(canonical),
        "processor": expected_processor(tower_type, image_size),
    }


@pytest.mark.parametrize("name", [*ARCHITECTURES, *ALIASES, "/data/clip-vit-large-patch14-336"])
def test_every_preset_builds_the_same_tower_and_image_processor_as_before(name):
    canonical = ALIASES.get(name, name).replace("/data/", "openai/")
    tower = _build(name)
    assert isinstance(tower, SiglipVisionTower if "siglip" in name else CLIPVisionTower)
    assert tower.name_or_path == name
    built, expected = tower.hf_config.to_dict(), expected_config(canonical)
    assert {key: built[key] for key in expected} == expected
    assert tower.processor_config() == expected_processor(*ARCHITECTURES[canonical][0:6:5])
    assert ImageProcessor.for_tower(tower) == IMAGE_PROCESSORS[canonical]


@pytest.mark.parametrize("model", list_model_presets())
def test_the_published_checkpoints_resolve_to_the_same_tower_and_processor(model):
    config = MobileVLMConfig.from_preset(model)
    assert config.mm_vision_tower == "openai/clip-vit-large-patch14-336"
    with torch.device("meta"):
        tower = AutoVisionTower.from_config(config)
    assert isinstance(tower, CLIPVisionTower) and tower.num_tokens == 576
    built, expected = tower.hf_config.to_dict(), expected_config("openai/clip-vit-large-patch14-336")
    assert {key: built[key] for key in expected} == expected
    assert ImageProcessor.for_tower(tower) == IMAGE_PROCESSORS["openai/clip-vit-large-patch14-336"]


@pytest.mark.parametrize("tower_type", ["clip", "siglip"])
def test_a_tower_built_from_fields_gets_its_familys_processor_at_its_size(tower_type):
    fields = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4}
    fields.update({"image_size": 56, "patch_size": 14} if tower_type == "clip" else {"image_size": 32, "patch_size": 8})
    assert create_vision_tower(tower_type, fields).processor_config() == expected_processor(
        tower_type, fields["image_size"]
    )


def test_the_data_files_are_complete_and_agree_with_the_constants():
    files = read_presets("mvlm.vision", "tower_presets", kind="vision-tower preset")
    assert sorted(data["name"] for data in files.values()) == sorted(ARCHITECTURES)
    for data in files.values():
        assert set(data) == {"name", "aliases", "tower_type", "config", "processor"}
        mean, std = (OPENAI_CLIP_MEAN, OPENAI_CLIP_STD) if data["tower_type"] == "clip" else (SIGLIP_MEAN, SIGLIP_STD)
        assert data["processor"]["image_mean"] == list(mean) and data["processor"]["image_std"] == list(std)


def test_presets_are_copies_and_unknown_names_are_config_errors():
    get_vision_tower_preset("openai/clip-vit-large-patch14-336")["config"]["image_size"] = 1
    assert get_vision_tower_preset("openai/clip-vit-large-patch14-336")["config"]["image_size"] == 336
    with pytest.raises(ConfigError, match=r"no vision-tower preset named 'nope'; presets: google/siglip-base"):
        get_vision_tower_preset("nope")


def test_a_preset_of_your_own_registers_and_builds():
    fields = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
    preset = {
        "tower_type": "clip",
        "config": {**fields, "image_size": 28, "patch_size": 14},
        "processor": expected_processor("clip", 28),
    }
    VISION_TOWER_PRESETS.register("test/tiny-clip", preset, aliases=("test/tiny-clip-28",))
    try:
        tower = create_vision_tower("clip", "test/tiny-clip-28")
        assert tower.num_patches == 4 and tower.processor_config()["size"] == {"shortest_edge": 28}
        with pytest.raises(DuplicateNameError):
            VISION_TOWER_PRESETS.register("openai/clip-vit-large-patch14-224", preset)
    finally:
        VISION_TOWER_PRESETS.unregister("test/tiny-clip")
