"""Shared machinery of the towers built on a transformers ViT (``CLIPVisionModel``, ``SiglipVisionModel``).

The tower holds the transformers model so that its state-dict keys are the published ones on every
transformers version::

    vision_tower.vision_model.embeddings.class_embedding
    vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight
    ...

In transformers 4.x the vision model has a ``vision_model`` child (the transformer), so it is held as
is; in transformers 5 the model *is* the transformer, so a :class:`VisionModelHolder` puts it under
``vision_model``. Either way every layer is kept (also those after the selected one, and
``post_layernorm``), so a published checkpoint loads with ``strict=True`` and saves back unchanged.

The forward pass calls the embedding and the encoder layers itself and stops at the selected layer.
"""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor, nn

from mvlm.errors import CheckpointError, ConfigError
from mvlm.vision.base import VisionTower
from mvlm.vision.presets import get_vision_tower_preset, is_vision_tower_preset, list_vision_tower_presets

__all__ = ["TransformersViTTower", "VisionModelHolder"]

_PROCESSOR_FILE = "preprocessor_config.json"


class VisionModelHolder(nn.Module):
    """Holds a transformers-5 vision model as its ``vision_model`` child (the 4.x layout).

    Calling the holder calls the model, so ``tower.vision_tower(pixels, output_hidden_states=True)``
    is the full transformers forward pass on every version.

    Args:
        vision_model: The transformers model (a ``CLIPVisionModel`` or ``SiglipVisionModel`` in 5.x).
    """

    def __init__(self, vision_model: nn.Module) -> None:
        super().__init__()
        self.vision_model = vision_model

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the held model unchanged."""
        return self.vision_model(*args, **kwargs)


def _square_size(value: Any, what: str, owner: str) -> int:
    """An int side from a config value that may be an int or an ``(h, w)`` pair with ``h == w``."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[0] != value[1]:
            raise ConfigError(f"{owner}: only square {what}s are supported, got {value!r}")
        value = value[0]
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{owner}: {what} must be a positive int, got {value!r}")
    return value


class TransformersViTTower(VisionTower):
    """A tower around a transformers ViT vision model; :class:`~mvlm.vision.clip.CLIPVisionTower` and
    :class:`~mvlm.vision.siglip.SiglipVisionTower` differ only in the class attributes below.

    Args:
        config: What to build, as ``mm_vision_tower`` holds it: a preset name
            (:func:`~mvlm.vision.presets.list_vision_tower_presets`), a local folder or ``config.json`` of a
            transformers checkpoint (only its config is read), a name already in the local hub cache,
            a transformers vision config (or a full CLIP/SigLIP config), a mapping of the config's
            fields, or an already built transformers vision model (used as is, weights included).
            ``None`` builds :attr:`default_preset`. Nothing is ever downloaded.
        select_layer: Hidden state to return; -2 (as published) skips the last layer entirely.
        select_feature: ``"patch"`` or ``"cls_patch"``.
        freeze: Freeze the tower (default).

    Raises:
        ConfigError: The config cannot be found or read, or a selection is invalid.
    """

    #: transformers class names (looked up lazily, so importing mvlm does not import transformers).
    model_class_name: ClassVar[str] = ""
    config_class_name: ClassVar[str] = ""
    #: The preset built when no config is given, and the ``tower_type`` of the presets this class takes.
    default_preset: ClassVar[str] = ""
    preset_family: ClassVar[str] = ""
    #: Whether the transformer applies a LayerNorm after the embeddings (CLIP's ``pre_layrnorm``).
    has_pre_layernorm: ClassVar[bool] = False
    #: Whether token 0 of every hidden state is a CLS token.
    cls_token: ClassVar[bool] = False

    def __init__(
        self,
        config: Any = None,
        *,
        select_layer: int = -2,
        select_feature: str = "patch",
        freeze: bool = True,
    ) -> None:
        super().__init__(select_layer=select_layer, select_feature=select_feature, freeze=freeze)
        model_class = self.model_class()
        if isinstance(config, model_class):
            model = config
            self.name_or_path = str(getattr(model.config, "_name_or_path", "") or "")
            self._processor: dict[str, Any] | None = None
        else:
            hf_config, self.name_or_path, self._processor = self._resolve_config(config)
            try:
                model = model_class(hf_config)
            except (TypeError, ValueError) as error:
                raise ConfigError(f"{type(self).__name__}: cannot build {self.model_class_name}: {error}") from error
        if hasattr(model, "vision_model"):  # transformers 4.x: the transformer is already `.vision_model`
            self.vision_tower: nn.Module = model
        else:  # transformers 5: the model is the transformer
            self.vision_tower = VisionModelHolder(model)
        layers = self.vision_model.encoder.layers
        forward_params = inspect.signature(type(layers[0]).forward).parameters if len(layers) else {}
        self._legacy_layer_call = "causal_attention_mask" in forward_params
        self.post_init()

    # ----------------------------------------------------------------------------- transformers classes
    @classmethod
    def model_class(cls) -> type[nn.Module]:
        """The transformers model class (imported on first use)."""
        import transformers

        return getattr(transformers, cls.model_class_name)

    @classmethod
    def config_class(cls) -> Any:
        """The transformers config class (imported on first use)."""
        import transformers

        return getattr(transformers, cls.config_class_name)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        *,
        select_layer: int = -2,
        select_feature: str = "patch",
        freeze: bool = True,
        **hf_kwargs: Any,
    ) -> TransformersViTTower:
        """Build the tower with the original weights, through transformers' ``from_pretrained``.

        This is the one constructor that may download (a hub name not in the local cache); a local
        folder written by ``save_pretrained`` works offline. A MobileVLM checkpoint does not need it:
        its tower weights are inside the checkpoint.

        Args:
            name_or_path: A hub name (``openai/clip-vit-large-patch14-336``) or a local folder.
            select_layer: As in the constructor.
            select_feature: As in the constructor.
            freeze: As in the constructor.
            **hf_kwargs: Passed to transformers' ``from_pretrained`` (``torch_dtype``, ``revision``...).

        Raises:
            CheckpointError: transformers could not load the weights.
        """
        try:
            model = cls.model_class().from_pretrained(str(name_or_path), **hf_kwargs)
        except (OSError, ValueError) as error:
            raise CheckpointError(
                f"could not load {cls.model_class_name} weights from '{name_or_path}': {error}; "
                "check the name or folder (it needs config.json and the weights)"
            ) from error
        tower = cls(model, select_layer=select_layer, select_feature=select_feature, freeze=freeze)
        tower.name_or_path = str(name_or_path)
        tower._processor = cls._local_processor(Path(name_or_path))
        return tower

    def _resolve_config(self, config: Any) -> tuple[Any, str, dict[str, Any] | None]:
        """``(transformers config, name_or_path, processor dict or None)`` for a constructor ``config``."""
        owner = type(self).__name__
        config_class = self.config_class()
        if config is None:
            config = self.default_preset
        if isinstance(config, (str, Path)):
            return self._config_from_name(str(config))
        if isinstance(config, config_class):
            return config, str(getattr(config, "_name_or_path", "") or ""), None
        sub_config = getattr(config, "vision_config", None)
        if isinstance(sub_config, config_class):  # a full CLIPConfig / SiglipConfig
            return sub_config, str(getattr(config, "_name_or_path", "") or ""), None
        if isinstance(config, Mapping):
            fields = dict(config.get("vision_config") or config)
            fields.pop("model_type", None)
            try:
                return config_class(**fields), "", None
            except (TypeError, ValueError) as error:
                raise ConfigError(
                    f"{owner}: invalid {self.config_class_name} fields {sorted(fields)}: {error}"
                ) from error
        raise ConfigError(
            f"{owner}: config must be a preset name, a local folder, a {self.config_class_name}, a mapping "
            f"of its fields or a {self.model_class_name}; got {type(config).__name__}"
        )

    def _config_from_name(self, name: str) -> tuple[Any, str, dict[str, Any] | None]:
        owner = type(self).__name__
        if is_vision_tower_preset(name):
            preset = get_vision_tower_preset(name)
            if preset["tower_type"] != self.preset_family:
                raise ConfigError(
                    f"'{name}' is a {preset['tower_type']} tower, not a {self.tower_type} one; build it with "
                    f"create_vision_tower('{preset['tower_type']}', '{name}')"
                )
            return self.config_class()(**preset["config"]), name, preset["processor"]
        path = Path(name).expanduser()
        if path.exists():
            try:
                hf_config = self.config_class().from_pretrained(str(path))
            except (OSError, ValueError, TypeError) as error:
                raise ConfigError(f"{owner}: cannot read a {self.config_class_name} from '{name}': {error}") from error
            return hf_config, name, self._local_processor(path)
        try:  # a hub name already in the local cache; never downloads
            hf_config = self.config_class().from_pretrained(name, local_files_only=True)
        except (OSError, ValueError, TypeError):
            preset_name = self._preset_named_like(name)
            if preset_name is not None:  # a folder of the training machine, named after a preset
                warnings.warn(
                    f"{owner}: '{name}' does not exist here; building the preset '{preset_name}' of the same name",
                    stacklevel=4,
                )
                preset = get_vision_tower_preset(preset_name)
                return self.config_class()(**preset["config"]), name, preset["processor"]
            presets = ", ".join(list_vision_tower_presets(self.preset_family))
            raise ConfigError(
                f"{owner}: '{name}' is neither a preset ({presets}), nor a local folder, nor in the local hub "
                f"cache; building a tower never downloads. To fetch the original weights use "
                f"{owner}.from_pretrained('{name}'), or pass the config's fields as a mapping"
            ) from None
        return hf_config, name, None

    @classmethod
    def _preset_named_like(cls, name: str) -> str | None:
        """The preset of this family whose last path component is ``name``'s (``/data/clip-vit-...-336``)."""
        base = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        for preset in list_vision_tower_presets(cls.preset_family):
            if preset.rsplit("/", 1)[-1] == base:
                return preset
        return None

    @staticmethod
    def _local_processor(path: Path) -> dict[str, Any] | None:
        """The ``preprocessor_config.json`` next to a local checkpoint, if there is one."""
        folder = path if path.is_dir() else path.parent
        candidate = folder / _PROCESSOR_FILE
        if candidate.is_file():
            with candidate.open(encoding="utf-8") as handle:
                return dict(json.load(handle))
        return None

    # ----------------------------------------------------------------------------- the contract
    @property
    def vision_model(self) -> nn.Module:
        """The transformer: ``embeddings``, (``pre_layrnorm``), ``encoder.layers``, ``post_layernorm``."""
        return self.vision_tower.vision_model

    @property
    def hf_model(self) -> nn.Module:
        """The transformers model (``CLIPVisionModel`` / ``SiglipVisionModel``), for its full forward pass."""
        return self.vision_model if isinstance(self.vision_tower, VisionModelHolder) else self.vision_tower

    @property
    def hf_config(self) -> Any:
        """The transformers vision config."""
        return self.hf_model.config

    @property
    def hidden_size(self) -> int:
        return int(self.hf_config.hidden_size)

    @property
    def image_size(self) -> int:
        return _square_size(self.hf_config.image_size, "image size", type(self).__name__)

    @property
    def patch_size(self) -> int:
        return _square_size(self.hf_config.patch_size, "patch size", type(self).__name__)

    @property
    def num_layers(self) -> int:
        return len(self.vision_model.encoder.layers)

    @property
    def has_cls_token(self) -> bool:
        return self.cls_token

    def encode(self, pixel_values: Tensor) -> tuple[Tensor | None, Tensor]:
        """Embeddings, then encoder layers ``1..selected_layer`` only: ``[B, 3, S, S]`` -> prefix, patches."""
        body = self.vision_model
        hidden = body.embeddings(pixel_values)
        if self.has_pre_layernorm:
            hidden = body.pre_layrnorm(hidden)
        for layer in body.encoder.layers[: self.selected_layer]:
            # transformers 4.x layers take (hidden, attention_mask, causal_mask) and return a tuple
            output = layer(hidden, None, None) if self._legacy_layer_call else layer(hidden, None)
            hidden = output[0] if isinstance(output, tuple) else output
        prefix = self.num_prefix_tokens
        return (hidden[:, :prefix] if prefix else None), hidden[:, prefix:]

    def processor_config(self) -> dict[str, Any]:
        if self._processor is not None:
            return dict(self._processor)
        return self.default_processor_config(self.image_size)

    @classmethod
    def default_processor_config(cls, image_size: int) -> dict[str, Any]:
        """The preprocessing of :attr:`default_preset` (its ``processor``), resized and cropped to ``image_size``.

        For a tower built from a config without preprocessing of its own (a mapping of fields...):
        CLIP's is shortest edge, centre crop and OpenAI's mean/std; SigLIP's a square resize, mean
        and std 0.5.
        """
        processor = get_vision_tower_preset(cls.default_preset)["processor"]
        for key in ("size", "crop_size"):
            if key in processor:
                processor[key] = dict.fromkeys(processor[key], image_size)
        return processor

    def extra_repr(self) -> str:
        name = f"name_or_path={self.name_or_path!r}, " if self.name_or_path else ""
        return name + super().extra_repr()
