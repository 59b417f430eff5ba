"""``MobileVLMConfig``: the configuration of a MobileVLM, field for field as the published ``config.json``.

A MobileVLM config is a LLaMA config (the language model's fields sit at the top level, as in
the published checkpoints) plus the multimodal fields: ``mm_vision_tower``, ``vision_tower_type``,
``mm_hidden_size``, ``mm_vision_select_layer``, ``mm_vision_select_feature``, ``mm_projector_type``,
``image_aspect_ratio``... Every published ``config.json`` loads unchanged, including the lit-gpt
leftovers of the 3B configs (``n_head``, ``n_embd``...), which are kept but never read: the
transformers keys win.

Presets of the five published checkpoints live as data in ``presets/*.json``.
"""

from __future__ import annotations

from typing import Any

from transformers import LlamaConfig

from mvlm.errors import ConfigError
from mvlm.presets import read_presets
from mvlm.prompting.constants import IMAGE_TOKEN_INDEX
from mvlm.registry import Registry

__all__ = ["MODEL_PRESETS", "MobileVLMConfig", "list_model_presets"]

MODEL_PRESETS: Registry[dict[str, Any]] = Registry("MobileVLM preset")
"""The published MobileVLM configurations by name (``MobileVLM-1.7B``, ``MobileVLM_V2-3B``...)."""

_SELECT_FEATURES = ("patch", "cls_patch")
_ASPECT_RATIOS = ("pad", "square")


class MobileVLMConfig(LlamaConfig):
    """The configuration of a MobileVLM: a LLaMA config plus the multimodal fields.

    Args:
        mm_vision_tower: The vision tower: a preset name (``openai/clip-vit-large-patch14-336``),
            a local folder with its ``config.json``, or a timm model name.
        vision_tower_type: The registered tower type (``clip``, ``siglip``, ``timm``).
        mm_hidden_size: Width of the vision features (the projector's input width).
        mm_vision_select_layer: Which hidden state of the tower to use (-2: the second to last).
        mm_vision_select_feature: ``patch`` (drop CLS) or ``cls_patch`` (keep it).
        mm_projector_type: The registered projector name (``ldpnet``, ``ldpnetv2``, ``mlp2x_gelu``...).
            The reference's default when the field is absent is ``linear``.
        image_aspect_ratio: ``pad`` (pad to a square with the mean colour, as every released model)
            or ``square`` (resize and centre-crop).
        image_grid_pinpoints: Must be ``None`` (LLaVA's any-resolution tiling is not used by MobileVLM).
        mm_use_im_start_end: Must be ``False`` (no image start/end tokens in MobileVLM).
        mm_use_im_patch_token: Must be ``False`` (no image patch token in MobileVLM).
        use_mm_proj: Published training flag, kept for round trips.
        tune_mm_mlp_adapter: Published training flag, kept for round trips.
        freeze_mm_mlp_adapter: Published training flag, kept for round trips.
        image_token_index: The id marking image positions in ``input_ids`` (-200 as the reference).
        text_model_type: The transformers ``model_type`` of the language model (``llama`` for
            MobileLLaMA and Vicuna); any causal LM whose config fields sit at the top level works.
        mm_projector_options: Extra constructor options of the projector (mvlm extension).
        mm_vision_tower_options: Extra constructor options of the vision tower (mvlm extension).
        mm_vision_config: The tower's own config fields, inline (mvlm extension; makes a saved
            model self-contained when ``mm_vision_tower`` is not a preset).
        **kwargs: The LLaMA fields (``hidden_size``, ``num_hidden_layers``...) and any other
            published field, kept as is.

    Raises:
        ConfigError: A multimodal field has a value MobileVLM does not support.
    """

    model_type = "mobilevlm"

    def __init__(
        self,
        mm_vision_tower: str = "openai/clip-vit-large-patch14-336",
        vision_tower_type: str = "clip",
        mm_hidden_size: int = 1024,
        mm_vision_select_layer: int = -2,
        mm_vision_select_feature: str = "patch",
        mm_projector_type: str = "linear",
        image_aspect_ratio: str = "pad",
        image_grid_pinpoints: Any = None,
        mm_use_im_start_end: bool = False,
        mm_use_im_patch_token: bool = False,
        use_mm_proj: bool = True,
        tune_mm_mlp_adapter: bool = False,
        freeze_mm_mlp_adapter: bool = False,
        image_token_index: int = IMAGE_TOKEN_INDEX,
        text_model_type: str = "llama",
        mm_projector_options: dict[str, Any] | None = None,
        mm_vision_tower_options: dict[str, Any] | None = None,
        mm_vision_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.mm_vision_tower = mm_vision_tower
        self.vision_tower_type = vision_tower_type
        self.mm_hidden_size = mm_hidden_size
        self.mm_vision_select_layer = mm_vision_select_layer
        self.mm_vision_select_feature = mm_vision_select_feature
        self.mm_projector_type = mm_projector_type or "linear"
        self.image_aspect_ratio = image_aspect_ratio
        self.image_grid_pinpoints = image_grid_pinpoints
        self.mm_use_im_start_end = mm_use_im_start_end
        self.mm_use_im_patch_token = mm_use_im_patch_token
        self.use_mm_proj = use_mm_proj
        self.tune_mm_mlp_adapter = tune_mm_mlp_adapter
        self.freeze_mm_mlp_adapter = freeze_mm_mlp_adapter
        self.image_token_index = image_token_index
        self.text_model_type = text_model_type
        self.mm_projector_options = mm_projector_options
        self.mm_vision_tower_options = mm_vision_tower_options
        self.mm_vision_config = mm_vision_config
        kwargs.setdefault("pad_token_id", 0)
        if "torch_dtype" in kwargs:  # the published configs' spelling; transformers 5 warns on reading it
            torch_dtype = kwargs.pop("torch_dtype")
            kwargs.setdefault("dtype", torch_dtype)
        super().__init__(**kwargs)
        self._check_multimodal_fields()

    def _check_multimodal_fields(self) -> None:
        if self.mm_vision_select_feature not in _SELECT_FEATURES:
            raise ConfigError(
                f"mm_vision_select_feature must be one of {_SELECT_FEATURES}, got {self.mm_vision_select_feature!r}"
            )
        if self.image_aspect_ratio not in _ASPECT_RATIOS:
            raise ConfigError(
                f"image_aspect_ratio {self.image_aspect_ratio!r} is not supported; use 'pad' (every released "
                "MobileVLM) or 'square'"
            )
        if self.image_grid_pinpoints:
            raise ConfigError(
                "image_grid_pinpoints (any-resolution tiling) is not supported by MobileVLM; set it to null"
            )
        if self.mm_use_im_start_end or self.mm_use_im_patch_token:
            raise ConfigError(
                "mm_use_im_start_end / mm_use_im_patch_token are not supported (no released MobileVLM uses them); "
                "set both to false"
            )

    # ----------------------------------------------------------------------------- presets
    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> MobileVLMConfig:
        """The config of a published checkpoint (``MobileVLM-1.7B``, ``MobileVLM_V2-3B``...), with ``overrides``.

        Raises:
            UnknownNameError: No such preset (the message lists them).
        """
        fields = dict(MODEL_PRESETS.get(name))
        fields.pop("_source", None)
        fields.pop("model_type", None)
        fields.update(overrides)
        return cls(**fields)

    @property
    def context_length(self) -> int:
        """The longest sequence the model takes: ``max_sequence_length`` if set, else ``max_position_embeddings``.

        (The reference loader reports 2048 when ``max_sequence_length`` is absent, even for the
        7B model whose positions go to 4096; mvlm uses the model's own limit.)
        """
        return int(getattr(self, "max_sequence_length", None) or self.max_position_embeddings)

    # ----------------------------------------------------------------------------- serialisation
    @property
    def torch_dtype(self) -> Any:
        """The model dtype under the published configs' name (``dtype`` in transformers 5), without its warning.

        ``to_dict`` writes ``torch_dtype`` beside ``dtype``, and transformers reads every written key
        back as an attribute when it prints a config; this name is not deprecated in the checkpoint format.
        """
        return self.dtype

    @torch_dtype.setter
    def torch_dtype(self, value: Any) -> None:
        self.dtype = value

    def to_dict(self) -> dict[str, Any]:
        """The config as a dict, with the published field names restored for the reference code.

        transformers 5 stores RoPE as ``rope_parameters`` and the dtype as ``dtype``; the published
        checkpoints (written by transformers 4.33) use ``rope_theta`` / ``rope_scaling`` /
        ``torch_dtype``. Both spellings are written so either reader finds its own.
        """
        output = super().to_dict()
        rope = output.get("rope_parameters") or {}
        if "rope_theta" in rope:
            output["rope_theta"] = rope["rope_theta"]
            scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
            output["rope_scaling"] = None if scaling.get("rope_type", "default") == "default" else scaling
        if output.get("dtype") is not None:
            output["torch_dtype"] = str(output["dtype"]).removeprefix("torch.")
        return output

    def language_config(self) -> Any:
        """The transformers config of the language model alone (a ``LlamaConfig`` for MobileLLaMA).

        Raises:
            ConfigError: ``text_model_type`` is not a transformers model type.
        """
        from transformers import AutoConfig

        fields = self.to_dict()
        for key in list(fields):
            if key.startswith("mm_") or key in _MULTIMODAL_KEYS:
                fields.pop(key)
        fields.pop("architectures", None)
        fields.pop("model_type", None)
        fields.pop("torch_dtype", None)
        if self.text_model_type == "llama":
            fields.pop("rope_theta", None)
            fields.pop("rope_scaling", None)
            return LlamaConfig(**fields)
        try:
            return AutoConfig.for_model(self.text_model_type, **fields)
        except ValueError as error:
            raise ConfigError(
                f"text_model_type {self.text_model_type!r} is not a transformers model type: {error}"
            ) from None


_MULTIMODAL_KEYS = {
    "vision_tower_type",
    "image_aspect_ratio",
    "image_grid_pinpoints",
    "use_mm_proj",
    "tune_mm_mlp_adapter",
    "freeze_mm_mlp_adapter",
    "image_token_index",
    "text_model_type",
}


def list_model_presets() -> list[str]:
    """Names of the published MobileVLM configurations."""
    return MODEL_PRESETS.names()


def _register_packaged_presets() -> None:
    for name, preset in read_presets("mvlm.model", "presets", kind="MobileVLM preset", keep_notes=True).items():
        aliases = (name.lower().replace("_", "-"),) if name.lower().replace("_", "-") != name else ()
        MODEL_PRESETS.register(name, preset, aliases=aliases)


_register_packaged_presets()
