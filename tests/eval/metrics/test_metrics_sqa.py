"""ScienceQA-IMG: eval_science_qa.py's letter parsing, overall and IMG accuracy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mvlm.errors import DataError
from mvlm.eval.metrics import SQA_FAILED, parse_sqa_answer, score_sqa, sqa_choice_index


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("C", "C"),
        ("B. a magnet", "B"),  # letter + ". "
        ("B.", SQA_FAILED),  # shorter than 3 characters and not a bare letter
        ("(A)", SQA_FAILED),
        (" A", SQA_FAILED),  # no stripping
        ("a", SQA_FAILED),  # case-sensitive
        ("The answer is C.", "C"),
        ("The answer is C", SQA_FAILED),  # the pattern's '.' needs one more character
        ("The answer is A, because", "A"),  # ... any character
        ("The answer is A. The answer is B.", SQA_FAILED),  # two matches
        ("I think the answer is A.", SQA_FAILED),  # "the" is not "The"
        ("The answer is F.", "F"),  # parsed, but no problem has an F option
        ("A\nB", SQA_FAILED),
    ],
)
def test_parse(text, letter):
    assert parse_sqa_answer(text) == letter


def test_choice_index():
    assert sqa_choice_index("C", 3) == 2
    assert sqa_choice_index("E", 3) == -1  # only A-C exist
    assert sqa_choice_index(SQA_FAILED, 5) == -1


def test_score_by_hand():
    rows = [
        # prediction, answer index, choices, has image
        ("C", 2, 3, True),  # right
        ("B. a magnet", 1, 2, True),  # right
        ("B.", 1, 2, False),  # FAILED
        ("The answer is C.", 2, 4, True),  # right
        ("The answer is C", 2, 4, False),  # FAILED
        ("E", 0, 3, True),  # letter E, index -1: wrong but not FAILED
        (" A", 0, 2, False),  # FAILED
        ("(A)", 0, 2, True),  # FAILED
        ("The answer is A. The answer is B.", 0, 2, False),  # FAILED
        ("I think the answer is A.", 0, 2, False),  # FAILED
        ("The answer is A, because", 0, 2, True),  # right
    ]
    preds, answers, choices, images = (list(col) for col in zip(*rows, strict=True))
    result = score_sqa(preds, answers, choices, images)
    # right: rows 1, 2, 4, 11 -> 4 / 11 overall; image rows 1, 2, 4, 6, 8, 11 -> 4 / 6 right
    assert (result.correct, result.total) == (4, 11)
    assert result.accuracy == pytest.approx(400 / 11)
    assert (result.img_correct, result.img_total) == (4, 6)
    assert result.img_accuracy == pytest.approx(200 / 3)
    assert result.headline == result.img_accuracy
    assert result.failed == 6


def test_no_image_question():
    result = score_sqa(["A"], [0], [2], [False])
    assert result.accuracy == 100.0 and result.img_accuracy is None and result.headline is None


def test_errors():
    with pytest.raises(DataError, match="lengths differ"):
        score_sqa(["A"], [0, 1], [2], [True])


@given(st.sampled_from("ABCDE"), st.text(max_size=10))
def test_letter_then_dot_space(letter, rest):
    assert parse_sqa_answer(letter) == letter
    assert parse_sqa_answer(f"{letter}. {rest}") == letter


@given(st.lists(st.tuples(st.text(max_size=12), st.integers(0, 4), st.booleans()), min_size=1))
def test_accuracies_in_range(rows):
    preds, answers, images = zip(*rows, strict=True)
    result = score_sqa(preds, answers, [5] * len(rows), images)
    assert 0.0 <= result.accuracy <= 100.0
    assert result.img_accuracy is None or 0.0 <= result.img_accuracy <= 100.0
    assert result.img_correct <= result.correct
