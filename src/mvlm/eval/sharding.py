"""Sharding an evaluation across processes, and merging the shards back, as the reference does.

The reference's ``model_vqa_*.py`` scripts take ``--num-chunks K --chunk-idx i``, ask only the
questions of chunk ``i`` of :func:`split_list` (chunks of ``ceil(n / K)`` questions, in file order)
and write ``<K>_<i>.jsonl``; the shell script then concatenates the ``K`` files in chunk order. Here:

* :func:`split_list` / :func:`get_chunk`: the same chunks (a chunk past the last one is empty, where
  the reference would fail);
* :func:`chunk_answers_path`: ``<output>/<benchmark>/chunks/<K>_<i>.jsonl``, and beside it a
  ``.done.json`` marker written when the chunk is finished;
* :func:`merge_chunks`: once every marker is there, the chunks' answer lines concatenated in chunk
  order into ``<output>/<benchmark>/answers.jsonl`` (written to a temporary file, then renamed, so
  two processes merging at once both leave the same complete file);
* :func:`distributed_context`: the rank and world size ``torchrun`` puts in the environment, which
  become the chunk index and the number of chunks.

Nothing here imports torch.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mvlm.errors import ConfigError, DataError
from mvlm.eval.records import Problem, load_answers

__all__ = [
    "ANSWERS_FILE",
    "DistributedContext",
    "MergedAnswers",
    "benchmark_output_dir",
    "chunk_answers_path",
    "chunk_done_path",
    "distributed_context",
    "get_chunk",
    "merge_chunks",
    "read_chunk_marker",
    "split_list",
    "write_json_atomic",
    "write_text_atomic",
]

T = TypeVar("T")

ANSWERS_FILE = "answers.jsonl"
"""The name of a benchmark's (merged) answer file in its output folder."""


def split_list(items: Sequence[T], num_chunks: int) -> list[list[T]]:
    """Cut ``items`` into chunks of ``ceil(len(items) / num_chunks)``, in order (the reference's ``split_list``).

    There can be fewer than ``num_chunks`` chunks (10 items in 8 chunks: 5 chunks of 2), exactly as
    in the reference; :func:`get_chunk` returns an empty chunk for the missing indices.

    Args:
        items: The questions (any sequence).
        num_chunks: How many processes share them (>= 1).

    Returns:
        The chunks; concatenated they give ``items`` back.

    Raises:
        ConfigError: ``num_chunks`` is not a positive integer.

    Example:
        >>> split_list(list(range(10)), 4)
        [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
        >>> split_list(list(range(10)), 8)
        [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    """
    if isinstance(num_chunks, bool) or not isinstance(num_chunks, int) or num_chunks < 1:
        raise ConfigError(f"num_chunks must be an integer >= 1, got {num_chunks!r}")
    size = math.ceil(len(items) / num_chunks)
    if size == 0:
        return []
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def get_chunk(items: Sequence[T], num_chunks: int, chunk_idx: int) -> list[T]:
    """Chunk ``chunk_idx`` of :func:`split_list` (the reference's ``get_chunk``); empty past the last chunk.

    Raises:
        ConfigError: ``chunk_idx`` is not in ``0 .. num_chunks - 1``.

    Example:
        >>> get_chunk(list(range(10)), 8, 4), get_chunk(list(range(10)), 8, 7)
        ([8, 9], [])
    """
    chunks = split_list(items, num_chunks)
    if isinstance(chunk_idx, bool) or not isinstance(chunk_idx, int) or not 0 <= chunk_idx < num_chunks:
        raise ConfigError(
            f"chunk_idx must be an integer in 0..{num_chunks - 1} (num_chunks {num_chunks}), got {chunk_idx!r}"
        )
    return chunks[chunk_idx] if chunk_idx < len(chunks) else []


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a ``torchrun`` launch.

    Attributes:
        rank: The global rank (the chunk this process answers).
        world_size: How many processes (the number of chunks).
        local_rank: The rank on this machine (the GPU to use).
    """

    rank: int
    world_size: int
    local_rank: int


def distributed_context(environ: Mapping[str, str] | None = None) -> DistributedContext | None:
    """The ``torchrun`` rank and world size from the environment, or ``None`` outside a multi-process launch.

    Args:
        environ: The environment to read (default ``os.environ``): ``RANK``, ``WORLD_SIZE`` and
            ``LOCAL_RANK`` as ``torchrun`` (and ``torch.distributed.launch``) set them.

    Raises:
        ConfigError: The variables are present but not valid integers, or the rank is out of range.

    Example:
        >>> distributed_context({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
        DistributedContext(rank=1, world_size=4, local_rank=1)
        >>> distributed_context({}) is None
        True
    """
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return None
    try:
        world_size = int(env["WORLD_SIZE"])
        rank = int(env.get("RANK", "0"))
        local_rank = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as error:
        raise ConfigError(f"RANK / WORLD_SIZE / LOCAL_RANK must be integers ({error})") from None
    if world_size <= 1:
        return None
    if not 0 <= rank < world_size:
        raise ConfigError(f"RANK={rank} is not in 0..{world_size - 1} (WORLD_SIZE={world_size})")
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank)


def benchmark_output_dir(output_dir: str | Path, benchmark: str) -> Path:
    """``<output_dir>/<benchmark>``: where a benchmark's answers, chunks and ``metrics.json`` go."""
    return Path(output_dir) / benchmark


def chunk_answers_path(output_dir: str | Path, benchmark: str, num_chunks: int, chunk_idx: int) -> Path:
    """The answer file of one chunk: ``<output_dir>/<benchmark>/chunks/<num_chunks>_<chunk_idx>.jsonl``.

    Example:
        >>> chunk_answers_path("results", "pope", 8, 3).as_posix()
        'results/pope/chunks/8_3.jsonl'
    """
    return benchmark_output_dir(output_dir, benchmark) / "chunks" / f"{num_chunks}_{chunk_idx}.jsonl"


def chunk_done_path(output_dir: str | Path, benchmark: str, num_chunks: int, chunk_idx: int) -> Path:
    """The marker a finished chunk leaves beside its answers: ``.../chunks/<num_chunks>_<chunk_idx>.done.json``."""
    return chunk_answers_path(output_dir, benchmark, num_chunks, chunk_idx).with_suffix(".done.json")


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place.

    Readers never see half a file, and two processes writing the same content leave it whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return path


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON with :func:`write_text_atomic`."""
    return write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_chunk_marker(path: Path) -> dict[str, Any]:
    """Read a chunk's ``.done.json`` marker.

    Raises:
        DataError: The marker is not a JSON object (delete it and rerun that chunk).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"cannot read the chunk marker {path} ({error}); delete it and rerun that chunk") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} is not a chunk marker (expected a JSON object); delete it and rerun that chunk")
    return data


@dataclass(frozen=True)
class MergedAnswers:
    """The result of :func:`merge_chunks`.

    Attributes:
        path: The merged answer file.
        records: How many answer lines it holds.
        markers: The chunk markers, in chunk order (what each chunk asked, answered and met).
        problems: Lines of the chunk files that are not answer records (left out of the merge), located
            in their chunk file.
    """

    path: Path
    records: int
    markers: list[dict[str, Any]]
    problems: list[Problem]


def merge_chunks(
    output_dir: str | Path, benchmark: str, num_chunks: int, *, require_all: bool = True
) -> MergedAnswers | None:
    """Concatenate the chunk answer files of ``benchmark`` in chunk order into ``answers.jsonl``.

    The valid answer lines of ``chunks/<K>_0.jsonl`` ... ``chunks/<K>_<K-1>.jsonl`` are copied as
    they are; a line that is not an answer record is left out and reported. A chunk counts as
    finished when its ``.done.json`` marker exists (the runner writes it after the chunk's last batch).

    Args:
        output_dir: The evaluation output folder (holding ``<benchmark>/chunks``).
        benchmark: The benchmark's name.
        num_chunks: ``K``.
        require_all: Raise when a chunk is not finished; with ``False``, return ``None`` instead.

    Returns:
        What was merged, or ``None`` (``require_all=False``) while a chunk is unfinished.

    Raises:
        DataError: A chunk is unfinished (``require_all``), or the markers disagree (another model
            or question limit), or a chunk file cannot be read.
    """
    split_list([], num_chunks)  # validates num_chunks
    markers: list[dict[str, Any]] = []
    pending = []
    for index in range(num_chunks):
        marker = chunk_done_path(output_dir, benchmark, num_chunks, index)
        if marker.is_file():
            markers.append(read_chunk_marker(marker))
        else:
            pending.append(index)
    if pending:
        if not require_all:
            return None
        raise DataError(
            f"{benchmark}: chunk(s) {', '.join(map(str, pending))} of {num_chunks} are not finished (no .done.json in "
            f"{chunk_answers_path(output_dir, benchmark, num_chunks, 0).parent}); run them, then merge"
        )
    for key in ("model_id", "limit", "max_new_tokens"):
        values = {json.dumps(marker.get(key)) for marker in markers}
        if len(values) > 1:
            raise DataError(
                f"{benchmark}: the chunks were run with different {key} values ({', '.join(sorted(values))}); "
                "rerun the odd ones with the same settings (or with overwrite) before merging"
            )
    lines: list[str] = []
    problems: list[Problem] = []
    for index in range(num_chunks):
        path = chunk_answers_path(output_dir, benchmark, num_chunks, index)
        if not path.is_file():
            continue  # an empty chunk (past the last one) writes no answers
        loaded = load_answers(path)
        text = path.read_text(encoding="utf-8").splitlines()
        lines.extend(text[record.line - 1] + "\n" for record in loaded.records if record.line is not None)
        for problem in loaded.problems:
            message = f"{problem.message}; left out of the merged {ANSWERS_FILE}"
            problems.append(Problem(problem.kind, message, problem.file, problem.line, problem.key))
    target = write_text_atomic(benchmark_output_dir(output_dir, benchmark) / ANSWERS_FILE, "".join(lines))
    return MergedAnswers(path=target, records=len(lines), markers=markers, problems=problems)
