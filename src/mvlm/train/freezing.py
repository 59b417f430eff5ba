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
        vision_tower: The whole vision tower (the layers that run: those after the selected
            layer, and a final norm, never take part in the forward pass and stay frozen).
        vision_tower_last_layers: Only the last N tower layers that run (0 = none); exclusive with
            ``vision_tower``.

    Raises:
        ConfigError: Nothing would train, a negative layer count, or both tower options.
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

    @property
    def trains_tower(self) -> bool:
        """Whether any part of the vision tower trains."""
        return self.vision_tower or self.vision_tower_last_layers > 0


def _tower_layers(tower: nn.Module) -> tuple[list[nn.Module], list[nn.Module]]:
    """``(layers that run, modules that never run)`` of a transformers ViT tower (CLIP, SigLIP).

    Raises:
        ConfigError: The tower has no ``vision_model.encoder.layers`` (e.g. a timm tower).
    """
    body = getattr(tower, "vision_model", None)
    layers = getattr(getattr(body, "encoder", None), "layers", None)
    if layers is None:
        raise ConfigError(
            f"{type(tower).__name__} has no vision_model.encoder.layers; training its last N layers is supported "
            "for the transformers ViT towers (clip, siglip); train the whole tower instead"
        )
    selected = tower.selected_layer  # type: ignore[attr-defined]
    unused: list[nn.Module] = list(layers)[selected:]
    unused += [module for name in ("post_layernorm", "head") if (module := getattr(body, name, None)) is not None]
    return list(layers)[:selected], unused


def apply_trainable_parts(model: nn.Module, parts: TrainableParts) -> None:
    """Set ``requires_grad`` on every parameter of a MobileVLM as ``parts`` says.

    A tower that trains (wholly or in part) is unfrozen, so its forward records gradients and
    follows ``train()``; a tower that does not is frozen (``no_grad`` forward, eval mode), as in
    the reference. Parameters that never take part in the forward pass (tower layers after the
    selected one, the tower's final norm) never train, so DDP finds no unused parameters.

    Args:
        model: A :class:`~mvlm.model.MobileVLM`.
        parts: What trains.

    Raises:
        ConfigError: ``vision_tower_last_layers`` exceeds the layers the tower runs.
    """
    tower = model.vision_tower  # type: ignore[attr-defined]
    projector = model.mm_projector  # type: ignore[attr-defined]
    special = {id(p) for p in tower.parameters()} | {id(p) for p in projector.parameters()}
    for parameter in model.parameters():
        if id(parameter) not in special:
            parameter.requires_grad_(parts.language_model)
    for parameter in projector.parameters():
        parameter.requires_grad_(parts.projector)
    if not parts.trains_tower:
        tower.freeze()
        return
    tower.unfreeze()
    try:
        used, unused = _tower_layers(tower)
    except ConfigError:
        if parts.vision_tower_last_layers:
            raise
        return  # another tower family: train all of it
    if parts.vision_tower_last_layers:
        if parts.vision_tower_last_layers > len(used):
            raise ConfigError(
                f"the tower runs {len(used)} layers (select layer {tower.select_layer}); cannot train the last "
                f"{parts.vision_tower_last_layers}"
            )
        for parameter in tower.parameters():
            parameter.requires_grad_(False)
        for layer in used[len(used) - parts.vision_tower_last_layers :]:
            for parameter in layer.parameters():
                parameter.requires_grad_(True)
    for module in unused:
        for parameter in module.parameters():
            parameter.requires_grad_(False)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts of ``model``."""
    total = trainable = 0
    for parameter in model.parameters():
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    return trainable, total
