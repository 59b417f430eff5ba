"""Vision-tower presets, as data: architecture and preprocessing of the published towers.

A preset lets :func:`mvlm.vision.base.create_vision_tower` build the architecture of a hub tower without
downloading anything (the weights then come from a MobileVLM checkpoint, or from
``CLIPVisionTower.from_pretrained`` for users who want the original ones). The presets are the JSON
files of ``mvlm/vision/tower_presets``, read with :func:`mvlm.presets.read_presets`; each holds:

- ``name``: the hub name a checkpoint's ``mm_vision_tower`` holds (``openai/clip-vit-large-patch14-336``);
- ``aliases``: other names that checkpoints use for the same tower (``openai/clip-vit-large-patch14-224``);
- ``tower_type``: the registered tower type that builds it (``clip``, ``siglip``);
- ``config``: the fields of the transformers vision config (``CLIPVisionConfig``, ``SiglipVisionConfig``);
- ``processor``: the tower's ``preprocessor_config.json``, in transformers' field names (processor
  type, resize and crop, rescale, mean and std).

The values are those of the published ``config.json`` / ``preprocessor_config.json`` files.

Example:
    >>> from mvlm.vision import get_vision_tower_preset
    >>> preset = get_vision_tower_preset("openai/clip-vit-large-patch14-336")
    >>> preset["tower_type"], preset["config"]["image_size"], preset["processor"]["crop_size"]
    ('clip', 336, {'height': 336, 'width': 336})
"""

from __future__ import annotations

import copy
from typing import Any

from mvlm.errors import ConfigError
from mvlm.presets import read_presets
from mvlm.registry import Registry

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

_PACKAGE = "mvlm.vision"
_FOLDER = "tower_presets"
_PRESET_KEYS = ("tower_type", "config", "processor")

VISION_TOWER_PRESETS: Registry[dict[str, Any]] = Registry("vision-tower preset")
"""Every preset (``tower_type``, ``config``, ``processor``) by its hub name, and the aliases of each.

Read them through :func:`get_vision_tower_preset` (which copies). A preset of your own is one more
entry: ``VISION_TOWER_PRESETS.register("me/my-clip", {"tower_type": "clip", "config": ..., "processor": ...})``.
"""


def _register_packaged_presets() -> None:
    for stem, data in read_presets(_PACKAGE, _FOLDER, kind="vision-tower preset").items():
        missing = [key for key in ("name", *_PRESET_KEYS) if key not in data]
        if missing:
            raise ConfigError(
                f"vision-tower preset file {_FOLDER}/{stem}.json has no {', '.join(missing)}; "
                f"every preset needs name, {', '.join(_PRESET_KEYS)} (and may list aliases)"
            )
        preset = {key: data[key] for key in _PRESET_KEYS}
        VISION_TOWER_PRESETS.register(data["name"], preset, aliases=tuple(data.get("aliases", ())))


def list_vision_tower_presets(tower_type: str | None = None) -> list[str]:
    """Sorted preset names, all of them or those of one ``tower_type`` (``"clip"``, ``"siglip"``)."""
    return [name for name in VISION_TOWER_PRESETS if tower_type in (None, VISION_TOWER_PRESETS.get(name)["tower_type"])]


def get_vision_tower_preset(name: str) -> dict[str, Any]:
    """A deep copy of the preset ``name`` (``tower_type``, ``config``, ``processor``).

    Raises:
        ConfigError: No preset has that name; the message lists the presets.
    """
    if not is_vision_tower_preset(name):
        raise ConfigError(f"no vision-tower preset named '{name}'; presets: {', '.join(list_vision_tower_presets())}")
    return copy.deepcopy(VISION_TOWER_PRESETS.get(name))


def is_vision_tower_preset(name: object) -> bool:
    """Whether ``name`` is a preset name (or one of their aliases)."""
    return name in VISION_TOWER_PRESETS


_register_packaged_presets()
