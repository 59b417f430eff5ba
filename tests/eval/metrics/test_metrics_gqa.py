"""GQA: the convert_gqa_for_eval clean-up and exact-match accuracy with its breakdowns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mvlm.errors import DataError
from mvlm.eval.metrics import Tally, clean_gqa_prediction, score_gqa


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Yes.", "yes"),
        ("2..", "2"),  # every trailing period goes
        ("3.5.", "3.5"),  # inner periods stay
        ("Yes. ", "yes. "),  # rstrip('.') stops at the trailing space: no match for "yes"
        ("The Table", "the table"),  # no article removal in GQA
    ],
)
def test_clean(raw, clean):
    assert clean_gqa_prediction(raw) == clean


def test_score_by_hand():
    preds = ["Yes.", "Red", "the table", "2..", "left"]
    answers = ["yes", "red", "table", "2", "right"]
    structural = ["verify", "query", "query", "query", "choose"]
    semantic = ["attr", "attr", "obj", "obj", "rel"]
    result = score_gqa(preds, answers, structural_types=structural, semantic_types=semantic)
    # right: "yes", "red", "2"; wrong: "the table" != "table", "left" != "right" -> 3 / 5 = 60 %
    assert (result.correct, result.total) == (3, 5)
    assert result.accuracy == pytest.approx(60.0)
    assert result.headline == result.accuracy
    # structural: verify 1/1, query 2/3 (red, 2), choose 0/1; open = query, binary = the rest (1/2)
    assert result.per_structural == {"choose": Tally(0, 1), "query": Tally(2, 3), "verify": Tally(1, 1)}
    assert result.open == Tally(2, 3) and result.binary == Tally(1, 2)
    assert result.open.accuracy == pytest.approx(200 / 3)
    # semantic: attr 2/2, obj 1/2 ("2" right, "the table" wrong), rel 0/1
    assert result.per_semantic == {"attr": Tally(2, 2), "obj": Tally(1, 2), "rel": Tally(0, 1)}


def test_without_types_no_breakdown():
    result = score_gqa(["no"], ["yes"])
    assert result.accuracy == 0.0
    assert result.per_structural == {} and result.open is None and result.binary is None


def test_errors():
    with pytest.raises(DataError, match="lengths differ"):
        score_gqa(["a", "b"], ["a"])
    with pytest.raises(DataError, match="lengths differ"):
        score_gqa(["a"], ["a"], structural_types=["query", "verify"])
    with pytest.raises(DataError, match="nothing to score"):
        score_gqa([], [])


@given(st.text())
def test_clean_is_idempotent(text):
    once = clean_gqa_prediction(text)
    assert clean_gqa_prediction(once) == once


@given(st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), min_size=1))
def test_accuracy_in_range_and_counts(pairs):
    preds, answers = zip(*pairs, strict=True)
    result = score_gqa(preds, answers)
    assert 0.0 <= result.accuracy <= 100.0
    assert result.correct == sum(clean_gqa_prediction(p) == a for p, a in pairs)


@given(st.lists(st.from_regex(r"[a-z0-9 ]{1,8}", fullmatch=True), min_size=1))
def test_clean_answers_score_100(answers):
    assert score_gqa(answers, answers).accuracy == 100.0
