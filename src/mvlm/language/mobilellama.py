"""MobileLLaMA: the LLaMA-architecture language models of MobileVLM, as configuration presets.

MobileLLaMA-1.4B and 2.7B are plain LLaMA models (RoPE, RMSNorm, SwiGLU, multi-head attention)
trained from scratch on RedPajama v1; mvlm uses transformers' ``LlamaForCausalLM`` for them and
keeps only their sizes here, as data (``presets/*.json``). Any transformers causal language model
can stand in their place.

Example:
    >>> from mvlm.language import MobileLLaMAConfig
    >>> config = MobileLLaMAConfig.from_preset("mobilellama-1.4b")
    >>> config.hidden_size, config.num_hidden_layers, config.num_attention_heads
    (2048, 24, 16)
"""

from __future__ import annotations

from typing import Any

from transformers import LlamaConfig

from mvlm.errors import ConfigError
from mvlm.presets import read_presets
from mvlm.registry import Registry

__all__ = [
    "LANGUAGE_MODEL_PRESETS",
    "MobileLLaMAConfig",
    "create_language_model",
    "get_language_model_preset",
    "list_language_model_presets",
    "register_language_model_preset",
]

LANGUAGE_MODEL_PRESETS: Registry[dict[str, Any]] = Registry("language-model preset")
"""Language-model presets by name: each a ``config.json``-style mapping of a transformers config."""


def register_language_model_preset(name: str, config: dict[str, Any], *, aliases: tuple[str, ...] = ()) -> None:
    """Register a language-model preset: a ``config.json``-style mapping with a ``model_type``.

    Raises:
        ConfigError: The mapping has no ``model_type``.
        DuplicateNameError: The name is taken.
    """
    if "model_type" not in config:
        raise ConfigError(f"language-model preset '{name}' needs a 'model_type' field (e.g. 'llama')")
    LANGUAGE_MODEL_PRESETS.register(name, dict(config), aliases=aliases)


def _register_packaged_presets() -> None:
    aliases = {"mobilellama-1.4b": ("MobileLLaMA-1.4B",), "mobilellama-2.7b": ("MobileLLaMA-2.7B",)}
    for name, preset in read_presets("mvlm.language", "presets", kind="language-model preset", keep_notes=True).items():
        register_language_model_preset(name, preset, aliases=aliases.get(name, ()))


def get_language_model_preset(name: str) -> dict[str, Any]:
    """A copy of the preset ``name`` (without its ``_source`` note), ready for a config class."""
    preset = dict(LANGUAGE_MODEL_PRESETS.get(name))
    preset.pop("_source", None)
    return preset


def list_language_model_presets() -> list[str]:
    """Names of the registered language-model presets."""
    return LANGUAGE_MODEL_PRESETS.names()


class MobileLLaMAConfig(LlamaConfig):
    """A ``LlamaConfig`` with MobileLLaMA's presets (``model_type`` stays ``"llama"``).

    Saved configs therefore load in plain transformers as ``LlamaForCausalLM``.
    """

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> MobileLLaMAConfig:
        """The config of preset ``name`` (``mobilellama-1.4b``, ``mobilellama-2.7b``...), with ``overrides``.

        Raises:
            UnknownNameError: No such preset.
            ConfigError: The preset is not a LLaMA-architecture config.
        """
        preset = get_language_model_preset(name)
        if preset.get("model_type") != "llama":
            raise ConfigError(
                f"preset '{name}' is a '{preset.get('model_type')}' model, not LLaMA; "
                "use transformers.AutoConfig.for_model(**preset) for it"
            )
        preset.pop("model_type")
        preset.update(overrides)
        return cls(**preset)


def create_language_model(preset_or_config: str | Any, **overrides: Any) -> Any:
    """A randomly initialised causal language model from a preset name or a transformers config.

    Args:
        preset_or_config: A preset name (see :func:`list_language_model_presets`) or any
            transformers ``PretrainedConfig`` of a causal language model.
        **overrides: Config fields to change (only with a preset name).

    Returns:
        A transformers ``PreTrainedModel`` (``LlamaForCausalLM`` for the MobileLLaMA presets).
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    if isinstance(preset_or_config, str):
        preset = get_language_model_preset(preset_or_config)
        preset.update(overrides)
        config = AutoConfig.for_model(preset.pop("model_type"), **preset)
    else:
        if overrides:
            raise ConfigError("create_language_model: overrides are only accepted with a preset name")
        config = preset_or_config
    return AutoModelForCausalLM.from_config(config)


_register_packaged_presets()
