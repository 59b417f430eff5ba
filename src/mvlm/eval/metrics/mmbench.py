"""MMBench: option-letter extraction, single-pass accuracy and circular evaluation.

The kit runs ``model_vqa_mmbench.py`` once per question (MobileVLM's script does not pass
``--all-rounds``) and scores with a local ``eval.py`` that we could not read. What is implemented
here, so that no answer needs an LLM judge:

**Letter extraction** (:func:`extract_option_letter`) follows MMBench's own rule-based matching,
``can_infer`` (``can_infer_option`` then ``can_infer_text``, as in MMBench/VLMEvalKit, run before
they fall back to asking GPT):

1. replace each of ``. ( ) [ ] , : ; ! * # { }`` by a space and split on whitespace; if exactly one
   of the valid letters (``A``, ``B``... one per option) occurs as a whole token, that letter.
   Hence ``"B"``, ``"B."``, ``"(B)"``, ``"B) cat"`` and ``"The answer is B."`` all give B; ``"A or B"``
   gives nothing from this step; letters are case-sensitive (``"b"`` is not a letter).
2. else, lowercase the answer and every option text; if exactly one option text occurs inside the
   answer, that option's letter (``"It is a cat."`` -> the option ``cat``).
3. else no letter (``None``), counted wrong. MMBench would ask GPT here; LLaVA's ``eval_mmbench.py``
   would ask ChatGPT; we do neither and report how many answers stayed unparsed.

VLMEvalKit's "no answer" cases are kept and also give ``None`` at once (without trying step 2):
an answer containing one of its four refusal phrases (``"Cannot determine the answer"``...), and
an answer with no valid letter token but a ``Z`` token. Not reproduced: the "A might be a
quantifier" rejection, which VLMEvalKit applies only in verbose mode (off by default), and the
older OpenCompass variant of step 1 (no punctuation stripping; ``A.``/``(A)`` style suffix table).

:func:`llava_option_letter` is LLaVA's ``auto_parse_answer`` (the rules of LLaVA's own
``eval_mmbench.py``), selectable with ``matcher="llava"``.

**Circular evaluation**: ``model_vqa_mmbench.py --all-rounds`` asks each question once per option,
rotating the options left by one each round (:func:`circular_rounds`) and recording, per round, the
options as shown and ``option_char`` (the original letter behind each shown position). A letter
read from a round's answer is mapped back through ``option_char``; a question counts as right only
if every one of its rounds is right. MMBench's own TSVs that already contain rotated copies
(index ``+ k * 10**6``) are scored the same way by grouping rows on ``index % 10**6``.

Example:
    >>> extract_option_letter("(B)", ["cat", "dog"])
    'B'
    >>> extract_option_letter("I see a dog.", ["cat", "dog"])
    'B'
    >>> r = score_mmbench(["A", "B", "A"], ["A", "A", "B"], [["x", "y"], ["y", "x"], ["x", "y"]],
    ...                   option_letters=[["A", "B"], ["B", "A"], ["A", "B"]], question_ids=[1, 1, 2], circular=True)
    >>> r.correct, r.total
    (1, 2)
"""

from __future__ import annotations

import string
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mvlm.errors import ConfigError, DataError
from mvlm.eval.metrics.tally import Tally, check_aligned, percent

__all__ = [
    "MMBenchResult",
    "circular_rounds",
    "extract_option_letter",
    "llava_option_letter",
    "score_mmbench",
]

_SEPARATORS = ".()[],:;!*#{}"
_TO_SPACES = str.maketrans(_SEPARATORS, " " * len(_SEPARATORS))
# VLMEvalKit's can_infer_option answers "Z" (no valid option) for these, without text matching.
_REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)


def _letters(options: Sequence[str]) -> str:
    if len(options) > len(string.ascii_uppercase):
        raise DataError(f"an MMBench question has {len(options)} options; at most 26 can be lettered")
    return string.ascii_uppercase[: len(options)]


def extract_option_letter(text: str, options: Sequence[str]) -> str | None:
    """Read the chosen option letter from a free-text answer with MMBench's ``can_infer`` rules.

    Args:
        text: The generated answer.
        options: The option texts as shown, in letter order (``options[0]`` is ``A``).

    Returns:
        The shown letter (``"A"``, ``"B"``...), or ``None`` when the rules find no single answer.
    """
    letters = _letters(options)
    if any(phrase in text for phrase in _REFUSALS):
        return None
    tokens = text.translate(_TO_SPACES).split()
    found = [letter for letter in letters if letter in tokens]
    if len(found) == 1:
        return found[0]
    if not found and "Z" in tokens:
        return None
    lowered = text.lower()
    found = [letter for letter, option in zip(letters, options, strict=True) if str(option).lower() in lowered]
    return found[0] if len(found) == 1 else None


def llava_option_letter(text: str, options: Sequence[str]) -> str | None:
    """Read the chosen option letter with LLaVA's ``auto_parse_answer`` (its ``eval_mmbench.py``).

    1. ``text.strip('.').strip().upper()`` is a valid letter -> that letter (so ``"b."`` is B);
    2. else the first letter ``X`` (in order) for which ``"the answer is x."`` occurs in the
       lowercased text;
    3. else the answer (lowercased) occurring inside exactly one option text -> its letter;
    4. else ``None`` (LLaVA would ask ChatGPT).

    Args:
        text: The generated answer.
        options: The option texts as shown, in letter order.

    Returns:
        The shown letter, or ``None``.
    """
    letters = _letters(options)
    bare = text.strip(".").strip().upper()
    if bare in letters and len(bare) == 1:
        return bare
    lowered = text.lower()
    for letter in letters:
        if f"the answer is {letter.lower()}." in lowered:
            return letter
    found = [letter for letter, option in zip(letters, options, strict=True) if lowered in str(option).lower()]
    return found[0] if len(found) == 1 else None


def circular_rounds(options: Sequence[str]) -> list[tuple[list[str], list[str]]]:
    """The rounds of circular evaluation, as ``model_vqa_mmbench.py --all-rounds`` builds them.

    Args:
        options: The option texts in their original order.

    Returns:
        One ``(shown_options, option_letters)`` pair per option: round ``r`` shows the options
        rotated left by ``r``; ``option_letters[i]`` is the original letter of the option shown at
        position ``i`` (the record's ``option_char``).

    Example:
        >>> circular_rounds(["x", "y", "z"])[1]
        (['y', 'z', 'x'], ['B', 'C', 'A'])
    """
    shown, letters = list(options), list(_letters(options))
    rounds = []
    for _ in range(len(options)):
        rounds.append((list(shown), list(letters)))
        shown, letters = shown[1:] + shown[:1], letters[1:] + letters[:1]
    return rounds


@dataclass(frozen=True)
class MMBenchResult:
    """MMBench accuracy, single-pass or circular; accuracies in percent.

    Attributes:
        correct: Questions right (circular: all rounds right).
        total: Questions scored (circular: distinct question ids).
        per_category: Tally per category (empty when no categories were given).
        rows: Answers read (one per round).
        unparsed: Answers from which no letter could be read (counted wrong).
        circular: Whether this is a circular score.
    """

    correct: int
    total: int
    per_category: dict[str, Tally] = field(default_factory=dict)
    rows: int = 0
    unparsed: int = 0
    circular: bool = False

    @property
    def accuracy(self) -> float:
        """Accuracy in percent (the README's MMBench column, for a single pass on dev)."""
        return percent(self.correct, self.total)

    @property
    def headline(self) -> float:
        """The number the README reports: :attr:`accuracy`."""
        return self.accuracy


def score_mmbench(
    predictions: Sequence[str],
    answers: Sequence[str],
    options: Sequence[Sequence[str]],
    *,
    option_letters: Sequence[Sequence[str]] | None = None,
    question_ids: Sequence[Hashable] | None = None,
    categories: Sequence[str] | None = None,
    circular: bool = False,
    matcher: Literal["mmbench", "llava"] = "mmbench",
) -> MMBenchResult:
    """Score MMBench answers, one row per asked round.

    Args:
        predictions: Generated answers.
        answers: The right letter of each row, in the question's original lettering.
        options: The option texts as shown in each row, in shown-letter order.
        option_letters: Per row, the original letter of each shown position (the record's
            ``option_char``); ``None`` means shown = original (``A, B, C...``), as in a single pass.
        question_ids: The question of each row; required for ``circular``.
        categories: The category of each row, for the per-category breakdown.
        circular: Count a question right only if all its rows are right (rows grouped by
            ``question_ids``); otherwise every row is a question of its own.
        matcher: ``"mmbench"`` for :func:`extract_option_letter`, ``"llava"`` for
            :func:`llava_option_letter`.

    Returns:
        The accuracy and its per-category breakdown.

    Raises:
        ConfigError: ``circular`` without ``question_ids``, or an unknown ``matcher``.
        DataError: Misaligned or empty columns; an ``option_letters`` row whose length differs from
            its options; rows of one question with different categories.
    """
    check_aligned(
        predictions=predictions,
        answers=answers,
        options=options,
        option_letters=option_letters,
        question_ids=question_ids,
        categories=categories,
    )
    matchers = {"mmbench": extract_option_letter, "llava": llava_option_letter}
    if matcher not in matchers:
        raise ConfigError(f"unknown MMBench matcher {matcher!r}; use 'mmbench' or 'llava'")
    if circular and question_ids is None:
        raise ConfigError("circular MMBench evaluation needs question_ids to group the rounds of each question")
    read = matchers[matcher]
    hits: list[bool] = []
    unparsed = 0
    for row, (pred, gold, shown) in enumerate(zip(predictions, answers, options, strict=True)):
        letter = read(pred, shown)
        if letter is None:
            unparsed += 1
            hits.append(False)
            continue
        if option_letters is not None:
            mapping = option_letters[row]
            if len(mapping) != len(shown):
                raise DataError(
                    f"MMBench row #{row} has {len(shown)} options but {len(mapping)} option letters; "
                    "option_letters must give one original letter per shown option"
                )
            letter = mapping[string.ascii_uppercase.index(letter)]
        hits.append(letter == gold)

    keys: Sequence[Hashable] = question_ids if circular and question_ids is not None else range(len(hits))
    group_hit: dict[Hashable, bool] = {}
    group_category: dict[Hashable, str] = {}
    for row, (key, hit) in enumerate(zip(keys, hits, strict=True)):
        group_hit[key] = group_hit.get(key, True) and hit
        if categories is not None:
            category = group_category.setdefault(key, categories[row])
            if category != categories[row]:
                raise DataError(
                    f"MMBench question {key!r} has rows in categories {category!r} and {categories[row]!r}; "
                    "every round of a question must carry the same category"
                )
    per_category: dict[str, Tally] = {}
    if categories is not None:
        counts: dict[str, list[int]] = {}
        for key, hit in group_hit.items():
            slot = counts.setdefault(group_category[key], [0, 0])
            slot[0] += int(hit)
            slot[1] += 1
        per_category = {cat: Tally(c, t) for cat, (c, t) in sorted(counts.items())}
    return MMBenchResult(
        correct=sum(group_hit.values()),
        total=len(group_hit),
        per_category=per_category,
        rows=len(hits),
        unparsed=unparsed,
        circular=circular,
    )
