"""``ConversationCache``: the encoded images and the KV-cache prefix of recent conversations, kept across requests.

An OpenAI client sends the whole conversation, images included, with every turn. The server keys a
conversation by a digest of its images' bytes: a follow-up turn about the same images finds their
decoded images, their projected features (the vision tower does not run again) and the
:class:`~mvlm.inference.prefix_cache.PrefixCache` of the last prompt (the earlier turns are not
prefilled again). The cache keeps the most recently used conversations (LRU).

The worker thread alone uses a :class:`ConversationState`'s features and prefix cache, one request
after another; the cache itself is shared with the request handlers and locked.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mvlm.inference.inputs import image_cache_key
from mvlm.inference.prefix_cache import PrefixCache

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

__all__ = ["ConversationCache", "ConversationState"]


class ConversationState:
    """What a conversation keeps between turns: its images, their features, the last prompt's KV cache.

    Attributes:
        images: The decoded images (``PIL.Image`` s), in tag order; the features are keyed by these objects.
        features: The image cache of :func:`~mvlm.inference.generation.generate_answers`
            (``image_cache=``): projected features ``[M, hidden]`` per image.
        prefix_cache: The KV cache of the conversation's last prompt answered alone.
    """

    def __init__(self, images: tuple[Any, ...]) -> None:
        self.images = images
        self.features: dict[tuple[str, Any], Tensor] = {}
        self.prefix_cache = PrefixCache()

    def keep_features(self, features: dict[tuple[str, Any], Tensor]) -> None:
        """Take this conversation's images' features from ``features`` (an image cache shared by a batch)."""
        for image in self.images:
            key = image_cache_key(image)
            if key in features:
                self.features[key] = features[key]


class ConversationCache:
    """The :class:`ConversationState` of the ``size`` most recently used conversations, by images digest.

    Args:
        size: How many conversations to keep; 0 keeps none (every request starts afresh).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._states: OrderedDict[str, ConversationState] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._states)

    def state_for(self, key: str, load_images: Callable[[], tuple[Any, ...]]) -> ConversationState:
        """The state kept under ``key``, or a new one with the images ``load_images`` decodes (kept, oldest evicted).

        ``load_images`` runs only when the key is new, outside the lock; its errors propagate and
        nothing is kept.
        """
        with self._lock:
            state = self._states.get(key)
            if state is not None:
                self._states.move_to_end(key)
                return state
        state = ConversationState(load_images())
        if self.size == 0:
            return state
        with self._lock:
            state = self._states.setdefault(key, state)
            self._states.move_to_end(key)
            while len(self._states) > self.size:
                self._states.popitem(last=False)
        return state
