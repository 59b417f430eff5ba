"""Decoding without per-step overhead: a static KV cache and a compiled decoding step.

Eager decoding runs the language model's Python code (24 decoder layers, ~20 modules each) for every
token, and the dynamic KV cache grows by a concatenation per layer and step. With
``fast_decode=True`` (:func:`~mvlm.inference.generation.chat`,
:func:`~mvlm.inference.loading.load_model_for_inference`) ``generate`` instead

* preallocates a :class:`transformers.StaticCache` whose length is the prompt plus ``max_new_tokens``
  rounded up to a multiple of :data:`CACHE_BUCKET` (so prompts of similar length share one cache
  and one compiled graph; the cache is kept on the model and reused by later calls), and
* compiles the one-token step with ``torch.compile`` (inductor; on every device, CPU included):
  the layers' Python and the dispatcher run once at trace time and each later step is one call into
  generated code.

The first call pays the compilation (about a minute for a 1.4B language model on two CPU cores;
the benchmark suite reports it separately); greedy tokens are the same as the plain path's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from mvlm.model import MobileVLM

__all__ = ["CACHE_BUCKET", "fast_decode_options", "static_cache_length"]

CACHE_BUCKET = 256
"""Static caches are sized in multiples of this many positions."""


def static_cache_length(prompt_length: int, max_new_tokens: int, context_length: int) -> int:
    """The static cache's length: ``prompt_length + max_new_tokens`` rounded up to a bucket, at most the context.

    Example:
        >>> static_cache_length(180, 64, 2048)
        256
    """
    needed = prompt_length + max_new_tokens
    rounded = -(-needed // CACHE_BUCKET) * CACHE_BUCKET
    return max(needed, min(rounded, context_length))


def fast_decode_options(model: MobileVLM, prompt_length: int, max_new_tokens: int) -> dict[str, Any]:
    """The ``generate`` keywords of the fast path: static cache of a bucketed length, compiled forward.

    Args:
        model: The model (its device decides the compile mode: CUDA graphs on CUDA, plain inductor elsewhere).
        prompt_length: Positions in the (padded) prompt.
        max_new_tokens: The most tokens to generate.

    Returns:
        ``cache_implementation``, ``max_cache_len`` and ``compile_config`` for ``generate``.
    """
    from transformers import CompileConfig

    on_cuda = model.device.type == "cuda"
    config = CompileConfig(fullgraph=False, dynamic=False, mode="reduce-overhead" if on_cuda else "default")
    config._compile_all_devices = True  # transformers compiles only on GPUs unless told
    return {
        "cache_implementation": "static",
        "max_cache_len": static_cache_length(prompt_length, max_new_tokens, model.config.context_length),
        "compile_config": config,
    }
