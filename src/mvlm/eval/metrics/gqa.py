"""GQA (testdev-balanced): the reference answer clean-up and exact-match accuracy.

What the LLaVA-1.5 eval kit does, reproduced here:

* ``convert_gqa_for_eval.py`` turns each generated answer into ``text.rstrip('.').lower()``
  (:func:`clean_gqa_prediction`); nothing else is normalised (no article or punctuation rules).
* the official GQA ``eval.py`` counts a question right when that cleaned prediction equals the
  question's ``"answer"`` string exactly, averages over the balanced questions, and breaks the
  accuracy down by ``types.structural`` (``verify``, ``query``, ``choose``, ``logical``,
  ``compare``), by ``types.semantic`` (``rel``, ``attr``, ``obj``, ``cat``, ``global``) and into
  ``open`` (structural type ``query``) versus ``binary`` (every other structural type).

Selecting the balanced questions (``isBalanced``; every question of ``testdev_balanced_questions.json``
is) and pairing predictions with questions is the caller's job: the functions take aligned columns.
The official script stops with "missing predictions" when a balanced question has no answer.

Example:
    >>> result = score_gqa(["Yes.", "red", "Table"], ["yes", "blue", "table"])
    >>> round(result.accuracy, 2), result.correct, result.total
    (66.67, 2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mvlm.eval.metrics.tally import Tally, check_aligned, percent

__all__ = ["GQAResult", "clean_gqa_prediction", "score_gqa"]


def clean_gqa_prediction(text: str) -> str:
    """Clean a generated answer as ``convert_gqa_for_eval.py`` does: strip trailing periods, lowercase.

    Args:
        text: The generated answer.

    Returns:
        ``text.rstrip('.').lower()`` (leading/trailing spaces are kept, as in the reference).

    Example:
        >>> clean_gqa_prediction("Wooden table..")
        'wooden table'
    """
    return text.rstrip(".").lower()


@dataclass(frozen=True)
class GQAResult:
    """GQA scores; every accuracy is a percentage in ``[0, 100]``.

    Attributes:
        correct: Questions whose cleaned prediction equals the answer.
        total: Questions scored.
        per_structural: Tally per structural type (empty when no types were given).
        per_semantic: Tally per semantic type (empty when no types were given).
        open: Tally of the ``query`` questions (``None`` without structural types).
        binary: Tally of every other structural type (``None`` without structural types).
    """

    correct: int
    total: int
    per_structural: dict[str, Tally] = field(default_factory=dict)
    per_semantic: dict[str, Tally] = field(default_factory=dict)
    open: Tally | None = None
    binary: Tally | None = None

    @property
    def accuracy(self) -> float:
        """Exact-match accuracy in percent (the README's GQA column)."""
        return percent(self.correct, self.total)

    @property
    def headline(self) -> float:
        """The number the README reports: :attr:`accuracy`."""
        return self.accuracy


def _tallies(keys: Sequence[str], hits: Sequence[bool]) -> dict[str, Tally]:
    counts: dict[str, list[int]] = {}
    for key, hit in zip(keys, hits, strict=True):
        slot = counts.setdefault(key, [0, 0])
        slot[0] += int(hit)
        slot[1] += 1
    return {key: Tally(c, t) for key, (c, t) in sorted(counts.items())}


def score_gqa(
    predictions: Sequence[str],
    answers: Sequence[str],
    *,
    structural_types: Sequence[str] | None = None,
    semantic_types: Sequence[str] | None = None,
) -> GQAResult:
    """Score GQA answers as the official ``eval.py`` does (accuracy part).

    Args:
        predictions: Generated answers, raw; each is cleaned with :func:`clean_gqa_prediction`
            (cleaning is idempotent, so already-cleaned predictions give the same result).
        answers: The ground-truth ``"answer"`` of each question, aligned with ``predictions``.
        structural_types: Optional ``types.structural`` of each question, for the breakdown and the
            open/binary split.
        semantic_types: Optional ``types.semantic`` of each question.

    Returns:
        The accuracy and its breakdowns.

    Raises:
        DataError: The columns have different lengths, or there is nothing to score.
    """
    check_aligned(
        predictions=predictions, answers=answers, structural_types=structural_types, semantic_types=semantic_types
    )
    hits = [clean_gqa_prediction(pred) == gold for pred, gold in zip(predictions, answers, strict=True)]
    per_structural = _tallies(structural_types, hits) if structural_types is not None else {}
    per_semantic = _tallies(semantic_types, hits) if semantic_types is not None else {}
    open_tally = binary_tally = None
    if structural_types is not None:
        is_open = [kind == "query" for kind in structural_types]
        open_tally = Tally(sum(h for h, o in zip(hits, is_open, strict=True) if o), sum(is_open))
        binary_tally = Tally(sum(h for h, o in zip(hits, is_open, strict=True) if not o), len(hits) - sum(is_open))
    return GQAResult(
        correct=sum(hits),
        total=len(hits),
        per_structural=per_structural,
        per_semantic=per_semantic,
        open=open_tally,
        binary=binary_tally,
    )
