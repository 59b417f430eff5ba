"""The parts of a MobileVLM built from its configuration: language-model body, vision tower, projector.

:class:`~mvlm.model.modeling.MobileVLMForCausalLM` assembles them; the processor
(:class:`~mvlm.model.processing.MobileVLMProcessor`) builds the tower and projector on the meta
device to read the image size and token count a checkpoint needs, without any weights.
"""

from __future__ import annotations

from torch import nn

from mvlm.errors import ConfigError, UnknownNameError
from mvlm.model.configuration import MobileVLMConfig
from mvlm.projectors import AutoProjector, Projector
from mvlm.vision import AutoVisionTower, VisionTower, create_vision_tower

__all__ = ["build_language_backbone", "build_projector", "build_vision_tower"]


def build_language_backbone(config: MobileVLMConfig) -> nn.Module:
    """The language model body (``LlamaModel`` for MobileLLaMA, else transformers' ``AutoModel``) of ``config``."""
    from transformers import AutoModel, LlamaModel

    if config.text_model_type == "llama":
        return LlamaModel(config)
    return AutoModel.from_config(config.language_config())


def build_vision_tower(config: MobileVLMConfig) -> VisionTower:
    """The vision tower ``config`` names (``mm_vision_tower`` / ``mm_vision_config``), with random weights.

    Raises:
        ConfigError: The tower type is not registered.
    """
    try:
        if config.mm_vision_config:
            options = dict(config.mm_vision_tower_options or {})
            return create_vision_tower(
                config.vision_tower_type or "clip",
                dict(config.mm_vision_config),
                select_layer=config.mm_vision_select_layer,
                select_feature=config.mm_vision_select_feature,
                **options,
            )
        return AutoVisionTower.from_config(config)
    except UnknownNameError as error:
        raise ConfigError(f"the config's vision_tower_type is not a registered vision tower: {error}") from None


def build_projector(config: MobileVLMConfig) -> Projector:
    """The projector ``config`` names (``mm_projector_type``), with random weights.

    Raises:
        ConfigError: The projector type is not registered.
    """
    try:
        return AutoProjector.from_config(config)
    except UnknownNameError as error:
        raise ConfigError(
            f"the config's mm_projector_type '{config.mm_projector_type}' is not a registered projector: {error}"
        ) from None
