"""Prompt text with ``<image>`` tags -> token ids, and each image id -> its placeholder positions.

Two steps, kept apart so each can be checked against the reference:

1. :func:`tokenize_with_images` reproduces the reference's ``tokenizer_image_token``: the prompt is
   split on ``<image>``, every chunk is tokenized on its own (so each chunk starts a fresh
   SentencePiece sequence, with its dummy-prefix ``▁``), the first chunk's BOS is kept once, the later
   chunks' BOS is dropped, and the chunks are joined with one id ``-200`` per image.
2. :func:`expand_image_tokens` replaces each ``-200`` by ``M`` placeholder positions, ``M`` being
   the projector's number of visual tokens (144 for MobileVLM's LDP on a 336-pixel CLIP tower).

**Placeholder design.** The expanded ids keep the value :data:`~mvlm.prompting.IMAGE_TOKEN_INDEX`
(``-200``) in every image position by default, and :class:`ExpandedIds` also carries the boolean
``image_mask`` (``ids == -200``). The model finds the positions with ``input_ids == -200``, embeds
the text positions (with the image ids replaced by any valid id) and scatters the visual tokens into
the masked rows. Keeping ``-200`` makes the ids self-describing: a padded batch is one integer tensor
(padding uses the pad id, which is never negative) plus the usual attention mask, nothing else has to
travel through collators, ``generate`` or an exported graph, and ``ids == -200`` is a static
elementwise op. It is also safe: an id below zero can never be looked up in an embedding table by
mistake, whereas a real vocabulary id (unk = pad = 0 in MobileLLaMA) would silently embed as text and
could not be told apart from padding. Checkpoints whose vocabulary has a real image token (as
transformers' LLaVA) pass that id as ``placeholder_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from mvlm.errors import ConfigError, DataError, PromptError
from mvlm.prompting.constants import DEFAULT_IMAGE_TOKEN, IGNORE_INDEX, IMAGE_TOKEN_INDEX
from mvlm.prompting.image_tags import check_image_count

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

__all__ = [
    "ExpandedIds",
    "TextTokenizer",
    "check_context_length",
    "count_image_ids",
    "encode_prompt",
    "expand_image_tokens",
    "tokenize_text",
    "tokenize_with_images",
]


class TextTokenizer(Protocol):
    """What prompting needs from a tokenizer: any transformers tokenizer (slow or fast) fits.

    ``tokenizer(text)`` returns a mapping (or object) with ``input_ids``, a flat list of ints that
    starts with BOS when the tokenizer adds one; ``bos_token_id`` says which id that is. A plain
    callable that returns the list of ids directly also works.
    """

    bos_token_id: int | None

    def __call__(self, text: str, /) -> Any: ...


def tokenize_text(tokenizer: TextTokenizer, text: str, **kwargs: Any) -> list[int]:
    """``tokenizer(text, **kwargs).input_ids`` as a list of ints (special tokens added as the tokenizer does).

    Raises:
        ConfigError: The tokenizer returned something that is not one flat sequence of ids.
    """
    encoded = tokenizer(text, **kwargs)
    if isinstance(encoded, Mapping):
        ids = encoded["input_ids"]
    elif hasattr(encoded, "input_ids"):
        ids = encoded.input_ids
    else:
        ids = encoded
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if not isinstance(ids, Sequence) or any(not isinstance(i, int) or isinstance(i, bool) for i in ids):
        raise ConfigError(
            f"the tokenizer must return one flat list of ids for one text, got {type(ids).__name__}; "
            "call it without return_tensors or batching"
        )
    return list(ids)


def _as_id_list(ids: Sequence[int] | Any, what: str = "ids") -> list[int]:
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if not isinstance(ids, Sequence) or isinstance(ids, str):
        raise ConfigError(f"{what} must be a flat sequence of ints, got {type(ids).__name__}")
    out = list(ids)
    if any(isinstance(i, list) for i in out):
        raise ConfigError(f"{what} must be one flat sequence of ints (one sample), got nested lists")
    return out


def _maybe_tensor(ids: list[int], return_tensors: str | None) -> list[int] | Tensor:
    if return_tensors is None:
        return ids
    if return_tensors != "pt":
        raise ConfigError(f"return_tensors must be None (a list) or 'pt', got {return_tensors!r}")
    import torch

    return torch.tensor(ids, dtype=torch.long)


def tokenize_with_images(
    prompt: str,
    tokenizer: TextTokenizer,
    image_token_index: int = IMAGE_TOKEN_INDEX,
    *,
    image_token: str = DEFAULT_IMAGE_TOKEN,
    return_tensors: str | None = None,
) -> list[int] | Tensor:
    """Token ids of ``prompt`` with one ``image_token_index`` per ``<image>``, exactly as the reference.

    The prompt is split on ``image_token``; each chunk is tokenized separately with
    ``tokenizer(chunk)``. If the first chunk starts with the tokenizer's BOS, that BOS is kept once and
    the first id of every later chunk (its own BOS) is dropped. Chunks are joined with
    ``image_token_index``. A prompt without the tag is just ``tokenizer(prompt).input_ids``.

    Args:
        prompt: The rendered prompt (for example from :meth:`Conversation.get_prompt`).
        tokenizer: A transformers tokenizer (SentencePiece slow or fast) or any :class:`TextTokenizer`.
        image_token_index: The id that stands for one image (``-200``).
        image_token: The tag that marks an image in the text.
        return_tensors: ``None`` for a list, ``"pt"`` for a 1-D ``torch.long`` tensor ``[tokens]``.

    Returns:
        The ids, BOS first (when the tokenizer adds one).

    Example:
        With the MobileLLaMA tokenizer, ``"USER: <image>\\nHi"`` gives
        ``[1, <USER: ...>, -200, 29871, 13, <Hi>]``: the chunk after the image starts with the
        dummy-prefix piece ``▁`` (29871) and then the newline byte ``<0x0A>`` (13).
    """
    if not isinstance(prompt, str):
        raise PromptError(f"a prompt must be a string, got {type(prompt).__name__}")
    chunks = [tokenize_text(tokenizer, chunk) for chunk in prompt.split(image_token)]
    bos = getattr(tokenizer, "bos_token_id", None)
    offset = 1 if bos is not None and chunks[0] and chunks[0][0] == bos else 0
    ids: list[int] = chunks[0][:1] if offset else []
    for i, chunk in enumerate(chunks):
        if i:
            ids.append(image_token_index)
        ids.extend(chunk[offset:])
    return _maybe_tensor(ids, return_tensors)


def count_image_ids(ids: Sequence[int] | Any, image_token_index: int = IMAGE_TOKEN_INDEX) -> int:
    """How many image ids a sequence of ids holds (before expansion: the number of images)."""
    return sum(1 for i in _as_id_list(ids) if i == image_token_index)


@dataclass(frozen=True)
class ExpandedIds:
    """Ids with every image expanded into its placeholder positions.

    Attributes:
        input_ids: ``[tokens]``; image positions hold the placeholder id (``-200`` by default).
        image_mask: ``[tokens]``; ``True`` exactly at image positions, in image order.
        labels: ``[tokens]`` when labels were expanded too (image positions are ``IGNORE_INDEX``),
            else ``None``.
        num_images: How many images were expanded.
    """

    input_ids: list[int]
    image_mask: list[bool]
    labels: list[int] | None = None
    num_images: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)

    def as_tensors(self) -> dict[str, Tensor]:
        """``input_ids`` (long), ``image_mask`` (bool) and, if present, ``labels`` (long) as 1-D torch tensors."""
        import torch

        out = {
            "input_ids": torch.tensor(self.input_ids, dtype=torch.long),
            "image_mask": torch.tensor(self.image_mask, dtype=torch.bool),
        }
        if self.labels is not None:
            out["labels"] = torch.tensor(self.labels, dtype=torch.long)
        return out


def expand_image_tokens(
    ids: Sequence[int] | Any,
    num_image_tokens: int | Sequence[int],
    *,
    image_token_index: int = IMAGE_TOKEN_INDEX,
    placeholder_id: int = IMAGE_TOKEN_INDEX,
    labels: Sequence[int] | Any | None = None,
) -> ExpandedIds:
    """Replace each image id by ``M`` placeholder positions (``M`` = the projector's visual tokens).

    Args:
        ids: Ids from :func:`tokenize_with_images` (a list or a 1-D tensor).
        num_image_tokens: ``M`` for every image, or one ``M`` per image in order.
        image_token_index: The image id to expand (``-200``).
        placeholder_id: The id written at image positions. The default keeps ``-200`` so that the
            model finds them with ``input_ids == -200`` (see the module notes); pass a vocabulary id
            for checkpoints that have a real image token.
        labels: Optional training labels aligned with ``ids``; image positions become ``IGNORE_INDEX``.

    Returns:
        :class:`ExpandedIds`, of length ``len(ids) + num_images * (M - 1)`` for a single ``M``.

    Raises:
        ConfigError: ``M`` is not a positive int.
        PromptError: A list of ``M`` whose length is not the number of images.
        DataError: ``labels`` is not as long as ``ids``.

    Example:
        >>> out = expand_image_tokens([1, 5, -200, 7], 3)
        >>> out.input_ids, out.image_mask
        ([1, 5, -200, -200, -200, 7], [False, False, True, True, True, False])
    """
    ids = _as_id_list(ids)
    positions = [i for i, token in enumerate(ids) if token == image_token_index]
    counts = [num_image_tokens] * len(positions) if isinstance(num_image_tokens, int) else list(num_image_tokens)
    for m in [num_image_tokens] if isinstance(num_image_tokens, int) else counts:
        if not isinstance(m, int) or isinstance(m, bool) or m < 1:
            raise ConfigError(f"num_image_tokens must be a positive int (the projector's output tokens), got {m!r}")
    if len(counts) != len(positions):
        raise PromptError(
            f"got {len(counts)} image token counts for {len(positions)} images in the ids; give one count per image"
        )
    label_list = None if labels is None else _as_id_list(labels, "labels")
    if label_list is not None and len(label_list) != len(ids):
        raise DataError(f"labels have {len(label_list)} entries but the ids have {len(ids)}; they must align")
    out_ids: list[int] = []
    mask: list[bool] = []
    out_labels: list[int] | None = None if label_list is None else []
    counts_iter = iter(counts)
    for i, token in enumerate(ids):
        if token == image_token_index:
            m = next(counts_iter)
            out_ids.extend([placeholder_id] * m)
            mask.extend([True] * m)
            if out_labels is not None:
                out_labels.extend([IGNORE_INDEX] * m)
        else:
            out_ids.append(token)
            mask.append(False)
            if out_labels is not None and label_list is not None:
                out_labels.append(label_list[i])
    return ExpandedIds(out_ids, mask, out_labels, len(positions))


def check_context_length(
    num_positions: int,
    context_length: int,
    *,
    reserve_tokens: int = 0,
    num_images: int = 0,
    num_image_tokens: int | Sequence[int] = 0,
) -> None:
    """Raise a :class:`~mvlm.errors.PromptError` when a prompt does not fit the model's context.

    Args:
        num_positions: Length of the expanded prompt (text tokens plus image positions).
        context_length: The model's context length (``max_position_embeddings``, 2048 for MobileLLaMA).
        reserve_tokens: Positions to keep free for the answer (for example ``max_new_tokens``).
        num_images: Images in the prompt, for the message.
        num_image_tokens: Positions per image, for the message.
    """
    if not isinstance(context_length, int) or isinstance(context_length, bool) or context_length < 1:
        raise ConfigError(f"context_length must be a positive int, got {context_length!r}")
    if num_positions + reserve_tokens <= context_length:
        return
    image_positions = num_images * num_image_tokens if isinstance(num_image_tokens, int) else sum(num_image_tokens)
    text_tokens = num_positions - image_positions
    detail = f" ({text_tokens} text tokens + {image_positions} image positions)" if num_images else ""
    reserved = f" plus {reserve_tokens} reserved for the answer" if reserve_tokens else ""
    raise PromptError(
        f"the prompt is {num_positions} positions long{detail}{reserved}, but the model's context length is "
        f"{context_length}; shorten the prompt or the conversation history, use fewer images, or lower max_new_tokens"
    )


def encode_prompt(
    prompt: str,
    tokenizer: TextTokenizer,
    *,
    num_image_tokens: int | Sequence[int],
    num_images: int | None = None,
    context_length: int | None = None,
    reserve_tokens: int = 0,
    image_token_index: int = IMAGE_TOKEN_INDEX,
    placeholder_id: int = IMAGE_TOKEN_INDEX,
) -> ExpandedIds:
    """Rendered prompt -> expanded ids, with every check: tag count, then tokenization, expansion, length.

    Args:
        prompt: The rendered prompt text (tags already in place; see
            :func:`~mvlm.prompting.ensure_image_token` for user messages without one).
        tokenizer: The language model's tokenizer.
        num_image_tokens: Positions per image (``projector.num_output_tokens(N)``), or one per image.
        num_images: How many images come with the prompt; ``None`` skips the count check.
        context_length: The model's context length; ``None`` skips the length check.
        reserve_tokens: Positions to keep free for the answer.
        image_token_index: The id of one image before expansion.
        placeholder_id: The id written at image positions after expansion.

    Raises:
        PromptError: Tags and images do not match, or the prompt does not fit the context.
    """
    if num_images is not None:
        check_image_count(prompt, num_images)
    ids = cast(list[int], tokenize_with_images(prompt, tokenizer, image_token_index))
    expanded = expand_image_tokens(
        ids, num_image_tokens, image_token_index=image_token_index, placeholder_id=placeholder_id
    )
    if context_length is not None:
        check_context_length(
            len(expanded),
            context_length,
            reserve_tokens=reserve_tokens,
            num_images=expanded.num_images,
            num_image_tokens=num_image_tokens,
        )
    return expanded
