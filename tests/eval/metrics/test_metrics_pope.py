"""POPE: the eval_pope.py parsing quirks and the confusion metrics (yes = positive)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mvlm.errors import DataError
from mvlm.eval.metrics import PopeMetrics, parse_pope_answer, pope_metrics, score_pope


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Yes, there is a dog in the image.", "yes"),
        ("yes,", "yes"),
        ("No.", "no"),
        ("No, there is not.", "no"),
        ("There is not a cat", "no"),
        ("not", "no"),
        ("no", "no"),
        ("Not really", "yes"),  # "Not" is not one of No / not / no
        ("NO", "yes"),  # case matters
        ("No\nthere is none", "yes"),  # split on ' ' only: "No\nthere" is one word
        ("Yes. But no dog", "yes"),  # only the first sentence counts
        ("I see no. It is there", "no"),
        ("", "yes"),
    ],
)
def test_parse(text, label):
    assert parse_pope_answer(text) == label


def test_metrics_by_hand():
    preds = [
        "Yes, there is a dog.",  # yes, label yes -> TP
        "No, there is not.",  # no, label no -> TN
        "There is not a cat",  # no, label yes -> FN
        "Not really",  # yes (quirk), label no -> FP
        "yes",  # yes, label yes -> TP
        "No\nthere is none",  # yes (quirk), label no -> FP
        "NO",  # yes (quirk), label no -> FP
        "I see no. It is there",  # no, label yes -> FN
    ]
    labels = ["yes", "no", "yes", "no", "yes", "no", "no", "yes"]
    m = pope_metrics(preds, labels)
    assert (m.tp, m.fp, m.tn, m.fn) == (2, 3, 1, 2)
    assert m.total == 8
    assert m.accuracy == pytest.approx(37.5)  # (2 + 1) / 8
    assert m.precision == pytest.approx(40.0)  # 2 / (2 + 3)
    assert m.recall == pytest.approx(50.0)  # 2 / (2 + 2)
    assert m.f1 == pytest.approx(4000 / 90)  # 2 * 40 * 50 / (40 + 50) = 44.44
    assert m.yes_ratio == pytest.approx(62.5)  # 5 yes predictions / 8


def test_zero_divisions_return_zero():
    # nothing predicted yes and no yes label: precision 0/0, recall 0/0, F1 0/0 -> 0.0; accuracy 2/2
    m = pope_metrics(["No", "no"], ["no", "no"])
    assert (m.precision, m.recall, m.f1, m.accuracy, m.yes_ratio) == (0.0, 0.0, 0.0, 100.0, 0.0)
    assert PopeMetrics(0, 0, 0, 0).accuracy == 0.0


def test_per_category_and_mean():
    preds = ["Yes", "No", *["Yes"] * 4, "No", "No"]
    labels = ["yes", "no", "yes", "no", "no", "yes", "yes", "no"]
    cats = ["adversarial"] * 2 + ["random"] * 4 + ["popular"] * 2
    report = score_pope(preds, labels, cats)
    assert list(report.per_category) == ["adversarial", "popular", "random"]
    adv, pop, rnd = (report.per_category[c] for c in ("adversarial", "popular", "random"))
    assert (adv.tp, adv.fp, adv.tn, adv.fn) == (1, 0, 1, 0)  # P = R = F1 = 100
    assert (rnd.tp, rnd.fp, rnd.tn, rnd.fn) == (2, 2, 0, 0)  # P 50, R 100, F1 = 2*50*100/150 = 66.67
    assert (pop.tp, pop.fp, pop.tn, pop.fn) == (0, 0, 1, 1)  # P 0/0 -> 0, R 0/1 = 0, F1 0
    assert rnd.f1 == pytest.approx(200 / 3)
    assert report.f1 == pytest.approx((100 + 200 / 3 + 0) / 3)  # 55.56, the README's POPE number
    assert report.headline == report.f1
    assert report.accuracy == pytest.approx((100 + 50 + 50) / 3)
    assert report.yes_ratio == pytest.approx((50 + 0 + 100) / 3)
    assert report.precision == pytest.approx((100 + 0 + 50) / 3)
    assert report.recall == pytest.approx((100 + 0 + 100) / 3)
    # pooled counts: TP 3, FP 2, TN 2, FN 1 -> accuracy 5/8
    assert (report.pooled.tp, report.pooled.fp, report.pooled.tn, report.pooled.fn) == (3, 2, 2, 1)
    assert report.pooled.accuracy == pytest.approx(62.5)


def test_without_categories_one_group():
    report = score_pope(["yes", "no"], ["yes", "yes"])
    assert list(report.per_category) == ["all"]
    assert report.f1 == pytest.approx(2 * 100 * 50 / 150)  # P 1/1, R 1/2


def test_errors():
    with pytest.raises(DataError, match="'Yes'"):
        pope_metrics(["yes"], ["Yes"])
    with pytest.raises(DataError, match="lengths differ"):
        score_pope(["yes"], ["yes"], ["random", "popular"])
    with pytest.raises(DataError, match="nothing to score"):
        pope_metrics([], [])


yes_no = st.sampled_from(["yes", "no"])


@given(st.lists(st.tuples(yes_no, yes_no), min_size=1))
def test_swapping_predictions_and_labels_swaps_precision_and_recall(pairs):
    preds, labels = zip(*pairs, strict=True)
    a, b = pope_metrics(preds, labels), pope_metrics(labels, preds)
    assert a.precision == pytest.approx(b.recall) and a.recall == pytest.approx(b.precision)
    assert a.f1 == pytest.approx(b.f1) and a.accuracy == pytest.approx(b.accuracy)


@given(st.lists(st.tuples(st.text(max_size=12), yes_no, st.sampled_from(["a", "b", "c"])), min_size=1))
def test_rates_in_range(rows):
    preds, labels, cats = zip(*rows, strict=True)
    report = score_pope(preds, labels, cats)
    for m in [*report.per_category.values(), report.pooled]:
        for value in (m.accuracy, m.precision, m.recall, m.f1, m.yes_ratio):
            assert 0.0 <= value <= 100.0
        assert min(m.precision, m.recall) - 1e-9 <= m.f1 <= max(m.precision, m.recall) + 1e-9
    assert 0.0 <= report.f1 <= 100.0
