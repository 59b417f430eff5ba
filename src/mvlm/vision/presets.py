"""Vision-tower presets, written as data: architecture and preprocessing of the published towers.

A preset lets :func:`mvlm.vision.base.create_vision_tower` build the architecture of a hub tower without
downloading anything (the weights then come from a MobileVLM checkpoint, or from
``CLIPVisionTower.from_pretrained`` for users who want the original ones). Each preset holds:

- ``tower_type``: the registered tower type that builds it;
- ``config``: the fields of the transformers vision config (``CLIPVisionConfig``, ``SiglipVisionConfig``);
- ``processor``: the tower's ``preprocessor_config.json``, in transformers' field names.

The values are those of the published ``config.json`` / ``preprocessor_config.json`` files.
"""

from __future__ import annotations

import copy
from typing import Any

from mvlm.errors import ConfigError

__all__ = [
    "OPENAI_CLIP_MEAN",
    "OPENAI_CLIP_STD",
    "SIGLIP_MEAN",
    "SIGLIP_STD",
    "VISION_TOWER_PRESETS",
    "get_vision_tower_preset",
    "is_vision_tower_preset",
    "list_vision_tower_presets",
]

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
"""Per-channel mean of OpenAI's CLIP preprocessing (pad colour ``(122, 116, 104)``)."""

OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
"""Per-channel standard deviation of OpenAI's CLIP preprocessing."""

SIGLIP_MEAN = (0.5, 0.5, 0.5)
"""Per-channel mean of SigLIP's preprocessing."""

SIGLIP_STD = (0.5, 0.5, 0.5)
"""Per-channel standard deviation of SigLIP's preprocessing."""


def _clip_vit_l14(image_size: int) -> dict[str, Any]:
    return {
        "tower_type": "clip",
        "config": {
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "projection_dim": 768,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "num_channels": 3,
            "image_size": image_size,
            "patch_size": 14,
            "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5,
            "attention_dropout": 0.0,
            "initializer_range": 0.02,
            "initializer_factor": 1.0,
        },
        "processor": {
            "image_processor_type": "CLIPImageProcessor",
            "do_resize": True,
            "size": {"shortest_edge": image_size},
            "resample": 3,
            "do_center_crop": True,
            "crop_size": {"height": image_size, "width": image_size},
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": list(OPENAI_CLIP_MEAN),
            "image_std": list(OPENAI_CLIP_STD),
            "do_convert_rgb": True,
        },
    }


def _siglip(hidden: int, intermediate: int, layers: int, heads: int, image_size: int, patch: int) -> dict[str, Any]:
    return {
        "tower_type": "siglip",
        "config": {
            "hidden_size": hidden,
            "intermediate_size": intermediate,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_channels": 3,
            "image_size": image_size,
            "patch_size": patch,
            "hidden_act": "gelu_pytorch_tanh",
            "layer_norm_eps": 1e-6,
            "attention_dropout": 0.0,
        },
        "processor": {
            "image_processor_type": "SiglipImageProcessor",
            "do_resize": True,
            "size": {"height": image_size, "width": image_size},
            "resample": 3,
            "do_center_crop": False,
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": list(SIGLIP_MEAN),
            "image_std": list(SIGLIP_STD),
            "do_convert_rgb": True,
        },
    }


VISION_TOWER_PRESETS: dict[str, dict[str, Any]] = {
    # MobileVLM (v1 and V2) and LLaVA-1.5: 24x24 = 576 patches + CLS, hidden 1024.
    "openai/clip-vit-large-patch14-336": _clip_vit_l14(336),
    # The 224-pixel sibling (16x16 = 256 patches), used by LLaVA-1 era models.
    "openai/clip-vit-large-patch14": _clip_vit_l14(224),
    "google/siglip-base-patch16-224": _siglip(768, 3072, 12, 12, 224, 16),
    "google/siglip-so400m-patch14-384": _siglip(1152, 4304, 27, 16, 384, 14),
}
"""Every preset, by its hub name. Read them through :func:`get_vision_tower_preset` (which copies)."""

_PRESET_ALIASES = {"openai/clip-vit-large-patch14-224": "openai/clip-vit-large-patch14"}


def list_vision_tower_presets(tower_type: str | None = None) -> list[str]:
    """Sorted preset names, all of them or those of one ``tower_type`` (``"clip"``, ``"siglip"``)."""
    return sorted(name for name, preset in VISION_TOWER_PRESETS.items() if tower_type in (None, preset["tower_type"]))


def get_vision_tower_preset(name: str) -> dict[str, Any]:
    """A deep copy of the preset ``name`` (``tower_type``, ``config``, ``processor``).

    Raises:
        ConfigError: No preset has that name; the message lists the presets.
    """
    key = _PRESET_ALIASES.get(name, name)
    if key not in VISION_TOWER_PRESETS:
        raise ConfigError(f"no vision-tower preset named '{name}'; presets: {', '.join(list_vision_tower_presets())}")
    return copy.deepcopy(VISION_TOWER_PRESETS[key])


def is_vision_tower_preset(name: object) -> bool:
    """Whether ``name`` is a preset name (or one of their aliases)."""
    return isinstance(name, str) and _PRESET_ALIASES.get(name, name) in VISION_TOWER_PRESETS
