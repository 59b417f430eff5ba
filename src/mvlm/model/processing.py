"""``MobileVLMProcessor``: everything between a user's text and images and the model's input tensors.

As transformers' processors do for LLaVA, one object holds the tokenizer, the
:class:`~mvlm.vision.ImageProcessor`, the conversation template and the number of positions each
image takes, and turns ``(images, text)`` into ``input_ids`` (each ``<image>`` expanded into ``M``
placeholder positions holding ``image_token_index``), ``attention_mask`` and ``pixel_values``; for a
training conversation also ``labels``. Inference (:mod:`mvlm.inference.inputs`) and the LLaVA
training data (:class:`mvlm.data.LlavaDataset`) both build their inputs through it.

Example:
    >>> processor = MobileVLMProcessor.from_pretrained("mtgv/MobileVLM_V2-1.7B")  # doctest: +SKIP
    >>> batch = processor(images="photo.jpg", text="What is in the image?", return_tensors="pt")  # doctest: +SKIP
    >>> model.generate(**batch, max_new_tokens=32)  # doctest: +SKIP

The published checkpoints carry no processor file: :meth:`MobileVLMProcessor.from_pretrained` then
derives every setting from ``config.json`` (the tower's image size and normalisation, the
projector's token count, ``image_aspect_ratio``, the context length) and uses the ``v1`` template,
as MobileVLM's own scripts do. :meth:`MobileVLMProcessor.save_pretrained` writes the tokenizer files,
``preprocessor_config.json`` and ``processor_config.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mvlm.errors import ConfigError, PromptError
from mvlm.prompting import (
    ExpandedIds,
    MaskedSample,
    build_chat_prompt,
    build_training_sample,
    encode_prompt,
    expand_image_tokens,
    get_conversation,
)
from mvlm.prompting.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from mvlm.model.configuration import MobileVLMConfig
    from mvlm.prompting import Conversation
    from mvlm.vision import ImageProcessor

__all__ = ["PROCESSOR_CONFIG_NAME", "MobileVLMProcessor"]

PROCESSOR_CONFIG_NAME = "processor_config.json"
"""The file :meth:`MobileVLMProcessor.save_pretrained` writes the processor's own settings to."""

DEFAULT_CONV_MODE = "v1"
"""The template MobileVLM's inference and evaluation scripts use (``--conv-mode v1``)."""

Turns = Sequence[tuple[str, str]]


class MobileVLMProcessor:
    """Tokenizer + image processor + conversation template + ``<image>`` expansion.

    Args:
        tokenizer: The language model's tokenizer (:func:`mvlm.language.load_tokenizer`).
        image_processor: Images -> ``[B, 3, S, S]`` pixels (:class:`~mvlm.vision.ImageProcessor`);
            ``None`` for text only (images then raise).
        num_image_tokens: Positions each image takes (``projector.num_output_tokens(N)``: 144 for LDP).
        conv_mode: The conversation template of :meth:`__call__` and :meth:`render` (default ``v1``;
            a registered name, or a :class:`~mvlm.prompting.Conversation`, which cannot be saved).
        context_length: The model's context length; prompts that leave no room to answer raise
            (``None``: no check).
        image_token_index: The id written at image positions (``config.image_token_index``, -200).

    Raises:
        ConfigError: ``num_image_tokens`` is not a positive int.
        UnknownNameError: ``conv_mode`` names no template.
    """

    def __init__(
        self,
        tokenizer: Any,
        image_processor: ImageProcessor | None,
        *,
        num_image_tokens: int,
        conv_mode: str | Conversation = DEFAULT_CONV_MODE,
        context_length: int | None = None,
        image_token_index: int = IMAGE_TOKEN_INDEX,
    ) -> None:
        if not isinstance(num_image_tokens, int) or isinstance(num_image_tokens, bool) or num_image_tokens < 1:
            raise ConfigError(f"num_image_tokens must be a positive int, got {num_image_tokens!r}")
        get_conversation(conv_mode)  # an unknown template fails here, not at the first call
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.num_image_tokens = num_image_tokens
        self.conv_mode = conv_mode
        self.context_length = context_length
        self.image_token_index = image_token_index

    def __repr__(self) -> str:
        return (
            f"MobileVLMProcessor(conv_mode={self.conv_mode!r}, num_image_tokens={self.num_image_tokens}, "
            f"context_length={self.context_length}, image_processor={self.image_processor!r})"
        )

    # ------------------------------------------------------------------------------- building
    @classmethod
    def from_config(cls, config: MobileVLMConfig, tokenizer: Any, **options: Any) -> MobileVLMProcessor:
        """The processor a model of ``config`` needs, with ``tokenizer``; no weights are read or built.

        The tower and projector are built on the meta device to read the image preprocessing and
        the number of positions per image; ``image_aspect_ratio: pad`` pads images to a square.

        Args:
            config: A :class:`~mvlm.model.MobileVLMConfig`.
            tokenizer: The checkpoint's tokenizer.
            **options: ``conv_mode`` and the other settings of the constructor, overriding the config's.
        """
        import torch

        from mvlm.model.parts import build_projector, build_vision_tower
        from mvlm.vision import ImageProcessor

        with torch.device("meta"):
            tower = build_vision_tower(config)
            projector = build_projector(config)
        settings: dict[str, Any] = {
            "num_image_tokens": projector.num_output_tokens(tower.num_tokens),
            "context_length": config.context_length,
            "image_token_index": config.image_token_index,
        }
        settings.update(options)
        image_processor = ImageProcessor.for_tower(tower, pad_to_square=config.image_aspect_ratio == "pad")
        return cls(tokenizer, image_processor, **settings)

    @classmethod
    def for_model(cls, model: Any, tokenizer: Any = None, **options: Any) -> MobileVLMProcessor:
        """The processor of a built or loaded model: its tower's preprocessing, its token count and context.

        Args:
            model: A :class:`~mvlm.model.MobileVLM`.
            tokenizer: The tokenizer (default: the model's own, read from its checkpoint).
            **options: ``conv_mode`` and the other settings of the constructor.
        """
        from mvlm.vision import ImageProcessor

        settings: dict[str, Any] = {
            "num_image_tokens": model.num_image_tokens,
            "context_length": model.config.context_length,
            "image_token_index": model.config.image_token_index,
        }
        settings.update(options)
        image_processor = ImageProcessor.for_tower(
            model.vision_tower, pad_to_square=model.config.image_aspect_ratio == "pad"
        )
        return cls(model.tokenizer if tokenizer is None else tokenizer, image_processor, **settings)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike[str], **kwargs: Any) -> MobileVLMProcessor:
        """Load the processor of a checkpoint folder or hub id (the local hub cache when offline).

        Reads ``processor_config.json`` and ``preprocessor_config.json`` where the folder has them
        (as :meth:`save_pretrained` writes); otherwise derives the settings from ``config.json``
        (:meth:`from_config`), as for every published MobileVLM.

        Args:
            name_or_path: A folder or hub id.
            **kwargs: Hub options (``revision``, ``cache_dir``, ``local_files_only``, ``token``) and
                processor settings (``conv_mode``...) that override the stored ones.

        Raises:
            CheckpointError: No tokenizer or config can be read there.
            ConfigError: A stored processor file is not valid JSON or holds unknown settings.
        """
        from mvlm.language import load_tokenizer
        from mvlm.model.configuration import MobileVLMConfig
        from mvlm.vision import ImageProcessor

        hub = {k: kwargs.pop(k) for k in ("revision", "cache_dir", "local_files_only", "token") if k in kwargs}
        tokenizer = load_tokenizer(name_or_path, **hub)
        stored = _read_json(_find_file(name_or_path, PROCESSOR_CONFIG_NAME, hub))
        preprocessor = _find_file(name_or_path, "preprocessor_config.json", hub)
        settings = {key: value for key, value in stored.items() if key != "processor_class"}
        settings.update(kwargs)
        if stored and preprocessor is not None:
            return cls(tokenizer, ImageProcessor.from_pretrained(preprocessor), **_known(settings, stored))
        config = MobileVLMConfig.from_pretrained(str(name_or_path), **hub)
        processor = cls.from_config(config, tokenizer, **_known(settings, stored))
        if preprocessor is not None:
            processor.image_processor = ImageProcessor.from_pretrained(preprocessor)
        return processor

    def to_dict(self) -> dict[str, Any]:
        """The processor's own settings, as ``processor_config.json`` holds them.

        Raises:
            ConfigError: The template is a :class:`~mvlm.prompting.Conversation` object, not a registered name.
        """
        if not isinstance(self.conv_mode, str):
            raise ConfigError(
                "this processor's template is a Conversation object; register it "
                "(mvlm.prompting.register_conversation) and pass its name as conv_mode to save the processor"
            )
        return {
            "processor_class": type(self).__name__,
            "conv_mode": self.conv_mode,
            "num_image_tokens": self.num_image_tokens,
            "context_length": self.context_length,
            "image_token_index": self.image_token_index,
        }

    def save_pretrained(self, folder: str | os.PathLike[str]) -> Path:
        """Write the tokenizer files, ``preprocessor_config.json`` and ``processor_config.json`` into ``folder``.

        Returns:
            The folder.

        Raises:
            ConfigError: The processor cannot be written (an unregistered template, or no image processor);
                nothing is written then.
        """
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        if self.image_processor is None:
            raise ConfigError("a text-only processor (image_processor=None) cannot be saved as a MobileVLM processor")
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(str(target))
        self.image_processor.save_pretrained(target)
        (target / PROCESSOR_CONFIG_NAME).write_text(text, encoding="utf-8")
        return target

    # ------------------------------------------------------------------------------- text
    def render(
        self, message: str, *, history: Turns = (), num_images: int = 0, conv_mode: str | Conversation | None = None
    ) -> str:
        """The prompt text of a conversation: earlier turns, the new message and an empty answer slot.

        When no user message has an ``<image>`` tag, the first one gets ``"<image>\\n"`` per image in
        front (:func:`mvlm.prompting.build_chat_prompt`).

        Args:
            message: The new user message.
            history: Earlier ``(user message, answer)`` turns, oldest first.
            num_images: Images that come with the conversation.
            conv_mode: Another template for this call.

        Raises:
            PromptError: The tags and the images differ in number.
        """
        return build_chat_prompt(message, conv_mode or self.conv_mode, history=history, num_images=num_images)

    def encode(self, prompt: str, *, num_images: int | None = None, reserve_tokens: int = 1) -> ExpandedIds:
        """A rendered prompt -> expanded ids: tag count checked, ``<image>`` expanded, length checked.

        Args:
            prompt: Text with its ``<image>`` tags in place (:meth:`render`).
            num_images: Images that come with it (``None``: not checked).
            reserve_tokens: Positions to keep free for the answer (1: at least one new token).

        Raises:
            PromptError: Tags and images differ, or the prompt leaves no room in the context.
        """
        return encode_prompt(
            prompt,
            self.tokenizer,
            num_image_tokens=self.num_image_tokens,
            num_images=num_images,
            context_length=self.context_length,
            reserve_tokens=reserve_tokens,
            placeholder_id=self.image_token_index,
        )

    def encode_conversation(
        self,
        turns: Sequence[Mapping[str, Any]],
        *,
        num_images: int,
        template: str | Conversation | None = None,
        model_max_length: int | None = None,
        warn: bool = True,
    ) -> MaskedSample:
        """A LLaVA-format training conversation -> ids and labels, one image id per image (not expanded).

        Args:
            turns: ``[{"from": "human" | "gpt", "value": text}, ...]``.
            num_images: Images of the sample (its ``<image>`` tags are normalised when there are any).
            template: The training template (default: the processor's).
            model_max_length: See :func:`mvlm.prompting.build_training_sample`.
            warn: Warn on a tokenization mismatch.

        Raises:
            DataError: Malformed turns.
        """
        return build_training_sample(
            turns,
            self.tokenizer,
            template=template or self.conv_mode,
            has_image=num_images > 0,
            model_max_length=model_max_length,
            warn=warn,
        )

    def expand(self, ids: Sequence[int], labels: Sequence[int] | None = None) -> ExpandedIds:
        """Each image id -> :attr:`num_image_tokens` positions holding :attr:`image_token_index`
        (labels ``IGNORE_INDEX`` there); see :func:`mvlm.prompting.expand_image_tokens`."""
        return expand_image_tokens(ids, self.num_image_tokens, labels=labels, placeholder_id=self.image_token_index)

    def pad(self, rows: Sequence[Sequence[int]], *, side: str = "left", value: int | None = None) -> torch.Tensor:
        """Stack id rows of different lengths into ``[batch, longest]``, padded on ``side``.

        Args:
            rows: The id rows.
            side: ``"left"`` (generation: every row's last token in the last column) or ``"right"`` (training).
            value: The padding id (default: the tokenizer's pad id, else 0).

        Raises:
            ConfigError: ``side`` is neither ``"left"`` nor ``"right"``.
        """
        import torch

        if side not in ("left", "right"):
            raise ConfigError(f"padding side must be 'left' or 'right', got {side!r}")
        if value is None:
            value = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        length = max((len(row) for row in rows), default=0)
        out = torch.full((len(rows), length), value, dtype=torch.long)
        for index, row in enumerate(rows):
            if len(row):
                where = slice(length - len(row), length) if side == "left" else slice(0, len(row))
                out[index, where] = torch.as_tensor(list(row), dtype=torch.long)
        return out

    def attention_mask(self, rows: Sequence[Sequence[int]], *, side: str = "left") -> torch.Tensor:
        """``[batch, longest]`` with 1 on each row's own positions and 0 on its padding."""
        return self.pad([[1] * len(row) for row in rows], side=side, value=0)

    # ------------------------------------------------------------------------------- the whole call
    def __call__(
        self,
        images: Any = None,
        text: str | Sequence[str] | None = None,
        *,
        conversations: Sequence[Sequence[Mapping[str, Any]]] | None = None,
        history: Any = None,
        apply_template: bool = True,
        padding_side: str | None = None,
        return_tensors: str | None = "pt",
    ) -> dict[str, Any]:
        """Model inputs for ``text`` (user messages) or ``conversations`` (training samples) with their images.

        Args:
            images: ``None``, one image (path, bytes, ``PIL.Image``, array) or a list: one entry per
                text (``None``, an image or a list of images); a single image goes with every text.
                For one text, a list is that text's images.
            text: One user message or a list (a batch). Rendered with the template unless
                ``apply_template=False`` (then each text is a full prompt with its ``<image>`` tags).
            conversations: Instead of ``text``: LLaVA-format training conversations
                (``[{"from": "human", "value": ...}, {"from": "gpt", ...}]``); ``labels`` are returned.
            history: For one text, its earlier ``(user, answer)`` turns; for a batch, one list per text.
            apply_template: Render ``text`` with the conversation template.
            padding_side: ``"left"`` for generation (the default with ``text``), ``"right"`` for
                training (the default with ``conversations``).
            return_tensors: ``"pt"`` for tensors; ``None`` for lists of ids per row (unpadded).

        Returns:
            ``input_ids`` and ``attention_mask`` ``[batch, length]``, ``pixel_values`` ``[num_images,
            3, S, S]`` (every row's images in order; ``None`` without images) and, for
            ``conversations``, ``labels`` (``-100`` on prompts, image positions and padding).

        Raises:
            PromptError: Neither or both of ``text`` and ``conversations``; tags and images differ;
                a prompt does not fit the context.
            ImageError: An image cannot be read.
        """
        if (text is None) == (conversations is None):
            raise PromptError("give the processor either text (user messages) or conversations (training samples)")
        if return_tensors not in ("pt", None):
            raise ConfigError(f"return_tensors must be 'pt' or None, got {return_tensors!r}")
        entries = list(conversations) if conversations is not None else None
        texts = [text] if isinstance(text, str) else (list(text) if text is not None else [])
        count = len(entries) if entries is not None else len(texts)
        per_row = _images_per_row(images, count, single=isinstance(text, str))
        labels: list[list[int]] | None = None
        if entries is not None:
            samples = [
                self.encode_conversation(turns, num_images=len(row_images))
                for turns, row_images in zip(entries, per_row, strict=True)
            ]
            encoded = [self.expand(sample.input_ids, sample.labels) for sample in samples]
            rows = [list(e.input_ids) for e in encoded]
            labels = [list(e.labels or []) for e in encoded]
            side = padding_side or "right"
        else:
            histories = _histories(history, count, single=isinstance(text, str))
            prompts = [
                self.render(message, history=turns, num_images=len(row_images)) if apply_template else message
                for message, turns, row_images in zip(texts, histories, per_row, strict=True)
            ]
            rows = [
                list(self.encode(prompt, num_images=len(row_images)).input_ids)
                for prompt, row_images in zip(prompts, per_row, strict=True)
            ]
            side = padding_side or "left"
        flat_images = [image for row_images in per_row for image in row_images]
        if return_tensors is None:
            result: dict[str, Any] = {"input_ids": rows, "pixel_values": flat_images or None}
            if labels is not None:
                result["labels"] = labels
            return result
        result = {
            "input_ids": self.pad(rows, side=side),
            "attention_mask": self.attention_mask(rows, side=side),
            "pixel_values": self._pixels(flat_images) if flat_images else None,
        }
        if labels is not None:
            result["labels"] = self.pad(labels, side=side, value=IGNORE_INDEX)
        return result

    def _pixels(self, images: Sequence[Any]) -> torch.Tensor:
        if self.image_processor is None:
            raise ConfigError("this processor has no image processor (text only); images cannot be processed")
        return self.image_processor(images)

    # ------------------------------------------------------------------------------- decoding
    def decode(self, ids: Sequence[int] | Any) -> str:
        """The text of ``ids``, special tokens skipped, as the released models decode
        (:func:`mvlm.language.text_decoder`: SentencePiece where there is a ``tokenizer.model``)."""
        from mvlm.language.decoding import text_decoder

        values = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        return text_decoder(self.tokenizer)(values)

    def batch_decode(self, sequences: Sequence[Sequence[int]] | Any) -> list[str]:
        """:meth:`decode` of every row of ``sequences`` (a list of id lists or a ``[batch, length]`` tensor)."""
        rows = sequences.tolist() if hasattr(sequences, "tolist") else list(sequences)
        return [self.decode(row) for row in rows]


# ----------------------------------------------------------------------------------- helpers
def _images_per_row(images: Any, count: int, *, single: bool) -> list[tuple[Any, ...]]:
    def as_tuple(entry: Any) -> tuple[Any, ...]:
        if entry is None:
            return ()
        return tuple(entry) if isinstance(entry, (list, tuple)) else (entry,)

    if not single and isinstance(images, (list, tuple)):
        if len(images) != count:
            raise PromptError(
                f"got {len(images)} image entries for {count} texts; pass one entry per text (None, an image or a "
                "list of images), or a single image for all"
            )
        return [as_tuple(entry) for entry in images]
    return [as_tuple(images)] * count


def _histories(history: Any, count: int, *, single: bool) -> list[Turns]:
    if history is None:
        return [()] * count
    if single:
        return [tuple(history)]
    if isinstance(history, Sequence) and len(history) == count:
        return [tuple(turns or ()) for turns in history]
    raise PromptError(f"with {count} texts, history must be None or a list of {count} histories (one per text)")


def _find_file(name_or_path: str | os.PathLike[str], filename: str, hub: Mapping[str, Any]) -> Path | None:
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        candidate = folder / filename
        return candidate if candidate.is_file() else None
    from transformers.utils import cached_file

    found = cached_file(
        str(name_or_path),
        filename,
        _raise_exceptions_for_missing_entries=False,
        _raise_exceptions_for_connection_errors=False,
        **hub,
    )
    return Path(found) if found else None


def _read_json(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"could not read {path}: {error}; write it again with MobileVLMProcessor.save_pretrained"
        ) from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


_SETTINGS = ("num_image_tokens", "conv_mode", "context_length", "image_token_index")


def _known(settings: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(settings) - set(_SETTINGS))
    if unknown:
        source = "processor_config.json" if set(unknown) & set(stored) else "the call"
        raise ConfigError(
            f"unknown processor setting(s) {', '.join(unknown)} in {source}; known: {', '.join(_SETTINGS)}"
        )
    return dict(settings)
