"""MME: yes/no parsing and the acc / acc+ scores of MME's ``calculation.py``.

Parsing (:func:`parse_mme_answer`), exactly as ``calculation.py``: lowercase the answer; if it is
exactly ``yes`` or ``no`` that is the label; else ``yes`` if ``"yes"`` occurs in its first four
characters, else ``no`` if ``"no"`` occurs there, else ``other`` (never equal to the ground truth,
so counted wrong). So ``"Yes, there is"`` is yes, ``"No"`` is no, ``"Not at all"`` and ``"None"``
are no (``"no"`` is in ``"not "``/``"none"``), ``"maybe"`` and ``"There is no dog"`` are other.

Scores per subtask (each image carries two questions, one with answer yes and one with no):

* ``acc`` = share of questions answered right;
* ``acc+`` = share of images with *both* questions right;
* subtask score = 100 * acc + 100 * acc+ (max 200).

Perception = sum of the ten perception subtask scores (max 2000; the README's MME^P column);
cognition = sum of the four cognition subtasks (max 800).

``calculation.py`` pairs the two questions of an image by line position in the per-subtask files
that ``convert_answer_to_mme.py`` writes (in answer order); here they are grouped by the image
name, which gives the same pairs for the kit's files and does not depend on line order.

Example:
    >>> [parse_mme_answer(t) for t in ("Yes, there is", "No", "maybe", "None")]
    ['yes', 'no', 'other', 'no']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mvlm.errors import DataError
from mvlm.eval.metrics.tally import check_aligned, percent

__all__ = [
    "MME_COGNITION",
    "MME_PERCEPTION",
    "MMEReport",
    "MMESubtaskScore",
    "mme_question_candidates",
    "parse_mme_answer",
    "score_mme",
]

MME_PERCEPTION: tuple[str, ...] = (
    "existence",
    "count",
    "position",
    "color",
    "posters",
    "celebrity",
    "scene",
    "landmark",
    "artwork",
    "OCR",
)
"""The ten perception subtasks, named as MME's folders and ``calculation.py`` name them."""

MME_COGNITION: tuple[str, ...] = (
    "commonsense_reasoning",
    "numerical_calculation",
    "text_translation",
    "code_reasoning",
)
"""The four cognition subtasks."""

_SHORT_ANSWER = "Answer the question using a single word or phrase."
_YES_NO = "Please answer yes or no."


def parse_mme_answer(text: str) -> Literal["yes", "no", "other"]:
    """Map a generated answer to ``"yes"``, ``"no"`` or ``"other"`` with the ``calculation.py`` rule.

    Args:
        text: The generated answer.

    Returns:
        The label (see the module doc for the rule).
    """
    text = text.lower()
    if text in ("yes", "no"):
        return text  # type: ignore[return-value]
    prefix = text[:4]
    if "yes" in prefix:
        return "yes"
    if "no" in prefix:
        return "no"
    return "other"


def mme_question_candidates(prompt: str) -> tuple[str, ...]:
    """The ground-truth question texts an answer's prompt may match, as ``convert_answer_to_mme.py`` tries them.

    The converter removes "Answer the question using a single word or phrase." (and strips), then,
    if "Please answer yes or no." is absent, appends it after one space, and if that key is not in
    the ground truth, after two spaces (some MME files have a double space).

    Args:
        prompt: The ``prompt`` field of an answer record (the question as asked).

    Returns:
        The candidate texts, in the order to try them.

    Example:
        >>> mme_question_candidates("Is there a dog?\\nAnswer the question using a single word or phrase.")
        ('Is there a dog? Please answer yes or no.', 'Is there a dog?  Please answer yes or no.')
    """
    if _SHORT_ANSWER in prompt:
        prompt = prompt.replace(_SHORT_ANSWER, "").strip()
    if _YES_NO in prompt:
        return (prompt,)
    return (f"{prompt} {_YES_NO}", f"{prompt}  {_YES_NO}")


@dataclass(frozen=True)
class MMESubtaskScore:
    """One MME subtask.

    Attributes:
        subtask: Its name.
        correct: Questions answered right.
        total: Questions scored.
        images_correct: Images with all their questions right.
        images: Images scored.
        other: Answers parsed as ``"other"`` (neither yes nor no).
    """

    subtask: str
    correct: int
    total: int
    images_correct: int
    images: int
    other: int

    @property
    def acc(self) -> float:
        """Per-question accuracy in percent."""
        return percent(self.correct, self.total)

    @property
    def acc_plus(self) -> float:
        """Per-image accuracy (both questions right) in percent."""
        return percent(self.images_correct, self.images)

    @property
    def score(self) -> float:
        """acc + acc+ (each in percent), max 200."""
        return self.acc + self.acc_plus


@dataclass(frozen=True)
class MMEReport:
    """MME subtask scores and the perception / cognition totals.

    Attributes:
        subtasks: Score of each subtask present, in the official order.
    """

    subtasks: dict[str, MMESubtaskScore]

    @property
    def perception(self) -> float:
        """Sum of the perception subtask scores present (max 2000 with all ten)."""
        return sum(self.subtasks[name].score for name in MME_PERCEPTION if name in self.subtasks)

    @property
    def cognition(self) -> float:
        """Sum of the cognition subtask scores present (max 800 with all four)."""
        return sum(self.subtasks[name].score for name in MME_COGNITION if name in self.subtasks)

    @property
    def missing_perception(self) -> tuple[str, ...]:
        """Perception subtasks with no question scored."""
        return tuple(name for name in MME_PERCEPTION if name not in self.subtasks)

    @property
    def missing_cognition(self) -> tuple[str, ...]:
        """Cognition subtasks with no question scored."""
        return tuple(name for name in MME_COGNITION if name not in self.subtasks)

    @property
    def headline(self) -> float | None:
        """The README's MME^P: :attr:`perception`, or ``None`` unless all ten perception subtasks were scored.

        A partial sum is not comparable with the published numbers; read :attr:`perception`
        directly if you want it anyway.
        """
        return None if self.missing_perception else self.perception


def score_mme(
    predictions: Sequence[str], answers: Sequence[str], subtasks: Sequence[str], images: Sequence[str]
) -> MMEReport:
    """Score MME answers per subtask.

    Args:
        predictions: Generated answers (free text, parsed with :func:`parse_mme_answer`).
        answers: Ground truth, ``"yes"`` or ``"no"`` (any case), aligned with ``predictions``.
        subtasks: The subtask of each question (one of :data:`MME_PERCEPTION` or :data:`MME_COGNITION`).
        images: The image of each question (its file name); the two questions of an image share it.

    Returns:
        The subtask scores; the report's properties give the totals.

    Raises:
        DataError: The columns differ in length or are empty; a ground truth is not yes/no; a
            subtask name is unknown; an image does not have exactly two questions (``calculation.py``
            asserts the same).
    """
    check_aligned(predictions=predictions, answers=answers, subtasks=subtasks, images=images)
    known = MME_PERCEPTION + MME_COGNITION
    by_image: dict[str, dict[str, list[tuple[bool, bool]]]] = {}
    for index, (pred, gold, subtask, image) in enumerate(zip(predictions, answers, subtasks, images, strict=True)):
        if subtask not in known:
            raise DataError(f"MME question #{index} has subtask {subtask!r}, which is not one of {', '.join(known)}")
        gold = gold.lower()
        if gold not in ("yes", "no"):
            raise DataError(
                f"MME question #{index} ({subtask}/{image}) has ground truth {gold!r}; it must be yes or no"
            )
        label = parse_mme_answer(pred)
        by_image.setdefault(subtask, {}).setdefault(image, []).append((label == gold, label == "other"))
    scores: dict[str, MMESubtaskScore] = {}
    for subtask in (name for name in known if name in by_image):
        images_of = by_image[subtask]
        for image, results in images_of.items():
            if len(results) != 2:
                raise DataError(
                    f"MME image {subtask}/{image} has {len(results)} question(s); MME pairs exactly two per image "
                    "(one yes, one no): score both questions of every image"
                )
        flat = [result for results in images_of.values() for result in results]
        scores[subtask] = MMESubtaskScore(
            subtask=subtask,
            correct=sum(hit for hit, _ in flat),
            total=len(flat),
            images_correct=sum(all(hit for hit, _ in results) for results in images_of.values()),
            images=len(images_of),
            other=sum(other for _, other in flat),
        )
    return MMEReport(subtasks=scores)
