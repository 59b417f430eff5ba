"""Which parts of a MobileVLM train: vision tower (or its last N layers), projector, language model."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from mvlm.errors import ConfigError

__all__ = ["TrainableParts", "apply_trainable_parts", "count_parameters"]


@dataclass(frozen=True)
class TrainableParts:
    """What trains.

    Attributes:
        projector: The projector.
        language_model: The language model (embeddings, layers, norm, ``lm_head``).
        vision_tower: The whole vision tower.
        vision_tower_last_layers: Only the tower's last N encoder layers (0 = none); exclusive
            with ``vision_tower``.
    """

    projector: bool = True
    language_model: bool = True
    vision_tower: bool = False
    vision_tower_last_layers: int = 0

    def __post_init__(self) -> None:
        if self.vision_tower and self.vision_tower_last_layers:
            raise ConfigError("train either the whole vision tower or its last N layers, not both")
        if self.vision_tower_last_layers < 0:
            raise ConfigError(f"vision_tower_last_layers must be >= 0, got {self.vision_tower_last_layers}")
        if not (self.projector or self.language_model or self.vision_tower or self.vision_tower_last_layers):
            raise ConfigError("nothing would train: enable the projector, the language model or the vision tower")


def apply_trainable_parts(model: nn.Module, parts: TrainableParts) -> None:
    """Set ``requires_grad`` on every parameter of a MobileVLM as ``parts`` says.

    A tower that trains (wholly or in part) is unfrozen so its forward records gradients; a tower
    that does not stays frozen (no_grad forward, eval mode), as in the reference.

    Raises:
        ConfigError: ``vision_tower_last_layers`` exceeds the tower's depth.
    """
    tower = model.vision_tower  # type: ignore[attr-defined]
    projector = model.mm_projector  # type: ignore[attr-defined]
    special = {id(p) for p in tower.parameters()} | {id(p) for p in projector.parameters()}
    for parameter in model.parameters():
        if id(parameter) not in special:
            parameter.requires_grad_(parts.language_model)
    for parameter in projector.parameters():
        parameter.requires_grad_(parts.projector)
    if parts.vision_tower:
        tower.unfreeze()
    elif parts.vision_tower_last_layers:
        layers = tower.vision_model.encoder.layers
        if parts.vision_tower_last_layers > tower.num_layers:
            raise ConfigError(
                f"the tower has {tower.num_layers} layers; cannot train the last {parts.vision_tower_last_layers}"
            )
        tower.unfreeze()
        for parameter in tower.parameters():
            parameter.requires_grad_(False)
        selected = tower.selected_layer  # layers after the selected one never run; train the last N that do
        for layer in list(layers)[max(0, selected - parts.vision_tower_last_layers) : selected]:
            for parameter in layer.parameters():
                parameter.requires_grad_(True)
    else:
        tower.freeze()


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    total = trainable = 0
    for parameter in model.parameters():
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    return trainable, total
