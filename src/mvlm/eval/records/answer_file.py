"""The append-only answer file the runner writes: records appended batch by batch, repaired after a crash.

Answers are appended one batch at a time, each batch flushed and synced to disk before the next
one starts, so a run that stops (an error, Ctrl-C, a killed job) loses at most the batch it was
generating. What it can leave behind is a *half-written last line*: the bytes of the last batch
that reached the disk before the stop, without their final newline. :func:`repair_answer_file`
finds such a line before a rerun appends to the file (otherwise the next answer would be glued to
it and both lost): a complete record that only lacks its newline gets it; anything else is cut off
and reported, and its question is asked again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from mvlm.eval.records.answers import answer_line, parse_answer_record
from mvlm.eval.records.problems import Problem

__all__ = ["AnswerWriter", "repair_answer_file"]


def repair_answer_file(path: str | Path) -> Problem | None:
    """Make ``path`` end with a complete line, reporting what an interrupted write left.

    Args:
        path: The answer file (a missing or empty file needs nothing).

    Returns:
        ``None`` when the file was whole (or its last record only lacked the newline, which is then
        added); otherwise a ``malformed_answer`` :class:`~mvlm.eval.records.problems.Problem` naming the
        file and line of the half-written line, which has been removed.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "answers.jsonl"
        >>> _ = path.write_text('{"question_id": 1, "prompt": "p", "text": "yes"}\\n{"question_id": 2, "pro')
        >>> print(repair_answer_file(path).where.endswith("answers.jsonl:2"), path.read_text().count("\\n"))
        True 1
    """
    path = Path(path)
    if not path.is_file():
        return None
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return None
    start = data.rfind(b"\n") + 1
    tail = data[start:]
    line = data.count(b"\n") + 1
    try:
        parse_answer_record(json.loads(tail.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError):
        with path.open("r+b") as handle:
            handle.truncate(start)
        shown = tail[:60].decode("utf-8", errors="replace")
        return Problem(
            "malformed_answer",
            f"half-written last line from an interrupted run ({len(tail)} bytes: {shown!r}...); removed, and its "
            "question is asked again",
            str(path),
            line,
        )
    with path.open("ab") as handle:  # a whole record that only missed its newline: keep it
        handle.write(b"\n")
    return None


class AnswerWriter:
    """Appends answer records to a JSON Lines file, one synced write per batch.

    Use as a context manager::

        with AnswerWriter("results/pope/answers.jsonl") as writer:
            writer.write(records)   # one batch: written, flushed and fsync-ed

    Args:
        path: The answer file (created with its folder if missing; never truncated).
        sync: ``os.fsync`` after each batch (survives a machine crash, not only a process crash).
    """

    def __init__(self, path: str | Path, *, sync: bool = True) -> None:
        self.path = Path(path)
        self.sync = sync
        self._handle: IO[str] | None = None

    def __enter__(self) -> AnswerWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("a", encoding="utf-8")
        return self

    def write(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Append ``records`` (reference format, see :func:`~mvlm.eval.records.answers.answer_line`) in one write.

        Returns:
            How many records were written.
        """
        if self._handle is None:
            raise RuntimeError("AnswerWriter.write outside its 'with' block")
        lines = [answer_line(record) for record in records]
        if lines:
            self._handle.write("".join(lines))
            self._handle.flush()
            if self.sync:
                os.fsync(self._handle.fileno())
        return len(lines)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
