"""Chat requests -> one left-padded batch of spliced input embeddings.

The steps, in the order of the data path (``DESIGN.md``):

1. :func:`make_requests` turns ``chat``'s ``(images, prompts, history)`` into :class:`ChatRequest` s;
2. :func:`render_prompt` writes each conversation with its template (the image tags put in front of
   the first user message when the user wrote none, as the reference does);
3. ``mvlm.prompting.encode_prompt`` tokenizes it, expands each image into ``M`` placeholder
   positions and checks the tag count and the context length;
4. :func:`encode_images` runs the tower and projector once over all the distinct images;
5. :func:`prepare_batch` left-pads the ids, and the model (the one splice point) embeds them and
   writes the image features into the placeholders.

Left padding puts every prompt's last token in the last column, so the first generated token of
every row comes from the same step; ``generate`` derives position ids from the attention mask
(``cumsum - 1``), so a padded row sees the same positions ``0..n-1`` as it would alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mvlm.errors import PromptError
from mvlm.prompting import build_chat_prompt

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

    from mvlm.model import MobileVLM
    from mvlm.prompting import Conversation

__all__ = [
    "ChatRequest",
    "PreparedBatch",
    "encode_images",
    "image_cache_key",
    "images_of",
    "make_requests",
    "prepare_batch",
    "render_prompt",
]

History = Sequence[tuple[str, str]]
"""Earlier turns of a conversation: ``(user message, assistant answer)`` pairs, oldest first."""


@dataclass(frozen=True)
class ChatRequest:
    """One conversation to answer: its images, its earlier turns and the new user message.

    Attributes:
        prompt: The new user message.
        images: The conversation's images (paths, bytes, ``PIL.Image`` s, arrays), in tag order.
        history: Earlier ``(user, assistant)`` turns; the image tags live in the first user message.
    """

    prompt: str
    images: tuple[Any, ...] = ()
    history: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def images_of(entry: Any) -> tuple[Any, ...]:
    """``None`` -> ``()``, a list or tuple of images -> a tuple, one image -> a 1-tuple."""
    if entry is None:
        return ()
    if isinstance(entry, (list, tuple)):
        return tuple(entry)
    return (entry,)


def _check_history(history: Any, where: str) -> tuple[tuple[str, str], ...]:
    if history is None:
        return ()
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
        raise PromptError(
            f"{where}: history must be a list of (user message, answer) pairs, got {type(history).__name__}"
        )
    turns = []
    for index, turn in enumerate(history):
        if (
            isinstance(turn, (str, bytes))
            or not isinstance(turn, Sequence)
            or len(turn) != 2
            or not all(isinstance(part, str) for part in turn)
        ):
            raise PromptError(
                f"{where}: history turn {index} must be a (user message, answer) pair of strings, got {turn!r}"
            )
        turns.append((turn[0], turn[1]))
    return tuple(turns)


def make_requests(images: Any, prompts: str | Sequence[str], history: Any = None) -> tuple[list[ChatRequest], bool]:
    """Normalise ``chat``'s arguments into requests.

    * One prompt (a string): ``images`` is ``None``, one image, or a list of images for that prompt;
      ``history`` is that conversation's earlier turns.
    * A list of prompts (a batch): ``images`` is ``None``, one image shared by every prompt (encoded
      once), or a list with one entry per prompt (``None``, an image, or a list of images);
      ``history`` is ``None`` or one history per prompt.

    Returns:
        ``(requests, batched)``.

    Raises:
        PromptError: A prompt is not a string, the lists' lengths differ, or a history is malformed.
    """
    if isinstance(prompts, str):
        return [ChatRequest(prompts, images_of(images), _check_history(history, "chat"))], False
    if not isinstance(prompts, Sequence) or isinstance(prompts, bytes):
        raise PromptError(f"prompts must be a string or a list of strings, got {type(prompts).__name__}")
    prompt_list = list(prompts)
    if not prompt_list:
        raise PromptError("prompts is an empty list; pass at least one prompt")
    for index, prompt in enumerate(prompt_list):
        if not isinstance(prompt, str):
            raise PromptError(f"prompt {index} must be a string, got {type(prompt).__name__}")
    count = len(prompt_list)
    if isinstance(images, (list, tuple)):
        if len(images) != count:
            raise PromptError(
                f"got {len(images)} image entries for {count} prompts; pass one entry per prompt (None, an image "
                "or a list of images), or a single image shared by all prompts"
            )
        per_prompt = [images_of(entry) for entry in images]
    else:
        per_prompt = [images_of(images)] * count
    if history is None:
        histories: list[Any] = [None] * count
    elif isinstance(history, Sequence) and len(history) == count:
        histories = list(history)
    else:
        raise PromptError(f"with {count} prompts, history must be None or a list of {count} histories (one per prompt)")
    requests = [
        ChatRequest(prompt, imgs, _check_history(turns, f"prompt {index}"))
        for index, (prompt, imgs, turns) in enumerate(zip(prompt_list, per_prompt, histories, strict=True))
    ]
    return requests, True


def render_prompt(request: ChatRequest, conv_mode: str | Conversation = "v1") -> str:
    """The prompt text of ``request``: earlier turns, the new message and an empty answer slot.

    When no user message has an ``<image>`` tag, the first one gets ``"<image>\\n"`` per image in front
    (as the reference's inference script builds ``"<image>\\n" + prompt``):
    :func:`mvlm.prompting.build_chat_prompt`.

    Raises:
        PromptError: The tags and the images do not match in number.
        UnknownNameError: ``conv_mode`` names no template.
    """
    return build_chat_prompt(request.prompt, conv_mode, history=request.history, num_images=len(request.images))


def image_cache_key(image: Any) -> tuple[str, Any]:
    """The key of ``image`` in an image cache (:func:`encode_images`): its absolute path, or the object's identity.

    A cache keyed by identity is valid while the image objects live: keep them with the cache.
    """
    if isinstance(image, (str, os.PathLike)):
        return ("path", os.path.abspath(os.fspath(image)))
    return ("object", id(image))


def encode_images(
    model: MobileVLM, requests: Sequence[ChatRequest], cache: dict[tuple[str, Any], Tensor] | None = None
) -> Tensor | None:
    """Projected features of every request's images, in placeholder order: ``[num_images, M, hidden]``.

    Each distinct image (the same path, or the same object) goes through the image processor, the
    tower and the projector once, all in one batch; images found in ``cache`` are not encoded again
    (a chat session keeps one cache across turns).

    Returns:
        The features, or ``None`` when no request has an image.

    Raises:
        ImageError: An image cannot be read.
    """
    import torch

    keys = [(image_cache_key(image), image) for request in requests for image in request.images]
    if not keys:
        return None
    cache = {} if cache is None else cache
    new: dict[tuple[str, Any], Any] = {}
    for key, image in keys:
        if key not in cache:
            new.setdefault(key, image)
    if new:
        tower = model.vision_tower
        pixels = model.image_processor(list(new.values())).to(device=tower.device, dtype=tower.dtype)
        with torch.no_grad():
            features = model.encode_images(pixels)
        cache.update(zip(new, features, strict=True))
    return torch.stack([cache[key] for key, _ in keys])


@dataclass
class PreparedBatch:
    """A left-padded batch ready for ``generate``.

    Attributes:
        inputs_embeds: ``[batch, length, hidden]``, image features spliced in.
        attention_mask: ``[batch, length]``, 0 on the left padding.
        prompts: The rendered prompt texts.
        lengths: Each prompt's length in positions (text tokens + image positions).
    """

    inputs_embeds: Tensor
    attention_mask: Tensor
    prompts: list[str]
    lengths: list[int]

    @property
    def length(self) -> int:
        """The padded length (the longest prompt)."""
        return int(self.inputs_embeds.shape[1])


def prepare_batch(
    model: MobileVLM,
    requests: Sequence[ChatRequest],
    *,
    tokenizer: Any,
    conv_mode: str | Conversation = "v1",
    image_cache: dict[tuple[str, Any], Tensor] | None = None,
) -> PreparedBatch:
    """Render, tokenize, check, encode the images and splice: requests -> :class:`PreparedBatch`.

    Raises:
        PromptError: Tags and images differ in number, or a prompt leaves no room in the model's
            context length for an answer.
        ImageError: An image cannot be read.
    """
    import torch

    from mvlm.model.processing import MobileVLMProcessor

    processor = MobileVLMProcessor.for_model(model, tokenizer=tokenizer)
    prompts = [render_prompt(request, conv_mode) for request in requests]
    rows = [
        processor.encode(text, num_images=len(request.images)).input_ids
        for text, request in zip(prompts, requests, strict=True)
    ]
    features = encode_images(model, requests, image_cache)
    input_ids = processor.pad(rows, side="left")
    attention_mask = processor.attention_mask(rows, side="left")
    device = next(model.get_input_embeddings().parameters()).device
    with torch.no_grad():
        embeds, _ = model.embed_inputs(input_ids.to(device), image_features=features)
    return PreparedBatch(embeds, attention_mask.to(device), prompts, [len(row) for row in rows])
