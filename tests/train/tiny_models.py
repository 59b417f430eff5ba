"""Sizes of the tiny models the training tests build, and a config maker."""

from __future__ import annotations

from typing import Any

TINY_TOWER: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "image_size": 32,
    "patch_size": 8,
    "hidden_act": "quick_gelu",
    "projection_dim": 16,
}
TINY_LLM: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 512,
}
SYNTHETIC_TEXTS = (
    "There are two shapes: a red circle at the top left and a blue star in the center.",
    "Describe the image. What color is the circle? What shape is the red object? How many shapes are there?",
    "Where is the green square? Is there a yellow triangle? Is the purple star to the left of the red circle?",
    "yes no red green blue yellow purple circle square triangle star top middle bottom left right center",
)


def tiny_config(vocab_size: int, projector: str = "ldpnet", **overrides: Any) -> Any:
    """A :class:`~mvlm.model.MobileVLMConfig` with an inline tiny tower and a tiny Llama."""
    from mvlm.model import MobileVLMConfig

    fields = {
        "mm_vision_tower": "tiny-clip",
        "vision_tower_type": "clip",
        "mm_vision_config": dict(TINY_TOWER),
        "mm_hidden_size": TINY_TOWER["hidden_size"],
        "mm_projector_type": projector,
        "vocab_size": vocab_size,
        **TINY_LLM,
    }
    fields.update(overrides)
    return MobileVLMConfig(**fields)
