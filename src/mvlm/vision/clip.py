"""The ``clip`` tower: transformers' ``CLIPVisionModel``, MobileVLM's vision encoder.

MobileVLM uses ``openai/clip-vit-large-patch14-336`` (336 pixels, patch 14: a 24x24 grid of 576
patches plus a CLS token, hidden size 1024, 24 layers), takes ``hidden_states[-2]`` (the output of
layer 23, before ``post_layernorm``) and drops the CLS token: ``[B, 3, 336, 336] -> [B, 576, 1024]``.
This tower returns exactly that while running only layers 1..23.

Example:
    >>> import torch
    >>> from mvlm.vision import CLIPVisionTower
    >>> tiny = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3,
    ...         "num_attention_heads": 4, "image_size": 56, "patch_size": 14}
    >>> tower = CLIPVisionTower(tiny, select_layer=-2, select_feature="patch")
    >>> tower(torch.randn(2, 3, 56, 56)).shape
    torch.Size([2, 16, 32])
"""

from __future__ import annotations

from mvlm.vision.base import register_vision_tower
from mvlm.vision.transformers_vit import TransformersViTTower

__all__ = ["CLIPVisionTower"]


@register_vision_tower("clip")
class CLIPVisionTower(TransformersViTTower):
    """A CLIP ViT vision tower (transformers ``CLIPVisionModel``), truncated at the selected layer.

    Built from a preset (``openai/clip-vit-large-patch14-336``, the default, or
    ``openai/clip-vit-large-patch14``) with random weights, from a local folder's config, from a
    ``CLIPVisionConfig`` or a mapping of its fields;
    :meth:`~mvlm.vision.transformers_vit.TransformersViTTower.from_pretrained` loads the original weights.
    State-dict keys: ``vision_tower.vision_model.{embeddings,pre_layrnorm,encoder,post_layernorm}.*``,
    so the published MobileVLM tower (``model.vision_tower.`` + these) loads with ``strict=True``.

    Args:
        config: See :class:`~mvlm.vision.transformers_vit.TransformersViTTower`.
        select_layer: Hidden state to return (-2, as MobileVLM).
        select_feature: ``"patch"`` drops the CLS token (MobileVLM), ``"cls_patch"`` keeps it first.
        freeze: Freeze the tower (default, as MobileVLM).
    """

    model_class_name = "CLIPVisionModel"
    config_class_name = "CLIPVisionConfig"
    default_preset = "openai/clip-vit-large-patch14-336"
    preset_family = "clip"
    has_pre_layernorm = True
    cls_token = True
