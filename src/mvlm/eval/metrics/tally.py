"""Counting right answers: the small result type every benchmark module shares."""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass

from mvlm.errors import DataError

__all__ = ["Tally", "percent"]


def percent(part: float, whole: float) -> float:
    """Return ``100 * part / whole``, or ``0.0`` when ``whole`` is zero.

    Args:
        part: The numerator (a count of right answers, true positives...).
        whole: The denominator.

    Returns:
        The percentage in ``[0, 100]`` for ``0 <= part <= whole``; ``0.0`` for an empty denominator.
    """
    return 100.0 * part / whole if whole else 0.0


@dataclass(frozen=True)
class Tally:
    """How many of ``total`` items were right.

    Attributes:
        correct: Items scored right.
        total: Items scored.
    """

    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        """``100 * correct / total`` (``0.0`` for an empty tally)."""
        return percent(self.correct, self.total)


def check_aligned(**columns: Sized | None) -> int:
    """Check that the given columns (``None`` ones skipped) all have the same length.

    Returns:
        The common length.

    Raises:
        DataError: The lengths differ, or every column is empty.
    """
    lengths = {name: len(col) for name, col in columns.items() if col is not None}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise DataError(
            f"the columns to score must be aligned item by item, but their lengths differ ({listed}); "
            "pass one entry per question in every column"
        )
    n = next(iter(lengths.values()), 0)
    if n == 0:
        raise DataError("nothing to score: the predictions are empty; pass at least one answered question")
    return n
