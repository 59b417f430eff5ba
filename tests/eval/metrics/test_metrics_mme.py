"""MME: calculation.py's yes/no parsing, acc / acc+ per subtask, perception and cognition totals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mvlm.errors import DataError
from mvlm.eval.metrics import MME_COGNITION, MME_PERCEPTION, mme_question_candidates, parse_mme_answer, score_mme


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Yes, there is", "yes"),  # "yes," -> 'yes' in the first four characters
        ("YES", "yes"),
        ("yes.", "yes"),
        ("No", "no"),
        ("Not at all", "no"),  # 'no' in "not "
        ("None", "no"),  # 'no' in "none"
        ("Nope", "no"),
        ("no, yes", "no"),  # "no, " has no 'yes'
        ("maybe", "other"),
        ("There is no dog", "other"),  # "ther" has neither
        ("Answer: yes", "other"),
        ("", "other"),
    ],
)
def test_parse(text, label):
    assert parse_mme_answer(text) == label


def test_scores_by_hand():
    rows = [
        # subtask, image, ground truth, prediction
        ("existence", "1.jpg", "Yes", "Yes, there is"),  # yes: right
        ("existence", "1.jpg", "No", "No"),  # right -> image 1 has both right
        ("existence", "2.jpg", "Yes", "maybe"),  # other: wrong
        ("existence", "2.jpg", "No", "None"),  # no: right
        ("count", "5.png", "yes", "There is no dog"),  # other: wrong
        ("count", "5.png", "no", "Not"),  # no: right
        ("commonsense_reasoning", "c.png", "yes", "yes"),  # right
        ("commonsense_reasoning", "c.png", "no", "yes"),  # wrong
    ]
    subtasks, images, answers, preds = (list(col) for col in zip(*rows, strict=True))
    report = score_mme(preds, answers, subtasks, images)
    ex, co, cr = (report.subtasks[n] for n in ("existence", "count", "commonsense_reasoning"))
    # existence: 3 of 4 questions right (75), 1 of 2 images with both right (50) -> 125
    assert (ex.correct, ex.total, ex.images_correct, ex.images, ex.other) == (3, 4, 1, 2, 1)
    assert (ex.acc, ex.acc_plus, ex.score) == (75.0, 50.0, 125.0)
    # count: 1 of 2 right (50), no image with both right (0) -> 50
    assert (co.acc, co.acc_plus, co.score, co.other) == (50.0, 0.0, 50.0, 1)
    # commonsense_reasoning: 50 + 0
    assert cr.score == 50.0
    assert list(report.subtasks) == ["existence", "count", "commonsense_reasoning"]  # official order
    assert report.perception == 175.0  # 125 + 50
    assert report.cognition == 50.0
    assert len(report.missing_perception) == 8 and "OCR" in report.missing_perception
    assert report.missing_cognition == ("numerical_calculation", "text_translation", "code_reasoning")
    assert report.headline is None  # partial perception is not the README's MME-P


def test_perfect_totals_reach_the_maxima():
    subtasks, images, answers = [], [], []
    for name in MME_PERCEPTION + MME_COGNITION:
        for gold in ("yes", "no"):
            subtasks.append(name)
            images.append("img.jpg")  # the same file name in different subtasks is a different image
            answers.append(gold)
    report = score_mme(answers, answers, subtasks, images)
    assert report.perception == 2000.0  # 10 subtasks x (100 + 100)
    assert report.cognition == 800.0  # 4 subtasks x 200
    assert report.headline == 2000.0 and report.missing_perception == ()


def test_errors():
    with pytest.raises(DataError, match="exactly two"):
        score_mme(["yes"], ["yes"], ["existence"], ["1.jpg"])
    with pytest.raises(DataError, match="must be yes or no"):
        score_mme(["yes", "no"], ["maybe", "no"], ["color", "color"], ["1.jpg", "1.jpg"])
    with pytest.raises(DataError, match="'colour'"):
        score_mme(["yes", "no"], ["yes", "no"], ["colour", "colour"], ["1.jpg", "1.jpg"])
    with pytest.raises(DataError, match="lengths differ"):
        score_mme(["yes"], ["yes", "no"], ["color"], ["1.jpg"])


def test_question_candidates():
    # the kit strips the short-answer instruction and restores the yes/no suffix (1 space, then 2)
    asked = "Is this a cat?\nAnswer the question using a single word or phrase."
    assert mme_question_candidates(asked) == (
        "Is this a cat? Please answer yes or no.",
        "Is this a cat?  Please answer yes or no.",
    )
    already = "Is this a cat? Please answer yes or no."
    assert mme_question_candidates(already) == (already,)


@given(st.text(max_size=10))
def test_parse_starts_with_yes_or_no(suffix):
    assert parse_mme_answer("Yes" + suffix) == "yes"
    assert parse_mme_answer("no" + suffix) == "no"  # "yes" cannot fit in "no??"


@given(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), min_size=1, max_size=20))
def test_subtask_score_in_range(pairs):
    preds = [p for pair in pairs for p in pair]
    images = [str(i) for i in range(len(pairs)) for _ in range(2)]
    answers = ["yes", "no"] * len(pairs)
    report = score_mme(preds, answers, ["scene"] * len(preds), images)
    score = report.subtasks["scene"]
    assert 0.0 <= score.acc_plus <= score.acc <= 100.0  # an image with both right has 2 right questions
    assert 0.0 <= score.score <= 200.0
