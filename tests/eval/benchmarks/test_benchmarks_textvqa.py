"""TextVQA: image-id question ids, pairing by (image_id, question from the prompt), soft accuracy by hand."""

from __future__ import annotations

import json

import pytest
from helpers.benchfiles import SHORT, answer, problems_of, v1, write_lines, write_png

from mvlm.eval.benchmarks import get_benchmark


@pytest.fixture
def textvqa_dir(tmp_path):
    root = tmp_path / "textvqa"
    for name in ("abc1", "def2", "ghi3"):
        write_png(root / "train_images" / f"{name}.png")
    write_lines(
        root / "llava_textvqa_val_v051_ocr.jsonl",
        [
            {
                "question_id": "abc1",
                "image": "abc1.png",
                "text": "what is the brand?\nReference OCR token: Nokia, phone" + SHORT,
            },
            {
                "question_id": "abc1",
                "image": "abc1.png",
                "text": "what number is shown?\nReference OCR token: 3" + SHORT,
            },
            {
                "question_id": "def2",
                "image": "def2.png",
                "text": "What does the sign say?\nReference OCR token: STOP" + SHORT,
            },
            {"question_id": "ghi3", "image": "ghi3.png", "text": "one line only"},  # line 4: no question shape
            {"question_id": "ghi3", "image": "ghi3.png", "text": "who?\nReference OCR token: x" + SHORT},  # line 5
        ],
    )
    data = [
        {
            "image_id": "abc1",
            "question": "what is the brand?",
            "answers": ["nokia"] * 4 + ["nokia phone"] * 3 + ["lg"] * 3,
        },
        {"image_id": "abc1", "question": "what number is shown?", "answers": ["3"] * 2 + ["three"] + ["4"] * 7},
        {"image_id": "def2", "question": "what does the sign say?", "answers": ["stop"] * 10},
        {"image_id": "zzz", "question": "broken", "answers": ["a"] * 9},  # data[3]: nine answers
    ]
    (root / "TextVQA_0.5.1_val.json").write_text(json.dumps({"dataset_name": "textvqa", "data": data}))
    return root


def test_load(textvqa_dir):
    bench = get_benchmark("textvqa")
    questions = bench.load(textvqa_dir)
    assert [q.key for q in questions] == [
        "abc1|what is the brand?",
        "abc1|what number is shown?",
        "def2|what does the sign say?",
        "ghi3|who?",
    ]
    assert bench.prompt(questions[0]) == v1(
        "<image>\nwhat is the brand?\nReference OCR token: Nokia, phone\n"
        "Answer the question using a single word or phrase."
    )
    assert problems_of(questions, "malformed_data") == [
        ("TextVQA_0.5.1_val.json", None),
        ("llava_textvqa_val_v051_ocr.jsonl", 4),
    ]
    assert problems_of(questions, "no_ground_truth") == [("llava_textvqa_val_v051_ocr.jsonl", 5)]


def test_score_by_hand(textvqa_dir, tmp_path):
    answers = write_lines(
        tmp_path / "answers.jsonl",
        [
            # "nokia" given by 4 humans -> 1.0
            answer("abc1", "what is the brand?\nReference OCR token: Nokia, phone" + SHORT, "Nokia."),
            # "three" -> "3", given by 3 humans after normalisation -> 0.9
            answer("abc1", "what number is shown?\nReference OCR token: 3" + SHORT, "Three"),
            # nobody said "stop sign" -> 0
            answer("def2", "What does the sign say?\nReference OCR token: STOP" + SHORT, "stop sign"),
            answer("def2", "a single line", "x"),  # line 4: the prompt has no question line
        ],
    )
    report = get_benchmark("textvqa").score(answers, textvqa_dir)
    assert report["metrics"]["score_sum"] == pytest.approx(1.9)
    assert report["metrics"]["accuracy"] == pytest.approx(190 / 3)
    assert report["headline"] == pytest.approx(190 / 3)
    assert report["counts"]["scored"] == 3
    assert problems_of(report, "malformed_answer") == [("answers.jsonl", 4)]
    assert problems_of(report, "missing_answer") == [("llava_textvqa_val_v051_ocr.jsonl", 5)]
