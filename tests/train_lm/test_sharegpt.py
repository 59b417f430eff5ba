"""ShareGPT data for chat SFT: reading and checking records, and labels checked token by token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from mvlm.errors import ConfigError, DataError
from mvlm.prompting import IGNORE_INDEX
from mvlm.train_lm import ShareGPTDataset, TextSFTCollator, read_sharegpt

SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)

TWO_ROUNDS = {
    "id": "pets_0",
    "conversations": [
        {"from": "human", "value": "What does the cat do?"},
        {"from": "gpt", "value": "The black cat sleeps on the sofa."},
        {"from": "human", "value": "And the dog?"},
        {"from": "gpt", "value": "It barks in the garden."},
    ],
}


def write(path: Path, records: list[Any], jsonl: bool = False) -> Path:
    if jsonl:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        path.write_text(json.dumps(records, indent=1))
    return path


def conversation(*pairs: tuple[str, str], first: str = "human") -> dict[str, Any]:
    return {"id": "x", "conversations": [{"from": role, "value": text} for role, text in pairs]}


def expected_labels(tokenizer: Any, text: str, answers: list[str]) -> list[int]:
    """Labels by character spans, as the reference masks: loss on every token that overlaps an answer, the
    space that separates it from ``ASSISTANT:`` (a lone ``▁`` when the answer's first piece has none) and
    the ``</s>`` after it; nothing else."""
    encoded = tokenizer(text, return_offsets_mapping=True)
    spans = []
    position = 0
    for answer in answers:
        start = text.index(" ASSISTANT: " + answer + "</s>", position) + len(" ASSISTANT:")
        spans.append((start, start + len(" " + answer + "</s>")))
        position = spans[-1][1]
    labels = []
    for token, (begin, end) in zip(encoded.input_ids, encoded.offset_mapping, strict=True):
        trained = any(begin < stop and end > start for start, stop in spans) and end > begin
        labels.append(token if trained else IGNORE_INDEX)
    return labels


# ----------------------------------------------------------------------------------------- reading
def test_reads_json_lists_and_json_lines(tmp_path: Path) -> None:
    records, problems = read_sharegpt(
        [write(tmp_path / "a.json", [TWO_ROUNDS]), write(tmp_path / "b.jsonl", [TWO_ROUNDS], True)]
    )
    assert problems == [] and len(records) == 2
    assert records[0].id == "pets_0" and records[1].where.startswith(f"{tmp_path / 'b.jsonl'}, record 0")
    assert [t["from"] for t in records[0].turns] == ["human", "gpt", "human", "gpt"]


def test_user_and_assistant_roles_and_a_leading_answer(tmp_path: Path) -> None:
    record = conversation(("gpt", "Hello!"), ("user", "Hi"), ("assistant", "Hey"), ("USER", "Bye"), ("chatgpt", "x"))
    record["conversations"] = record["conversations"][:4]
    records, _ = read_sharegpt(write(tmp_path / "a.json", [record]))
    assert records[0].turns == (
        {"from": "human", "value": "Hi"},
        {"from": "gpt", "value": "Hey"},
        {"from": "human", "value": "Bye"},
    )


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (conversation(("human", "Hi"), ("bing", "Hello")), r"record 0 \(id 'x'\), turn 1: unknown role 'bing'"),
        (conversation(("system", "Be nice"), ("human", "Hi")), r"turn 0: unknown role 'system'"),
        (conversation(("human", "Hi"), ("human", "Again"), ("gpt", "Yes")), "turn 1 .* comes from 'human'"),
        (conversation(("human", "Hi")), "no answer"),
        ({"id": "y", "conversation": []}, r"record 0 \(id 'y'\): a record must be an object with a 'conversations'"),
        (conversation(("human", 3), ("gpt", "x")), "a string 'value'"),
    ],
)
def test_bad_records_name_the_file_and_record(tmp_path: Path, record: Any, message: str) -> None:
    path = write(tmp_path / "bad.json", [record])
    with pytest.raises(DataError, match=message) as error:
        read_sharegpt(path)
    assert str(path) in str(error.value)


def test_skip_invalid_counts_the_bad_records(tmp_path: Path) -> None:
    bad = conversation(("human", "Hi"), ("bard", "Hello"))
    path = write(tmp_path / "mixed.json", [TWO_ROUNDS, bad, bad])
    with pytest.raises(DataError, match="and 1 more bad record"):
        read_sharegpt(path)
    records, problems = read_sharegpt(path, skip_invalid=True)
    assert len(records) == 1 and len(problems) == 2 and "record 1" in problems[0]


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no ShareGPT file"):
        read_sharegpt(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("[{]")
    with pytest.raises(DataError, match="not valid JSON"):
        read_sharegpt(tmp_path / "broken.json")
    (tmp_path / "broken.jsonl").write_text('{"conversations": []}\nnope\n')
    with pytest.raises(DataError, match=r"broken\.jsonl:2: not a JSON object"):
        read_sharegpt(tmp_path / "broken.jsonl")


# ----------------------------------------------------------------------------------------- labels
def dataset(tmp_path: Path, tokenizer: Any, records: list[Any], **options: Any) -> ShareGPTDataset:
    read, _ = read_sharegpt(write(tmp_path / "d.json", records))
    options.setdefault("model_max_length", 2048)
    return ShareGPTDataset(read, tokenizer, **options)


@pytest.mark.parametrize("template", ["vicuna_v1", "v1"])
def test_two_rounds_token_by_token(tmp_path: Path, lm_tokenizer: Any, template: str) -> None:
    data = dataset(tmp_path, lm_tokenizer, [TWO_ROUNDS], template=template)
    sample = data.sample(0)
    text = (
        f"{SYSTEM} USER: What does the cat do? ASSISTANT: The black cat sleeps on the sofa.</s>"
        "USER: And the dog? ASSISTANT: It barks in the garden.</s>"
    )
    assert sample.text == text
    assert sample.input_ids == lm_tokenizer(text).input_ids
    assert sample.labels == expected_labels(
        lm_tokenizer, text, ["The black cat sleeps on the sofa.", "It barks in the garden."]
    )
    trained = [t for t in sample.labels if t != IGNORE_INDEX]
    assert trained.count(lm_tokenizer.eos_token_id) == 2 and trained[-1] == lm_tokenizer.eos_token_id
    assert not sample.mismatch and data.mismatch_count == 0
    item = data[0]
    assert item["input_ids"].dtype == torch.long and item["labels"].tolist() == sample.labels


def test_user_assistant_records_give_the_same_sample(tmp_path: Path, lm_tokenizer: Any) -> None:
    renamed = {
        "id": "pets_0",
        "conversations": [
            {"from": {"human": "user", "gpt": "assistant"}[t["from"]], "value": t["value"]}
            for t in TWO_ROUNDS["conversations"]
        ],
    }
    a = dataset(tmp_path, lm_tokenizer, [TWO_ROUNDS]).sample(0)
    b = dataset(tmp_path, lm_tokenizer, [renamed]).sample(0)
    assert (a.input_ids, a.labels) == (b.input_ids, b.labels)


def test_three_rounds_and_a_leading_answer(tmp_path: Path, lm_tokenizer: Any) -> None:
    record = conversation(
        ("gpt", "I am skipped."),
        ("human", "Count to three."),
        ("gpt", "one two three"),
        ("human", "Where does the fish swim?"),
        ("gpt", "In the pond."),
        ("human", "Thanks"),
        ("gpt", "You are welcome."),
    )
    sample = dataset(tmp_path, lm_tokenizer, [record]).sample(0)
    answers = ["one two three", "In the pond.", "You are welcome."]
    assert "I am skipped." not in sample.text
    assert sample.labels == expected_labels(lm_tokenizer, sample.text, answers)


def test_truncation_to_the_context(tmp_path: Path, lm_tokenizer: Any) -> None:
    full = dataset(tmp_path, lm_tokenizer, [TWO_ROUNDS]).sample(0)
    cut = len(full.input_ids) - 9
    data = dataset(tmp_path, lm_tokenizer, [TWO_ROUNDS], model_max_length=cut)
    sample = data.sample(0)
    assert len(sample.input_ids) == cut and sample.input_ids == full.input_ids[:cut]
    assert sample.labels == full.labels[:cut] and not sample.mismatch
    assert data.truncated_count == 1


def test_tokenization_mismatches_are_masked_and_counted(tmp_path: Path, lm_tokenizer: Any) -> None:
    odd = conversation(("human", "What is </s> for?"), ("gpt", "It ends a turn."))
    data = dataset(tmp_path, lm_tokenizer, [TWO_ROUNDS, odd])
    assert data.sample(1).mismatch and set(data.sample(1).labels) == {IGNORE_INDEX}
    assert data.mismatch_count == 1
    report = data.scan()
    assert report["samples"] == 2 and report["mismatches"] == 1 and report["truncated"] == 0
    assert report["trained_tokens"] == sum(t != IGNORE_INDEX for t in data.sample(0).labels)


def test_templates_without_conversation_masking_are_refused(tmp_path: Path, lm_tokenizer: Any) -> None:
    with pytest.raises(ConfigError, match="stage-1 captions"):
        dataset(tmp_path, lm_tokenizer, [TWO_ROUNDS], template="plain")
    with pytest.raises(ConfigError, match="model_max_length"):
        dataset(tmp_path, lm_tokenizer, [TWO_ROUNDS], model_max_length=1)


def test_collator_pads_right_with_the_pad_id_and_ignore_index(tmp_path: Path, lm_tokenizer: Any) -> None:
    data = dataset(tmp_path, lm_tokenizer, [TWO_ROUNDS, conversation(("human", "Hi"), ("gpt", "Hello."))])
    batch = TextSFTCollator(lm_tokenizer, 2048)([data[0], data[1]])
    assert set(batch) == {"input_ids", "labels", "attention_mask"}
    short = len(data[1]["input_ids"])
    assert batch["input_ids"][1, short:].eq(0).all() and batch["labels"][1, short:].eq(IGNORE_INDEX).all()
    assert batch["attention_mask"][1].tolist() == [1] * short + [0] * (batch["input_ids"].shape[1] - short)
