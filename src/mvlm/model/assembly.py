"""Assembling a new MobileVLM from parts: a language-model checkpoint, a vision-tower checkpoint and a fresh projector.

This is how training starts (stage I of both MobileVLM versions): MobileLLaMA-Chat weights for the
language model, CLIP weights for the tower, and a randomly initialised projector.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from mvlm.errors import CheckpointError
from mvlm.model.configuration import MobileVLMConfig
from mvlm.model.loading import check_loading_report, describe_source
from mvlm.model.modeling import MobileVLMForCausalLM

__all__ = ["assemble_mobilevlm"]

_LLM_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "hidden_act",
    "max_position_embeddings",
    "rms_norm_eps",
    "rope_parameters",
    "tie_word_embeddings",
    "bos_token_id",
    "eos_token_id",
    "attention_bias",
    "mlp_bias",
    "head_dim",
)


def _tower_width(vision_tower: str | os.PathLike[str]) -> int | None:
    """The hidden size in a tower checkpoint's ``config.json`` (``None`` when there is none to read offline)."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(str(vision_tower), local_files_only=True)
    except (OSError, ValueError, TypeError):
        return None
    width = getattr(getattr(config, "vision_config", None) or config, "hidden_size", None)
    return int(width) if isinstance(width, int) else None


def assemble_mobilevlm(
    config: MobileVLMConfig | str,
    *,
    language_model: str | os.PathLike[str] | None = None,
    vision_tower: str | os.PathLike[str] | None = None,
    projector_weights: str | os.PathLike[str] | None = None,
    dtype: torch.dtype | None = None,
    **config_overrides: Any,
) -> MobileVLMForCausalLM:
    """Build a MobileVLM from a config and fill it from separate checkpoints.

    Args:
        config: A :class:`MobileVLMConfig` or a preset name (``MobileVLM-1.7B``...). Its language-model
            fields are replaced by those of ``language_model`` when given.
        language_model: A causal-LM checkpoint (e.g. ``mtgv/MobileLLaMA-1.4B-Chat``) whose weights
            fill ``model.*`` and ``lm_head``; its tokenizer becomes the model's tokenizer.
        vision_tower: A tower checkpoint (e.g. ``openai/clip-vit-large-patch14-336`` or a local copy);
            it also becomes ``mm_vision_tower`` in the config, and its width ``mm_hidden_size``.
        projector_weights: A stage-I ``mm_projector.bin`` to load into the projector.
        dtype: The dtype of the assembled model.
        **config_overrides: Config fields to set (``mm_projector_type``...).

    Returns:
        The model; parts not given keep their random initialisation.

    Raises:
        CheckpointError: A part's weights do not fit the config.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    if isinstance(config, str):
        config = MobileVLMConfig.from_preset(config)
    fields = config.to_dict()
    fields.pop("model_type", None)
    if vision_tower is not None:
        fields["mm_vision_tower"] = str(vision_tower)
        fields.pop("mm_vision_config", None)
        width = _tower_width(vision_tower)
        if width is not None:
            fields["mm_hidden_size"] = width
    if language_model is not None:
        source = describe_source(language_model)
        try:
            language_config = AutoConfig.from_pretrained(str(language_model))
        except (OSError, ValueError) as error:
            raise CheckpointError(f"could not read the language model's config from {source}: {error}") from error
        llm_fields = language_config.to_dict()
        fields.update({k: llm_fields[k] for k in _LLM_FIELDS if k in llm_fields})
        fields["text_model_type"] = language_config.model_type
    fields.update(config_overrides)
    assembled = MobileVLMConfig(**fields)
    if dtype is not None:
        assembled.dtype = dtype
    model = MobileVLMForCausalLM(assembled)
    if language_model is not None:
        try:
            language = AutoModelForCausalLM.from_pretrained(str(language_model), dtype=dtype or torch.float32)
        except (OSError, ValueError, RuntimeError) as error:
            raise CheckpointError(f"could not load the language model from {source}: {error}") from error
        state = language.state_dict()
        own = model.state_dict()
        targets = {k: v for k, v in own.items() if not k.startswith(("model.vision_tower.", "model.mm_projector."))}
        report = {
            "missing_keys": [k for k in targets if k not in state],
            "unexpected_keys": [k for k in state if k not in targets and not k.endswith("rotary_emb.inv_freq")],
            "mismatched_keys": [
                (k, v.shape, targets[k].shape) for k, v in state.items() if k in targets and v.shape != targets[k].shape
            ],
        }
        check_loading_report(report, source)
        model.load_state_dict({k: state[k] for k in targets}, strict=False)
        from mvlm.language import load_tokenizer

        model.tokenizer = load_tokenizer(language_model)
    if vision_tower is not None:
        model.load_original_vision_weights(str(vision_tower))
    if projector_weights is not None:
        model.load_projector(projector_weights)
    if dtype is not None:
        model = model.to(dtype)
    return model
