"""The ``timm`` tower: any timm backbone that has ``forward_intermediates`` (timm >= 1.0).

Features come from ``forward_intermediates`` with ``stop_early=True`` (blocks after the selected one
are never run) and without the final norm. ``select_layer`` indexes the model's feature levels
(``model.feature_info``) as the hidden states of a transformers tower are indexed, minus the
embeddings: ``-1`` is the last block (or stage), ``-2`` the one before, ``k >= 1`` the ``k``-th. On
a ViT that is exactly CLIP's counting. Convolutional maps ``[B, C, h, w]`` become ``[B, h*w, C]``
tokens in raster order. ``cls_patch`` keeps every prefix token (the CLS token, and registers if any).

timm is optional: ``pip install "mvlm[timm]"``. Preprocessing comes from the model's pretrained
config (``timm.data.resolve_data_config``): mean, std, interpolation, ``crop_pct`` and ``crop_mode``.

Example:
    >>> import torch
    >>> from mvlm.vision import create_vision_tower
    >>> tower = create_vision_tower("timm", "vit_tiny_patch16_224", img_size=64, depth=3)
    >>> tower(torch.randn(1, 3, 64, 64)).shape
    torch.Size([1, 16, 192])
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from types import ModuleType
from typing import Any

from torch import Tensor, nn

from mvlm.errors import CheckpointError, ConfigError, MissingDependencyError
from mvlm.vision.base import VisionTower, register_vision_tower

__all__ = ["TimmVisionTower", "import_timm"]

_RESAMPLE_CODES = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}


def import_timm() -> ModuleType:
    """Import timm, or raise :class:`~mvlm.errors.MissingDependencyError` saying how to install it."""
    try:
        import timm
        import timm.data
    except ImportError:
        raise MissingDependencyError.for_package("timm", "the 'timm' vision tower", extra="timm") from None
    return timm


@register_vision_tower("timm")
class TimmVisionTower(VisionTower):
    """A timm backbone as a vision tower, run up to the selected block only.

    Args:
        config: The timm model name (what ``mm_vision_tower`` holds), e.g. ``"vit_large_patch14_clip_336"``.
        select_layer: Feature level to return: ``-2`` (default) is the second-to-last block.
        select_feature: ``"patch"`` (spatial tokens only) or ``"cls_patch"`` (prefix tokens first).
        freeze: Freeze the tower (default). A frozen convnet also keeps its BatchNorm statistics.
        pretrained: Let timm load its pretrained weights (downloads unless cached). Default ``False``.
        checkpoint_path: A local weights file for timm to load instead.
        image_size: Input side for models that take any size (convnets); ViTs are built for one
            size, so pass ``img_size=`` for them instead. Default: the pretrained config's size.
        **model_kwargs: Passed to ``timm.create_model`` (``img_size``, ``depth``, ``drop_path_rate``...).
            ``num_classes`` defaults to 0 (no classifier head).

    Raises:
        MissingDependencyError: timm is not installed.
        ConfigError: Unknown model, no ``forward_intermediates``, or an invalid selection.
        CheckpointError: timm could not load ``checkpoint_path``.
    """

    selects_embeddings = False

    def __init__(
        self,
        config: str = "vit_large_patch14_clip_336",
        *,
        select_layer: int = -2,
        select_feature: str = "patch",
        freeze: bool = True,
        pretrained: bool = False,
        checkpoint_path: str | Path | None = None,
        image_size: int | None = None,
        **model_kwargs: Any,
    ) -> None:
        super().__init__(select_layer=select_layer, select_feature=select_feature, freeze=freeze)
        timm = import_timm()
        if not isinstance(config, str) or not config:
            raise ConfigError(f"TimmVisionTower: config must be a timm model name, got {config!r}")
        model_kwargs.setdefault("num_classes", 0)
        try:
            model = timm.create_model(
                config, pretrained=pretrained, checkpoint_path=str(checkpoint_path or ""), **model_kwargs
            )
        except RuntimeError as error:
            if "Unknown model" in str(error):
                raise ConfigError(f"TimmVisionTower: timm has no model '{config}' ({error})") from None
            raise CheckpointError(f"TimmVisionTower: could not build or load '{config}': {error}") from error
        except (OSError, FileNotFoundError) as error:
            raise CheckpointError(f"TimmVisionTower: could not load weights for '{config}': {error}") from error
        except TypeError as error:
            raise ConfigError(f"TimmVisionTower: '{config}' does not take {sorted(model_kwargs)}: {error}") from None
        if not hasattr(model, "forward_intermediates") or not getattr(model, "feature_info", None):
            raise ConfigError(
                f"TimmVisionTower: timm model '{config}' has no forward_intermediates/feature_info, so its "
                "intermediate features cannot be taken; pick a model family that has them (ViT, ConvNeXt, ResNet...)"
            )
        self.name_or_path = config
        self.vision_tower: nn.Module = model
        self._intermediates_params = set(inspect.signature(model.forward_intermediates).parameters)
        self._image_size = self._find_image_size(image_size)
        self.post_init()

    def _find_image_size(self, requested: int | None) -> int:
        patch_embed = getattr(self.vision_tower, "patch_embed", None)
        fixed = getattr(patch_embed, "img_size", None)
        if fixed is not None:
            height, width = (fixed, fixed) if isinstance(fixed, int) else tuple(fixed)
            if height != width:
                raise ConfigError(f"TimmVisionTower: only square inputs are supported, the model takes {fixed}")
            if requested is not None and requested != height:
                raise ConfigError(
                    f"TimmVisionTower: '{self.name_or_path}' is built for {height}x{height} images; "
                    f"pass img_size={requested} (a timm option) to build it for {requested}"
                )
            return int(height)
        if requested is not None:
            if not isinstance(requested, int) or isinstance(requested, bool) or requested <= 0:
                raise ConfigError(f"TimmVisionTower: image_size must be a positive int, got {requested!r}")
            return requested
        return int(self.data_config()["input_size"][-1])

    # ----------------------------------------------------------------------------- the contract
    @property
    def feature_level(self) -> dict[str, Any]:
        """The selected entry of the model's ``feature_info`` (``num_chs``, ``reduction``, ``module``)."""
        return dict(self.vision_tower.feature_info[self.selected_layer - 1])

    @property
    def hidden_size(self) -> int:
        return int(self.feature_level["num_chs"])

    @property
    def image_size(self) -> int:
        return self._image_size

    @property
    def patch_size(self) -> int:
        return int(self.feature_level["reduction"])

    @property
    def grid(self) -> tuple[int, int]:
        grid = getattr(getattr(self.vision_tower, "patch_embed", None), "grid_size", None)
        if grid is not None and self.image_size // self.patch_size == grid[0]:  # a ViT: the patch grid
            return (int(grid[0]), int(grid[1]))
        side = math.ceil(self.image_size / self.patch_size)
        return (side, side)

    @property
    def num_layers(self) -> int:
        return len(self.vision_tower.feature_info)

    @property
    def num_prefix_tokens(self) -> int:
        if "return_prefix_tokens" not in self._intermediates_params:
            return 0
        return int(getattr(self.vision_tower, "num_prefix_tokens", 0) or 0)

    @property
    def has_cls_token(self) -> bool:
        return getattr(self.vision_tower, "cls_token", None) is not None and self.num_prefix_tokens > 0

    def encode(self, pixel_values: Tensor) -> tuple[Tensor | None, Tensor]:
        """``forward_intermediates`` up to the selected level: ``[B, 3, S, S]`` -> prefix, ``[B, h*w, C]``."""
        options: dict[str, Any] = {"indices": [self.selected_layer - 1], "intermediates_only": True}
        for key, value in (("stop_early", True), ("norm", False), ("output_fmt", "NCHW")):
            if key in self._intermediates_params:
                options[key] = value
        want_prefix = self.num_prefix_tokens > 0
        if want_prefix:
            options["return_prefix_tokens"] = True
        (selected,) = self.vision_tower.forward_intermediates(pixel_values, **options)
        prefix = None
        if want_prefix:
            selected, prefix = selected
        if selected.dim() == 4:  # [B, C, h, w] -> [B, h*w, C]
            selected = selected.flatten(2).transpose(1, 2)
        return prefix, selected

    # ----------------------------------------------------------------------------- preprocessing
    def data_config(self) -> dict[str, Any]:
        """timm's data config for the model (``input_size``, ``mean``, ``std``, ``interpolation``...)."""
        timm = import_timm()
        return dict(timm.data.resolve_data_config(model=self.vision_tower))

    def processor_config(self) -> dict[str, Any]:
        """timm's eval preprocessing in transformers' field names: resize to ``floor(S / crop_pct)``, crop ``S``."""
        data = self.data_config()
        size = self.image_size
        crop_pct = float(data.get("crop_pct") or 1.0)
        crop_mode = data.get("crop_mode") or "center"
        resize = math.floor(size / crop_pct)
        if crop_mode == "center":
            resize_spec: dict[str, int] = {"shortest_edge": resize}
        elif crop_mode == "squash":
            resize_spec = {"height": resize, "width": resize}
        else:
            raise ConfigError(
                f"TimmVisionTower: timm crop_mode '{crop_mode}' of '{self.name_or_path}' is not supported by "
                "mvlm.vision.ImageProcessor (it does 'center' and 'squash'); build the processor by hand"
            )
        interpolation = str(data.get("interpolation") or "bicubic")
        if interpolation not in _RESAMPLE_CODES:
            raise ConfigError(f"TimmVisionTower: unsupported timm interpolation '{interpolation}'")
        return {
            "image_processor_type": "TimmImageProcessor",
            "do_resize": True,
            "size": resize_spec,
            "resample": _RESAMPLE_CODES[interpolation],
            "do_center_crop": True,
            "crop_size": {"height": size, "width": size},
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": [float(m) for m in data["mean"]],
            "image_std": [float(s) for s in data["std"]],
            "do_convert_rgb": True,
            "crop_rounding": "round",  # torchvision's CenterCrop, as timm's eval transform
        }

    def extra_repr(self) -> str:
        return f"model={self.name_or_path!r}, " + super().extra_repr()
