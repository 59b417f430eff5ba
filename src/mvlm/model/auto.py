"""Registration of MobileVLM with transformers' auto classes (``model_type: mobilevlm``).

After :func:`register_with_transformers`, ``AutoConfig`` and ``AutoModelForCausalLM`` load the
published MobileVLM checkpoints. ``import mvlm`` arranges for this to happen as soon as
transformers is imported (or at once, if it already is), without importing transformers itself.
"""

from __future__ import annotations

__all__ = ["register_with_transformers"]

_registered = False


def register_with_transformers() -> None:
    """Register ``MobileVLMConfig`` and ``MobileVLMForCausalLM`` under ``mobilevlm`` (idempotent)."""
    global _registered
    if _registered:
        return
    from transformers import AutoConfig, AutoModelForCausalLM

    from mvlm.model.configuration import MobileVLMConfig
    from mvlm.model.modeling import MobileVLMForCausalLM

    AutoConfig.register("mobilevlm", MobileVLMConfig, exist_ok=True)
    AutoModelForCausalLM.register(MobileVLMConfig, MobileVLMForCausalLM, exist_ok=True)
    _registered = True


register_with_transformers()
