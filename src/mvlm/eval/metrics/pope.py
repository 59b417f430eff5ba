"""POPE: the yes/no parsing of ``eval_pope.py`` and its confusion-matrix metrics, per category.

Parsing (:func:`parse_pope_answer`), exactly as the reference:

1. if the answer contains a ``.``, keep only the text before the first one;
2. delete every ``,``;
3. split on single spaces (``' '``, not on any whitespace, so ``"No\\nthere"`` is one word);
4. the answer is ``"no"`` if one of the words is exactly ``No``, ``not`` or ``no``, else ``"yes"``.

So ``"No, there is not."`` is no, ``"not"`` is no, ``"NO"`` and ``"Not really"`` are yes (case
matters), and an empty or unrelated answer is yes.

Metrics (:func:`pope_metrics`) treat "yes" as the positive class: TP, FP, TN, FN; accuracy,
precision, recall, F1 = 2PR/(P+R), and the yes-ratio (share of "yes" predictions). All rates are
percentages in ``[0, 100]`` (the reference prints fractions; LLaVA and MobileVLM report percent).
Where the reference would divide by zero we return ``0.0`` instead of crashing: precision when
nothing was predicted "yes", recall when no label is "yes", F1 when precision + recall is 0.

:func:`score_pope` scores each category (``adversarial``, ``popular``, ``random``) on its own, as
the reference does file by file, and averages them; the README's POPE column is the mean F1 over
the categories (:attr:`PopeReport.f1`).

Example:
    >>> parse_pope_answer("No, there is not a dog in the image.")
    'no'
    >>> m = pope_metrics(["Yes", "No", "yes", "No"], ["yes", "no", "no", "yes"])
    >>> (m.tp, m.fp, m.tn, m.fn), m.accuracy, m.f1
    ((1, 1, 1, 1), 50.0, 50.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mvlm.errors import DataError
from mvlm.eval.metrics.tally import check_aligned, percent

__all__ = ["PopeMetrics", "PopeReport", "parse_pope_answer", "pope_metrics", "score_pope"]

_NO_WORDS = ("No", "not", "no")


def parse_pope_answer(text: str) -> Literal["yes", "no"]:
    """Map a free-text answer to ``"yes"`` or ``"no"`` with the ``eval_pope.py`` rules (see module doc).

    Args:
        text: The generated answer.

    Returns:
        ``"no"`` if a word of the first sentence is ``No``, ``not`` or ``no``; otherwise ``"yes"``.
    """
    if "." in text:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    return "no" if any(word in _NO_WORDS for word in words) else "yes"


@dataclass(frozen=True)
class PopeMetrics:
    """Confusion counts ("yes" = positive) and the rates derived from them, in percent.

    Attributes:
        tp: Predicted yes, label yes.
        fp: Predicted yes, label no.
        tn: Predicted no, label no.
        fn: Predicted no, label yes.
    """

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def total(self) -> int:
        """Questions scored."""
        return self.tp + self.fp + self.tn + self.fn

    @property
    def accuracy(self) -> float:
        """(TP + TN) / total, in percent."""
        return percent(self.tp + self.tn, self.total)

    @property
    def precision(self) -> float:
        """TP / (TP + FP) in percent; ``0.0`` when nothing was predicted "yes"."""
        return percent(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """TP / (TP + FN) in percent; ``0.0`` when no label is "yes"."""
        return percent(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """2PR / (P + R) in percent; ``0.0`` when precision + recall is 0."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def yes_ratio(self) -> float:
        """Share of "yes" predictions, (TP + FP) / total, in percent."""
        return percent(self.tp + self.fp, self.total)


def pope_metrics(predictions: Sequence[str], labels: Sequence[str]) -> PopeMetrics:
    """Confusion counts of one category.

    Args:
        predictions: Generated answers (free text, parsed with :func:`parse_pope_answer`).
        labels: Ground-truth labels, ``"yes"`` or ``"no"``, aligned with ``predictions``.

    Returns:
        The counts; read the rates from its properties.

    Raises:
        DataError: The columns differ in length, are empty, or a label is not ``"yes"``/``"no"``
            (the reference treats any label other than ``"no"`` as yes; real POPE labels are always
            one of the two, so anything else is reported instead of guessed).
    """
    check_aligned(predictions=predictions, labels=labels)
    tp = fp = tn = fn = 0
    for index, (pred, label) in enumerate(zip(predictions, labels, strict=True)):
        if label not in ("yes", "no"):
            raise DataError(f"POPE label #{index} is {label!r}; labels must be 'yes' or 'no'")
        said_yes = parse_pope_answer(pred) == "yes"
        if label == "yes":
            tp, fn = (tp + 1, fn) if said_yes else (tp, fn + 1)
        else:
            fp, tn = (fp + 1, tn) if said_yes else (fp, tn + 1)
    return PopeMetrics(tp=tp, fp=fp, tn=tn, fn=fn)


@dataclass(frozen=True)
class PopeReport:
    """POPE per category, their mean, and the pooled counts.

    Attributes:
        per_category: Metrics of each category, in sorted category order.
        pooled: Metrics over all questions together (not what the README reports; for reference).
    """

    per_category: dict[str, PopeMetrics]
    pooled: PopeMetrics

    def _mean(self, name: str) -> float:
        values = [getattr(m, name) for m in self.per_category.values()]
        return sum(values) / len(values)

    @property
    def f1(self) -> float:
        """Mean F1 over the categories, in percent: the README's POPE column."""
        return self._mean("f1")

    @property
    def accuracy(self) -> float:
        """Mean accuracy over the categories, in percent."""
        return self._mean("accuracy")

    @property
    def precision(self) -> float:
        """Mean precision over the categories, in percent."""
        return self._mean("precision")

    @property
    def recall(self) -> float:
        """Mean recall over the categories, in percent."""
        return self._mean("recall")

    @property
    def yes_ratio(self) -> float:
        """Mean yes-ratio over the categories, in percent."""
        return self._mean("yes_ratio")

    @property
    def headline(self) -> float:
        """The number the README reports: :attr:`f1` (mean F1 over the categories)."""
        return self.f1


def score_pope(
    predictions: Sequence[str], labels: Sequence[str], categories: Sequence[str] | None = None
) -> PopeReport:
    """Score POPE per category and averaged.

    Args:
        predictions: Generated answers (free text).
        labels: ``"yes"``/``"no"`` labels, aligned with ``predictions``.
        categories: The category of each question (``adversarial``, ``popular``, ``random``);
            ``None`` puts every question in one category named ``"all"``.

    Returns:
        The per-category metrics; the report's properties give the means.

    Raises:
        DataError: As :func:`pope_metrics`.
    """
    check_aligned(predictions=predictions, labels=labels, categories=categories)
    if categories is None:
        categories = ["all"] * len(predictions)
    grouped: dict[str, tuple[list[str], list[str]]] = {}
    for pred, label, category in zip(predictions, labels, categories, strict=True):
        preds, labs = grouped.setdefault(category, ([], []))
        preds.append(pred)
        labs.append(label)
    per_category = {cat: pope_metrics(*grouped[cat]) for cat in sorted(grouped)}
    pooled = PopeMetrics(
        tp=sum(m.tp for m in per_category.values()),
        fp=sum(m.fp for m in per_category.values()),
        tn=sum(m.tn for m in per_category.values()),
        fn=sum(m.fn for m in per_category.values()),
    )
    return PopeReport(per_category=per_category, pooled=pooled)
