"""The pre-training data stream: documents -> tokens -> packed sequences, sharded, deterministic, resumable.

:class:`PackedTokenStream` is a ``torch`` ``IterableDataset``. It reads a
:class:`~mvlm.train_lm.documents.DocumentSource`, tokenizes each document as ``[BOS] + ids + [EOS]``
with the model's tokenizer, and packs the tokens into sequences of exactly ``seq_len``
(:class:`~mvlm.train_lm.packing.SequencePacker`). At the end of the corpus it starts the next
epoch (``loop=True``), so a run is measured in steps, not epochs.

**Sharding.** Rank ``r`` of ``R`` with data-loader worker ``w`` of ``W`` reads the documents whose
number is ``s`` modulo ``R * W``, ``s = r * W + w``: disjoint shards that together cover the corpus.
(Each reader scans the corpus but parses and tokenizes only its own documents.)

**Position.** Every sample carries ``sample["stream_state"]``: its shard and where that shard's
stream continues after it: the document (its source position, e.g. file and byte offset), how many
of its tokens are already used (the leftover of the packing buffer, re-derived by tokenizing that
document again), its token count (checked on restore: a changed corpus is an error, not a silent
shift) and the epoch. The buffer is always empty right after a sequence is cut, so this small
record is the complete state. :meth:`PackedTokenStream.state_dict` holds one such position per
worker shard; :meth:`~PackedTokenStream.load_state_dict` makes the next iteration continue from it.
With ``W`` workers the data loader takes batches from the workers in turn, so the state also records
which shard comes next, and the workers are rotated to match on restore.

The training loop saves the position of the last *trained* batch (see
:class:`~mvlm.train_lm.trainer.StreamProgress`), which is what makes a restart neither repeat nor skip
data, whatever the data loader had fetched ahead.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from mvlm.errors import CheckpointError, ConfigError, DataError
from mvlm.train_lm.documents import DocumentSource
from mvlm.train_lm.packing import SequencePacker, document_tokens

__all__ = [
    "STREAM_STATE_KEY",
    "PackedBatchCollator",
    "PackedSequenceDataset",
    "PackedTokenStream",
    "build_eval_sequences",
    "distributed_rank_and_world",
]

logger = logging.getLogger(__name__)

STREAM_STATE_KEY = "stream_state"
"""The key of the stream position in each sample and batch of a :class:`PackedTokenStream`."""

_STATE_FORMAT = 1


def distributed_rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of ranks (from ``torch.distributed``, else ``RANK``/``WORLD_SIZE``)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


class PackedTokenStream(IterableDataset):
    """Packed ``seq_len``-token sequences from a document source, for pre-training (see the module notes).

    Args:
        source: The corpus (:class:`~mvlm.train_lm.documents.FileDocumentSource`,
            :class:`~mvlm.train_lm.documents.HFDocumentSource` or anything with ``iter_documents``).
        tokenizer: The model's tokenizer (``tokenizer(text, add_special_tokens=False)["input_ids"]``,
            ``bos_token_id``, ``eos_token_id``).
        seq_len: Tokens per sequence (the model's context, 2048 for MobileLLaMA).
        add_bos: Start every document with BOS (as LLaMA's tokenizer does); EOS always ends it.
        loop: Start over at the end of the corpus (the epoch number is part of the position).
        first_document: Skip the documents numbered below this (held out for evaluation).
        rank: This process's rank (default: from ``torch.distributed`` or ``RANK``, at iteration time).
        world_size: The number of ranks (default: likewise).

    Each sample is ``{"input_ids": [seq_len] long, "stream_state": {...}}``; batch them with
    :class:`PackedBatchCollator`.

    Raises:
        ConfigError: Bad ``seq_len``, or a tokenizer without EOS (or BOS when ``add_bos``).
        DataError: (while iterating) a shard gets no document in a whole epoch, or the corpus changed
            since the position was saved.
    """

    def __init__(
        self,
        source: DocumentSource,
        tokenizer: Any,
        seq_len: int,
        *,
        add_bos: bool = True,
        loop: bool = True,
        first_document: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.tokenizer = tokenizer
        self.seq_len = seq_len
        SequencePacker(seq_len)  # validates seq_len
        self.add_bos = add_bos
        self.loop = loop
        self.first_document = first_document
        self._rank = rank
        self._world_size = world_size
        self.eos_id = getattr(tokenizer, "eos_token_id", None)
        self.bos_id = getattr(tokenizer, "bos_token_id", None) if add_bos else None
        if self.eos_id is None or (add_bos and self.bos_id is None):
            raise ConfigError("the tokenizer needs an EOS token (and a BOS token unless add_bos=False) for packing")
        self._start: dict[str, Any] = {"positions": {}, "next_shard": 0}
        self._live: dict[str, Any] | None = None

    # ------------------------------------------------------------------ layout
    def rank_and_world(self) -> tuple[int, int]:
        """The rank and number of ranks this stream shards for."""
        rank, world = distributed_rank_and_world()
        return (self._rank if self._rank is not None else rank), (
            self._world_size if self._world_size is not None else world
        )

    def encode(self, text: str) -> list[int]:
        """A document's tokens as packed: ``[BOS] + ids + [EOS]``."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return document_tokens(ids, eos_id=self.eos_id, bos_id=self.bos_id)

    # ------------------------------------------------------------------ state
    def _describe_layout(self, num_workers: int) -> dict[str, Any]:
        rank, world = self.rank_and_world()
        return {
            "format": _STATE_FORMAT,
            "rank": rank,
            "world_size": world,
            "num_workers": num_workers,
            "seq_len": self.seq_len,
            "add_bos": self.add_bos,
            "first_document": self.first_document,
        }

    def state_dict(self, num_workers: int | None = None) -> dict[str, Any]:
        """The stream position: after the last sample this object yielded in this process, else the loaded one.

        With data-loader workers the samples are made in other processes; use the ``stream_state``
        of the trained batches instead (:class:`~mvlm.train_lm.trainer.StreamProgress` does).

        Args:
            num_workers: The data-loader workers the positions are for (default: as loaded, else 1).
        """
        state = copy.deepcopy(self._live if self._live is not None else self._start)
        workers = num_workers if num_workers is not None else state.get("num_workers", 1)
        return {**self._describe_layout(workers), "positions": state["positions"], "next_shard": state["next_shard"]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue the next iteration from ``state`` (from :meth:`state_dict` or a checkpoint).

        Raises:
            CheckpointError: The state is for another layout (ranks, workers), sequence length or BOS setting.
        """
        if state.get("format") != _STATE_FORMAT:
            raise CheckpointError(f"unknown stream-state format {state.get('format')!r} (expected {_STATE_FORMAT})")
        expected = self._describe_layout(int(state["num_workers"]))
        for key in ("world_size", "rank", "seq_len", "add_bos", "first_document"):
            if state.get(key) != expected[key]:
                raise CheckpointError(
                    f"the saved data-stream position was made with {key}={state.get(key)!r}, this run has "
                    f"{key}={expected[key]!r}; resume with the same number of processes, sequence length and data "
                    "options, or start a new run"
                )
        positions = {int(k): dict(v) for k, v in state["positions"].items()}
        self._start = {
            "positions": positions,
            "next_shard": int(state["next_shard"]),
            "num_workers": int(state["num_workers"]),
        }
        self._live = None

    # ------------------------------------------------------------------ iteration
    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        saved_workers = self._start.get("num_workers")
        if saved_workers is not None and saved_workers != workers:
            raise CheckpointError(
                f"the data-stream position was saved with {saved_workers} data-loader worker(s), this run uses "
                f"{workers}; resume with dataloader_num_workers={saved_workers}"
            )
        local = (worker + int(self._start["next_shard"])) % workers
        rank, world = self.rank_and_world()
        shard, num_shards = rank * workers + local, world * workers
        position = self._start["positions"].get(local)
        if info is None:
            self._live = copy.deepcopy(self._start)
            self._live["num_workers"] = 1
        yield from self._shard_samples(local, shard, num_shards, position)

    def _shard_samples(
        self, local: int, shard: int, num_shards: int, position: dict[str, Any] | None
    ) -> Iterator[dict[str, Any]]:
        packer = SequencePacker(self.seq_len)
        epoch = int(position["epoch"]) if position else 0
        resume = position
        while True:
            documents_seen = 0
            start = resume["document"] if resume else None
            for document in self.source.iter_documents(start, shard=(shard, num_shards)):
                if document.index < self.first_document:
                    continue
                documents_seen += 1
                tokens = self.encode(document.text)
                skip = 0
                if resume is not None:
                    skip = int(resume["offset"])
                    if len(tokens) != int(resume["document_tokens"]):
                        raise DataError(
                            f"{document.where}: this document has {len(tokens)} tokens but had "
                            f"{resume['document_tokens']} when the stream position was saved; the corpus or the "
                            "tokenizer changed, so the run cannot resume its data stream exactly"
                        )
                    resume = None
                for sequence in packer.add(document.start, tokens, skip):
                    state = {
                        "shard": local,
                        "position": {
                            "epoch": epoch,
                            "document": sequence.key,
                            "offset": sequence.offset,
                            "document_tokens": len(tokens),
                        },
                    }
                    if self._live is not None and get_worker_info() is None:
                        self._live["positions"][local] = copy.deepcopy(state["position"])
                    yield {"input_ids": torch.tensor(sequence.tokens, dtype=torch.long), STREAM_STATE_KEY: state}
            if documents_seen == 0 and start is None:
                raise DataError(
                    f"shard {shard} of {num_shards} got no document from {self.source.describe()}: the corpus has "
                    "fewer documents than ranks x data-loader workers (after the held-out ones); use more data or "
                    "fewer processes"
                )
            if not self.loop:
                return
            epoch += 1
            resume = None
            logger.info("data stream: shard %d of %d starts epoch %d", shard, num_shards, epoch)


class PackedSequenceDataset(Dataset):
    """A fixed list of packed sequences (held-out evaluation data), as a map-style data set.

    Args:
        sequences: ``seq_len``-token id lists.
    """

    def __init__(self, sequences: Sequence[Sequence[int]]) -> None:
        self.sequences = [list(s) for s in sequences]

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"input_ids": torch.tensor(self.sequences[index], dtype=torch.long)}


def build_eval_sequences(
    source: DocumentSource,
    tokenizer: Any,
    seq_len: int,
    *,
    max_sequences: int,
    max_documents: int | None = None,
    add_bos: bool = True,
) -> PackedSequenceDataset:
    """Pack held-out documents into at most ``max_sequences`` sequences (every rank gets the same list).

    Args:
        source: The held-out corpus.
        tokenizer: The model's tokenizer.
        seq_len: Tokens per sequence.
        max_sequences: Stop after this many sequences.
        max_documents: Read only the first documents (those a training stream skips with ``first_document``).
        add_bos: As :class:`PackedTokenStream`.

    Raises:
        DataError: The documents do not fill a single sequence.
    """
    stream = PackedTokenStream(source, tokenizer, seq_len, add_bos=add_bos, loop=False, rank=0, world_size=1)
    packer = SequencePacker(seq_len)
    sequences: list[list[int]] = []
    for document in source.iter_documents():
        if (max_documents is not None and document.index >= max_documents) or len(sequences) >= max_sequences:
            break
        sequences.extend(s.tokens for s in packer.add(document.index, stream.encode(document.text)))
    sequences = sequences[:max_sequences]
    if not sequences:
        raise DataError(
            f"the held-out data ({source.describe()}) has fewer than {seq_len} tokens: not one evaluation sequence; "
            "give more held-out documents or a shorter sequence length"
        )
    return PackedSequenceDataset(sequences)


class PackedBatchCollator:
    """Stack packed samples into a batch: ``input_ids`` and ``labels`` ``[batch, seq_len]`` (labels = ids).

    The model shifts the labels itself; no position is masked (documents are separated by EOS, and
    attention crosses document boundaries, as in LLaMA-style pre-training). A batch of stream samples
    also carries the ``stream_state`` of its last sample, for :class:`~mvlm.train_lm.trainer.LMTrainer`.

    Raises:
        DataError: An empty batch, sequences of different lengths, or samples from different shards.
    """

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Collate ``samples``."""
        if not samples:
            raise DataError("cannot collate an empty batch")
        lengths = {int(s["input_ids"].shape[0]) for s in samples}
        if len(lengths) > 1:
            raise DataError(f"packed sequences must all have one length, got {sorted(lengths)}")
        input_ids = torch.stack([s["input_ids"] for s in samples])
        batch: dict[str, Any] = {"input_ids": input_ids, "labels": input_ids.clone()}
        states = [s[STREAM_STATE_KEY] for s in samples if STREAM_STATE_KEY in s]
        if states:
            if len({state["shard"] for state in states}) > 1:
                raise DataError("a batch mixes samples of different stream shards; give each worker its own batches")
            batch[STREAM_STATE_KEY] = states[-1]
        return batch
