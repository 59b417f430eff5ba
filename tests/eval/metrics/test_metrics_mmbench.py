"""MMBench: option-letter extraction, single-pass and circular accuracy, per category."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mvlm.errors import ConfigError, DataError
from mvlm.eval.metrics import (
    Tally,
    circular_rounds,
    extract_option_letter,
    llava_option_letter,
    score_mmbench,
    vlmevalkit_option_letter,
)

PETS = ["cat", "dog", "bird", "fish"]


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("B", "B"),
        ("B.", "B"),
        ("(B)", "B"),
        ("(B).", "B"),
        ("B) dog", "B"),
        ("The answer is C.", "C"),
        ("Answer: D", "D"),
        ("Answer :D", "D"),  # the ":X" form
        ("Answer:D", None),  # one token "Answer:D": no form matches it (split on whitespace only)
        ("I think it is a dog", "B"),  # no capital letter token; option text "dog" occurs once
        ("A dog", "A"),  # 2 tokens: the bare "A" reads as option A
        ("A dog is here", "B"),  # 4 tokens: "A" is taken as the article; the option text "dog" decides
        ("b", None),  # letters are case-sensitive and "b" contains no option text
        ("A or B", None),  # two letters, and no option text
        ("cat or dog", None),  # two option texts
        ("Cannot determine the answer", None),  # no letter token, no option text
        ("Z", None),  # not a letter the tool reads
        ("E", "E"),  # beyond a 4-option question, still read (and scored as wrong)
        ("B, C.", "C"),  # "B," and "C." each occur once: the "X." form comes first
        ("The answer is B. Not A, obviously.", "B"),  # bare step: none; "X." form: only "B."
        ("Failed to obtain answer via API B", None),  # the tool's API-failure marker
    ],
)
def test_extract(text, letter):
    assert extract_option_letter(text, PETS) == letter


def test_extract_takes_a_capital_a_as_an_article_in_longer_answers():
    """OpenCompass tools/eval_mmbench.py: one bare letter, but it is "A" and the answer has more than 3
    tokens -> the letter step is skipped; the option texts decide."""
    options = ["a cat", "a dog", "a bird", "a fish"]
    assert extract_option_letter("A dog is lying on the grass next to a ball.", options) == "B"
    assert extract_option_letter("A dog is lying on the grass next to a ball.", PETS) == "B"
    assert extract_option_letter("A dog lies there", options) == "B"  # 4 tokens: the article rule
    assert extract_option_letter("A dog lies", options) == "A"  # 3 tokens: "A" is the letter
    assert extract_option_letter("A. A dog is lying there.", options) == "A"  # the "X." form still reads A
    assert extract_option_letter("It is B not the others", options) == "B"  # a single bare letter other than A


def test_extract_reads_letters_beyond_the_options_and_they_score_wrong():
    assert extract_option_letter("C", ["yes", "no"]) == "C"
    assert extract_option_letter("The answer is B.", ["yes", "no"]) == "B"
    assert extract_option_letter("F", ["yes", "no"]) is None  # the tool reads A to E only
    result = score_mmbench(["C", "B"], ["A", "B"], [["yes", "no"]] * 2)
    assert (result.correct, result.total, result.unparsed) == (1, 2, 0)
    circular = score_mmbench(
        ["D", "A"], ["B", "B"], [["yes", "no"], ["no", "yes"]], option_letters=[["A", "B"], ["B", "A"]],
        question_ids=[1, 1], circular=True,
    )  # fmt: skip
    assert (circular.correct, circular.total, circular.unparsed) == (0, 1, 0)


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("B", "B"),
        ("B.", "B"),
        ("(B)", "B"),
        ("The answer is C.", "C"),
        ("A dog", "A"),  # VLMEvalKit applies no article rule by default
        ("A dog is lying on the grass", "A"),
        ("Cannot determine the answer", None),  # VLMEvalKit refusal phrase
        ("Z", None),  # VLMEvalKit's "no option" letter
        ("E", None),  # only the question's own letters
        ("A or B", None),
        ("I think it is a dog", "B"),
    ],
)
def test_vlmevalkit_matcher(text, letter):
    assert vlmevalkit_option_letter(text, PETS) == letter
    assert score_mmbench([text], ["B"], [PETS], matcher="vlmevalkit").correct == int(letter == "B")


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("b.", "B"),  # strip('.'), strip, upper
        ("The answer is c. Because", "C"),  # case-insensitive "the answer is x."
        ("dog", "B"),  # the answer inside exactly one option text
        ("o", "B"),  # ... any substring: only "dog" contains "o"
        ("i", None),  # "bird" and "fish" both contain "i"
        ("(B)", None),  # LLaVA's rule does not strip parentheses
    ],
)
def test_llava_matcher(text, letter):
    assert llava_option_letter(text, PETS) == letter


def test_circular_rounds_rotate_left():
    assert circular_rounds(["x", "y", "z"]) == [
        (["x", "y", "z"], ["A", "B", "C"]),
        (["y", "z", "x"], ["B", "C", "A"]),
        (["z", "x", "y"], ["C", "A", "B"]),
    ]


def test_single_pass_by_hand():
    result = score_mmbench(
        ["A", "(B)", "The answer is D.", "hmm"],
        ["A", "B", "C", "A"],
        [PETS] * 4,
        categories=["ocr", "ocr", "logic", "logic"],
    )
    # right: rows 1 and 2; row 3 reads D (answer C); row 4 reads nothing -> 2 / 4
    assert (result.correct, result.total, result.rows, result.unparsed) == (2, 4, 4, 1)
    assert result.accuracy == 50.0 and result.headline == 50.0 and not result.circular
    assert result.per_category == {"logic": Tally(0, 2), "ocr": Tally(2, 2)}


def _circular_rows():
    """Question 1 (answer B = "y") answered right in every round; question 2 (answer A = "x") always "A"."""
    q1, q2 = circular_rounds(["x", "y", "z"]), circular_rounds(["x", "y"])
    options = [q1[0][0], q1[1][0], q1[2][0], q2[0][0], q2[1][0]]
    letters = [q1[0][1], q1[1][1], q1[2][1], q2[0][1], q2[1][1]]
    # q1: "y" is shown as B, then A, then C; round 2 answers with the option text instead of a letter
    # q2: "A" is x (right) in round 0 but y (wrong) in round 1
    preds = ["B", "y", "C", "A", "A"]
    answers = ["B", "B", "B", "A", "A"]
    return preds, answers, options, letters, [1, 1, 1, 2, 2], ["ocr"] * 3 + ["logic"] * 2


def test_circular_by_hand():
    preds, answers, options, letters, ids, cats = _circular_rows()
    result = score_mmbench(
        preds, answers, options, option_letters=letters, question_ids=ids, categories=cats, circular=True
    )
    # q1 right in all 3 rounds, q2 wrong in round 1 -> 1 of 2 questions
    assert (result.correct, result.total, result.rows) == (1, 2, 5)
    assert result.accuracy == 50.0 and result.circular
    assert result.per_category == {"logic": Tally(0, 1), "ocr": Tally(1, 1)}
    # a single pass (round 0 only) gets both right
    single = score_mmbench([preds[0], preds[3]], [answers[0], answers[3]], [options[0], options[3]])
    assert single.accuracy == 100.0


def test_rows_without_option_letters_are_their_own_lettering():
    # without option_letters the shown letter is compared as is, so the verdicts flip: q1 (right in every
    # round) fails in rounds 1 and 2 (reads A, then C; answer B), q2 ("A" every time) passes
    preds, answers, options, _, ids, cats = _circular_rows()
    result = score_mmbench(preds, answers, options, question_ids=ids, categories=cats, circular=True)
    assert result.per_category == {"logic": Tally(1, 1), "ocr": Tally(0, 1)}


def test_errors():
    with pytest.raises(ConfigError, match="question_ids"):
        score_mmbench(["A"], ["A"], [PETS], circular=True)
    with pytest.raises(ConfigError, match="matcher"):
        score_mmbench(["A"], ["A"], [PETS], matcher="gpt")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="option letters"):
        score_mmbench(["A"], ["A"], [PETS], option_letters=[["A", "B"]])
    with pytest.raises(DataError, match="same category"):
        score_mmbench(["A", "A"], ["A", "A"], [PETS] * 2, question_ids=[7, 7], categories=["x", "y"], circular=True)
    with pytest.raises(DataError, match="lengths differ"):
        score_mmbench(["A"], ["A", "B"], [PETS])


@st.composite
def circular_questions(draw):
    """Random questions (2-4 options), each answered in every rotated round by a random shown letter."""
    preds, answers, options, letters, ids, round0 = [], [], [], [], [], []
    for qid in range(draw(st.integers(1, 6))):
        texts = [f"opt{qid}_{i}" for i in range(draw(st.integers(2, 4)))]
        gold = draw(st.sampled_from("ABCD"[: len(texts)]))
        for r, (shown, mapping) in enumerate(circular_rounds(texts)):
            preds.append(draw(st.sampled_from("ABCD"[: len(texts)])))
            answers.append(gold)
            options.append(shown)
            letters.append(mapping)
            ids.append(qid)
            round0.append(r == 0)
    return preds, answers, options, letters, ids, round0


@given(circular_questions())
def test_circular_never_beats_round_zero(data):
    preds, answers, options, letters, ids, round0 = data
    circular = score_mmbench(preds, answers, options, option_letters=letters, question_ids=ids, circular=True)
    first = [i for i, r0 in enumerate(round0) if r0]
    single = score_mmbench([preds[i] for i in first], [answers[i] for i in first], [options[i] for i in first])
    assert circular.total == single.total
    assert circular.correct <= single.correct
    assert 0.0 <= circular.accuracy <= single.accuracy <= 100.0


@given(circular_questions())
def test_a_model_that_always_picks_the_right_text_passes_every_round(data):
    _, answers, options, letters, ids, _ = data
    # answer, in each round, the shown letter whose original letter is the answer
    preds = ["ABCD"[mapping.index(gold)] for gold, mapping in zip(answers, letters, strict=True)]
    result = score_mmbench(preds, answers, options, option_letters=letters, question_ids=ids, circular=True)
    assert result.accuracy == 100.0
