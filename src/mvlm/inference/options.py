"""``GenerationOptions``: how an answer is decoded, one type for every way of asking.

:func:`~mvlm.inference.generation.chat`, :class:`~mvlm.inference.session.ChatSession`, the decode
backends (:mod:`mvlm.inference.backends`) and the ``mvlm infer`` / ``mvlm chat`` commands all take
these options; their names and checks live here only. Everything else a caller passes goes to
transformers' ``generate`` unchanged (``top_k``, ``repetition_penalty``...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from mvlm.errors import ConfigError
from mvlm.prompting import get_conversation

if TYPE_CHECKING:  # pragma: no cover
    from mvlm.prompting import Conversation

__all__ = ["GenerationOptions"]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class GenerationOptions:
    """The decoding options of an answer (checked when built).

    Attributes:
        conv_mode: The conversation template (a registered name or a
            :class:`~mvlm.prompting.Conversation`); ``"v1"`` for every released MobileVLM.
        temperature: 0 decodes greedily; above 0 samples with this temperature.
        top_p: Nucleus sampling threshold, in ``(0, 1]`` (only when sampling).
        num_beams: Beam search with this many beams (1: none).
        max_new_tokens: The most tokens to generate (lowered to what the context leaves).

    Raises:
        ConfigError: A negative temperature, ``top_p`` outside ``(0, 1]``, a count below 1.
        UnknownNameError: ``conv_mode`` names no template.

    Example:
        >>> options, rest = GenerationOptions.split({"temperature": 0.7, "top_k": 5})
        >>> options.temperature, options.greedy, rest
        (0.7, False, {'top_k': 5})
    """

    conv_mode: str | Conversation = "v1"
    temperature: float = 0.0
    top_p: float | None = None
    num_beams: int = 1
    max_new_tokens: int = 512

    def __post_init__(self) -> None:
        if not _is_number(self.temperature) or self.temperature < 0:
            raise ConfigError(f"temperature must be a number >= 0 (0 = greedy), got {self.temperature!r}")
        if self.top_p is not None and (not _is_number(self.top_p) or not 0 < self.top_p <= 1):
            raise ConfigError(f"top_p must be None or in (0, 1], got {self.top_p!r}")
        for name in ("num_beams", "max_new_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
        get_conversation(self.conv_mode)

    @property
    def greedy(self) -> bool:
        """Whether decoding picks the most likely token at every step (temperature 0)."""
        return self.temperature == 0

    @property
    def stop_string(self) -> str | None:
        """The template's stop string (the answer ends before it)."""
        return get_conversation(self.conv_mode).stop_string

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in order."""
        return tuple(field.name for field in fields(cls))

    @classmethod
    def split(
        cls, options: Mapping[str, Any], base: GenerationOptions | None = None
    ) -> tuple[GenerationOptions, dict[str, Any]]:
        """Separate a keyword mapping into generation options (over ``base``) and the rest.

        Returns:
            ``(options, rest)``: ``rest`` holds every key that is not an option name.
        """
        own = {key: value for key, value in options.items() if key in cls.names()}
        rest = {key: value for key, value in options.items() if key not in own}
        return replace(base or cls(), **own), rest

    def as_kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments (``chat(..., **options.as_kwargs())``)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def to_dict(self) -> dict[str, Any]:
        """A plain mapping (for logs and records; a template object appears as its fields)."""
        return asdict(self)
