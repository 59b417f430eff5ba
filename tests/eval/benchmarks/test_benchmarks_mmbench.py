"""MMBench: TSV with base64 images and a multi-line cell, options up to the first missing one, single and circular."""

from __future__ import annotations

import csv

import pytest
from helpers.benchfiles import answer, png_base64, problems_of, v1

from mvlm.eval.benchmarks import get_benchmark, is_missing_cell

LETTER = "Answer with the option's letter from the given choices directly."
COLUMNS = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image", "source", "l2-category"]


@pytest.fixture
def mmbench_dir(tmp_path):
    root = tmp_path / "mmbench"
    root.mkdir()
    image = png_base64()
    rows = [
        COLUMNS,  # line 1
        ["0", "What animal is shown?", "", "cat", "dog", "bird", "", "B", "attribute", image, "s", "l2"],  # line 2
        [
            "1",
            "How many cars?",
            "The picture shows a street.",
            "1",
            "2",
            "none",
            "4",
            "A",
            "counting",
            image,
            "s",
            "l2",
        ],
        ["2", "Which is\nlarger?", "nan", "sun", "moon", "N/A", "", "A", "attribute", "not base64!", "s", "l2"],  # 4-5
        ["3", "too short"],  # line 6
        ["4", "Pick one", "", "x", "y", "", "", "nan", "attribute", image, "s", "l2"],  # line 7: no answer
    ]
    with (root / "mmbench_dev_en_20231003.tsv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter="\t").writerows(rows)  # quotes the multi-line cell, as pandas does
    return root


def test_missing_cells():
    assert [is_missing_cell(c) for c in ("", "nan", "NaN", "None", "none", "NA", "null", "0", "No")] == [
        True,
        True,
        True,
        True,
        True,
        True,
        True,
        False,
        False,
    ]


def test_load_single_pass(mmbench_dir):
    bench = get_benchmark("mmbench")
    questions = bench.load(mmbench_dir)
    assert [(q.question_id, q.round_id) for q in questions] == [(0, 0), (1, 0), (4, 0)]
    first, second = questions[0], questions[1]
    assert first.record_prompt == "What animal is shown?\nA. cat\nB. dog\nC. bird"
    assert bench.prompt(first) == v1(f"<image>\nWhat animal is shown?\nA. cat\nB. dog\nC. bird\n{LETTER}")
    assert second.text == f"The picture shows a street.\nHow many cars?\nA. 1\nB. 2\n{LETTER}"
    assert first.max_new_tokens == 1024
    assert first.image.open().size == (8, 6)
    assert first.ground_truth == {"answer": "B", "category": "attribute"}
    assert problems_of(questions, "missing_image") == [("mmbench_dev_en_20231003.tsv", 4)]
    assert problems_of(questions, "malformed_data") == [("mmbench_dev_en_20231003.tsv", 6)]
    assert problems_of(questions, "no_ground_truth") == [("mmbench_dev_en_20231003.tsv", 7)]
    record = bench.make_record(first, "B", model_id="tiny", answer_id="id0")
    keys = ["question_id", "round_id", "prompt", "text", "options", "option_char", "answer_id", "model_id"]
    assert list(record) == [*keys, "metadata"]
    assert record["options"] == ["cat", "dog", "bird"]
    assert record["option_char"] == ["A", "B", "C"]


def test_score_single_pass(mmbench_dir):
    records = [
        answer(0, "p", "B", round_id=0),  # right
        answer(1, "p", "The answer is A.", round_id=0),  # A token: right
        answer(2, "p", "I think it is the moon", round_id=0),  # option text "moon" -> B: wrong
        answer(0, "p", "A", round_id=1),  # round 1 is not asked in a single pass
    ]
    report = get_benchmark("mmbench").score(records, mmbench_dir)
    m = report["metrics"]
    assert (m["correct"], m["total"], m["circular"]) == (2, 3, False)
    assert m["accuracy"] == pytest.approx(200 / 3)
    assert m["per_category"] == {
        "attribute": {"accuracy": 50.0, "correct": 1, "total": 2},
        "counting": {"accuracy": 100.0, "correct": 1, "total": 1},
    }
    assert problems_of(report, "unknown_answer") == [(None, 4)]
    assert problems_of(report, "missing_answer") == [("mmbench_dev_en_20231003.tsv", 7)]


def test_circular(mmbench_dir):
    bench = get_benchmark("mmbench", circular=True)
    questions = bench.load(mmbench_dir, check_images=False)
    rounds = [q for q in questions if q.question_id == 0]
    assert [q.round_id for q in rounds] == [0, 1, 2]
    assert rounds[1].text == f"What animal is shown?\nA. dog\nB. bird\nC. cat\n{LETTER}"
    assert rounds[1].option_char == ("B", "C", "A")
    assert rounds[2].options == ("bird", "cat", "dog")
    records = [
        bench.make_record(rounds[0], "B", model_id="m"),  # B -> B: right
        bench.make_record(rounds[1], "A", model_id="m"),  # shown A = original B: right
        bench.make_record(rounds[2], "C", model_id="m"),  # shown C = original B: right
        answer(1, "p", "A", round_id=0),  # right
        answer(1, "p", "A", round_id=1),  # shown A = original B: wrong
        answer(2, "p", "A", round_id=0),  # line 6: round 1 of question 2 unanswered
    ]
    report = bench.score(records, mmbench_dir)
    m = report["metrics"]
    assert (m["correct"], m["total"], m["rows"], m["circular"]) == (1, 2, 5, True)
    assert report["headline"] == pytest.approx(50.0)
    assert problems_of(report, "excluded") == [(None, 6)]
    assert report["counts"]["scored"] == 5
