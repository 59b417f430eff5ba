"""Training labels: which tokens of a conversation carry loss, exactly as the reference masks them.

The reference trains only on the assistant's answers. For the ``v1`` template (and the ``llama_2``
ones) it renders the conversation, splits the text into rounds on ``sep2`` (``"</s>"``), and in each
round masks the instruction: everything up to and including ``" ASSISTANT: "`` (``"[/INST] "`` for
LLaMA-2), measured as ``len(tokenize(instruction)) - 2`` tokens (one for the BOS a separately
tokenized piece gets, one for the trailing ``▁`` that merges into the answer's first token in the
full text). The first token (BOS) is always masked, as is everything after the last round. If the
counted length differs from the real number of tokens, the whole sample is masked and reported
(:class:`TokenizationMismatchWarning`). For ``plain`` (stage-1) the text is ``"<image>" + caption +
"\\n"`` and only the BOS and the image id are masked.

All functions return plain lists; :meth:`MaskedSample.as_tensors` gives torch tensors.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from mvlm.errors import DataError, PromptError
from mvlm.prompting.constants import DEFAULT_IMAGE_TOKEN, IGNORE_INDEX
from mvlm.prompting.conversation import Conversation, SeparatorStyle, get_conversation
from mvlm.prompting.image_tags import normalize_image_token
from mvlm.prompting.tokenization import TextTokenizer, tokenize_text, tokenize_with_images

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

__all__ = [
    "MaskedSample",
    "TokenizationMismatchWarning",
    "build_training_sample",
    "label_masking_style",
    "mask_targets_llama_2",
    "mask_targets_plain",
    "mask_targets_v1",
]


class TokenizationMismatchWarning(UserWarning):
    """The round-by-round token count of a conversation differs from its real length; it was fully masked."""


@dataclass(frozen=True)
class MaskedSample:
    """One training sample: ids, labels (``IGNORE_INDEX`` where no loss), and the text they came from.

    Attributes:
        input_ids: ``[tokens]``, with one ``-200`` per image (not expanded).
        labels: ``[tokens]``, the ids where the model is trained to predict them, else ``-100``.
        text: The rendered conversation.
        mismatch: ``True`` when the counted length differed from the real one and every label was masked.
    """

    input_ids: list[int]
    labels: list[int]
    text: str
    mismatch: bool = False

    def as_tensors(self) -> dict[str, Tensor]:
        """``input_ids`` and ``labels`` as 1-D ``torch.long`` tensors."""
        import torch

        return {
            "input_ids": torch.tensor(self.input_ids, dtype=torch.long),
            "labels": torch.tensor(self.labels, dtype=torch.long),
        }


def _tokenize(text: str, tokenizer: TextTokenizer, has_image: bool) -> list[int]:
    if has_image:
        return cast(list[int], tokenize_with_images(text, tokenizer))
    return tokenize_text(tokenizer, text)


def _mask(labels: list[int], start: int, stop: int | None = None) -> None:
    stop = len(labels) if stop is None else min(stop, len(labels))
    for i in range(max(start, 0), stop):
        labels[i] = IGNORE_INDEX


def _pad_id(tokenizer: TextTokenizer, pad_token_id: int | None) -> int | None:
    if pad_token_id is not None:
        return pad_token_id
    pad = getattr(tokenizer, "pad_token_id", None)
    # The reference's training sets pad_token = unk_token for these templates.
    return pad if pad is not None else getattr(tokenizer, "unk_token_id", None)


def _mask_rounds(
    conversation: str,
    tokenizer: TextTokenizer,
    *,
    round_sep: str,
    answer_sep: str,
    has_image: bool,
    model_max_length: int | None,
    pad_token_id: int | None,
    warn: bool,
) -> MaskedSample:
    if has_image or model_max_length is None:
        input_ids = _tokenize(conversation, tokenizer, has_image)
    else:  # the reference truncates text-only conversations when it tokenizes them
        input_ids = tokenize_text(tokenizer, conversation, max_length=model_max_length, truncation=True)
    labels = list(input_ids)
    pad = _pad_id(tokenizer, pad_token_id)
    total_len = sum(1 for i in input_ids if i != pad)

    cur_len = 1
    _mask(labels, 0, cur_len)
    for round_text in conversation.split(round_sep):
        if round_text == "":
            break
        parts = round_text.split(answer_sep)
        if len(parts) != 2:
            break
        instruction = parts[0] + answer_sep
        round_len = len(_tokenize(round_text, tokenizer, has_image))
        instruction_len = len(_tokenize(instruction, tokenizer, has_image)) - 2
        _mask(labels, cur_len, cur_len + instruction_len)
        cur_len += round_len
    _mask(labels, cur_len)

    mismatch = False
    if (model_max_length is None or cur_len < model_max_length) and cur_len != total_len:
        mismatch = True
        _mask(labels, 0)
        if warn:
            warnings.warn(
                f"tokenization mismatch: the rounds count {cur_len} tokens but the conversation has {total_len}; "
                "the sample is fully masked (it adds no loss). Load the tokenizer as the reference did "
                "(SentencePiece with legacy=True) or check the template's separators.",
                TokenizationMismatchWarning,
                stacklevel=3,
            )
    return MaskedSample(input_ids, labels, conversation, mismatch)


def mask_targets_v1(
    conversation: str,
    tokenizer: TextTokenizer,
    *,
    template: str | Conversation = "v1",
    has_image: bool = True,
    model_max_length: int | None = None,
    pad_token_id: int | None = None,
    warn: bool = True,
) -> MaskedSample:
    """Ids and labels of a conversation rendered with a ``TWO``-style template, as ``preprocess_v1``.

    Args:
        conversation: The rendered text (:meth:`Conversation.get_prompt` with every answer filled in).
        tokenizer: The language model's tokenizer.
        template: The template it was rendered with; its ``sep``, assistant role and ``sep2`` split it.
        has_image: Tokenize with :func:`tokenize_with_images` (``-200`` per ``<image>``), as the
            reference does for samples with an image; otherwise the tags are plain text.
        model_max_length: The reference truncates text-only samples to it and reports a mismatch only
            when the counted length is below it. ``None``: no truncation, always check.
        pad_token_id: The id not counted in the real length; defaults to the tokenizer's pad id, else
            its unk id (the reference trains with pad = unk).
        warn: Emit a :class:`TokenizationMismatchWarning` on a mismatch (the result says so either way).

    Returns:
        :class:`MaskedSample`; loss falls on each answer and its ``</s>``.
    """
    conv = get_conversation(template)
    if conv.sep2 is None:
        raise PromptError("v1 label masking needs a template with sep2 (the end-of-answer separator)")
    return _mask_rounds(
        conversation,
        tokenizer,
        round_sep=conv.sep2,
        answer_sep=conv.sep + conv.roles[1] + ": ",
        has_image=has_image,
        model_max_length=model_max_length,
        pad_token_id=pad_token_id,
        warn=warn,
    )


def mask_targets_llama_2(
    conversation: str,
    tokenizer: TextTokenizer,
    *,
    template: str | Conversation = "llava_llama_2",
    has_image: bool = True,
    model_max_length: int | None = None,
    pad_token_id: int | None = None,
    warn: bool = True,
) -> MaskedSample:
    """Ids and labels of a ``LLAMA_2``-style conversation, as the reference's ``preprocess_llama_2``.

    The same algorithm as :func:`mask_targets_v1`, with rounds split on ``sep2`` and instructions
    ending in ``"[/INST] "``. Arguments as :func:`mask_targets_v1`.
    """
    conv = get_conversation(template)
    return _mask_rounds(
        conversation,
        tokenizer,
        round_sep=conv.sep2 or "</s>",
        answer_sep="[/INST] ",
        has_image=has_image,
        model_max_length=model_max_length,
        pad_token_id=pad_token_id,
        warn=warn,
    )


def mask_targets_plain(text: str, tokenizer: TextTokenizer, *, instruction: str = DEFAULT_IMAGE_TOKEN) -> MaskedSample:
    """Ids and labels of a stage-1 sample ``"<image>" + caption + "\\n"``, as ``preprocess_plain``.

    The first ``len(tokenize_with_images(instruction))`` ids (BOS and the image id) are masked; the
    caption and its newline carry the loss.
    """
    ids = cast(list[int], tokenize_with_images(text, tokenizer))
    prefix = cast(list[int], tokenize_with_images(instruction, tokenizer))
    labels = list(ids)
    _mask(labels, 0, len(prefix))
    return MaskedSample(ids, labels, text)


def label_masking_style(template: str | Conversation) -> str:
    """Which masking a template gets, by the reference's rules: ``"plain"``, ``"llama_2"`` or ``"v1"``.

    ``PLAIN`` style -> ``"plain"``; ``LLAMA_2`` style -> ``"llama_2"``; a version starting with ``"v1"``
    -> ``"v1"``. Custom templates follow the same rules.

    Raises:
        PromptError: The template fits none of them (the reference's vicuna-v0 path is not supported).
    """
    conv = get_conversation(template)
    if conv.sep_style is SeparatorStyle.PLAIN:
        return "plain"
    if conv.sep_style is SeparatorStyle.LLAMA_2:
        return "llama_2"
    if conv.version.startswith("v1") and conv.sep_style is SeparatorStyle.TWO:
        return "v1"
    name = f"'{template}'" if isinstance(template, str) else f"with version '{conv.version}'"
    raise PromptError(
        f"the conversation template {name} has no label masking; training supports PLAIN-style templates, "
        "LLAMA_2-style templates and TWO-style templates whose version starts with 'v1' (such as 'v1')"
    )


def _turns_to_messages(turns: Sequence[Mapping[str, Any]], conv: Conversation) -> list[tuple[str, str]]:
    roles = {"human": conv.roles[0], "gpt": conv.roles[1]}
    messages = []
    for turn in turns:
        if not isinstance(turn, Mapping) or "from" not in turn or "value" not in turn:
            raise DataError(f"each conversation turn must be a mapping with 'from' and 'value', got {turn!r}")
        if turn["from"] not in roles:
            raise DataError(f"a turn's 'from' must be 'human' or 'gpt', got {turn['from']!r}")
        if not isinstance(turn["value"], str):
            raise DataError(f"a turn's 'value' must be a string, got {type(turn['value']).__name__}")
        messages.append((roles[turn["from"]], turn["value"]))
    return messages


def build_training_sample(
    turns: Sequence[Mapping[str, Any]],
    tokenizer: TextTokenizer,
    *,
    template: str | Conversation = "v1",
    has_image: bool = True,
    model_max_length: int | None = None,
    pad_token_id: int | None = None,
    warn: bool = True,
) -> MaskedSample:
    """A LLaVA-format conversation -> ids and labels, as the reference's ``preprocess`` pipeline.

    Args:
        turns: ``[{"from": "human" | "gpt", "value": text}, ...]`` (the LLaVA JSON form). A leading
            ``gpt`` turn is skipped; the rest must alternate human, gpt.
        tokenizer: The language model's tokenizer.
        template: The training template (``"v1"`` for fine-tuning, ``"plain"`` for stage 1).
        has_image: The sample has an image: every message with ``<image>`` is normalized to
            ``"<image>\\n" + text`` first (:func:`~mvlm.prompting.normalize_image_token`).
        model_max_length: See :func:`mask_targets_v1`.
        pad_token_id: See :func:`mask_targets_v1`.
        warn: See :func:`mask_targets_v1`.

    Raises:
        DataError: Malformed turns (wrong keys, roles out of order; for ``plain``: not exactly two
            turns, or no ``<image>`` in the first).
        PromptError: The template has no label masking (see :func:`label_masking_style`).

    Example:
        >>> turns = [{"from": "human", "value": "<image>\\nWhat is it?"}, {"from": "gpt", "value": "A cat."}]
        >>> # build_training_sample(turns, tokenizer).labels -> -100 up to "ASSISTANT:", then "A cat.</s>"
    """
    conv = get_conversation(template)
    style = label_masking_style(conv)
    messages = _turns_to_messages(turns, conv)
    if has_image:
        messages = [(role, normalize_image_token(text)) for role, text in messages]

    if style == "plain":
        if len(messages) != 2:
            raise DataError(f"a plain (stage-1) sample must have exactly 2 turns, got {len(messages)}")
        if DEFAULT_IMAGE_TOKEN not in messages[0][1]:
            raise DataError(f"the first turn of a plain (stage-1) sample must contain '{DEFAULT_IMAGE_TOKEN}'")
        return mask_targets_plain(DEFAULT_IMAGE_TOKEN + messages[1][1] + conv.sep, tokenizer)

    if messages and messages[0][0] != conv.roles[0]:
        messages = messages[1:]  # the reference skips a first turn that is not the user's
    conv.messages = []
    for j, (role, text) in enumerate(messages):
        if role != conv.roles[j % 2]:
            raise DataError(f"turn {j} should come from '{conv.roles[j % 2]}' but comes from '{role}'")
        conv.append_message(role, text)
    masker = mask_targets_llama_2 if style == "llama_2" else mask_targets_v1
    return masker(
        conv.get_prompt(),
        tokenizer,
        template=conv,
        has_image=has_image,
        model_max_length=model_max_length,
        pad_token_id=pad_token_id,
        warn=warn,
    )
