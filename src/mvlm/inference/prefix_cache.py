"""``PrefixCache``: keep the KV cache of a prompt so the next prompt that starts the same way skips that part.

Several questions about one image share everything up to the question: the system prompt, the
image's ``M`` positions and the text around them. The first question prefills all of it; each later
one finds the longest run of leading positions whose input embeddings are identical to those the cache
holds (the image features come from the session's image cache, so the same image gives the same
vectors), drops the cached positions after it, and prefills only the rest. In a multi-turn
conversation the previous turn is a prefix of the next, so each turn prefills only its new text.

Greedy answers are the same as without the cache: the cached keys and values are those the full
prefill computes, up to the float rounding of a split matrix product.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

    from mvlm.model import MobileVLM

__all__ = ["PrefixCache"]


class PrefixCache:
    """The KV cache of the last prompt (batch 1), reused for the next prompt's common leading positions.

    Used by :class:`~mvlm.inference.session.ChatSession` (``reuse_prefix=True``, the default) and by
    :func:`~mvlm.inference.generation.generate_answers` (``prefix_cache=``).

    Attributes:
        reused_positions: How many positions the last :meth:`cache_for` call found cached (0 at first).
    """

    def __init__(self) -> None:
        self._cache: Any = None
        self._embeds: Tensor | None = None
        self.reused_positions = 0

    def cache_for(self, model: MobileVLM, inputs_embeds: Tensor) -> Any:
        """A ``DynamicCache`` holding the leading positions of ``inputs_embeds`` ``[1, length, hidden]`` already seen.

        At least the last position is always left to compute (``generate`` needs one to start from).
        The returned cache is this object's: ``generate`` extends it, and the next call crops it back.
        """
        import torch
        from transformers import DynamicCache

        if inputs_embeds.shape[0] != 1:
            raise ValueError("PrefixCache holds one sequence; batches go through the plain path")
        reuse = 0
        if self._cache is not None and self._embeds is not None:
            limit = min(self._embeds.shape[1], inputs_embeds.shape[1] - 1, self._cache.get_seq_length())
            if limit > 0:
                same = (self._embeds[0, :limit] == inputs_embeds[0, :limit]).all(dim=-1)
                reuse = limit if bool(same.all()) else int(torch.argmin(same.to(torch.int8)))
        if reuse == 0:
            self._cache = DynamicCache(config=model.config.get_text_config(decoder=True))
        else:
            extra = self._cache.get_seq_length() - reuse
            if extra > 0:
                self._cache.crop(-extra)
        self._embeds = inputs_embeds.detach()
        self.reused_positions = reuse
        return self._cache

    def clear(self) -> None:
        """Forget the cached positions."""
        self._cache, self._embeds, self.reused_positions = None, None, 0
