"""ScienceQA-IMG: text-only problems without an image, the recorded prompt, letter parsing by hand."""

from __future__ import annotations

import json

import pytest
from helpers.benchfiles import answer, problems_of, v1, write_lines, write_png

from mvlm.eval.benchmarks import get_benchmark

LETTER = "Answer with the option's letter from the given choices directly."
Q1 = "Context: A bird.\nQuestion: Which animal can fly?\nOptions: (A) bird (B) fish"
Q2 = "Context: N/A\nQuestion: What is 2+2?\nOptions: (A) 3 (B) 4 (C) 5"
Q3 = "Context: N/A\nQuestion: Which is hot?\nOptions: (A) ice (B) fire"


def _item(pid, value, image=None):
    item = {"id": pid, "conversations": [{"from": "human", "value": value}, {"from": "gpt", "value": "x"}]}
    if image is not None:
        item["image"] = image
    return item


@pytest.fixture
def sqa_dir(tmp_path):
    root = tmp_path / "sqa"
    write_png(root / "images" / "test" / "1" / "image.png")
    write_png(root / "images" / "test" / "3" / "image.png")
    items = [
        _item("1", Q1 + "\n<image>", "1/image.png"),
        _item("2", Q2),
        _item("3", "<image>\n" + Q3, "3/image.png"),
        {"id": "4", "conversations": "oops"},
        _item("5", "Context: N/A\nQuestion: Train?\nOptions: (A) a (B) b"),
    ]
    # indent=2: item k starts on line 2 + (lines of the items before it)
    (root / "llava_test_CQM-A.json").write_text(json.dumps(items, indent=2))
    (root / "pid_splits.json").write_text(json.dumps({"test": ["1", "2", "3", "4", "6"], "train": ["5"]}))
    problems = {
        pid: {"question": "q", "choices": choices, "answer": ans, "image": None}
        for pid, choices, ans in [
            ("1", ["bird", "fish"], 0),
            ("2", ["3", "4", "5"], 1),
            ("3", ["ice", "fire"], 1),
            ("4", ["a", "b"], 0),
            ("5", ["a", "b"], 0),
            ("6", ["a", "b"], 0),
        ]
    }
    (root / "problems.json").write_text(json.dumps(problems))
    return root


def _line_of(path, pid):
    lines = path.read_text().splitlines()
    return next(i for i, text in enumerate(lines, start=1) if text.strip() == f'"id": "{pid}",') - 1


def test_load(sqa_dir):
    bench = get_benchmark("scienceqa")
    questions = bench.load(sqa_dir)
    first, second, third = questions[0], questions[1], questions[2]
    assert first.text == Q1 + "\n" + LETTER
    assert bench.prompt(first) == v1("<image>\n" + Q1 + "\n" + LETTER)
    assert first.record_prompt == "<image>\n" + Q1 + "\n" + LETTER
    assert first.image.path == sqa_dir / "images" / "test" / "1" / "image.png"
    assert first.max_new_tokens == 1024
    assert bench.pad_images is False
    assert second.has_image is False
    assert second.image is None
    assert bench.prompt(second) == v1(Q2 + "\n" + LETTER)
    assert second.record_prompt == Q2 + "\n" + LETTER
    assert third.text == Q3 + "\n" + LETTER
    path = sqa_dir / "llava_test_CQM-A.json"
    assert (first.line, third.line) == (_line_of(path, "1"), _line_of(path, "3"))
    assert problems_of(questions, "malformed_data") == [("llava_test_CQM-A.json", _line_of(path, "4"))]
    assert problems_of(questions, "no_ground_truth") == [("llava_test_CQM-A.json", _line_of(path, "5"))]
    assert sorted(p.key for p in questions.problems if p.kind == "missing_question") == ["4", "6"]


def test_score_by_hand(sqa_dir, tmp_path):
    answers = write_lines(
        tmp_path / "answers.jsonl",
        [
            answer("1", "<image>\n" + Q1 + "\n" + LETTER, "A"),  # right, image
            answer("2", Q2 + "\n" + LETTER, "B. 4"),  # right, text only
            answer("3", "<image>\n" + Q3 + "\n" + LETTER, "(B)"),  # unparsable -> FAILED, wrong, image
            answer("5", "x", "A"),  # line 4: problem 5 is not in the test split
        ],
    )
    report = get_benchmark("sqa").score(answers, sqa_dir)
    m = report["metrics"]
    assert (m["correct"], m["total"], m["img_correct"], m["img_total"], m["failed"]) == (2, 3, 1, 2, 1)
    assert m["accuracy"] == pytest.approx(200 / 3)
    assert m["img_accuracy"] == pytest.approx(50.0)
    assert report["headline"] == pytest.approx(50.0)
    assert report["summary_column"] == "SQA-IMG"
    assert problems_of(report, "no_ground_truth") == [("answers.jsonl", 4)]
    assert report["counts"]["missing_question"] == 2
