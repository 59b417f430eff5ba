"""LlavaDataset: ids and labels token by token, expansion, images, bad records, validation, mismatches, end to end.

Expected ids are written out from raw SentencePiece (``sp.encode``), never from mvlm's tokenization.
"""

from __future__ import annotations

import json
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from mvlm.data.llava import LlavaDataset, read_llava_records
from mvlm.errors import ConfigError, DataError, ImageError, PromptError
from mvlm.prompting import TokenizationMismatchWarning, get_conversation

BOS, EOS, IMG, IGN = 1, 2, -200, -100
M = 3  # placeholder positions per image in these tests
SYSTEM = get_conversation("v1").system
RED, BLUE = (255, 0, 0), (0, 0, 255)


def human(text: str) -> dict[str, str]:
    return {"from": "human", "value": text}


def gpt(text: str) -> dict[str, str]:
    return {"from": "gpt", "value": text}


def save_image(path: Path, color: tuple[int, int, int] = RED, size: tuple[int, int] = (40, 24)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def dataset(path: Path | list[Path], tokenizer: Any, processor: Any, **options: Any) -> LlavaDataset:
    options.setdefault("num_image_tokens", M)
    return LlavaDataset(path, tokenizer, image_processor=processor, **options)


# ------------------------------------------------------------------------------ token by token
def test_v1_one_round_with_image(tmp_path, write_records, tokenizer, sp, processor):
    save_image(tmp_path / "images" / "a.png")
    turns = [human("What is in the image?\n<image>"), gpt("A cat.")]
    record = {"id": "r0", "image": "images/a.png", "conversations": turns}
    item = dataset(write_records([record]), tokenizer, processor)[0]

    # "<system> USER: <image>\nWhat is in the image? ASSISTANT: A cat.</s>": the tag moved to the front.
    before_image = [BOS, *sp.encode(SYSTEM + " USER: ")]
    after_image = sp.encode("\nWhat is in the image? ASSISTANT:")
    assert sp.id_to_piece(after_image[:2]) == ["▁", "<0x0A>"]  # the chunk after the image, as the reference
    answer = sp.encode("A cat.")
    prompt_len = len(before_image) + M + len(after_image)
    assert item["input_ids"].tolist() == [*before_image, *[IMG] * M, *after_image, *answer, EOS]
    assert item["labels"].tolist() == [IGN] * prompt_len + [*answer, EOS]
    assert item["input_ids"].dtype == item["labels"].dtype == torch.long
    assert int((item["input_ids"] == IMG).sum()) == M
    torch.testing.assert_close(item["pixel_values"], processor([str(tmp_path / "images" / "a.png")]), rtol=0, atol=0)


def test_v1_two_rounds(tmp_path, write_records, tokenizer, sp, processor):
    save_image(tmp_path / "a.png")
    turns = [human("<image>\nWhat is in the image?"), gpt("A cat."), human("What color is the car?"), gpt("Blue.")]
    item = dataset(write_records([{"id": "r0", "image": "a.png", "conversations": turns}]), tokenizer, processor)[0]

    round1 = [BOS, *sp.encode(SYSTEM + " USER: "), *[IMG] * M, *sp.encode("\nWhat is in the image? ASSISTANT:")]
    answer1 = [*sp.encode("A cat."), EOS]
    round2 = sp.encode("USER: What color is the car? ASSISTANT:")  # after </s>, with the dummy prefix (legacy)
    answer2 = [*sp.encode("Blue."), EOS]
    assert item["input_ids"].tolist() == round1 + answer1 + round2 + answer2
    assert item["labels"].tolist() == [IGN] * len(round1) + answer1 + [IGN] * len(round2) + answer2


def test_plain_stage_one(tmp_path, write_records, tokenizer, sp, processor):
    save_image(tmp_path / "a.png")
    record = {"id": "cap", "image": "a.png", "conversations": [human("<image>\nDescribe it."), gpt("A red square.")]}
    item = dataset(write_records([record]), tokenizer, processor, template="plain")[0]
    # Stage I trains on "<image>" + caption + "\n": the question is not used at all.
    caption = sp.encode("A red square.\n")
    assert item["input_ids"].tolist() == [BOS, *[IMG] * M, *caption]
    assert item["labels"].tolist() == [IGN] * (1 + M) + caption
    assert item["pixel_values"].shape == (1, 3, 32, 32)


def test_text_only_sample(write_records, tokenizer, sp, processor):
    record = {"id": "txt", "conversations": [human("What is two plus two?"), gpt("Four.")]}
    item = dataset(write_records([record]), tokenizer, processor)[0]
    prompt = [BOS, *sp.encode(SYSTEM + " USER: What is two plus two? ASSISTANT:")]
    answer = [*sp.encode("Four."), EOS]
    assert item["input_ids"].tolist() == prompt + answer
    assert item["labels"].tolist() == [IGN] * len(prompt) + answer
    assert item["pixel_values"] is None


def test_text_only_needs_no_processor(write_records, tokenizer):
    data = LlavaDataset(write_records([{"conversations": [human("Hi?"), gpt("Hi.")]}]), tokenizer, num_image_tokens=M)
    assert data[0]["pixel_values"] is None


def test_leading_gpt_turn_is_skipped_as_the_reference(write_records, tokenizer, processor):
    plain_turns = [human("What is two plus two?"), gpt("Four.")]
    path = write_records([{"conversations": [gpt("Hello!"), *plain_turns]}, {"conversations": plain_turns}])
    data = dataset(path, tokenizer, processor)
    assert data[0]["input_ids"].tolist() == data[1]["input_ids"].tolist()


@pytest.mark.parametrize("m", [1, 5, 144])
def test_expansion_gives_m_positions_per_image(tmp_path, write_records, tokenizer, processor, m):
    save_image(tmp_path / "r.png", RED)
    save_image(tmp_path / "b.png", BLUE)
    turns = [human("<image>\nFirst?"), gpt("Red."), human("<image>\nSecond?"), gpt("Blue.")]
    data = dataset(write_records([{"image": ["r.png", "b.png"], "conversations": turns}]), tokenizer, processor)
    data.num_image_tokens = m
    item = data[0]
    ids = item["input_ids"]
    assert int((ids == IMG).sum()) == 2 * m
    assert int((item["labels"][ids == IMG] == IGN).sum()) == 2 * m
    # Two separate blocks of m, in the order of the tags; pixels in the same order.
    starts = [i for i in range(len(ids)) if ids[i] == IMG and (i == 0 or ids[i - 1] != IMG)]
    assert len(starts) == 2 and all((ids[s : s + m] == IMG).all() for s in starts)
    assert item["pixel_values"].shape == (2, 3, 32, 32)
    red_channel_first = item["pixel_values"][0, 0].mean() > item["pixel_values"][0, 2].mean()
    blue_channel_second = item["pixel_values"][1, 2].mean() > item["pixel_values"][1, 0].mean()
    assert red_channel_first and blue_channel_second
    assert data.mismatch_count == 0


# ------------------------------------------------------------------------------ files and folders
def test_json_and_jsonl_read_the_same(tmp_path, write_records, tokenizer, processor):
    save_image(tmp_path / "a.png")
    records = [
        {"id": "a", "image": "a.png", "conversations": [human("<image>\nWhat?"), gpt("A cat.")]},
        {"id": "b", "conversations": [human("Hi?"), gpt("Hello.")]},
    ]
    from_json = dataset(write_records(records, "d.json"), tokenizer, processor)
    from_jsonl = dataset(write_records(records, "d.jsonl"), tokenizer, processor)
    assert len(from_json) == len(from_jsonl) == 2
    for index in range(2):
        assert from_json[index]["input_ids"].tolist() == from_jsonl[index]["input_ids"].tolist()
    assert "line 2" in from_jsonl.describe(1) and "'b'" in from_jsonl.describe(1)
    assert from_jsonl.describe(-1) == from_jsonl.describe(1)
    assert from_jsonl[-1]["input_ids"].tolist() == from_jsonl[1]["input_ids"].tolist()
    with pytest.raises(IndexError):
        from_jsonl[2]


def test_image_folder_and_several_files(tmp_path, write_records, tokenizer, processor):
    save_image(tmp_path / "root" / "x" / "a.png")
    first = write_records([{"image": "x/a.png", "conversations": [human("<image>\nQ?"), gpt("A.")]}], "one.json")
    absolute = str(tmp_path / "root" / "x" / "a.png")
    second = write_records([{"image": absolute, "conversations": [human("<image>\nQ?"), gpt("A.")]}], "two.jsonl")
    data = dataset([first, second], tokenizer, processor, image_folder=tmp_path / "root")
    assert len(data) == 2
    assert data.image_paths(0) == [tmp_path / "root" / "x" / "a.png"] == data.image_paths(1)
    assert data.validate().num_image_records == 2
    # Without image_folder, names are relative to the data file's folder.
    with pytest.raises(ImageError, match="not found"):
        dataset(first, tokenizer, processor)[0]


def test_read_errors_name_the_file_and_line(tmp_path, write_records):
    broken = tmp_path / "broken.json"
    broken.write_text('[\n{"id": 1},\n{"id": 2,}\n]')
    with pytest.raises(DataError, match=r"broken\.json.*line 3"):
        read_llava_records(broken)
    lines = tmp_path / "broken.jsonl"
    lines.write_text('{"id": 1}\n\n{"id": \n')
    with pytest.raises(DataError, match=r"broken\.jsonl' line 3"):
        read_llava_records(lines)
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(DataError, match="no records"):
        read_llava_records(tmp_path / "empty.json")
    with pytest.raises(DataError, match="cannot read"):
        read_llava_records(tmp_path / "missing.json")


def test_options_are_checked(tmp_path, write_records, tokenizer, processor):
    save_image(tmp_path / "a.png")
    path = write_records([{"image": "a.png", "conversations": [human("<image>\nQ?"), gpt("A.")]}])
    with pytest.raises(ConfigError, match="image_processor"):
        LlavaDataset(path, tokenizer, num_image_tokens=M)
    with pytest.raises(ConfigError, match="num_image_tokens"):
        LlavaDataset(path, tokenizer, num_image_tokens=0, image_processor=processor)
    with pytest.raises(ConfigError, match="model_max_length"):
        dataset(path, tokenizer, processor, model_max_length=0)
    with pytest.raises(ConfigError, match="on_image_cut"):
        dataset(path, tokenizer, processor, on_image_cut="skip")
    with pytest.raises(PromptError, match="no label masking"):
        dataset(path, tokenizer, processor, template="default")


# ------------------------------------------------------------------------------ bad records
BAD_RECORDS = [
    ({"id": "k", "image": "a.png"}, "missing key 'conversations'"),
    ({"id": "e", "conversations": []}, "non-empty list"),
    ({"id": "h", "conversations": [human("Hi?"), human("Again?"), gpt("Yes.")]}, "alternate human, gpt: turn 1"),
    ({"id": "r", "conversations": [{"from": "user", "value": "Hi?"}, gpt("Yes.")]}, "'from' 'user'"),
    ({"id": "v", "conversations": [human("Hi?"), {"from": "gpt", "value": 3}]}, "must be text"),
    ({"id": "q", "conversations": [human("Hi?")]}, "at least one human turn followed by a gpt answer"),
    ({"id": "t", "conversations": [human("<image>\nWhat?"), gpt("A.")]}, "no 'image'"),
    ({"id": "n", "image": "a.png", "conversations": [human("What?"), gpt("A.")]}, "1 image\\(s\\) but 0"),
    ({"id": "g", "image": "a.png", "conversations": [human("<image>\nQ?"), gpt("<image> A.")]}, "images belong"),
    ({"id": "d", "image": "a.png", "conversations": [human("<image><image>\nQ?"), gpt("A.")]}, "2 times"),
    ({"id": "i", "image": None, "conversations": [human("Q?"), gpt("A.")]}, "'image' must be a file name"),
    ("just text", "must be a JSON object"),
]


@pytest.mark.parametrize(("record", "message"), BAD_RECORDS, ids=[str(i) for i in range(len(BAD_RECORDS))])
def test_bad_record_names_file_record_and_id(tmp_path, write_records, tokenizer, processor, record, message):
    save_image(tmp_path / "a.png")
    good = {"id": "ok", "conversations": [human("Hi?"), gpt("Hello.")]}
    data = dataset(write_records([good, record], "train.json"), tokenizer, processor)
    with pytest.raises(DataError, match=message) as caught:
        data[1]
    assert "train.json' record 1" in str(caught.value)
    if isinstance(record, dict):
        assert f"(id '{record['id']}')" in str(caught.value)
    data[0]  # the good record still loads


def test_plain_records_are_checked(tmp_path, write_records, tokenizer, processor):
    save_image(tmp_path / "a.png")
    records = [
        {"id": "3", "image": "a.png", "conversations": [human("<image>\nQ?"), gpt("A."), human("B?"), gpt("B.")]},
        {"id": "txt", "conversations": [human("Q?"), gpt("A.")]},
    ]
    data = dataset(write_records(records), tokenizer, processor, template="plain")
    for index in range(2):
        with pytest.raises(DataError, match="'plain' \\(stage-I\\) sample must be one image"):
            data[index]


def problem_records(problems: list[str]) -> set[int]:
    return {int(re.search(r"' record (\d+)", problem).group(1)) for problem in problems}


def test_validate_reports_every_problem_at_once(tmp_path, write_records, tokenizer, processor):
    save_image(tmp_path / "a.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    good = {"id": "ok", "image": "a.png", "conversations": [human("<image>\nQ?"), gpt("A.")]}
    records = [good, *(record for record, _ in BAD_RECORDS)]
    records.append({"id": "gone", "image": "missing.png", "conversations": [human("<image>\nQ?"), gpt("A.")]})
    records.append({"id": "bad", "image": "corrupt.png", "conversations": [human("<image>\nQ?"), gpt("A.")]})
    data = dataset(write_records(records, "train.json"), tokenizer, processor)

    report = data.validate(raise_errors=False)
    assert not report.ok and report.num_records == len(records)
    # Every bad record and the missing file, each named; the good one and the (undecoded) corrupt one pass.
    assert problem_records(report.problems) == set(range(1, len(BAD_RECORDS) + 2))
    assert any("'gone'" in problem and "missing.png' not found" in problem for problem in report.problems)
    with pytest.raises(DataError, match=f"{len(report.problems)} problem") as caught:
        data.validate(max_listed=3)
    assert f"and {len(report.problems) - 3} more" in str(caught.value)

    decoded = data.validate(raise_errors=False, decode_images=True)
    assert problem_records(decoded.problems) == set(range(1, len(BAD_RECORDS) + 3))
    assert any("'bad'" in problem and "corrupt.png" in problem for problem in decoded.problems)


def test_missing_and_corrupt_images_raise_image_error_naming_everything(tmp_path, write_records, tokenizer, processor):
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    records = [
        {"id": "gone", "image": "missing.png", "conversations": [human("<image>\nQ?"), gpt("A.")]},
        {"id": "bad", "image": "corrupt.png", "conversations": [human("<image>\nQ?"), gpt("A.")]},
    ]
    data = dataset(write_records(records, "train.jsonl"), tokenizer, processor)
    with pytest.raises(ImageError, match=r"train\.jsonl' record 0 \(line 1\) \(id 'gone'\): .*missing\.png.*not found"):
        data[0]
    with pytest.raises(ImageError, match=r"record 1 \(line 2\) \(id 'bad'\): .*corrupt\.png"):
        data[1]


def test_validate_passes_on_generated_shapes_data(tmp_path, tokenizer, processor):
    from mvlm.data.synthetic import generate_dataset

    for stage, template in (("pretrain", "plain"), ("finetune", "v1")):
        files = generate_dataset(tmp_path / stage, 6, stage=stage, image_size=32)
        data = dataset(files.data_file, tokenizer, processor, template=template)
        report = data.validate(decode_images=True, tokenize=True)
        assert report.ok and report.num_image_records == 6 and report.mismatches == []
        assert data[5]["pixel_values"].shape == (1, 3, 32, 32)


# ------------------------------------------------------------------------------ mismatches
def test_tokenization_mismatch_is_counted_and_warned(tmp_path, write_records, data_tokenizer_dir, processor):
    from helpers.tokenizers import load_fast_tokenizer

    non_legacy = load_fast_tokenizer(data_tokenizer_dir, legacy=False)  # transformers 5's default: not the reference
    two_rounds = [human("What is in the image?"), gpt("A cat."), human("What color is the car?"), gpt("Blue.")]
    records = [{"id": "ok", "conversations": two_rounds[:2]}, {"id": "two", "conversations": two_rounds}]
    data = dataset(write_records(records, "chat.json"), non_legacy, processor)

    assert data[0]["labels"].ne(IGN).any() and data.mismatch_count == 0
    with pytest.warns(TokenizationMismatchWarning, match=r"chat\.json' record 1 \(id 'two'\).*fully masked"):
        item = data[1]
    assert item["labels"].eq(IGN).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a record already reported does not warn again
        data[1]
    assert data.mismatch_count == 1 and data.mismatched_indices == [1]
    fresh = dataset(write_records(records, "chat.json"), non_legacy, processor)
    assert fresh.validate(tokenize=True).mismatches == [1]


# ------------------------------------------------------------------------------ truncation and lengths
def test_truncation_never_splits_an_image_block(tmp_path, write_records, tokenizer, sp, processor):
    save_image(tmp_path / "a.png")
    save_image(tmp_path / "b.png", BLUE)
    turns = [human("<image>\nFirst?"), gpt("Red."), human("<image>\nSecond?"), gpt("Blue.")]
    path = write_records([{"id": "two", "image": ["a.png", "b.png"], "conversations": turns}])
    full = dataset(path, tokenizer, processor, num_image_tokens=10)[0]["input_ids"]
    second_block = [i for i in range(len(full)) if full[i] == IMG][10]

    limit = second_block + 4  # inside the second image's block
    data = dataset(path, tokenizer, processor, num_image_tokens=10, model_max_length=limit)
    item = data[0]
    assert item["input_ids"].tolist() == full[:second_block].tolist()
    assert item["pixel_values"].shape[0] == 1  # only the first image is read
    report = data.validate(tokenize=True)
    assert report.truncated == [0] and report.dropped_images == 1

    strict = dataset(path, tokenizer, processor, num_image_tokens=10, model_max_length=limit, on_image_cut="error")
    with pytest.raises(DataError, match=r"record 0 \(id 'two'\).*would cut 1 of its 2 image"):
        strict[0]
    assert "would cut" in strict.validate(tokenize=True, raise_errors=False).problems[0]


def test_text_only_truncation(write_records, tokenizer, processor):
    long_answer = " ".join(["Blue."] * 200)
    data = dataset(write_records([{"conversations": [human("Q?"), gpt(long_answer)]}]), tokenizer, processor)
    full = data[0]
    data.model_max_length = 50
    item = data[0]
    assert item["input_ids"].tolist() == full["input_ids"][:50].tolist()
    assert item["labels"].tolist() == full["labels"][:50].tolist()
    assert data.validate(tokenize=True).truncated == [0]


def test_modality_lengths_are_signed_word_counts(tmp_path, write_records, tokenizer, processor):
    save_image(tmp_path / "a.png")
    records = [
        {"image": "a.png", "conversations": [human("<image>\nWhat is  it?"), gpt("A red\nsquare.")]},
        {"conversations": [human("Hi there"), gpt("Hello.")]},
    ]
    data = dataset(write_records(records), tokenizer, processor)
    assert data.modality_lengths == [4 + 3, -3]  # "<image>" counts as a word, as in the reference


def test_dataset_pickles_for_dataloader_workers(tmp_path, write_records, tokenizer, processor):
    save_image(tmp_path / "a.png")
    path = write_records([{"image": "a.png", "conversations": [human("<image>\nQ?"), gpt("A.")]}])
    data = dataset(path, tokenizer, processor)
    clone = pickle.loads(pickle.dumps(data))
    assert clone[0]["input_ids"].tolist() == data[0]["input_ids"].tolist()


# ------------------------------------------------------------------------------ end to end
def test_dataset_and_collator_train_a_tiny_mobilevlm(tmp_path, tiny_model):
    """Synthetic image conversations and a text-only one, batched, give a finite loss and gradients."""
    from mvlm.data.collator import DataCollatorForSupervisedDataset
    from mvlm.data.grouping import ModalityLengthGroupedSampler
    from mvlm.data.synthetic import generate_dataset

    files = generate_dataset(tmp_path, 2, stage="finetune", image_size=64)
    records = json.loads(files.data_file.read_text())
    records.append({"id": "text", "conversations": [human("What is two plus two?"), gpt("Four.")]})
    (tmp_path / "mix.json").write_text(json.dumps(records))
    model, tokenizer = tiny_model, tiny_model.tokenizer
    data = LlavaDataset(
        tmp_path / "mix.json",
        tokenizer,
        num_image_tokens=model.num_image_tokens,
        image_processor=model.image_processor,
        model_max_length=512,
    )
    assert data.validate(tokenize=True).mismatches == []
    collate = DataCollatorForSupervisedDataset.from_tokenizer(tokenizer, model_max_length=512)
    sampler = ModalityLengthGroupedSampler.from_dataset(data, batch_size=3)
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=3, sampler=sampler, collate_fn=collate)))
    assert batch["pixel_values"].shape == (2, 3, 336, 336)
    assert int((batch["input_ids"] == IMG).sum()) == 2 * model.num_image_tokens

    model.zero_grad()
    output = model(**batch)
    assert torch.isfinite(output.loss)
    output.loss.backward()
    projector_grad = sum(p.grad.abs().sum() for p in model.mm_projector.parameters() if p.grad is not None)
    embedding_grad = model.get_input_embeddings().weight.grad
    assert projector_grad > 0 and embedding_grad is not None and embedding_grad.abs().sum() > 0

    text_only = collate([data[2]])  # a batch without images: no pixel_values at all
    assert text_only["pixel_values"] is None
    assert torch.isfinite(model(**text_only).loss)
