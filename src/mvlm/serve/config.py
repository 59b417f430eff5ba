"""``ServeConfig``: what ``mvlm serve`` serves and within which limits (plain data, checked when built)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mvlm.errors import ConfigError
from mvlm.inference.options import GenerationOptions

__all__ = ["ServeConfig"]


@dataclass(frozen=True)
class ServeConfig:
    """The server's model name, decoding defaults, batching and limits.

    Attributes:
        model_name: The model's id in ``/v1/models``; a request naming another model gets a 404.
        generation: Decoding defaults; a request's ``temperature``, ``top_p`` and ``max_tokens``
            override them (the template, ``conv_mode``, is the server's).
        max_batch_size: The most non-streamed greedy requests answered together in one batch.
        batch_wait_s: How long the worker waits for more requests to join a batch, in seconds.
        max_body_bytes: The largest request body; a larger one gets a 413.
        max_image_pixels: The most pixels of one image (width x height), checked before decoding.
        max_images: The most images in one conversation.
        cache_size: How many conversations (keyed by their images) keep their encoded images and
            the KV cache of their last prompt; 0 keeps none. Each KV cache takes
            ``2 x layers x hidden x bytes`` per position: about 190 KiB for MobileVLM-1.7B in float16,
            so some 110 MiB for a 600-position conversation.
        allow_file_urls: Accept ``file://`` image URLs (files on the server's machine).

    Raises:
        ConfigError: A count below its minimum or a negative wait.
    """

    model_name: str
    generation: GenerationOptions = field(default_factory=GenerationOptions)
    max_batch_size: int = 8
    batch_wait_s: float = 0.01
    max_body_bytes: int = 20 * 2**20
    max_image_pixels: int = 4096 * 4096
    max_images: int = 8
    cache_size: int = 8
    allow_file_urls: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.model_name, str) or not self.model_name:
            raise ConfigError(f"model_name must be a non-empty string, got {self.model_name!r}")
        for name, least in (
            ("max_batch_size", 1),
            ("max_body_bytes", 1),
            ("max_image_pixels", 1),
            ("max_images", 0),
            ("cache_size", 0),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(f"{name} must be an int >= {least}, got {value!r}")
        wait = self.batch_wait_s
        if not isinstance(wait, (int, float)) or isinstance(wait, bool) or wait < 0:
            raise ConfigError(f"batch_wait_s must be a number of seconds >= 0, got {self.batch_wait_s!r}")
