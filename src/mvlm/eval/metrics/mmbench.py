"""MMBench: option-letter extraction, single-pass accuracy and circular evaluation.

The kit runs ``model_vqa_mmbench.py`` once per question (MobileVLM's script does not pass
``--all-rounds``) and scores with a local ``eval.py`` that was never published. mvlm scores as
MMBench's own published local evaluator does, OpenCompass's ``tools/eval_mmbench.py`` (the tool the
MMBench authors released for scoring the dev split offline, and the one MobileVLM's contemporaries
cite), up to the point where that tool asks ChatGPT; no answer needs an LLM judge here.

**Letter extraction** (:func:`extract_option_letter`) is that tool's ``can_infer`` (``can_infer_option``,
then ``can_infer_text``):

1. split the answer on whitespace. The letters looked for are ``A`` to ``E`` (the tool's
   ``num_choice=5``; more when a question has more options), whatever the question's options are:
   a letter outside them is still returned, and scores as wrong.
2. if exactly one of those letters occurs as a bare token, that letter -- except when the token
   ``A`` is present and the answer has more than 3 tokens: then ``A`` is taken as the article
   (``"A dog is lying on the grass."``) and this step gives nothing.
3. else the first of the forms ``X.``, ``X,``, ``X:``, ``X)``, ``X).``, ``(X)``, ``(X).``, ``:X``,
   ``:X,``, ``:X.``, ``:X)``, ``:X).`` (in that order) in which exactly one letter occurs as a whole
   token gives that letter (``"The answer is B."`` -> B, ``"(C)"`` -> C).
4. else lowercase the answer and every option text; if exactly one option text occurs inside the
   answer, that option's letter (``"It is a cat."`` -> the option ``cat``).
5. else no letter (``None``), counted wrong and reported as ``unparsed``; the tool would ask
   ChatGPT here. Letters are case-sensitive (``"b"`` is not a letter).

Two other matchers can be chosen with ``matcher=``: ``"vlmevalkit"``
(:func:`vlmevalkit_option_letter`, VLMEvalKit's later ``can_infer``: punctuation stripped before
splitting, only the question's own letters, four refusal phrases and ``Z`` as "no answer", no
article rule) and ``"llava"`` (:func:`llava_option_letter`, the rules of LLaVA's ``eval_mmbench.py``).

**Circular evaluation**: ``model_vqa_mmbench.py --all-rounds`` asks each question once per option,
rotating the options left by one each round (:func:`circular_rounds`) and recording, per round, the
options as shown and ``option_char`` (the original letter behind each shown position). A letter
read from a round's answer is mapped back through ``option_char``; a question counts as right only
if every one of its rounds is right. MMBench's own TSVs that already contain rotated copies
(index ``+ k * 10**6``) are scored the same way by grouping rows on ``index % 10**6``.

Example:
    >>> extract_option_letter("(B)", ["cat", "dog"])
    'B'
    >>> extract_option_letter("A dog is lying on the grass next to a ball.", ["a cat", "a dog", "a bird"])
    'B'
    >>> r = score_mmbench(["A", "B", "A"], ["A", "A", "B"], [["x", "y"], ["y", "x"], ["x", "y"]],
    ...                   option_letters=[["A", "B"], ["B", "A"], ["A", "B"]], question_ids=[1, 1, 2], circular=True)
    >>> r.correct, r.total
    (1, 2)
"""

from __future__ import annotations

import string
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mvlm.errors import ConfigError, DataError
from mvlm.eval.metrics.tally import Tally, check_aligned, percent

__all__ = [
    "MMBENCH_MATCHERS",
    "MMBenchResult",
    "circular_rounds",
    "extract_option_letter",
    "llava_option_letter",
    "score_mmbench",
    "vlmevalkit_option_letter",
]

# OpenCompass tools/eval_mmbench.py: the (prefix, suffix) forms tried, in order, after bare letters.
_LETTER_FORMS = (
    ("", "."),
    ("", ","),
    ("", ":"),
    ("", ")"),
    ("", ")."),
    ("(", ")"),
    ("(", ")."),
    (":", ""),
    (":", ","),
    (":", "."),
    (":", ")"),
    (":", ")."),
)
_API_FAILURE = "Failed to obtain answer via API"
_MIN_LETTERS = 5  # the tool's num_choice: A to E are read whatever the question's options

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


def _matching_option_text(text: str, options: Sequence[str]) -> str | None:
    """The letter of the only option whose (lowercased) text occurs in the lowercased answer."""
    lowered = text.lower()
    pairs = zip(_letters(options), options, strict=True)
    found = [letter for letter, option in pairs if str(option).lower() in lowered]
    return found[0] if len(found) == 1 else None


def extract_option_letter(text: str, options: Sequence[str]) -> str | None:
    """Read the chosen option letter from a free-text answer as MMBench's local evaluator does.

    OpenCompass ``tools/eval_mmbench.py``'s ``can_infer``; the rules are in this module's docstring.

    Args:
        text: The generated answer.
        options: The option texts as shown, in letter order (``options[0]`` is ``A``).

    Returns:
        The shown letter (``"A"``, ``"B"``...; possibly a letter beyond the options, which scores as
        wrong), or ``None`` when the rules find no single answer.

    Example:
        >>> extract_option_letter("A dog is lying on the grass next to a ball.", ["a cat", "a dog"])
        'B'
        >>> extract_option_letter("A dog", ["cat", "dog"])  # 2 tokens: "A" is the letter
        'A'
        >>> extract_option_letter("D", ["cat", "dog"])  # read, and scored as wrong
        'D'
    """
    letters = string.ascii_uppercase[: max(_MIN_LETTERS, len(_letters(options)))]
    if _API_FAILURE in text:
        return None
    tokens = set(text.split())
    for prefix, suffix in (("", ""), *_LETTER_FORMS):
        found = [letter for letter in letters if f"{prefix}{letter}{suffix}" in tokens]
        if len(found) != 1:
            continue
        if not prefix and not suffix and "A" in tokens and len(text.split()) > 3:
            continue  # "A" is an article here ("A dog is lying on the grass."), not option A
        return found[0]
    return _matching_option_text(text, options)


def vlmevalkit_option_letter(text: str, options: Sequence[str]) -> str | None:
    """Read the chosen option letter with VLMEvalKit's ``can_infer`` rules (``matcher="vlmevalkit"``).

    1. replace each of ``. ( ) [ ] , : ; ! * # { }`` by a space and split on whitespace; if exactly one
       of the question's letters occurs as a whole token, that letter (``"B."``, ``"(B)"``,
       ``"The answer is B."`` all give B; ``"A or B"`` gives nothing from this step);
    2. else, as :func:`extract_option_letter`'s last step, the only option text inside the answer;
    3. ``None`` at once for an answer containing one of VLMEvalKit's four refusal phrases
       (``"Cannot determine the answer"``...) or with no letter token but a ``Z`` token.

    VLMEvalKit's "A might be a quantifier" rejection runs only in its verbose mode (off by default)
    and is not applied here.

    Args:
        text: The generated answer.
        options: The option texts as shown, in letter order.

    Returns:
        The shown letter, or ``None``.
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
    return _matching_option_text(text, options)


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


MMBENCH_MATCHERS: dict[str, Callable[[str, Sequence[str]], str | None]] = {
    "mmbench": extract_option_letter,
    "vlmevalkit": vlmevalkit_option_letter,
    "llava": llava_option_letter,
}
"""The letter readers ``score_mmbench(matcher=...)`` and the MMBench benchmark accept, by name."""


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
    matcher: Literal["mmbench", "vlmevalkit", "llava"] = "mmbench",
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
        matcher: ``"mmbench"`` for :func:`extract_option_letter` (MMBench's local evaluator, the
            default), ``"vlmevalkit"`` for :func:`vlmevalkit_option_letter`, ``"llava"`` for
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
    if matcher not in MMBENCH_MATCHERS:
        raise ConfigError(f"unknown MMBench matcher {matcher!r}; use one of {', '.join(map(repr, MMBENCH_MATCHERS))}")
    if circular and question_ids is None:
        raise ConfigError("circular MMBench evaluation needs question_ids to group the rounds of each question")
    read = MMBENCH_MATCHERS[matcher]
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
            position = string.ascii_uppercase.index(letter)
            if position >= len(mapping):  # a letter beyond the shown options: read, and wrong
                hits.append(False)
                continue
            letter = mapping[position]
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
