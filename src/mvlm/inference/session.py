"""``ChatSession``: a multi-turn conversation about fixed images, encoded once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from mvlm.inference.generation import generate_answers
from mvlm.inference.inputs import ChatRequest, images_of
from mvlm.inference.options import GenerationOptions
from mvlm.inference.prefix_cache import PrefixCache
from mvlm.prompting import get_conversation

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

    from mvlm.model import MobileVLM
    from mvlm.prompting import Conversation

__all__ = ["ChatSession"]


class ChatSession:
    """A multi-turn conversation about fixed images: what ``mvlm chat`` runs.

    The images are encoded once, on the first question, and reused for every turn; each answer
    joins the history that the next question is rendered with. With ``reuse_prefix`` (the default)
    the session also keeps the KV cache of the last prompt (:class:`~mvlm.inference.prefix_cache.PrefixCache`):
    a new turn, or a new question after :meth:`reset` or with ``remember=False``, prefills only the
    positions after the part it shares with the last prompt (the system prompt and the image at
    least), with the same greedy answers.

    Args:
        model: The model.
        images: ``None``, one image, or a list of images for the conversation.
        conv_mode: The conversation template.
        tokenizer: A tokenizer to use instead of ``model.tokenizer``.
        reuse_prefix: Keep the last prompt's KV cache and reuse its common leading positions.
        **options: Defaults for the generation options of :func:`~mvlm.inference.generation.chat`
            (``temperature``, ``top_p``, ``num_beams``, ``max_new_tokens``, ``generate`` keywords).

    Example:
        >>> session = ChatSession(model, "photo.jpg")  # doctest: +SKIP
        >>> session.ask("What is in the image?")  # doctest: +SKIP
        'A cat.'
        >>> for piece in session.ask("What color is it?", stream=True):  # doctest: +SKIP
        ...     print(piece, end="")
    """

    def __init__(
        self,
        model: MobileVLM,
        images: Any = None,
        *,
        conv_mode: str | Conversation = "v1",
        tokenizer: Any = None,
        reuse_prefix: bool = True,
        **options: Any,
    ) -> None:
        self.generation, self.generate_kwargs = GenerationOptions.split(options, GenerationOptions(conv_mode=conv_mode))
        self.model = model
        self.images = images_of(images)
        self.conv_mode = conv_mode
        self.tokenizer = tokenizer
        self.history: list[tuple[str, str]] = []
        self._image_cache: dict[tuple[str, Any], Tensor] = {}
        self.prefix_cache = PrefixCache() if reuse_prefix else None

    @property
    def options(self) -> dict[str, Any]:
        """The session's generation options and ``generate`` keywords, as one mapping."""
        return {**self.generation.as_kwargs(), **self.generate_kwargs}

    @property
    def roles(self) -> tuple[str, str]:
        """The template's (user, assistant) role names."""
        return get_conversation(self.conv_mode).roles

    def ask(self, prompt: str, *, stream: bool = False, remember: bool = True, **options: Any) -> str | Iterator[str]:
        """Answer ``prompt`` in the context of the earlier turns, and record the turn.

        Args:
            prompt: The user's message.
            stream: Return an iterator of pieces; the turn is recorded when it is exhausted.
            remember: Record the turn in the history (``False``: an independent question about the
                same images, e.g. one of several questions asked one after another).
            **options: Overrides of the session's generation options for this turn.

        Raises:
            PromptError: The conversation no longer fits the context length (start a new one with
                :meth:`reset`), or the message's image tags do not match the images.
        """
        request = ChatRequest(prompt, self.images, tuple(self.history))
        generation, generate_kwargs = GenerationOptions.split(options, self.generation)
        result = generate_answers(
            self.model,
            [request],
            batched=False,
            options=generation,
            stream=stream,
            tokenizer=self.tokenizer,
            image_cache=self._image_cache,
            prefix_cache=self.prefix_cache,
            **{**self.generate_kwargs, **generate_kwargs},
        )
        if isinstance(result, str):
            if remember:
                self.history.append((prompt, result))
            return result
        return self._record(prompt, cast(Iterator[str], result), remember)

    def _record(self, prompt: str, pieces: Iterator[str], remember: bool) -> Iterator[str]:
        parts = []
        for piece in pieces:
            parts.append(piece)
            yield piece
        if remember:
            self.history.append((prompt, "".join(parts)))

    def reset(self) -> None:
        """Forget the earlier turns (the images stay, and stay encoded)."""
        self.history.clear()
