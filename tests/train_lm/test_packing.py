"""Packing documents into fixed-length sequences: exact lengths, EOS between documents, nothing lost or repeated."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mvlm.errors import ConfigError
from mvlm.train_lm.packing import SequencePacker, document_tokens, pack_documents

BOS, EOS = 1, 2

documents = st.lists(st.lists(st.integers(3, 50), max_size=30), max_size=25)
lengths = st.integers(1, 40)


def wrapped(docs: list[list[int]]) -> list[list[int]]:
    return [document_tokens(doc, eos_id=EOS, bos_id=BOS) for doc in docs]


@given(documents, lengths)
def test_every_token_once_in_order_and_every_sequence_full(docs: list[list[int]], seq_len: int) -> None:
    sequences, remainder = pack_documents(wrapped(docs), seq_len)
    stream = [token for doc in wrapped(docs) for token in doc]
    assert all(len(sequence) == seq_len for sequence in sequences)
    assert [token for sequence in sequences for token in sequence] + remainder == stream
    assert len(remainder) < seq_len
    assert len(sequences) == len(stream) // seq_len


@given(documents, lengths)
def test_an_eos_separates_consecutive_documents(docs: list[list[int]], seq_len: int) -> None:
    sequences, remainder = pack_documents(wrapped(docs), seq_len)
    stream = [token for sequence in sequences for token in sequence] + remainder
    # documents hold ids >= 3, so BOS/EOS in the stream are exactly the separators
    assert [t for t in stream if t in (BOS, EOS)] == [BOS, EOS] * len(docs)
    bos_positions = [i for i, t in enumerate(stream) if t == BOS]
    assert all(stream[i - 1] == EOS for i in bos_positions[1:])


@given(documents, lengths, st.integers(0, 10_000))
def test_restarting_at_a_reported_position_gives_the_remaining_sequences(
    docs: list[list[int]], seq_len: int, cut: int
) -> None:
    docs = wrapped(docs)
    packer = SequencePacker(seq_len)
    everything = [(number, s) for number, doc in enumerate(docs) for s in packer.add(number, doc)]
    if not everything:
        return
    k = cut % len(everything)
    resume = everything[k][1]
    restarted = SequencePacker(seq_len)
    rest = [
        s.tokens
        for number in range(resume.key, len(docs))
        for s in restarted.add(number, docs[number], resume.offset if number == resume.key else 0)
    ]
    assert rest == [s.tokens for _, s in everything[k + 1 :]]
    assert restarted.remainder == packer.remainder


def test_positions_name_the_document_and_tokens_used() -> None:
    packer = SequencePacker(4)
    out = [(s.tokens, s.key, s.offset) for s in packer.add("a", [1, 5, 6, 7, 8, 9, 2])]
    assert out == [([1, 5, 6, 7], "a", 4)]
    out = [(s.tokens, s.key, s.offset) for s in packer.add("b", [1, 10, 2])]
    assert out == [([8, 9, 2, 1], "b", 1)]
    assert packer.remainder == [10, 2]


def test_a_document_ending_a_sequence_reports_its_full_length() -> None:
    packer = SequencePacker(3)
    assert [(s.key, s.offset) for s in packer.add(0, [1, 5, 2])] == [(0, 3)]
    assert list(packer.add(0, [1, 5, 2], start=3)) == []


def test_document_tokens_without_bos() -> None:
    assert document_tokens([7, 8], eos_id=EOS) == [7, 8, EOS]
    assert document_tokens([], eos_id=EOS, bos_id=BOS) == [BOS, EOS]


@pytest.mark.parametrize("seq_len", [0, -1, 2.5, True])
def test_bad_sequence_length(seq_len: object) -> None:
    with pytest.raises(ConfigError, match="seq_len"):
        SequencePacker(seq_len)  # type: ignore[arg-type]


def test_bad_start() -> None:
    with pytest.raises(ConfigError, match="start"):
        list(SequencePacker(4).add(0, [1, 2], start=3))
