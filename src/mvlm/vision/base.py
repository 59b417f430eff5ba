"""The vision-tower contract, the vision-tower registry, and the factories that build towers by name.

A vision tower turns pixels ``[batch, 3, S, S]`` into features ``[batch, N, hidden]``: the hidden
states of one layer (``select_layer``), with or without the CLS token (``select_feature``). Built-in
towers register themselves by type (``clip``, ``siglip``, ``timm``) when :mod:`mvlm.vision` is imported.

``select_layer`` counts as the published configs do (``mm_vision_select_layer``): it indexes the tuple
of hidden states a transformers vision model returns with ``output_hidden_states=True``, where index 0
is the embedding output and index ``i`` the output of layer ``i``. Negative values count from the end:
for a 24-layer tower, ``-2`` and ``23`` both select the output of layer 23, and layer 24 is never run.
"""

from __future__ import annotations

import abc
import contextlib
import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from mvlm.errors import ConfigError, ShapeError
from mvlm.registry import Registry, config_field

__all__ = [
    "SELECT_FEATURES",
    "VISION_TOWERS",
    "AutoVisionTower",
    "VisionTower",
    "VisionTowerFactory",
    "create_vision_tower",
    "get_vision_tower_class",
    "list_vision_towers",
    "register_vision_tower",
    "resolve_select_layer",
]

SELECT_FEATURES = ("patch", "cls_patch")
"""The accepted ``select_feature`` values: ``patch`` drops the CLS token, ``cls_patch`` keeps it first."""


def resolve_select_layer(select_layer: int, num_layers: int, *, allow_embeddings: bool = True, owner: str = "") -> int:
    """Turn a published ``select_layer`` into a non-negative hidden-state index in ``[0, num_layers]``.

    Args:
        select_layer: Index into the hidden states ``(embeddings, layer 1, ..., layer num_layers)``;
            negative values count from the end (``-1`` is the last layer).
        num_layers: Number of transformer layers (blocks) of the tower.
        allow_embeddings: Whether index 0 (the embedding output, before any layer) may be selected.
        owner: Who is asking, for error messages.

    Returns:
        The number of layers to run: the output of layer ``index`` is the selected feature.

    Raises:
        ConfigError: ``select_layer`` is not an int, or is out of range for ``num_layers`` layers.
    """
    who = f"{owner}: " if owner else ""
    if not isinstance(select_layer, int) or isinstance(select_layer, bool):
        raise ConfigError(f"{who}select_layer must be an int (such as -2, as published), got {select_layer!r}")
    lowest = 0 if allow_embeddings else 1
    index = select_layer + num_layers + 1 if select_layer < 0 else select_layer
    if not lowest <= index <= num_layers:
        valid = f"{lowest - num_layers - 1}..-1 or {lowest}..{num_layers}"
        raise ConfigError(
            f"{who}select_layer {select_layer} is out of range for a {num_layers}-layer tower; use {valid}"
        )
    return index


class VisionTower(nn.Module, abc.ABC):
    """Base class of every vision tower: pixels in, the features of one layer out.

    Subclasses call ``super().__init__(select_layer, select_feature, freeze)`` first, build their
    modules, call :meth:`post_init` last, and implement the abstract properties, :meth:`encode` and
    :meth:`processor_config`. :meth:`forward` does the rest: input checks, dtype handling, the frozen
    ``no_grad`` context, and the CLS selection.

    Args:
        select_layer: Which hidden state to return (see :func:`resolve_select_layer`); -2 as published.
        select_feature: ``"patch"`` (drop the CLS token) or ``"cls_patch"`` (keep it, first).
        freeze: Freeze the tower (the default, as in MobileVLM): no gradients, forward under
            ``torch.no_grad``, and the tower stays in eval mode even when its parent calls ``train()``.

    Attributes:
        select_layer: As given.
        select_feature: As given.
        frozen: Whether the tower is frozen (see :meth:`freeze` / :meth:`unfreeze`).
    """

    #: The registered type name (``"clip"``, ``"siglip"``, ``"timm"``); set when registered.
    tower_type: ClassVar[str] = ""
    #: Whether ``select_layer`` may pick hidden state 0, the embedding output before any layer.
    selects_embeddings: ClassVar[bool] = True

    def __init__(self, select_layer: int = -2, select_feature: str = "patch", freeze: bool = True) -> None:
        super().__init__()
        if select_feature not in SELECT_FEATURES:
            raise ConfigError(
                f"{type(self).__name__}: select_feature must be one of {', '.join(map(repr, SELECT_FEATURES))}, "
                f"got {select_feature!r}"
            )
        self.select_layer = select_layer
        self.select_feature = select_feature
        self.frozen = bool(freeze)

    def post_init(self) -> None:
        """Check the layer and feature selection against the built tower, and apply ``freeze``.

        Raises:
            ConfigError: ``select_layer`` is out of range, or ``cls_patch`` on a tower without a CLS token.
        """
        _ = self.selected_layer  # raises ConfigError if out of range
        if self.select_feature == "cls_patch" and not self.has_cls_token:
            raise ConfigError(
                f"{type(self).__name__} has no CLS token, so select_feature='cls_patch' cannot keep one; "
                "use select_feature='patch' (every token the tower outputs)"
            )
        if self.frozen:
            self.freeze()

    # ----------------------------------------------------------------------------- the contract
    @property
    @abc.abstractmethod
    def hidden_size(self) -> int:
        """Width of the output features (``mm_hidden_size``; 1024 for CLIP ViT-L)."""

    @property
    @abc.abstractmethod
    def image_size(self) -> int:
        """Side ``S`` of the square input images the tower takes (336 for CLIP ViT-L/14-336)."""

    @property
    @abc.abstractmethod
    def patch_size(self) -> int:
        """Side of one patch in pixels (14 for CLIP ViT-L/14), or the stride of a convolutional feature map."""

    @property
    @abc.abstractmethod
    def num_layers(self) -> int:
        """Number of layers (blocks) the tower holds, selected or not."""

    @property
    def has_cls_token(self) -> bool:
        """Whether the tower outputs a CLS token before the patch tokens."""
        return False

    @property
    def grid(self) -> tuple[int, int]:
        """``(height, width)`` of the patch-token grid; ``(24, 24)`` for CLIP ViT-L/14-336."""
        side = self.image_size // self.patch_size
        return (side, side)

    @property
    def num_patches(self) -> int:
        """Number of patch tokens, ``height * width`` of :attr:`grid` (576 for CLIP ViT-L/14-336)."""
        height, width = self.grid
        return height * width

    @property
    def num_prefix_tokens(self) -> int:
        """Tokens before the patches that ``cls_patch`` keeps (the CLS token; registers for some timm ViTs)."""
        return 1 if self.has_cls_token else 0

    @property
    def num_tokens(self) -> int:
        """``N``, the number of tokens :meth:`forward` returns: patches, plus the CLS token for ``cls_patch``."""
        extra = self.num_prefix_tokens if self.select_feature == "cls_patch" else 0
        return self.num_patches + extra

    @property
    def selected_layer(self) -> int:
        """``select_layer`` as a hidden-state index in ``[0, num_layers]``: the number of layers run."""
        return resolve_select_layer(
            self.select_layer, self.num_layers, allow_embeddings=self.selects_embeddings, owner=type(self).__name__
        )

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the tower's weights (inputs are cast to it)."""
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        """The device of the tower's weights (inputs are moved to it)."""
        return next(self.parameters()).device

    @abc.abstractmethod
    def encode(self, pixel_values: Tensor) -> tuple[Tensor | None, Tensor]:
        """Run the tower up to the selected layer only.

        Args:
            pixel_values: ``[batch, 3, S, S]``, already in the tower's dtype and on its device.

        Returns:
            ``(prefix, patches)``: the prefix tokens ``[batch, P, hidden]`` (``None`` when the tower
            has none) and the patch tokens ``[batch, num_patches, hidden]`` in raster order.
        """

    @abc.abstractmethod
    def processor_config(self) -> dict[str, Any]:
        """The image preprocessing this tower expects, as a ``preprocessor_config.json`` mapping.

        :meth:`mvlm.vision.processing.ImageProcessor.for_tower` builds its processor from this.
        """

    # ----------------------------------------------------------------------------- running
    def forward(self, pixel_values: Tensor) -> Tensor:
        """Features of the selected layer: ``[batch, 3, S, S]`` -> ``[batch, N, hidden]``.

        ``N`` is :attr:`num_tokens` (576 patches for CLIP ViT-L/14-336 with ``patch``, 577 with
        ``cls_patch``). The input is cast to the tower's dtype and device; the output is on the
        tower's device in the dtype of ``pixel_values``.

        Raises:
            ShapeError: ``pixel_values`` is not a floating tensor ``[batch, 3, S, S]``.
        """
        self.check_pixel_values(pixel_values)
        if pixel_values.shape[0] == 0:
            return pixel_values.new_zeros(0, self.num_tokens, self.hidden_size, device=self.device)
        inputs = pixel_values.to(device=self.device, dtype=self.dtype)
        grad_context = torch.no_grad() if self.frozen else contextlib.nullcontext()
        with grad_context:
            prefix, patches = self.encode(inputs)
            if self.select_feature == "cls_patch" and prefix is not None:
                features = torch.cat([prefix, patches], dim=1)
            else:
                features = patches
        return features.to(pixel_values.dtype)

    def check_pixel_values(self, pixel_values: Tensor) -> None:
        """Raise :class:`~mvlm.errors.ShapeError` unless ``pixel_values`` is a float ``[batch, 3, S, S]``."""
        size = self.image_size
        if not isinstance(pixel_values, Tensor):
            raise ShapeError(
                f"{type(self).__name__} expects a tensor [batch, 3, {size}, {size}], got {type(pixel_values)}"
            )
        if pixel_values.dim() != 4 or tuple(pixel_values.shape[1:]) != (3, size, size):
            raise ShapeError(
                f"{type(self).__name__} expects pixel_values of shape [batch, 3, {size}, {size}], got "
                f"{list(pixel_values.shape)}; make them with mvlm.vision.ImageProcessor.for_tower(tower)"
            )
        if not pixel_values.is_floating_point():
            raise ShapeError(
                f"{type(self).__name__} expects floating-point (normalised) pixel_values, got {pixel_values.dtype}; "
                "make them with mvlm.vision.ImageProcessor.for_tower(tower)"
            )

    # ----------------------------------------------------------------------------- freezing
    def freeze(self) -> VisionTower:
        """Freeze the tower: no parameter needs a gradient, forward runs under ``no_grad``, eval mode.

        Returns:
            The tower itself.
        """
        self.frozen = True
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        return self.train(False)

    def unfreeze(self) -> VisionTower:
        """Make the tower trainable again (every parameter needs a gradient; ``train()`` is honoured).

        Returns:
            The tower itself.
        """
        self.frozen = False
        for parameter in self.parameters():
            parameter.requires_grad_(True)
        return self

    def train(self, mode: bool = True) -> VisionTower:
        """Set train or eval mode; a frozen tower always stays in eval mode."""
        return super().train(mode and not self.frozen)

    def extra_repr(self) -> str:
        return (
            f"hidden_size={self.hidden_size}, image_size={self.image_size}, patch_size={self.patch_size}, "
            f"layers={self.num_layers}, select_layer={self.select_layer}, select_feature={self.select_feature!r}, "
            f"frozen={self.frozen}"
        )


VisionTowerFactory = Callable[..., VisionTower]
"""Anything that builds a tower from ``(config, **options)``: usually the tower class itself."""

VISION_TOWERS: Registry[VisionTowerFactory] = Registry("vision tower")
"""The vision-tower registry. Prefer :func:`register_vision_tower` and :func:`create_vision_tower`."""


def register_vision_tower(
    name: str, *, aliases: tuple[str, ...] | list[str] = ()
) -> Callable[[type[VisionTower]], type[VisionTower]]:
    """Class decorator: register a :class:`VisionTower` subclass under ``name`` (and ``aliases``).

    The class is then built by :func:`create_vision_tower` and by :meth:`AutoVisionTower.from_config`
    for configs whose ``vision_tower_type`` is ``name``. Its constructor takes what the config's
    ``mm_vision_tower`` holds as its first argument, and ``select_layer``, ``select_feature`` and
    ``freeze`` as keywords.

    Raises:
        ConfigError: The decorated object is not a :class:`VisionTower` subclass.
        DuplicateNameError: ``name`` or an alias is taken.
    """
    register = VISION_TOWERS.register_subclass(name, VisionTower, aliases=aliases, base_name="mvlm.vision.VisionTower")

    def decorator(cls: type[VisionTower]) -> type[VisionTower]:
        register(cls)
        if "tower_type" not in cls.__dict__:
            cls.tower_type = name
        return cls

    return decorator


def get_vision_tower_class(name: str) -> VisionTowerFactory:
    """The class (or factory) registered as ``name``; raises ``UnknownNameError`` with suggestions."""
    return VISION_TOWERS.get(name)


def list_vision_towers() -> list[str]:
    """Names of every registered vision-tower type (``clip``, ``siglip``, ``timm``, and any of yours)."""
    return VISION_TOWERS.names()


def create_vision_tower(name: str, config: Any = None, **options: Any) -> VisionTower:
    """Build the vision tower registered as ``name``.

    Building never downloads anything: weights are random unless the tower's options load them
    (``CLIPVisionTower.from_pretrained``, timm's ``pretrained=True``).

    Args:
        name: A registered tower type or alias (see :func:`list_vision_towers`).
        config: What the tower is built from, as ``mm_vision_tower`` holds it: a preset name, a
            local folder, a transformers config or a mapping of its fields (``clip``, ``siglip``), a
            timm model name (``timm``). ``None`` uses the tower's default.
        **options: Options of that tower: ``select_layer``, ``select_feature``, ``freeze`` and its own.

    Raises:
        UnknownNameError: No tower type has that name.
        ConfigError: An option the tower does not take, or a bad value.

    Example:
        >>> from mvlm.vision import create_vision_tower
        >>> tiny = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        ...         "num_attention_heads": 4, "image_size": 28, "patch_size": 14}
        >>> tower = create_vision_tower("clip", config=tiny, select_layer=-2)
        >>> tower.num_patches, tower.hidden_size
        (4, 32)
    """
    args = () if config is None else (config,)
    tower: VisionTower = VISION_TOWERS.build(name, *args, **options)
    return tower


class AutoVisionTower:
    """Builds the vision tower a MobileVLM-style config names.

    Reads ``vision_tower_type`` (default ``"clip"``, as the reference), ``mm_vision_tower`` (required:
    a preset name such as ``openai/clip-vit-large-patch14-336``, a local folder, or a timm model name),
    ``mm_vision_select_layer`` (default -2), ``mm_vision_select_feature`` (default ``"patch"``) and the
    optional ``mm_vision_tower_options`` mapping of extra constructor options. Never downloads: the
    published CLIP towers are built from presets, with random weights that a checkpoint then fills.
    """

    @staticmethod
    def from_config(config: Mapping[str, Any] | Any, **overrides: Any) -> VisionTower:
        """Build a tower from a config object or a mapping of its fields.

        Args:
            config: A ``MobileVLMConfig``-like object or a mapping with the fields above.
            **overrides: Constructor options that take precedence over the config (``freeze=False``...).

        Raises:
            ConfigError: ``mm_vision_tower`` is missing, or a value is invalid.
            UnknownNameError: ``vision_tower_type`` names no registered tower.
        """
        field = functools.partial(config_field, config, needed_by="a vision tower")
        tower_type = field("vision_tower_type", None) or "clip"
        name = field("mm_vision_tower")
        if not name:
            raise ConfigError(
                "the config's 'mm_vision_tower' is empty; name a vision tower (a preset, folder or model)"
            )
        select_layer = field("mm_vision_select_layer", None)
        options: dict[str, Any] = {
            "select_layer": -2 if select_layer is None else select_layer,
            "select_feature": field("mm_vision_select_feature", None) or "patch",
        }
        options.update(field("mm_vision_tower_options", None) or {})
        options.update(overrides)
        return create_vision_tower(tower_type, name, **options)
