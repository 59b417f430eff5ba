"""The README results table: GQA, SQA-IMG, TextVQA, POPE, MME-P, MMBench and their average.

The MobileVLM README averages the six columns with MME-P divided by 20 (its maximum is 2000, the
others are percentages), e.g. MobileVLM-1.7B: (56.1 + 57.3 + 41.5 + 84.5 + 1196.2 / 20 + 53.2) / 6
= 58.7. The average is given only when all six are present; a partial average would not be
comparable with the published ones.

Example:
    >>> row = summary_row(gqa=56.1, sqa_img=57.3, textvqa=41.5, pope=84.5, mme_perception=1196.2, mmbench=53.2)
    >>> round(row.avg, 1)
    58.7
    >>> summary_row(gqa=56.1, pope=84.5).missing
    ('SQA-IMG', 'TextVQA', 'MME-P', 'MMBench')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["SUMMARY_COLUMNS", "HasHeadline", "SummaryRow", "markdown_table", "summary_row"]

SUMMARY_COLUMNS: tuple[str, ...] = ("GQA", "SQA-IMG", "TextVQA", "POPE", "MME-P", "MMBench")
"""The README's benchmark columns, in its order (``Avg`` follows them)."""

MME_DIVISOR = 20.0
"""MME-P is divided by this before averaging (2000 / 20 = 100)."""


class HasHeadline(Protocol):
    """A benchmark result that knows the number the README reports (``None`` when it cannot say)."""

    @property
    def headline(self) -> float | None:
        """The README number."""


Score = float | HasHeadline | None
"""A column value: a number, a result object with a ``headline``, or ``None`` (missing)."""


def _value(score: Score) -> float | None:
    if score is None or isinstance(score, (int, float)):
        return None if score is None else float(score)
    return score.headline


@dataclass(frozen=True)
class SummaryRow:
    """One model's row of the README table.

    Attributes:
        scores: Column name (:data:`SUMMARY_COLUMNS`) -> value, ``None`` when missing.
    """

    scores: dict[str, float | None]

    @property
    def missing(self) -> tuple[str, ...]:
        """The columns without a value."""
        return tuple(name for name in SUMMARY_COLUMNS if self.scores.get(name) is None)

    @property
    def avg(self) -> float | None:
        """Mean of the six columns with MME-P / 20; ``None`` unless all six are present."""
        total = 0.0
        for name in SUMMARY_COLUMNS:
            value = self.scores.get(name)
            if value is None:
                return None
            total += value / MME_DIVISOR if name == "MME-P" else value
        return total / len(SUMMARY_COLUMNS)

    def as_dict(self) -> dict[str, float | None]:
        """The row as ``{"GQA": ..., ..., "MMBench": ..., "Avg": ...}`` (``None`` for missing values)."""
        return {**{name: self.scores.get(name) for name in SUMMARY_COLUMNS}, "Avg": self.avg}

    def to_markdown(self, name: str = "model") -> str:
        """The row as a markdown table (see :func:`markdown_table`)."""
        return markdown_table({name: self})


def summary_row(
    *,
    gqa: Score = None,
    sqa_img: Score = None,
    textvqa: Score = None,
    pope: Score = None,
    mme_perception: Score = None,
    mmbench: Score = None,
) -> SummaryRow:
    """Build a README row from whichever benchmark results are present.

    Each argument is a number in the README's unit (percent; MME-P in points, max 2000) or a
    result object of this package (:class:`~mvlm.eval.metrics.gqa.GQAResult`,
    :class:`~mvlm.eval.metrics.sqa.SQAResult`, ...), whose ``headline`` is used.

    Args:
        gqa: GQA accuracy.
        sqa_img: ScienceQA IMG-accuracy.
        textvqa: TextVQA accuracy.
        pope: POPE mean F1 over the categories.
        mme_perception: MME perception score.
        mmbench: MMBench accuracy.

    Returns:
        The row; :attr:`SummaryRow.missing` names the absent columns.
    """
    values = (gqa, sqa_img, textvqa, pope, mme_perception, mmbench)
    return SummaryRow(scores={name: _value(v) for name, v in zip(SUMMARY_COLUMNS, values, strict=True)})


def markdown_table(rows: Mapping[str, SummaryRow]) -> str:
    """Render rows as the README's markdown table, one decimal, ``-`` for missing values.

    A note under the table names the missing columns of each row, if any.

    Args:
        rows: Model name -> row, in display order.

    Returns:
        The markdown text, ending with a newline.

    Example:
        >>> print(markdown_table({"tiny": summary_row(gqa=50, pope=80.25)}), end="")
        | Model | GQA | SQA-IMG | TextVQA | POPE | MME-P | MMBench | Avg |
        |---|---|---|---|---|---|---|---|
        | tiny | 50.0 | - | - | 80.2 | - | - | - |
        <BLANKLINE>
        Missing for tiny: SQA-IMG, TextVQA, MME-P, MMBench (Avg needs all six).
    """
    header = ("Model", *SUMMARY_COLUMNS, "Avg")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    notes = []
    for name, row in rows.items():
        cells = [name] + ["-" if v is None else f"{v:.1f}" for v in row.as_dict().values()]
        lines.append("| " + " | ".join(cells) + " |")
        if row.missing:
            notes.append(f"Missing for {name}: {', '.join(row.missing)} (Avg needs all six).")
    text = "\n".join(lines) + "\n"
    if notes:
        text += "\n" + "\n".join(notes) + "\n"
    return text
