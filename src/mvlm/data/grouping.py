"""Length grouping by modality: the reference's ``group_by_modality_length`` sampler.

Stage-II data mixes image conversations with text-only ones. Grouping samples of similar length
into the same batches cuts padding; keeping image and text-only samples apart keeps batches
homogeneous. The algorithm, as MobileVLM's trainer implements it:

1. Lengths are signed word counts (:attr:`~mvlm.data.llava.LlavaDataset.modality_lengths`):
   positive for samples with an image, negative for text-only ones. Zero is not allowed.
2. Each modality on its own: shuffle, cut into *megabatches* of ``world_size * batch_size``, sort
   each megabatch by length (longest first), and split it into ``world_size`` per-rank batches of
   balanced total length (:func:`split_to_even_chunks`).
3. The last megabatch of each modality (usually partial) is set aside; all the other megabatches of
   both modalities are shuffled together. The set-aside leftovers, image ones first, then text
   ones, fill one full megabatch placed *first* (when there are at least ``world_size *
   batch_size`` of them); what remains goes *last*. So at most one megabatch mixes the modalities
   (the first or the last one); every other megabatch is single-modality.
4. If all samples have the same modality, step 2 alone is used on all of them (the reference
   refuses such data with an assertion).

``world_size`` is the number of ranks, as MobileVLM's trainer passes it (``args.world_size``;
LLaVA's later trainer multiplies it by the gradient-accumulation steps).

All randomness comes from one ``torch.Generator`` (the reference draws the per-modality shuffles
from torch's global generator), so an order is a pure function of the seed and the epoch:
resuming a run replays it exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler

from mvlm.errors import ConfigError, DataError

__all__ = [
    "ModalityLengthGroupedSampler",
    "length_grouped_indices",
    "modality_length_grouped_indices",
    "split_to_even_chunks",
]


def _check_positive(value: Any, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive int, got {value!r}")


def split_to_even_chunks(indices: Sequence[int], lengths: Sequence[int], num_chunks: int) -> list[list[int]]:
    """Split ``indices`` into ``num_chunks`` equal-size chunks of roughly equal total length.

    When ``len(indices)`` is a multiple of ``num_chunks``, each index in turn (longest first, as the
    caller sorted them) goes to the chunk with the smallest total length so far (the first on a
    tie); a full chunk takes no more. Otherwise the indices are dealt round-robin.

    Args:
        indices: Sample indices, usually sorted by length, longest first.
        lengths: Length of every sample (indexed by the values in ``indices``).
        num_chunks: How many chunks (the world size).

    Returns:
        ``num_chunks`` lists of indices.

    Example:
        >>> split_to_even_chunks([0, 1, 2, 3], [10, 9, 2, 1], 2)
        [[0, 3], [1, 2]]
    """
    _check_positive(num_chunks, "num_chunks")
    if len(indices) % num_chunks:
        return [list(indices[start::num_chunks]) for start in range(num_chunks)]
    size = len(indices) // num_chunks
    chunks: list[list[int]] = [[] for _ in range(num_chunks)]
    totals: list[float] = [0.0] * num_chunks
    for index in indices:
        target = totals.index(min(totals))
        chunks[target].append(index)
        totals[target] += lengths[index]
        if len(chunks[target]) == size:
            totals[target] = float("inf")
    return chunks


def length_grouped_indices(
    lengths: Sequence[int], batch_size: int, world_size: int, generator: torch.Generator | None = None
) -> list[int]:
    """An order of ``range(len(lengths))`` with similar lengths grouped (one modality).

    Shuffle, cut into megabatches of ``world_size * batch_size``, sort each by length (longest
    first, ties in shuffled order), split each into ``world_size`` balanced per-rank batches.

    Args:
        lengths: Positive length of every sample.
        batch_size: Samples per device batch.
        world_size: The number of ranks.
        generator: The random source (``None``: torch's global one).

    Returns:
        Every index exactly once.
    """
    _check_positive(batch_size, "batch_size")
    _check_positive(world_size, "world_size")
    order = torch.randperm(len(lengths), generator=generator).tolist()
    size = world_size * batch_size
    out: list[int] = []
    for start in range(0, len(order), size):
        megabatch = sorted(order[start : start + size], key=lambda i: lengths[i], reverse=True)
        for chunk in split_to_even_chunks(megabatch, lengths, world_size):
            out.extend(chunk)
    return out


def modality_length_grouped_indices(
    lengths: Sequence[int], batch_size: int, world_size: int, generator: torch.Generator | None = None
) -> list[int]:
    """An order of ``range(len(lengths))`` grouped by modality, then by length (see the module notes).

    Args:
        lengths: Signed lengths: ``> 0`` for samples with an image, ``< 0`` for text-only ones.
        batch_size: Samples per device batch.
        world_size: The number of ranks.
        generator: The random source for all three shuffles (image, text, megabatch order);
            ``None``: torch's global one.

    Returns:
        Every index exactly once.

    Raises:
        DataError: A length is zero (the message names the first such indices).
    """
    _check_positive(batch_size, "batch_size")
    _check_positive(world_size, "world_size")
    zeros = [i for i, length in enumerate(lengths) if length == 0]
    if zeros:
        raise DataError(
            f"{len(zeros)} sample(s) have length 0 (no words), e.g. indices {zeros[:5]}; a length's sign says the "
            "modality, so every sample needs a non-empty conversation"
        )
    image = [i for i, length in enumerate(lengths) if length > 0]
    text = [i for i, length in enumerate(lengths) if length < 0]
    magnitudes = [abs(length) for length in lengths]
    if not image or not text:
        return length_grouped_indices(magnitudes, batch_size, world_size, generator)
    size = world_size * batch_size
    megabatches: list[list[int]] = []
    leftovers: list[int] = []
    for group in (image, text):
        local = length_grouped_indices([magnitudes[i] for i in group], batch_size, world_size, generator)
        ordered = [group[i] for i in local]
        chunks = [ordered[start : start + size] for start in range(0, len(ordered), size)]
        megabatches.extend(chunks[:-1])
        leftovers.extend(chunks[-1])
    megabatches = [megabatches[i] for i in torch.randperm(len(megabatches), generator=generator).tolist()]
    if len(leftovers) >= size:  # one full megabatch of leftovers goes first, the rest last
        megabatches.insert(0, leftovers[:size])
        leftovers = leftovers[size:]
    if leftovers:
        megabatches.append(leftovers)
    return [index for megabatch in megabatches for index in megabatch]


class ModalityLengthGroupedSampler(Sampler[int]):
    """A sampler that yields indices grouped by modality and length, as the reference's ``LengthGroupedSampler``.

    Works with a plain ``DataLoader(dataset, batch_size=batch_size, sampler=sampler)`` and with
    transformers' ``Trainer`` (return it from ``_get_train_sampler``). The order is a pure function
    of ``seed`` and the epoch (:meth:`set_epoch`, which the Trainer and accelerate call), unless a
    ``generator`` is given, whose state then advances with every pass.

    Args:
        lengths: Signed lengths, one per sample (``dataset.modality_lengths``): ``> 0`` image samples,
            ``< 0`` text-only samples. With ``group_by_modality=False`` the magnitudes are used.
        batch_size: Samples per device batch.
        world_size: The number of ranks (``args.world_size``, as MobileVLM's trainer passes).
        group_by_modality: Keep image and text-only samples in separate megabatches (the reference's
            ``group_by_modality_length``); ``False``: group by length only.
        seed: The seed of each pass's generator (``seed + epoch``), used when ``generator`` is ``None``.
        generator: Use this generator instead (its state advances).

    Raises:
        ConfigError: ``batch_size`` or ``world_size`` is not a positive int.
        DataError: A length is zero.

    Example:
        >>> sampler = ModalityLengthGroupedSampler([5, -3, 8, -2, 7, 1], batch_size=2, seed=0)
        >>> sorted(sampler) == list(range(6))
        True
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        world_size: int = 1,
        *,
        group_by_modality: bool = True,
        seed: int = 0,
        generator: torch.Generator | None = None,
    ) -> None:
        _check_positive(batch_size, "batch_size")
        _check_positive(world_size, "world_size")
        self.lengths = [int(length) for length in lengths]
        zeros = [i for i, length in enumerate(self.lengths) if length == 0]
        if zeros:
            raise DataError(f"{len(zeros)} sample(s) have length 0, e.g. indices {zeros[:5]}; check those records")
        self.batch_size = batch_size
        self.world_size = world_size
        self.group_by_modality = group_by_modality
        self.seed = int(seed)
        self.generator = generator
        self.epoch = 0

    @classmethod
    def from_dataset(
        cls, dataset: Any, batch_size: int, world_size: int = 1, **options: Any
    ) -> ModalityLengthGroupedSampler:
        """A sampler over ``dataset.modality_lengths`` (:class:`~mvlm.data.llava.LlavaDataset`).

        Args:
            dataset: Anything with ``modality_lengths``.
            batch_size: See the class.
            world_size: See the class.
            **options: ``group_by_modality``, ``seed``, ``generator``.
        """
        return cls(dataset.modality_lengths, batch_size, world_size, **options)

    def set_epoch(self, epoch: int) -> None:
        """Use the order of pass ``epoch`` (the generator is seeded with ``seed + epoch``)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = self.generator
        if generator is None:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.group_by_modality:
            indices = modality_length_grouped_indices(self.lengths, self.batch_size, self.world_size, generator)
        else:
            magnitudes = [abs(length) for length in self.lengths]
            indices = length_grouped_indices(magnitudes, self.batch_size, self.world_size, generator)
        return iter(indices)
