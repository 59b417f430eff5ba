"""Batching training samples: right padding, truncation that keeps image blocks whole, attention masks.

Samples come from :class:`~mvlm.data.llava.LlavaDataset` (or anything that yields the same
dictionaries): ``input_ids`` already expanded (each image is ``M`` consecutive positions holding
``-200``), ``labels`` with ``-100`` where there is no loss, and ``pixel_values`` for the sample's
images (or ``None``). A batch is plain padded tensors plus the batch's images in placeholder order,
which is exactly what :class:`~mvlm.model.MobileVLM` takes; the model alone fills the placeholders.

Truncation never cuts an image's placeholder block in half: when ``model_max_length`` falls inside
a block, the sample is cut before the block and that image (and any later one) is dropped from the
sample's ``pixel_values``, so placeholders and images always match. This is what the reference does
in effect (it truncates before expansion, where an image is a single id that is either kept or cut),
except that here the limit counts the expanded positions, which is the length the language model
really sees. ``on_image_cut="error"`` refuses such samples instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from mvlm.errors import ConfigError, DataError, ShapeError
from mvlm.prompting.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX

__all__ = ["DataCollatorForSupervisedDataset", "TruncatedSample", "truncate_sample"]

ImageCutPolicy = Literal["drop", "error"]


def _positive_int(value: Any, name: str, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive int{' or None' if allow_none else ''}, got {value!r}")


def _check_policy(on_image_cut: str) -> None:
    if on_image_cut not in ("drop", "error"):
        raise ConfigError(f"on_image_cut must be 'drop' or 'error', got {on_image_cut!r}")


def _image_positions_per_image(num_positions: int, num_images: int, where: str) -> int:
    """``M``: the placeholder positions per image, checking that positions and images agree."""
    if num_images == 0:
        if num_positions:
            raise DataError(
                f"{where}: input_ids hold {num_positions} image positions but the sample has no pixel_values"
            )
        return 0
    if num_positions == 0 or num_positions % num_images:
        raise DataError(
            f"{where}: {num_images} image(s) but {num_positions} image positions in input_ids; each image must be "
            "expanded to the same number M of positions (mvlm.prompting.expand_image_tokens)"
        )
    return num_positions // num_images


@dataclass(frozen=True)
class TruncatedSample:
    """A sample cut to the length limit (see :func:`truncate_sample`).

    Attributes:
        input_ids: ``[tokens]`` long, at most ``max_length`` positions.
        labels: ``[tokens]`` long, aligned with ``input_ids``.
        num_images: Images whose placeholder blocks are kept (the first ``num_images`` of the sample).
        dropped_images: Images whose blocks were cut away.
        truncated: Whether anything was cut.
    """

    input_ids: Tensor
    labels: Tensor
    num_images: int
    dropped_images: int = 0
    truncated: bool = False


def truncate_sample(
    input_ids: Tensor,
    labels: Tensor,
    max_length: int | None,
    *,
    num_images: int,
    image_token_index: int = IMAGE_TOKEN_INDEX,
    on_image_cut: ImageCutPolicy = "drop",
    where: str = "sample",
) -> TruncatedSample:
    """Cut an expanded sample to ``max_length`` positions without splitting an image's placeholder block.

    Positions past ``max_length`` are removed. If the limit falls inside an image's block, the cut
    moves back to the start of that block; images whose blocks do not survive whole are dropped
    (they are always the last ones of the sample, so keep ``pixel_values[:result.num_images]``).

    Args:
        input_ids: ``[tokens]`` expanded ids; every image is ``M`` consecutive ``image_token_index``.
        labels: ``[tokens]`` labels aligned with ``input_ids``.
        max_length: The most positions to keep; ``None`` keeps everything.
        num_images: How many images the sample has (``M`` is the image positions divided by it).
        image_token_index: The placeholder id (``-200``).
        on_image_cut: ``"drop"`` the cut images, or ``"error"``: raise instead.
        where: How to name the sample in error messages (file and record).

    Returns:
        :class:`TruncatedSample`.

    Raises:
        DataError: Image positions and ``num_images`` disagree, or an image would be cut and
            ``on_image_cut="error"``.

    Example:
        >>> import torch
        >>> ids = torch.tensor([1, 5, -200, -200, -200, 7, 8])
        >>> out = truncate_sample(ids, ids.clone(), 4, num_images=1)   # the limit falls inside the block
        >>> out.input_ids.tolist(), out.num_images, out.dropped_images
        ([1, 5], 0, 1)
    """
    _positive_int(max_length, "max_length", allow_none=True)
    _check_policy(on_image_cut)
    if input_ids.dim() != 1 or labels.shape != input_ids.shape:
        raise ShapeError(
            f"{where}: input_ids and labels must be 1-D and of equal length, got {list(input_ids.shape)} and "
            f"{list(labels.shape)}"
        )
    image_mask = input_ids == image_token_index
    per_image = _image_positions_per_image(int(image_mask.sum()), num_images, where)
    if max_length is None or input_ids.shape[0] <= max_length:
        return TruncatedSample(input_ids, labels, num_images)
    cut = max_length
    kept_images = num_images
    if num_images:
        kept_positions = int(image_mask[:max_length].sum())
        kept_images = kept_positions // per_image
        if kept_positions % per_image:  # the limit falls inside a block: cut before it
            cut = int(image_mask.nonzero()[kept_images * per_image])
    dropped = num_images - kept_images
    if dropped and on_image_cut == "error":
        raise DataError(
            f"{where}: truncating to model_max_length={max_length} would cut {dropped} of its {num_images} image(s) "
            f"(each {per_image} positions); raise model_max_length, shorten the conversation, or use "
            "on_image_cut='drop'"
        )
    return TruncatedSample(input_ids[:cut], labels[:cut], kept_images, dropped, truncated=True)


def _as_long_vector(value: Any, name: str, where: str) -> Tensor:
    tensor = value if isinstance(value, Tensor) else torch.as_tensor(value)
    if tensor.dim() != 1 or tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise DataError(
            f"{where}: {name} must be a 1-D integer tensor [tokens], got {tensor.dtype} {list(tensor.shape)}"
        )
    return tensor.long()


def _as_pixels(value: Any, where: str) -> Tensor | None:
    if value is None:
        return None
    if not isinstance(value, Tensor) or not value.is_floating_point():
        raise DataError(f"{where}: pixel_values must be a float tensor [num_images, 3, S, S] or None")
    if value.dim() == 3:  # one image [3, S, S], as the reference's samples carry it
        value = value.unsqueeze(0)
    if value.dim() != 4:
        raise ShapeError(f"{where}: pixel_values must be [num_images, 3, S, S], got {list(value.shape)}")
    return value


@dataclass
class DataCollatorForSupervisedDataset:
    """Collate training samples into one padded batch for :class:`~mvlm.model.MobileVLM`.

    Each sample is ``{"input_ids": [tokens], "labels": [tokens], "pixel_values": [n, 3, S, S] or None}``
    (:class:`~mvlm.data.llava.LlavaDataset` items). Samples are cut to ``model_max_length``
    (:func:`truncate_sample`: image blocks stay whole), then right-padded: ``input_ids`` with
    ``pad_token_id`` (0 = ``<unk>`` for MobileLLaMA, as the reference), ``labels`` with ``-100``.

    Args:
        pad_token_id: The padding id (``tokenizer.pad_token_id``; MobileVLM trains with pad = unk = 0).
        model_max_length: The most positions per sample (image positions included); ``None``: no limit.
        image_token_index: The placeholder id of image positions (``-200``).
        on_image_cut: What truncation does to an image whose block does not fit: ``"drop"`` it (and
            its pixels) or raise an ``"error"``.
        pad_to_multiple_of: Pad the batch's length up to a multiple of this (``None``: the longest sample).

    The batch (``B`` samples, ``L`` = the longest length after truncation):

    * ``input_ids``: ``[B, L]`` long, padded with ``pad_token_id``;
    * ``labels``: ``[B, L]`` long, padded with ``-100``;
    * ``attention_mask``: ``[B, L]`` long, 1 on every real position (text and image), 0 on padding;
    * ``pixel_values``: ``[num_images, 3, S, S]``, every sample's images in order, or ``None`` when
      no sample of the batch has an image. Text-only samples contribute no image (no zero-image filler).

    Example:
        >>> import torch
        >>> collate = DataCollatorForSupervisedDataset(pad_token_id=0, model_max_length=2048)
        >>> batch = collate([
        ...     {"input_ids": torch.tensor([1, 5, 6]), "labels": torch.tensor([-100, 5, 6]), "pixel_values": None},
        ...     {"input_ids": torch.tensor([1, 7]), "labels": torch.tensor([-100, 7]), "pixel_values": None},
        ... ])
        >>> batch["input_ids"].tolist(), batch["attention_mask"].tolist(), batch["pixel_values"]
        ([[1, 5, 6], [1, 7, 0]], [[1, 1, 1], [1, 1, 0]], None)
    """

    pad_token_id: int
    model_max_length: int | None = None
    image_token_index: int = IMAGE_TOKEN_INDEX
    on_image_cut: ImageCutPolicy = "drop"
    pad_to_multiple_of: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.pad_token_id, int) or isinstance(self.pad_token_id, bool) or self.pad_token_id < 0:
            raise ConfigError(
                f"pad_token_id must be a vocabulary id (an int >= 0), got {self.pad_token_id!r}; MobileVLM pads with "
                "the unk id 0"
            )
        _positive_int(self.model_max_length, "model_max_length", allow_none=True)
        _positive_int(self.pad_to_multiple_of, "pad_to_multiple_of", allow_none=True)
        _check_policy(self.on_image_cut)

    @classmethod
    def from_tokenizer(
        cls, tokenizer: Any, model_max_length: int | None = None, **options: Any
    ) -> DataCollatorForSupervisedDataset:
        """A collator padding with ``tokenizer``'s pad id (its unk id when it has no pad token, as the reference).

        Args:
            tokenizer: The language model's tokenizer (``mvlm.language.load_tokenizer`` sets pad = unk).
            model_max_length: See the class.
            **options: The other fields of the class.

        Raises:
            ConfigError: The tokenizer has neither a pad nor an unk token.
        """
        pad = getattr(tokenizer, "pad_token_id", None)
        if pad is None:
            pad = getattr(tokenizer, "unk_token_id", None)
        if pad is None:
            raise ConfigError("the tokenizer has no pad and no unk token; pass pad_token_id explicitly")
        return cls(pad_token_id=int(pad), model_max_length=model_max_length, **options)

    def __call__(self, instances: Sequence[Mapping[str, Any]]) -> dict[str, Tensor | None]:
        """Collate ``instances`` into ``input_ids``, ``labels``, ``attention_mask`` and ``pixel_values``.

        Raises:
            DataError: An empty batch, a sample without ``input_ids`` / ``labels``, ids and labels of
                different lengths, or image positions that do not match the sample's images.
            ShapeError: ``pixel_values`` of a wrong rank, or images of different sizes in one batch.
        """
        if not instances:
            raise DataError("cannot collate an empty batch")
        ids_list: list[Tensor] = []
        labels_list: list[Tensor] = []
        images: list[Tensor] = []
        for position, instance in enumerate(instances):
            where = f"batch sample {position}"
            if not isinstance(instance, Mapping) or "input_ids" not in instance or "labels" not in instance:
                raise DataError(f"{where}: a sample must be a mapping with 'input_ids' and 'labels'")
            ids = _as_long_vector(instance["input_ids"], "input_ids", where)
            labels = _as_long_vector(instance["labels"], "labels", where)
            pixels = _as_pixels(instance.get("pixel_values"), where)
            sample = truncate_sample(
                ids,
                labels,
                self.model_max_length,
                num_images=0 if pixels is None else pixels.shape[0],
                image_token_index=self.image_token_index,
                on_image_cut=self.on_image_cut,
                where=where,
            )
            ids_list.append(sample.input_ids)
            labels_list.append(sample.labels)
            if pixels is not None and sample.num_images:
                images.append(pixels[: sample.num_images])
        length = max(ids.shape[0] for ids in ids_list)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        batch_size = len(ids_list)
        input_ids = torch.full((batch_size, length), self.pad_token_id, dtype=torch.long)
        labels = torch.full((batch_size, length), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((batch_size, length), dtype=torch.long)
        for row, (ids, sample_labels) in enumerate(zip(ids_list, labels_list, strict=True)):
            input_ids[row, : ids.shape[0]] = ids
            labels[row, : ids.shape[0]] = sample_labels
            attention_mask[row, : ids.shape[0]] = 1
        pixel_values = None
        if images:
            shapes = {tuple(image.shape[1:]) for image in images}
            if len(shapes) > 1:
                raise ShapeError(f"the batch's images have different shapes {sorted(shapes)}; use one image processor")
            pixel_values = torch.cat(images, dim=0)
        return {
            "input_ids": input_ids,
            "labels": labels,
            "attention_mask": attention_mask,
            "pixel_values": pixel_values,
        }
