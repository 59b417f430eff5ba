"""Problems found while reading benchmark files or answer files: what, where (file and line), and why.

Nothing a benchmark reads is skipped in silence: a malformed line, a missing image, a question the
ground truth does not know, an answer that matches no question... each becomes a :class:`Problem`
that names the file and line, and the summary counts them by :attr:`Problem.kind`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PROBLEM_KINDS", "Problem"]

PROBLEM_KINDS: dict[str, str] = {
    "malformed_data": "a line or entry of a benchmark file that cannot be read (the question is not asked)",
    "duplicate_question": "a question whose key was already used by an earlier line (the later one is not asked)",
    "missing_question": "a ground-truth item that no question of the question file asks",
    "missing_image": "a question whose image is missing or unreadable (not asked)",
    "no_ground_truth": "a question (or, when scoring, an answer to one) that the ground truth does not cover",
    "malformed_answer": "a line of the answer file that is not a valid answer record",
    "unknown_answer": "an answer whose question is not in the benchmark",
    "duplicate_answer": "a second answer to an already answered question (only the first is scored)",
    "missing_answer": "a question with no answer",
    "excluded": "an answer that cannot be scored alone (its partner questions or rounds are unanswered)",
}
"""Every kind of problem, with what it means."""


@dataclass(frozen=True)
class Problem:
    """One problem, located.

    Attributes:
        kind: One of :data:`PROBLEM_KINDS`.
        message: What is wrong and what to do about it.
        file: The file it was found in (``None`` for in-memory data).
        line: The 1-based line in ``file`` (``None`` when the format has no lines, e.g. an entry of a
            JSON object; the message then names the entry).
        key: The question key concerned, when there is one.
    """

    kind: str
    message: str
    file: str | None = None
    line: int | None = None
    key: str | None = None

    @property
    def where(self) -> str:
        """``"file:line"``, ``"file"`` or ``"<unknown>"``."""
        if self.file is None:
            return "<unknown>" if self.line is None else f"<records>:{self.line}"
        return self.file if self.line is None else f"{self.file}:{self.line}"

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The problem as a JSON-ready dict (``kind``, ``file``, ``line``, ``key``, ``message``)."""
        return {"kind": self.kind, "file": self.file, "line": self.line, "key": self.key, "message": self.message}
