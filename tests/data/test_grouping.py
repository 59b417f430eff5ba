"""Modality-length grouping: hand-worked orders, every index exactly once, modalities kept apart, determinism."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mvlm.data.grouping import (
    ModalityLengthGroupedSampler,
    length_grouped_indices,
    modality_length_grouped_indices,
    split_to_even_chunks,
)
from mvlm.errors import ConfigError, DataError

# Images: 0 (3 words), 2 (8), 3 (1), 5 (6), 6 (7), 8 (4), 10 (2); text-only: 1 (5), 4 (2), 7 (9), 9 (1).
LENGTHS = [3, -5, 8, 1, -2, 6, 7, -9, 4, -1, 2]


@pytest.fixture
def no_shuffle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every shuffle the identity, so that the orders below can be worked out by hand."""
    monkeypatch.setattr(torch, "randperm", lambda n, generator=None: torch.arange(n))


def test_split_to_even_chunks():
    # Divisible: longest first into the lightest chunk that still has room.
    assert split_to_even_chunks([0, 1, 2, 3], [10, 9, 2, 1], 2) == [[0, 3], [1, 2]]
    assert split_to_even_chunks([2, 5, 0, 3], {2: 8, 5: 6, 0: 3, 3: 1}, 2) == [[2, 3], [5, 0]]
    # Not divisible: dealt round-robin.
    assert split_to_even_chunks([6, 8, 10], {6: 7, 8: 4, 10: 2}, 2) == [[6, 10], [8]]
    assert split_to_even_chunks([4, 1], [0, 1, 2, 3, 4], 1) == [[4, 1]]


def test_hand_worked_order_one_rank(no_shuffle):
    # Megabatches of 2. Images [0, 2] [3, 5] [6, 8] [10], each longest first -> [2, 0] [5, 3] [6, 8]; [10] is the
    # image leftover. Text [1, 4] [7, 9] -> [1, 4]; [7, 9] is the text leftover. Leftovers [10, 7, 9]: a full
    # megabatch of them first ([10, 7], mixed), the rest ([9]) last.
    order = modality_length_grouped_indices(LENGTHS, batch_size=2, world_size=1)
    assert order == [10, 7, 2, 0, 5, 3, 6, 8, 1, 4, 9]


def test_hand_worked_order_two_ranks(no_shuffle):
    # Megabatches of 4. Images [0, 2, 3, 5] -> longest first [2, 5, 0, 3] -> balanced ranks [2, 3] | [5, 0];
    # [6, 8, 10] -> 3 is odd, dealt round-robin: [6, 10] | [8], the image leftover. The text's only megabatch
    # [1, 4, 7, 9] -> longest first [7, 1, 4, 9] -> [7, 9] | [1, 4], its leftover.
    order = modality_length_grouped_indices(LENGTHS, batch_size=2, world_size=2)
    assert order == [6, 10, 8, 7, 2, 3, 5, 0, 9, 1, 4]


def test_few_leftovers_go_last(no_shuffle):
    # Megabatches of 4: images [0, 1, 2, 3] (full) and [4]; text [5]. Leftovers [4, 5] < 4 go last, mixed.
    assert modality_length_grouped_indices([1, 2, 3, 4, 5, -6], 2, 2) == [3, 0, 2, 1, 4, 5]


def test_one_modality_is_plain_length_grouping(no_shuffle):
    assert modality_length_grouped_indices([3, 8, 1, 6], 2, 1) == [1, 0, 3, 2]
    assert modality_length_grouped_indices([-3, -8, -1, -6], 2, 1) == [1, 0, 3, 2]  # by magnitude
    assert length_grouped_indices([3, 8, 1, 6], 2, 1) == [1, 0, 3, 2]


def split_order(order: list[int], lengths: list[int], megabatch: int) -> tuple[list[int], list[list[int]], list[int]]:
    """A grouped order cut into (first leftover megabatch, single-modality megabatches, last leftovers)."""
    sizes = [sum(1 for length in lengths if (length > 0) == image) for image in (True, False)]
    leftovers = sum((size - 1) % megabatch + 1 for size in sizes if size)
    first = megabatch if leftovers >= megabatch else 0
    last = leftovers - first
    middle = order[first : len(order) - last]
    return (
        order[:first],
        [middle[i : i + megabatch] for i in range(0, len(middle), megabatch)],
        order[len(order) - last :],
    )


nonzero = st.integers(-60, 60).filter(lambda length: length != 0)


@given(
    lengths=st.lists(nonzero, min_size=1, max_size=80),
    batch_size=st.integers(1, 6),
    world_size=st.integers(1, 4),
    seed=st.integers(0, 2**31),
)
def test_every_index_once_and_modalities_apart(lengths, batch_size, world_size, seed):
    order = list(ModalityLengthGroupedSampler(lengths, batch_size, world_size, seed=seed))
    assert sorted(order) == list(range(len(lengths)))
    megabatch = batch_size * world_size
    if all(length > 0 for length in lengths) or all(length < 0 for length in lengths):
        return
    first, megabatches, last = split_order(order, lengths, megabatch)
    for group in megabatches:
        assert len(group) == megabatch
        assert len({lengths[i] > 0 for i in group}) == 1  # one modality per megabatch
        if world_size == 1:
            magnitudes = [abs(lengths[i]) for i in group]
            assert magnitudes == sorted(magnitudes, reverse=True)
    # The leftovers are the image ones, then the text ones; so at most one megabatch mixes modalities.
    modality = [lengths[i] > 0 for i in first + last]
    assert modality == sorted(modality, reverse=True)
    assert not (first and last) or all(lengths[i] < 0 for i in last)


@given(lengths=st.lists(nonzero, min_size=2, max_size=40), seed=st.integers(0, 1000))
def test_dataloader_batches_keep_modalities_apart(lengths, seed):
    sampler = ModalityLengthGroupedSampler(lengths, batch_size=3, seed=seed)
    batches = [batch.tolist() for batch in torch.utils.data.DataLoader(range(len(lengths)), 3, sampler=sampler)]
    first, megabatches, last = split_order(list(sampler), lengths, 3)
    offset = 1 if first else 0
    assert batches[offset : offset + len(megabatches)] == megabatches  # one modality each
    assert len(batches) == offset + len(megabatches) + (1 if last else 0)


def test_order_is_a_function_of_seed_and_epoch():
    lengths = [(i % 17 + 1) * (1 if i % 3 else -1) for i in range(200)]
    sampler = ModalityLengthGroupedSampler(lengths, batch_size=4, world_size=2, seed=7)
    first = list(sampler)
    assert list(sampler) == first
    assert list(ModalityLengthGroupedSampler(lengths, batch_size=4, world_size=2, seed=7)) == first
    assert list(ModalityLengthGroupedSampler(lengths, batch_size=4, world_size=2, seed=8)) != first
    sampler.set_epoch(1)
    second_epoch = list(sampler)
    assert second_epoch != first
    assert second_epoch == list(ModalityLengthGroupedSampler(lengths, batch_size=4, world_size=2, seed=8))


def test_an_explicit_generator_is_used_and_advances():
    lengths = [(i % 11 + 1) * (1 if i % 2 else -1) for i in range(100)]
    generator = torch.Generator().manual_seed(3)
    sampler = ModalityLengthGroupedSampler(lengths, batch_size=2, generator=generator)
    first, second = list(sampler), list(sampler)
    assert first != second
    assert first == modality_length_grouped_indices(lengths, 2, 1, torch.Generator().manual_seed(3))


def test_group_by_modality_off_groups_by_length_only():
    lengths = [5, -3, 8, -2, 7, 1, -9]
    sampler = ModalityLengthGroupedSampler(lengths, batch_size=2, group_by_modality=False, seed=1)
    expected = length_grouped_indices([abs(length) for length in lengths], 2, 1, torch.Generator().manual_seed(1))
    assert list(sampler) == expected and len(sampler) == 7


def test_from_dataset_reads_modality_lengths():
    sampler = ModalityLengthGroupedSampler.from_dataset(SimpleNamespace(modality_lengths=[4, -2, 3]), 1, seed=2)
    assert sampler.lengths == [4, -2, 3] and sorted(sampler) == [0, 1, 2]


def test_bad_arguments():
    with pytest.raises(DataError, match=r"length 0, e.g. indices \[1\]"):
        ModalityLengthGroupedSampler([3, 0, -2], batch_size=2)
    with pytest.raises(DataError, match="length 0"):
        modality_length_grouped_indices([3, 0], 1, 1)
    with pytest.raises(ConfigError, match="batch_size"):
        ModalityLengthGroupedSampler([3], batch_size=0)
    with pytest.raises(ConfigError, match="world_size"):
        ModalityLengthGroupedSampler([3], batch_size=1, world_size=0)
