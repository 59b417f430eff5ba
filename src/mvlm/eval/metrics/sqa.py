"""ScienceQA-IMG: the letter parsing of LLaVA-1.5's ``eval_science_qa.py``, overall and IMG accuracy.

Parsing (:func:`parse_sqa_answer`), exactly as the reference, on the answer text as generated:

1. the text *is* one of ``A``-``E`` (no stripping) -> that letter;
2. else if it has at least 3 characters, ``text[0]`` is one of ``A``-``E`` and ``text[1:3] == ". "``
   -> ``text[0]`` (so ``"B. a magnet"`` is B, but ``"B."`` and ``"(B)"`` fail);
3. else ``re.findall(r'The answer is ([A-Z]).', text)``: exactly one match -> that letter. The
   ``.`` of the pattern matches *any* character, so ``"The answer is C."`` and ``"The answer is C,"``
   match but ``"The answer is C"`` at the very end does not, and two matches fail;
4. else ``"FAILED"``.

The letter then becomes an option index only if it is among the first ``len(choices)`` letters
(``get_pred_idx``); otherwise the index is -1. A question is right when that index equals the
problem's ``answer``; ``FAILED`` and out-of-range letters are wrong. A problem with no prediction
counts as ``FAILED`` in the reference; pass ``"FAILED"`` (or any unparsable text) for it.

IMG-accuracy is the accuracy over the questions asked with an image (the reference tests
``'<image>' in prompt``; for a missing prediction the prompt is ``'Unknown'``, so a missing image
question drops out of the IMG subset in the reference). It is the README's SQA^I column.

Example:
    >>> [parse_sqa_answer(t) for t in ("C", "B. a magnet", "B.", "The answer is C.", "The answer is C")]
    ['C', 'B', 'FAILED', 'C', 'FAILED']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mvlm.eval.metrics.tally import check_aligned, percent

__all__ = ["SQA_FAILED", "SQA_OPTIONS", "SQAResult", "parse_sqa_answer", "score_sqa", "sqa_choice_index"]

SQA_OPTIONS: tuple[str, ...] = ("A", "B", "C", "D", "E")
"""The option letters ``eval_science_qa.py`` accepts (its ``--options`` default)."""

SQA_FAILED = "FAILED"
"""What :func:`parse_sqa_answer` returns when no rule applies."""

_THE_ANSWER_IS = re.compile(r"The answer is ([A-Z]).")


def parse_sqa_answer(text: str) -> str:
    """Extract the chosen letter from a generated answer with the ``eval_science_qa.py`` rules.

    Args:
        text: The generated answer, unmodified.

    Returns:
        An uppercase letter (from rule 3 possibly outside ``A``-``E``), or :data:`SQA_FAILED`.
    """
    if text in SQA_OPTIONS:
        return text
    if len(text) >= 3 and text[0] in SQA_OPTIONS and text[1:3] == ". ":
        return text[0]
    found = _THE_ANSWER_IS.findall(text)
    return found[0] if len(found) == 1 else SQA_FAILED


def sqa_choice_index(letter: str, num_choices: int) -> int:
    """The option index of a parsed letter, or -1 (``get_pred_idx`` of the reference).

    Args:
        letter: What :func:`parse_sqa_answer` returned.
        num_choices: How many choices the problem has.

    Returns:
        ``SQA_OPTIONS.index(letter)`` if the letter is among the first ``num_choices`` options, else -1.
    """
    valid = SQA_OPTIONS[:num_choices]
    return valid.index(letter) if letter in valid else -1


@dataclass(frozen=True)
class SQAResult:
    """ScienceQA scores; accuracies in percent.

    Attributes:
        correct: Questions answered right.
        total: Questions scored.
        img_correct: Image questions answered right.
        img_total: Image questions scored.
        failed: Answers no rule could parse (:data:`SQA_FAILED`; counted wrong).
    """

    correct: int
    total: int
    img_correct: int
    img_total: int
    failed: int

    @property
    def accuracy(self) -> float:
        """Accuracy over all questions, in percent."""
        return percent(self.correct, self.total)

    @property
    def img_accuracy(self) -> float | None:
        """IMG-accuracy in percent; ``None`` when no question has an image (the reference divides by zero)."""
        return percent(self.img_correct, self.img_total) if self.img_total else None

    @property
    def headline(self) -> float | None:
        """The number the README reports: :attr:`img_accuracy`."""
        return self.img_accuracy


def score_sqa(
    predictions: Sequence[str], answers: Sequence[int], num_choices: Sequence[int], has_image: Sequence[bool]
) -> SQAResult:
    """Score ScienceQA answers as ``eval_science_qa.py`` does.

    Args:
        predictions: Generated answers (free text).
        answers: The right option index of each problem (``problem['answer']``), aligned.
        num_choices: How many choices each problem has (``len(problem['choices'])``).
        has_image: Whether each question was asked with its image.

    Returns:
        Overall and IMG accuracy.

    Raises:
        DataError: The columns differ in length or are empty.
    """
    check_aligned(predictions=predictions, answers=answers, num_choices=num_choices, has_image=has_image)
    correct = img_correct = img_total = failed = 0
    for pred, answer, n, image in zip(predictions, answers, num_choices, has_image, strict=True):
        letter = parse_sqa_answer(pred)
        failed += letter == SQA_FAILED
        hit = sqa_choice_index(letter, n) == answer
        correct += hit
        if image:
            img_total += 1
            img_correct += hit
    return SQAResult(
        correct=correct, total=len(predictions), img_correct=img_correct, img_total=img_total, failed=failed
    )
