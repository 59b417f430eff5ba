"""``ChatSession``: a multi-turn conversation about fixed images, encoded once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from mvlm.inference.generation import generate_answers
from mvlm.inference.inputs import ChatRequest, images_of
from mvlm.prompting import get_conversation

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

    from mvlm.model import MobileVLM
    from mvlm.prompting import Conversation

__all__ = ["ChatSession"]


class ChatSession:
    """A multi-turn conversation about fixed images: what ``mvlm chat`` runs.

    The images are encoded once, on the first question, and reused for every turn; each answer
    joins the history that the next question is rendered with.

    Args:
        model: The model.
        images: ``None``, one image, or a list of images for the conversation.
        conv_mode: The conversation template.
        tokenizer: A tokenizer to use instead of ``model.tokenizer``.
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
        **options: Any,
    ) -> None:
        get_conversation(conv_mode)  # fail early on an unknown template
        self.model = model
        self.images = images_of(images)
        self.conv_mode = conv_mode
        self.tokenizer = tokenizer
        self.options = options
        self.history: list[tuple[str, str]] = []
        self._image_cache: dict[tuple[str, Any], Tensor] = {}

    @property
    def roles(self) -> tuple[str, str]:
        """The template's (user, assistant) role names."""
        return get_conversation(self.conv_mode).roles

    def ask(self, prompt: str, *, stream: bool = False, **options: Any) -> str | Iterator[str]:
        """Answer ``prompt`` in the context of the earlier turns, and record the turn.

        Args:
            prompt: The user's message.
            stream: Return an iterator of pieces; the turn is recorded when it is exhausted.
            **options: Overrides of the session's generation options for this turn.

        Raises:
            PromptError: The conversation no longer fits the context length (start a new one with
                :meth:`reset`), or the message's image tags do not match the images.
        """
        request = ChatRequest(prompt, self.images, tuple(self.history))
        result = generate_answers(
            self.model,
            [request],
            batched=False,
            conv_mode=self.conv_mode,
            stream=stream,
            tokenizer=self.tokenizer,
            image_cache=self._image_cache,
            **{**self.options, **options},
        )
        if isinstance(result, str):
            self.history.append((prompt, result))
            return result
        return self._record(prompt, cast(Iterator[str], result))

    def _record(self, prompt: str, pieces: Iterator[str]) -> Iterator[str]:
        parts = []
        for piece in pieces:
            parts.append(piece)
            yield piece
        self.history.append((prompt, "".join(parts)))

    def reset(self) -> None:
        """Forget the earlier turns (the images stay, and stay encoded)."""
        self.history.clear()
