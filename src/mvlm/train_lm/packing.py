"""Packing tokenized documents into fixed-length training sequences, with resumable positions.

Pre-training concatenates the documents' tokens (each document ``[BOS] + ids + [EOS]``, so an EOS
always separates two documents) and cuts the result into sequences of exactly ``seq_len`` tokens;
a document can span two or more sequences. Nothing is padded, dropped or repeated except the
unfinished tail at the very end of a finite stream (:attr:`SequencePacker.remainder`).

Every packed sequence also says where the *next* one starts: token ``offset`` of the document
``key`` (the key is whatever the caller attached to the document, e.g. its position in the corpus).
Restarting the packing at that document, skipping its first ``offset`` tokens, gives exactly the
sequences that would have followed: this is how a pre-training run resumes its data stream without
saving the tokens it had buffered. Pure Python, no torch.

Example:
    >>> packer = SequencePacker(4)
    >>> [s.tokens for s in packer.add("a", [1, 5, 6, 2])]
    [[1, 5, 6, 2]]
    >>> [(s.tokens, s.key, s.offset) for s in packer.add("b", [1, 7, 8, 9, 2])]
    [([1, 7, 8, 9], 'b', 4)]
    >>> packer.remainder
    [2]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mvlm.errors import ConfigError

__all__ = ["PackedSequence", "SequencePacker", "document_tokens", "pack_documents"]


@dataclass(frozen=True)
class PackedSequence:
    """One packed sequence and where the next one starts.

    Attributes:
        tokens: Exactly ``seq_len`` token ids.
        key: The key of the document whose token ``offset`` comes next.
        offset: How many tokens of that document are already in this or earlier sequences
            (equal to its length when the document ends exactly here).
    """

    tokens: list[int]
    key: Any
    offset: int


def document_tokens(ids: Sequence[int], *, eos_id: int, bos_id: int | None = None) -> list[int]:
    """A document's ids as packing joins them: ``[bos_id] + ids + [eos_id]`` (no BOS when ``bos_id`` is ``None``).

    Example:
        >>> document_tokens([5, 6], eos_id=2, bos_id=1)
        [1, 5, 6, 2]
    """
    return ([bos_id] if bos_id is not None else []) + list(ids) + [eos_id]


class SequencePacker:
    """Cut a stream of documents into ``seq_len``-token sequences (see the module notes).

    Args:
        seq_len: Tokens per sequence.

    Raises:
        ConfigError: ``seq_len`` is not a positive int.
    """

    def __init__(self, seq_len: int) -> None:
        if not isinstance(seq_len, int) or isinstance(seq_len, bool) or seq_len < 1:
            raise ConfigError(f"seq_len must be a positive int, got {seq_len!r}")
        self.seq_len = seq_len
        self._buffer: list[int] = []

    @property
    def remainder(self) -> list[int]:
        """The tokens added since the last full sequence (fewer than ``seq_len``)."""
        return list(self._buffer)

    def add(self, key: Any, tokens: Sequence[int], start: int = 0) -> Iterator[PackedSequence]:
        """Add one document's tokens (from token ``start`` on) and yield every sequence it completes.

        Args:
            key: The document's key, reported in :attr:`PackedSequence.key`.
            tokens: The document's tokens (:func:`document_tokens`).
            start: Tokens of the document to skip (already packed before a restart).

        Raises:
            ConfigError: ``start`` is outside ``0..len(tokens)``.
        """
        if not 0 <= start <= len(tokens):
            raise ConfigError(f"start must be within 0..{len(tokens)} for a document of {len(tokens)} tokens")
        position = start
        while position < len(tokens):
            take = min(self.seq_len - len(self._buffer), len(tokens) - position)
            self._buffer.extend(tokens[position : position + take])
            position += take
            if len(self._buffer) == self.seq_len:
                sequence, self._buffer = self._buffer, []
                yield PackedSequence(sequence, key, position)


def pack_documents(documents: Iterable[Sequence[int]], seq_len: int) -> tuple[list[list[int]], list[int]]:
    """Pack whole documents' tokens (already with their BOS/EOS) into sequences; also return the tail.

    Returns:
        ``(sequences, remainder)``: every full ``seq_len`` sequence, and the leftover tokens.

    Example:
        >>> pack_documents([[1, 5, 2], [1, 6, 7, 2]], 3)
        ([[1, 5, 2], [1, 6, 7]], [2])
    """
    packer = SequencePacker(seq_len)
    sequences = [s.tokens for number, doc in enumerate(documents) for s in packer.add(number, doc)]
    return sequences, packer.remainder
