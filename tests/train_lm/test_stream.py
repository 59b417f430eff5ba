"""The pre-training stream: deterministic, complete, sharded, and resumable exactly (also with workers)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lm_corpus import synthetic_corpus, write_jsonl
from torch.utils.data import DataLoader

from mvlm.errors import CheckpointError, DataError
from mvlm.train_lm import (
    FileDocumentSource,
    PackedBatchCollator,
    PackedTokenStream,
    StreamProgress,
    build_eval_sequences,
)

SEQ = 32


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("stream") / "small.jsonl", synthetic_corpus(12, seed=3))


def stream(corpus: Path, tokenizer: Any, **options: Any) -> PackedTokenStream:
    options.setdefault("rank", 0)
    options.setdefault("world_size", 1)
    return PackedTokenStream(FileDocumentSource([corpus]), tokenizer, SEQ, **options)


def ids(samples: Any) -> list[list[int]]:
    return [sample["input_ids"].tolist() for sample in samples]


def take(data: PackedTokenStream, n: int) -> list[list[int]]:
    return ids(itertools.islice(iter(data), n))


def encoded(corpus: Path, tokenizer: Any, keep: Any = lambda index: True) -> list[int]:
    data = stream(corpus, tokenizer)
    return [t for d in FileDocumentSource([corpus]).iter_documents() if keep(d.index) for t in data.encode(d.text)]


def test_one_pass_holds_every_token_once_with_bos_and_eos(small_corpus: Path, lm_tokenizer: Any) -> None:
    sequences = take(stream(small_corpus, lm_tokenizer, loop=False), 10_000)
    tokens = encoded(small_corpus, lm_tokenizer)
    assert all(len(s) == SEQ for s in sequences)
    assert [t for s in sequences for t in s] == tokens[: len(sequences) * SEQ]
    assert len(tokens) - len(sequences) * SEQ < SEQ
    assert tokens.count(lm_tokenizer.eos_token_id) == 12 and tokens[0] == lm_tokenizer.bos_token_id


def test_deterministic(small_corpus: Path, lm_tokenizer: Any) -> None:
    assert take(stream(small_corpus, lm_tokenizer), 25) == take(stream(small_corpus, lm_tokenizer), 25)


def test_loops_over_epochs(small_corpus: Path, lm_tokenizer: Any) -> None:
    one_pass = len(take(stream(small_corpus, lm_tokenizer, loop=False), 10_000))
    looped = take(stream(small_corpus, lm_tokenizer), 3 * one_pass + 2)
    tokens = encoded(small_corpus, lm_tokenizer)
    assert [t for s in looped for t in s] == (tokens * 4)[: len(looped) * SEQ]


@settings(max_examples=15)
@given(st.integers(0, 40), st.integers(1, 6))
def test_state_dict_resumes_exactly(small_corpus: Path, lm_tokenizer: Any, k: int, more: int) -> None:
    expected = take(stream(small_corpus, lm_tokenizer), k + more)
    first = stream(small_corpus, lm_tokenizer)
    assert take(first, k) == expected[:k]
    saved = json.loads(json.dumps(first.state_dict()))
    second = stream(small_corpus, lm_tokenizer)
    second.load_state_dict(saved)
    assert take(second, more) == expected[k:]


def test_ranks_read_disjoint_shards(small_corpus: Path, lm_tokenizer: Any) -> None:
    for rank in range(3):
        sequences = take(stream(small_corpus, lm_tokenizer, rank=rank, world_size=3, loop=False), 10_000)
        tokens = encoded(small_corpus, lm_tokenizer, keep=lambda index, rank=rank: index % 3 == rank)
        assert [t for s in sequences for t in s] == tokens[: len(sequences) * SEQ]


def test_rank_comes_from_the_environment(small_corpus: Path, lm_tokenizer: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    data = PackedTokenStream(FileDocumentSource([small_corpus]), lm_tokenizer, SEQ)
    assert data.rank_and_world() == (1, 2)
    assert take(data, 3) == take(stream(small_corpus, lm_tokenizer, rank=1, world_size=2), 3)


def batches(data: PackedTokenStream, workers: int, n: int) -> list[dict[str, Any]]:
    loader = DataLoader(data, batch_size=2, num_workers=workers, collate_fn=PackedBatchCollator())
    return list(itertools.islice(iter(loader), n))


@pytest.mark.parametrize("consumed", [3, 4])
def test_workers_resume_exactly_from_the_trained_batches(small_corpus: Path, lm_tokenizer: Any, consumed: int) -> None:
    expected = batches(stream(small_corpus, lm_tokenizer), 2, consumed + 4)
    shards = [b["stream_state"]["shard"] for b in expected]
    assert shards == [i % 2 for i in range(consumed + 4)]  # the loader takes the workers in turn
    first = stream(small_corpus, lm_tokenizer)
    progress = StreamProgress(first, num_workers=2)
    for batch in batches(first, 2, consumed + 2)[:consumed]:  # fetched ahead, but only `consumed` trained
        progress.update(batch["stream_state"])
    second = stream(small_corpus, lm_tokenizer)
    second.load_state_dict(json.loads(json.dumps(progress.state_dict())))
    resumed = batches(second, 2, 4)
    assert [b["input_ids"].tolist() for b in resumed] == [b["input_ids"].tolist() for b in expected[consumed:]]


def test_held_out_documents(small_corpus: Path, lm_tokenizer: Any) -> None:
    train = take(stream(small_corpus, lm_tokenizer, first_document=4, loop=False), 10_000)
    tokens = encoded(small_corpus, lm_tokenizer, keep=lambda index: index >= 4)
    assert [t for s in train for t in s] == tokens[: len(train) * SEQ]
    held_out = build_eval_sequences(
        FileDocumentSource([small_corpus]), lm_tokenizer, SEQ, max_sequences=100, max_documents=4
    )
    assert [t for s in held_out.sequences for t in s] == encoded(small_corpus, lm_tokenizer, lambda i: i < 4)[
        : len(held_out) * SEQ
    ]
    assert held_out[0]["input_ids"].shape == (SEQ,)
    assert len(build_eval_sequences(FileDocumentSource([small_corpus]), lm_tokenizer, SEQ, max_sequences=2)) == 2
    with pytest.raises(DataError, match="fewer than 32 tokens"):
        build_eval_sequences(FileDocumentSource([small_corpus]), lm_tokenizer, SEQ, max_sequences=2, max_documents=0)


def test_changed_corpus_is_refused(tmp_path: Path, lm_tokenizer: Any) -> None:
    texts = synthetic_corpus(12, seed=3)
    corpus = write_jsonl(tmp_path / "c.jsonl", texts)
    data = stream(corpus, lm_tokenizer)
    take(data, 5)
    state = data.state_dict()
    document = state["positions"][0]["document"]["index"]
    texts[document] = texts[document] + " and more words here"
    write_jsonl(corpus, texts)
    resumed = stream(corpus, lm_tokenizer)
    resumed.load_state_dict(state)
    with pytest.raises(DataError, match="the corpus or the tokenizer changed"):
        take(resumed, 1)


def test_layout_mismatches_are_refused(small_corpus: Path, lm_tokenizer: Any) -> None:
    data = stream(small_corpus, lm_tokenizer)
    take(data, 2)
    state = data.state_dict()
    with pytest.raises(CheckpointError, match=r"world_size=1.*world_size=2"):
        stream(small_corpus, lm_tokenizer, rank=0, world_size=2).load_state_dict(state)
    with pytest.raises(CheckpointError, match="seq_len"):
        PackedTokenStream(FileDocumentSource([small_corpus]), lm_tokenizer, 16, rank=0, world_size=1).load_state_dict(
            state
        )
    resumed = stream(small_corpus, lm_tokenizer)
    resumed.load_state_dict(state)
    with pytest.raises(CheckpointError, match="1 data-loader worker"):
        batches(resumed, 2, 1)


def test_a_shard_without_documents_is_an_error(tmp_path: Path, lm_tokenizer: Any) -> None:
    corpus = write_jsonl(tmp_path / "two.jsonl", ["one document", "another one"])
    with pytest.raises(DataError, match="shard 2 of 3 got no document"):
        take(stream(corpus, lm_tokenizer, rank=2, world_size=3), 1)


def test_collator() -> None:
    collate = PackedBatchCollator()
    state = {"shard": 0, "position": {}}
    batch = collate([{"input_ids": torch.tensor([1, 2]), "stream_state": state}, {"input_ids": torch.tensor([3, 4])}])
    assert batch["input_ids"].tolist() == [[1, 2], [3, 4]] and batch["labels"].tolist() == [[1, 2], [3, 4]]
    assert batch["stream_state"] is state and "attention_mask" not in batch
    with pytest.raises(DataError, match="one length"):
        collate([{"input_ids": torch.tensor([1, 2])}, {"input_ids": torch.tensor([3])}])
    with pytest.raises(DataError, match="different stream shards"):
        collate([{"input_ids": torch.tensor([1]), "stream_state": {"shard": s}} for s in (0, 1)])
    with pytest.raises(DataError, match="empty"):
        collate([])
