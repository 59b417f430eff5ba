"""TextVQA: the EvalAI normalisation (quirks included) and the leave-one-out soft accuracy."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mvlm.errors import DataError
from mvlm.eval.metrics import (
    normalize_vqa_answer,
    score_textvqa,
    textvqa_question_from_prompt,
    vqa_answer_scores,
    vqa_soft_score,
)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        # number words and articles
        ("Two", "2"),
        ("none", "0"),
        ("ten", "10"),
        ("eleven", "eleven"),  # the map stops at ten
        ("The Cat", "cat"),
        ("an apple", "apple"),
        ("The Two Dogs.", "2 dogs"),
        # punctuation next to digits
        ("1,000", "1000"),  # commas are deleted first
        ("3.5", "3.5"),  # a period followed by a digit stays
        ("5.", "5"),  # the buggy look-behind: a period after a digit goes too
        ("3.5.", "3.5"),
        ("1/2", "1 2"),  # '/' not next to a space -> becomes a space
        ("3 / 4", "3 4"),  # next to a space -> deleted
        # other punctuation
        ("t-shirt", "t shirt"),
        ("yes!", "yes"),
        ("hello, world?", "hello world"),
        ("(a) cat", "cat"),  # '(' -> space, ')' deleted (")" is next to a space), then 'a' is an article
        ("\tHello\nWorld ", "hello world"),
        # contractions
        ("dont", "don't"),
        ("Im", "im"),  # the table's key is "Im"; words are lowercased first, so it never matches
        ("it's", "it 's"),  # "'s" is split off
        ("hes", "he's"),
    ],
)
def test_normalise(raw, normalised):
    assert normalize_vqa_answer(raw) == normalised


def test_period_strip_count_is_32():
    # re.UNICODE (32) lands in sub()'s count: of 40 strippable periods the first 32 go and 8 stay.
    text = "a." * 40
    expected = "a" * 33 + ".a" * 7 + "."
    assert normalize_vqa_answer(text) == expected
    assert normalize_vqa_answer(text).count(".") == 8


def test_soft_scores_by_hand():
    humans = ["2", "2", "two", "3", "3", "3", "3", "3", "3", "3"]  # normalised: "2" x3, "3" x7
    scores = vqa_answer_scores(humans)
    # "2": the 3 holders see 2 matches (2/3), the 7 others see 3 (1) -> (3 * 2/3 + 7 * 1) / 10 = 0.9
    assert scores == {"2": pytest.approx(0.9), "3": pytest.approx(1.0)}
    assert vqa_soft_score("Two.", humans) == pytest.approx(0.9)
    assert vqa_soft_score("three", humans) == pytest.approx(1.0)
    assert vqa_soft_score("4", humans) == 0.0
    once = ["cat"] + ["dog"] * 9  # one holder: (1 * 0 + 9 * 1/3) / 10 = 0.3
    twice = ["cat", "a cat"] + ["dog"] * 8  # two holders: (2 * 1/3 + 8 * 2/3) / 10 = 0.6
    assert vqa_soft_score("the cat", once) == pytest.approx(0.3)
    assert vqa_soft_score("cat", twice) == pytest.approx(0.6)


def test_score_textvqa_by_hand():
    humans = ["2", "2", "two", "3", "3", "3", "3", "3", "3", "3"]
    result = score_textvqa(["two", "cat", "4"], [humans, ["cat"] + ["dog"] * 9, humans])
    # per question 0.9, 0.3, 0.0 -> mean 0.4 -> 40 %
    assert result.accuracy == pytest.approx(40.0)
    assert result.total == 3 and result.headline == result.accuracy


def test_errors():
    with pytest.raises(DataError, match="exactly 10 human answers, got 9"):
        vqa_answer_scores(["a"] * 9)
    with pytest.raises(DataError, match="lengths differ"):
        score_textvqa(["a", "b"], [["a"] * 10])


def test_question_from_prompt():
    kit = "What brand is it?\nReference OCR token: Nokia, 3310\nAnswer the question using a single word or phrase."
    assert textvqa_question_from_prompt(kit) == "what brand is it?"
    ocr_first = "Reference OCR token: Nokia\nWhat Brand?\nAnswer briefly."
    assert textvqa_question_from_prompt(ocr_first) == "what brand?"
    assert textvqa_question_from_prompt("What Brand?\nAnswer briefly.") == "what brand?"
    assert textvqa_question_from_prompt("OCR tokens: a b Question: Is It? Short answer:") == "is it?"
    with pytest.raises(DataError, match="cannot find the question"):
        textvqa_question_from_prompt("one line only")


words = st.sampled_from(["a", "the", "two", "none", "cat", "3.5", "1,000", "dont", "x-y", "(b)", "ok!", "5.", "it's"])
texts = st.one_of(st.text(max_size=30), st.lists(words, max_size=6).map(" ".join))


@given(texts)
def test_normalisation_idempotent_outside_its_two_corner_cases(text):
    once = normalize_vqa_answer(text)
    # the documented exceptions: a contraction expanding to "...'s" and more than 32 periods
    assume(not re.search(r"\w's", once) and text.count(".") <= 32)
    assert normalize_vqa_answer(once) == once


def _closed_form(k: int) -> float:
    # k holders: each sees k - 1 matches among the other nine, the 10 - k others see k
    return (k * min(1, (k - 1) / 3) + (10 - k) * min(1, k / 3)) / 10


@given(st.lists(st.sampled_from(["cat", "dog", "two", "2", "the cat"]), min_size=10, max_size=10), texts)
def test_soft_score_matches_closed_form(humans, prediction):
    normalised = [normalize_vqa_answer(h) for h in humans]
    k = normalised.count(normalize_vqa_answer(prediction))
    expected = _closed_form(k) if k else 0.0
    assert vqa_soft_score(prediction, humans) == pytest.approx(expected)
    assert 0.0 <= expected <= 1.0
