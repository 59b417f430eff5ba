"""The ``siglip`` tower: transformers' ``SiglipVisionModel``.

SigLIP has no CLS token and no LayerNorm before its encoder: every token is a patch, so ``patch``
keeps all of them and ``cls_patch`` is refused. ``select_layer`` counts as for CLIP (index 0 is the
embedding output); ``-1`` is the last layer's output *before* ``post_layernorm`` (transformers'
``hidden_states[-1]``, not its ``last_hidden_state``). The attention-pooling head is kept (so the
original checkpoints load unchanged) but never run.

Example:
    >>> import torch
    >>> from mvlm.vision import create_vision_tower
    >>> tiny = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
    ...         "num_attention_heads": 4, "image_size": 32, "patch_size": 8}
    >>> tower = create_vision_tower("siglip", tiny, select_layer=-1)
    >>> tower(torch.randn(1, 3, 32, 32)).shape
    torch.Size([1, 16, 32])
"""

from __future__ import annotations

from mvlm.vision.base import register_vision_tower
from mvlm.vision.transformers_vit import TransformersViTTower

__all__ = ["SiglipVisionTower"]


@register_vision_tower("siglip")
class SiglipVisionTower(TransformersViTTower):
    """A SigLIP ViT vision tower (transformers ``SiglipVisionModel``), truncated at the selected layer.

    Built like :class:`~mvlm.vision.clip.CLIPVisionTower`; presets ``google/siglip-so400m-patch14-384``
    (the default) and ``google/siglip-base-patch16-224``. Keys: ``vision_tower.vision_model.*``.

    Args:
        config: See :class:`~mvlm.vision.transformers_vit.TransformersViTTower`.
        select_layer: Hidden state to return (-2 by default).
        select_feature: ``"patch"`` only (SigLIP has no CLS token).
        freeze: Freeze the tower (default).
    """

    model_class_name = "SiglipVisionModel"
    config_class_name = "SiglipVisionConfig"
    default_preset = "google/siglip-so400m-patch14-384"
    preset_family = "siglip"
    has_pre_layernorm = False
    cls_token = False
