"""The ``synthetic`` benchmark: held-out questions of the synthetic shapes world (:mod:`mvlm.data.synthetic`).

Make the data with ``generate_dataset(folder, n, split="test", stage="eval")``; the folder then holds
``test.jsonl`` (one ``{"question_id", "image", "text", "answer", "family"}`` per line, ``image``
relative to the folder) and ``images/``. The question is sent as ``"<image>\\n" + text`` in the
``v1`` template; answers are a word or two, so generation is capped at 16 new tokens.

Scoring: exact match after the world's normalisation (``strip``, lowercase, drop trailing periods,
``strip``; :func:`normalize_synthetic_answer`), overall and per question family.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mvlm.data.synthetic import FAMILIES, SPLITS
from mvlm.errors import ConfigError, DataError
from mvlm.eval.benchmarks.base import ScoredPart, register_benchmark, tally_to_dict
from mvlm.eval.benchmarks.llava_jsonl import LlavaJsonlBenchmark
from mvlm.eval.metrics import Tally
from mvlm.eval.records import AnswerRecord, Problem, Question

__all__ = ["SyntheticBenchmark", "normalize_synthetic_answer", "score_synthetic"]


def normalize_synthetic_answer(text: str) -> str:
    """``text.strip().lower().rstrip(".").strip()``: the comparison form of :mod:`mvlm.data.synthetic` answers.

    Example:
        >>> normalize_synthetic_answer(" Top Left. ")
        'top left'
    """
    return text.strip().lower().rstrip(".").strip()


def score_synthetic(
    predictions: Sequence[str], answers: Sequence[str], families: Sequence[str]
) -> tuple[Tally, dict[str, Tally]]:
    """Exact-match accuracy after :func:`normalize_synthetic_answer`, overall and per family.

    Args:
        predictions: Generated answers.
        answers: Canonical answers, aligned with ``predictions``.
        families: The question family of each, aligned.

    Returns:
        The overall tally and one tally per family (sorted by family name).

    Raises:
        DataError: The columns differ in length.

    Example:
        >>> overall, per_family = score_synthetic(["Red.", "2"], ["red", "3"], ["color", "count"])
        >>> overall.correct, overall.total, per_family["count"].correct
        (1, 2, 0)
    """
    if not len(predictions) == len(answers) == len(families):
        raise DataError("predictions, answers and families must be aligned (one entry per question)")
    counts: dict[str, list[int]] = {}
    for prediction, answer, family in zip(predictions, answers, families, strict=True):
        slot = counts.setdefault(family, [0, 0])
        slot[0] += normalize_synthetic_answer(prediction) == normalize_synthetic_answer(answer)
        slot[1] += 1
    per_family = {family: Tally(c, t) for family, (c, t) in sorted(counts.items())}
    return Tally(sum(t.correct for t in per_family.values()), len(predictions)), per_family


@register_benchmark("synthetic")
class SyntheticBenchmark(LlavaJsonlBenchmark):
    """Held-out questions of the synthetic world: exact-match accuracy, per question family.

    Args:
        split: Which evaluation file to read (``<split>.jsonl``): ``test`` (default), ``val`` or ``train``.

    Raises:
        ConfigError: An unknown split.
    """

    name = "synthetic"
    title = "synthetic shapes"
    folder = "synthetic"
    image_folder = ""
    max_new_tokens = 16

    def __init__(self, split: str = "test") -> None:
        if split not in SPLITS:
            raise ConfigError(f"unknown synthetic split {split!r}; use one of {', '.join(SPLITS)}")
        self.split = split
        self.question_file = f"{split}.jsonl"

    def __repr__(self) -> str:
        return f"SyntheticBenchmark(split={self.split!r})"

    def _attach_ground_truth(self, root: Path, questions: list[Question], problems: list[Problem]) -> list[Question]:
        result: list[Question] = []
        for question in questions:
            answer: Any = question.metadata.get("answer")
            family: Any = question.metadata.get("family")
            if not isinstance(answer, str) or not answer.strip() or family not in FAMILIES:
                why = f"the line needs a non-empty 'answer' and a 'family' among {', '.join(FAMILIES)}"
                problems.append(self._no_truth(question, why))
                result.append(question)
            else:
                result.append(replace(question, ground_truth={"answer": answer, "family": family}))
        return result

    def _score(self, pairs: list[tuple[Question, AnswerRecord]]) -> ScoredPart:
        overall, per_family = score_synthetic(
            [record.text for _, record in pairs],
            [question.ground_truth["answer"] for question, _ in pairs],
            [question.ground_truth["family"] for question, _ in pairs],
        )
        metrics = {
            "accuracy": overall.accuracy,
            "correct": overall.correct,
            "total": overall.total,
            "per_family": {name: tally_to_dict(t) for name, t in per_family.items()},
        }
        return ScoredPart(metrics=metrics, headline=overall.accuracy, scored=overall.total)
