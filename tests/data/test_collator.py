"""The collator: right padding, attention mask, pixel order, truncation that keeps image blocks whole."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mvlm.data.collator import DataCollatorForSupervisedDataset, truncate_sample
from mvlm.errors import ConfigError, DataError, ShapeError

IMG, IGN, PAD = -200, -100, 0


def sample(ids: list[int], labels: list[int] | None = None, images: int = 0, fill: float = 0.0) -> dict[str, Any]:
    """A dataset item; image ``k`` is filled with ``fill + k`` so that the order can be checked."""
    pixels = None
    if images:
        pixels = torch.stack([torch.full((3, 4, 4), float(fill + k)) for k in range(images)])
    labels = ids if labels is None else labels
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "pixel_values": pixels}


def test_right_padding_labels_and_attention_mask():
    collate = DataCollatorForSupervisedDataset(pad_token_id=PAD)
    batch = collate([sample([1, 5, 6, 7], [IGN, 5, 6, 7]), sample([1, 9], [IGN, 9])])
    assert batch["input_ids"].tolist() == [[1, 5, 6, 7], [1, 9, PAD, PAD]]
    assert batch["labels"].tolist() == [[IGN, 5, 6, 7], [IGN, 9, IGN, IGN]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert all(batch[key].dtype == torch.long for key in ("input_ids", "labels", "attention_mask"))
    assert batch["pixel_values"] is None


def test_attention_mask_covers_real_pad_ids_and_image_positions():
    # The reference computes input_ids != pad, which would also hide a genuine <unk> (id 0) in the text;
    # the mask here comes from the lengths.
    batch = DataCollatorForSupervisedDataset(pad_token_id=PAD)([sample([1, 0, IMG, IMG, 4], images=1), sample([1])])
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]


def test_pixel_values_concatenate_in_placeholder_order():
    collate = DataCollatorForSupervisedDataset(pad_token_id=PAD)
    batch = collate(
        [
            sample([1, IMG, IMG, 3, IMG, IMG], images=2, fill=10.0),
            sample([1, 2, 3]),  # text-only: contributes no image, no zero-image filler
            sample([1, IMG, IMG, 4], images=1, fill=20.0),
        ]
    )
    pixels = batch["pixel_values"]
    assert pixels.shape == (3, 3, 4, 4)
    assert pixels[:, 0, 0, 0].tolist() == [10.0, 11.0, 20.0]
    assert int((batch["input_ids"] == IMG).sum()) == 3 * 2


def test_a_single_image_may_come_as_three_dimensional():
    item = sample([1, IMG, 2])
    item["pixel_values"] = torch.zeros(3, 4, 4)
    assert DataCollatorForSupervisedDataset(pad_token_id=PAD)([item])["pixel_values"].shape == (1, 3, 4, 4)


def test_text_truncation_to_model_max_length():
    collate = DataCollatorForSupervisedDataset(pad_token_id=PAD, model_max_length=3)
    batch = collate([sample([1, 5, 6, 7, 8], [IGN, 5, 6, 7, 8]), sample([1, 9], [IGN, 9])])
    assert batch["input_ids"].tolist() == [[1, 5, 6], [1, 9, PAD]]
    assert batch["labels"].tolist() == [[IGN, 5, 6], [IGN, 9, IGN]]


@pytest.mark.parametrize(
    ("limit", "kept_ids", "kept_images"),
    [
        (8, [1, IMG, IMG, IMG, 5, IMG, IMG, IMG], 2),  # the whole sample fits
        (7, [1, IMG, IMG, IMG, 5], 1),  # inside the second block: cut before it, drop the second image
        (5, [1, IMG, IMG, IMG, 5], 1),  # right after the first block: nothing cut in half
        (4, [1, IMG, IMG, IMG], 1),  # exactly at the end of the first block
        (3, [1], 0),  # inside the first block
    ],
)
def test_truncation_keeps_image_blocks_whole(limit, kept_ids, kept_images):
    ids = [1, IMG, IMG, IMG, 5, IMG, IMG, IMG]
    batch = DataCollatorForSupervisedDataset(pad_token_id=PAD, model_max_length=limit)([sample(ids, images=2, fill=1)])
    assert batch["input_ids"][0].tolist() == kept_ids + [PAD] * (len(batch["input_ids"][0]) - len(kept_ids))
    if kept_images:
        assert batch["pixel_values"][:, 0, 0, 0].tolist() == [1.0, 2.0][:kept_images]
    else:
        assert batch["pixel_values"] is None


def test_truncation_can_refuse_to_drop_an_image():
    collate = DataCollatorForSupervisedDataset(pad_token_id=PAD, model_max_length=2, on_image_cut="error")
    with pytest.raises(DataError, match="batch sample 1: truncating to model_max_length=2 would cut 1 of its 1 image"):
        collate([sample([1, 2]), sample([1, IMG, IMG, 3], images=1)])
    assert collate([sample([1, 2, 3, 4])])["input_ids"].tolist() == [[1, 2]]  # text is still cut


def test_truncate_sample_directly():
    ids = torch.tensor([1, 5, IMG, IMG, IMG, 7, 8])
    out = truncate_sample(ids, ids.clone(), 4, num_images=1)
    assert (out.input_ids.tolist(), out.num_images, out.dropped_images, out.truncated) == ([1, 5], 0, 1, True)
    same = truncate_sample(ids, ids.clone(), None, num_images=1)
    assert same.input_ids is ids and not same.truncated and same.num_images == 1


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (sample([1, IMG, IMG, 2]), "2 image positions but the sample has no pixel_values"),
        (sample([1, 2, 3], images=1), "1 image\\(s\\) but 0 image positions"),
        (sample([1, IMG, IMG, IMG, 2], images=2), "2 image\\(s\\) but 3 image positions"),
        (sample([1, 2], [IGN]), "equal length"),
        ({"input_ids": torch.tensor([1])}, "'input_ids' and 'labels'"),
        ({"input_ids": torch.tensor([1.0]), "labels": torch.tensor([1])}, "1-D integer tensor"),
    ],
)
def test_inconsistent_samples_are_refused(item, message):
    with pytest.raises((DataError, ShapeError), match=message):
        DataCollatorForSupervisedDataset(pad_token_id=PAD)([sample([1]), item])


def test_mixed_image_sizes_and_empty_batches_are_refused():
    small, large = sample([1, IMG], images=1), sample([1, IMG], images=1)
    large["pixel_values"] = torch.zeros(1, 3, 8, 8)
    collate = DataCollatorForSupervisedDataset(pad_token_id=PAD)
    with pytest.raises(ShapeError, match="different shapes"):
        collate([small, large])
    with pytest.raises(DataError, match="empty batch"):
        collate([])


def test_pad_to_multiple_of():
    batch = DataCollatorForSupervisedDataset(pad_token_id=PAD, pad_to_multiple_of=8)([sample([1, 2, 3])])
    assert batch["input_ids"].shape == (1, 8) and batch["attention_mask"].sum() == 3


def test_from_tokenizer_pads_with_unk_when_there_is_no_pad(tokenizer):
    assert tokenizer.pad_token_id is None and tokenizer.unk_token_id == 0
    collate = DataCollatorForSupervisedDataset.from_tokenizer(tokenizer, model_max_length=2048)
    assert (collate.pad_token_id, collate.model_max_length) == (0, 2048)

    class NoSpecials:
        pad_token_id = unk_token_id = None

    with pytest.raises(ConfigError, match="no pad and no unk"):
        DataCollatorForSupervisedDataset.from_tokenizer(NoSpecials())


@pytest.mark.parametrize(
    "options", [{"pad_token_id": -1}, {"model_max_length": 0}, {"on_image_cut": "skip"}, {"pad_to_multiple_of": 0}]
)
def test_options_are_checked(options):
    with pytest.raises(ConfigError):
        DataCollatorForSupervisedDataset(**{"pad_token_id": PAD, **options})


@st.composite
def samples(draw: st.DrawFn, m: int) -> dict[str, Any]:
    """A sample of text pieces and image blocks of ``m`` positions; labels are ids + 1000 (or -100)."""
    parts = draw(st.lists(st.one_of(st.just("image"), st.integers(1, 50)), min_size=1, max_size=6))
    ids: list[int] = [1]
    images = 0
    for part in parts:
        if part == "image":
            ids.extend([IMG] * m)
            images += 1
        else:
            ids.extend(range(3, 3 + part))
    labels = [IGN if i == IMG else i + 1000 for i in ids]
    return sample(ids, labels, images=images, fill=draw(st.integers(0, 100)) * 10.0)


@given(m=st.integers(1, 6), data=st.data(), limit=st.one_of(st.none(), st.integers(1, 80)))
def test_collated_batches_are_consistent(m, data, limit):
    items = data.draw(st.lists(samples(m), min_size=1, max_size=4))
    batch = DataCollatorForSupervisedDataset(pad_token_id=PAD, model_max_length=limit)(items)
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    expected_images = []
    for row, item in enumerate(items):
        length = lengths[row]
        original = item["input_ids"].tolist()
        assert limit is None or length <= limit
        assert batch["input_ids"][row, :length].tolist() == original[:length]  # a prefix, nothing reordered
        assert batch["labels"][row, :length].tolist() == item["labels"][:length].tolist()
        assert batch["input_ids"][row, length:].eq(PAD).all() and batch["labels"][row, length:].eq(IGN).all()
        kept_positions = original[:length].count(IMG)
        assert kept_positions % m == 0  # never half an image
        if length < len(original) and original[length] != IMG:
            assert length == limit  # text is cut exactly at the limit
        if item["pixel_values"] is not None:
            expected_images.extend(item["pixel_values"][: kept_positions // m, 0, 0, 0].tolist())
    found = [] if batch["pixel_values"] is None else batch["pixel_values"][:, 0, 0, 0].tolist()
    assert found == expected_images
    assert int(batch["input_ids"].eq(IMG).sum()) == len(found) * m
