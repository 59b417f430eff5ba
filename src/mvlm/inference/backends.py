"""Decode backends: who runs the language model when :func:`mvlm.inference.chat` answers.

``"transformers"`` (the default) is mvlm's PyTorch path. Other backends are registered here by
name and looked up when ``chat(..., backend=name)`` asks for them; each is a callable with the
signature of :func:`mvlm.inference.chat` (minus ``backend``). ``"llama.cpp"`` (alias ``llamacpp``)
encodes the images with PyTorch and decodes with llama.cpp (:mod:`mvlm.inference.llamacpp_backend`,
imported only when used; needs ``pip install "mvlm[llamacpp]"``).

Example::

    from mvlm.inference.backends import register_decode_backend

    @register_decode_backend("my-runtime")
    def my_chat(model, images, prompts, **options):
        ...

    model.chat("photo.jpg", "What is this?", backend="my-runtime")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mvlm.errors import ConfigError, UnknownNameError
from mvlm.registry import Registry

__all__ = ["DECODE_BACKENDS", "get_decode_backend", "register_decode_backend"]

DecodeBackend = Callable[..., Any]

DECODE_BACKENDS: Registry[DecodeBackend] = Registry("decode backend")
"""Decode backends by name (besides the built-in ``"transformers"``)."""


def register_decode_backend(name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[DecodeBackend], DecodeBackend]:
    """Decorator: register a ``chat``-like callable as the decode backend ``name``."""

    def decorator(function: DecodeBackend) -> DecodeBackend:
        DECODE_BACKENDS.register(name, function, aliases=aliases)
        return function

    return decorator


def get_decode_backend(name: str) -> DecodeBackend:
    """The backend registered as ``name``.

    Raises:
        ConfigError: No such backend (the message lists the known ones).
    """
    try:
        return DECODE_BACKENDS.get(name)
    except UnknownNameError as error:
        raise ConfigError(f"backend must be 'transformers' or a registered decode backend: {error}") from None


@register_decode_backend("llama.cpp", aliases=("llamacpp",))
def _llamacpp_chat(*args: Any, **kwargs: Any) -> Any:
    """PyTorch image encoding, llama.cpp decoding (:func:`mvlm.inference.llamacpp_backend.chat`)."""
    from mvlm.inference.llamacpp_backend import chat

    return chat(*args, **kwargs)
