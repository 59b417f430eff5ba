"""TextVQA: VQA soft accuracy with the EvalAI answer normalisation of ``m4c_evaluator.py``.

Normalisation (:func:`normalize_vqa_answer`), step by step as the reference, quirks included:

1. lowercase; delete every ``,`` and ``?``; put a space before each ``'s`` (``it's`` -> ``it 's``);
   strip. (Commas are gone before step 3, so "1,000" becomes "1000", and step 3's "a comma between
   digits" test never fires.)
2. replace newlines and tabs by spaces; strip.
3. for each of ``; / [ ] " { } ( ) = + \\ _ - > < @ ` , ? !``: if the *step-2 text* has that
   character next to a space (``"p "`` or ``" p"``), delete every occurrence of it, else replace
   every occurrence by a space (so ``"t-shirt"`` -> ``"t shirt"`` but ``"x - y"`` -> ``"x  y"``).
4. remove periods with ``re.sub(r'(?!<=\\d)(\\.)(?!\\d)', '', text, re.UNICODE)``. The intended
   look-behind is written ``(?!<=\\d)`` (a look-*ahead* that always succeeds), so every period not
   followed by a digit goes, also after a digit: ``"5."`` -> ``"5"``, ``"3.5"`` stays. And
   ``re.UNICODE`` lands in the ``count`` argument: only the first 32 such periods are removed.
5. split on whitespace; map the number words ``none zero one ... ten`` to digits (``none`` -> ``0``);
   drop the articles ``a an the``; expand the contraction table (``dont`` -> ``don't``; its keys
   with capitals, such as ``Im``, never match the lowercased words); join with single spaces.

Soft accuracy (:func:`vqa_answer_scores`): with the 10 normalised human answers, an answer's score
is the mean, over the 10 ways of leaving one human answer out, of ``min(1, matches / 3)`` where
``matches`` counts the other nine equal to it. An answer given by ``k`` humans scores 0.3, 0.6, 0.9
and 1.0 for ``k`` = 1, 2, 3 and >= 4. A prediction scores its normalised text's value (0 if no human
gave it); the accuracy is the mean over questions, in percent.

Example:
    >>> normalize_vqa_answer("The Two Dogs.")
    '2 dogs'
    >>> vqa_soft_score("two", ["2", "2", "two", "3", "3", "3", "3", "3", "3", "3"])
    0.9
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mvlm.errors import DataError
from mvlm.eval.metrics.tally import check_aligned, percent

__all__ = [
    "TextVQAResult",
    "normalize_vqa_answer",
    "score_textvqa",
    "textvqa_question_from_prompt",
    "vqa_answer_scores",
    "vqa_soft_score",
]

NUM_HUMAN_ANSWERS = 10
"""Every TextVQA (and VQAv2) question has ten human answers; ``m4c_evaluator.py`` asserts it."""

_NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
_ARTICLES = frozenset({"a", "an", "the"})
_PUNCTUATION = (
    ";",
    "/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
)
_COMMA_BETWEEN_DIGITS = re.compile(r"(?<=\d)(,)+(?=\d)")
# The reference's pattern, kept verbatim: "(?!<=\d)" is a look-ahead that always succeeds here, so
# the effect is r"\.(?!\d)". The reference passes re.UNICODE positionally, i.e. as count=32.
_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
_PERIOD_COUNT = int(re.UNICODE)

# The EvalAI contraction table (a fact table; lookups happen on lowercased words, so the keys
# written with capitals can never match, and "somebody'd" maps to "somebodyd" as in the original).
_CONTRACTIONS = {
    "aint": "ain't",
    "arent": "aren't",
    "cant": "can't",
    "couldve": "could've",
    "couldnt": "couldn't",
    "couldn'tve": "couldn't've",
    "couldnt've": "couldn't've",
    "didnt": "didn't",
    "doesnt": "doesn't",
    "dont": "don't",
    "hadnt": "hadn't",
    "hadnt've": "hadn't've",
    "hadn'tve": "hadn't've",
    "hasnt": "hasn't",
    "havent": "haven't",
    "hed": "he'd",
    "hed've": "he'd've",
    "he'dve": "he'd've",
    "hes": "he's",
    "howd": "how'd",
    "howll": "how'll",
    "hows": "how's",
    "Id've": "I'd've",
    "I'dve": "I'd've",
    "Im": "I'm",
    "Ive": "I've",
    "isnt": "isn't",
    "itd": "it'd",
    "itd've": "it'd've",
    "it'dve": "it'd've",
    "itll": "it'll",
    "let's": "let's",
    "maam": "ma'am",
    "mightnt": "mightn't",
    "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've",
    "mightve": "might've",
    "mustnt": "mustn't",
    "mustve": "must've",
    "neednt": "needn't",
    "notve": "not've",
    "oclock": "o'clock",
    "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at",
    "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at",
    "shant": "shan't",
    "shed've": "she'd've",
    "she'dve": "she'd've",
    "she's": "she's",
    "shouldve": "should've",
    "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've",
    "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've",
    "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll",
    "somebodys": "somebody's",
    "someoned": "someone'd",
    "someoned've": "someone'd've",
    "someone'dve": "someone'd've",
    "someonell": "someone'll",
    "someones": "someone's",
    "somethingd": "something'd",
    "somethingd've": "something'd've",
    "something'dve": "something'd've",
    "somethingll": "something'll",
    "thats": "that's",
    "thered": "there'd",
    "thered've": "there'd've",
    "there'dve": "there'd've",
    "therere": "there're",
    "theres": "there's",
    "theyd": "they'd",
    "theyd've": "they'd've",
    "they'dve": "they'd've",
    "theyll": "they'll",
    "theyre": "they're",
    "theyve": "they've",
    "twas": "'twas",
    "wasnt": "wasn't",
    "wed've": "we'd've",
    "we'dve": "we'd've",
    "weve": "we've",
    "werent": "weren't",
    "whatll": "what'll",
    "whatre": "what're",
    "whats": "what's",
    "whatve": "what've",
    "whens": "when's",
    "whered": "where'd",
    "wheres": "where's",
    "whereve": "where've",
    "whod": "who'd",
    "whod've": "who'd've",
    "who'dve": "who'd've",
    "wholl": "who'll",
    "whos": "who's",
    "whove": "who've",
    "whyll": "why'll",
    "whyre": "why're",
    "whys": "why's",
    "wont": "won't",
    "wouldve": "would've",
    "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've",
    "yall": "y'all",
    "yall'll": "y'all'll",
    "y'allll": "y'all'll",
    "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've",
    "y'all'dve": "y'all'd've",
    "youd": "you'd",
    "youd've": "you'd've",
    "you'dve": "you'd've",
    "youll": "you'll",
    "youre": "you're",
    "youve": "you've",
}


def _strip_punctuation(text: str) -> str:
    """Steps 3 and 4 of the module doc."""
    delete_all = _COMMA_BETWEEN_DIGITS.search(text) is not None
    out = text
    for mark in _PUNCTUATION:
        # The test looks at the input text, the replacement acts on the running output, as in the reference.
        if delete_all or f"{mark} " in text or f" {mark}" in text:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD.sub("", out, count=_PERIOD_COUNT)


def _map_words(text: str) -> str:
    """Step 5 of the module doc."""
    words = [_NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    words = [_CONTRACTIONS.get(word, word) for word in words if word not in _ARTICLES]
    return " ".join(words)


def normalize_vqa_answer(text: str) -> str:
    """Normalise an answer as EvalAI / ``m4c_evaluator.py`` does (see the module doc for each step).

    Args:
        text: A predicted or human answer.

    Returns:
        The normalised answer. Not idempotent in two corner cases of the reference: a contraction
        that expands to ``...'s`` (``hes`` -> ``he's``, which a second pass splits into ``he 's``)
        and text with more than 32 strippable periods.

    Example:
        >>> normalize_vqa_answer("1,000 Dollars!")
        '1000 dollars'
    """
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return _map_words(_strip_punctuation(text))


def vqa_answer_scores(human_answers: Sequence[str]) -> dict[str, float]:
    """Soft score of every distinct normalised human answer, with the leave-one-out average.

    Args:
        human_answers: The ten human answers of a question (raw; normalised here).

    Returns:
        Normalised answer -> score in ``[0, 1]``.

    Raises:
        DataError: There are not exactly ten answers (``m4c_evaluator.py`` asserts ten).
    """
    if len(human_answers) != NUM_HUMAN_ANSWERS:
        raise DataError(
            f"a TextVQA question needs exactly {NUM_HUMAN_ANSWERS} human answers, got {len(human_answers)}; "
            "pass the 'answers' list of the annotation unchanged"
        )
    answers = [normalize_vqa_answer(answer) for answer in human_answers]
    scores: dict[str, float] = {}
    for candidate in set(answers):
        total = 0.0
        for left_out in range(len(answers)):
            matches = sum(1 for i, answer in enumerate(answers) if i != left_out and answer == candidate)
            total += min(1.0, matches / 3)
        scores[candidate] = total / len(answers)
    return scores


def vqa_soft_score(prediction: str, human_answers: Sequence[str]) -> float:
    """VQA soft score of one prediction, in ``[0, 1]``.

    Args:
        prediction: The generated answer (raw; normalised here).
        human_answers: The ten human answers.

    Returns:
        The score of the normalised prediction among :func:`vqa_answer_scores`, 0.0 if no human gave it.
    """
    return vqa_answer_scores(human_answers).get(normalize_vqa_answer(prediction), 0.0)


@dataclass(frozen=True)
class TextVQAResult:
    """TextVQA accuracy.

    Attributes:
        score_sum: Sum of the per-question soft scores.
        total: Questions scored.
    """

    score_sum: float
    total: int

    @property
    def accuracy(self) -> float:
        """Mean soft score, in percent (the README's TextVQA column)."""
        return percent(self.score_sum, self.total)

    @property
    def headline(self) -> float:
        """The number the README reports: :attr:`accuracy`."""
        return self.accuracy


def score_textvqa(predictions: Sequence[str], human_answers: Sequence[Sequence[str]]) -> TextVQAResult:
    """Score TextVQA answers as ``eval_textvqa.py`` + ``m4c_evaluator.py`` do.

    Args:
        predictions: Generated answers.
        human_answers: The ten human answers of each question, aligned with ``predictions``.

    Returns:
        The accuracy.

    Raises:
        DataError: The columns differ in length or are empty, or a question lacks ten answers.
    """
    check_aligned(predictions=predictions, human_answers=human_answers)
    return TextVQAResult(
        score_sum=sum(vqa_soft_score(pred, answers) for pred, answers in zip(predictions, human_answers, strict=True)),
        total=len(predictions),
    )


def textvqa_question_from_prompt(prompt: str) -> str:
    """Recover the lowercased question from an answer record's prompt (``prompt_processor`` of ``eval_textvqa.py``).

    ``eval_textvqa.py`` pairs each answer with its annotation by ``(question_id == image_id,
    question.lower())``; the question comes from the prompt:

    * a prompt starting ``OCR tokens: `` -> the text between ``Question: `` and `` Short answer:``;
    * a 3-line prompt containing ``Reference OCR token: `` -> line 1 if it starts with
      ``Reference OCR token:``, else line 0 (the kit's prompt is ``question / OCR line / instruction``);
    * a 2-line prompt -> line 0.

    Args:
        prompt: The ``prompt`` field of the answer record (the user text, without the image token).

    Returns:
        The question, lowercased.

    Raises:
        DataError: The prompt has none of these shapes (the reference stops on ``assert False``).

    Example:
        >>> textvqa_question_from_prompt(
        ...     "What is the brand?\\nReference OCR token: Nokia\\nAnswer the question using a single word or phrase."
        ... )
        'what is the brand?'
    """
    lines = prompt.split("\n")
    if prompt.startswith("OCR tokens: "):
        match = re.search(r"Question: (.*?) Short answer:", prompt, re.DOTALL)
        if match is None:
            raise DataError(
                f"TextVQA prompt starts with 'OCR tokens: ' but has no 'Question: ... Short answer:': {prompt!r}"
            )
        question = match.group(1)
    elif "Reference OCR token: " in prompt and len(lines) == 3:
        question = lines[1] if prompt.startswith("Reference OCR token:") else lines[0]
    elif len(lines) == 2:
        question = lines[0]
    else:
        raise DataError(
            f"cannot find the question in TextVQA prompt {prompt!r}: expected the LLaVA eval-kit shape "
            "'<question>\\nReference OCR token: ...\\n<instruction>' (or a 2-line '<question>\\n<instruction>')"
        )
    return question.lower()
