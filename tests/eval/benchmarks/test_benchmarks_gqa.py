"""GQA: fake testdev-balanced folder -> exact prompts -> hand-scored answers, problems located."""

from __future__ import annotations

import json

import pytest
from helpers.benchfiles import SHORT, answer, problems_of, write_lines, write_png

from mvlm.errors import DataError
from mvlm.eval.benchmarks import get_benchmark


@pytest.fixture
def gqa_dir(tmp_path):
    root = tmp_path / "benchmark_data" / "gqa"
    for name in ("n1.png", "n2.png", "n3.png"):
        write_png(root / "images" / name)
    write_lines(
        root / "llava_gqa_testdev_balanced.jsonl",
        [
            {"question_id": "201", "image": "n1.png", "text": "Is the sky blue?" + SHORT, "category": "x"},
            {"question_id": "202", "image": "n2.png", "text": "What color is the car?" + SHORT},
            {"question_id": "203", "image": "n3.png", "text": "Which side is the cup on?" + SHORT},
            '{"question_id": "204", "image": ',  # line 4: cut short
            {"question_id": "205", "image": "gone.png", "text": "Is it day?" + SHORT},  # line 5: no image
            {"question_id": "999", "image": "n1.png", "text": "Is it night?" + SHORT},  # line 6: no ground truth
        ],
    )
    truth = {
        "201": {"answer": "yes", "isBalanced": True, "types": {"structural": "verify", "semantic": "attr"}},
        "202": {"answer": "red", "isBalanced": True, "types": {"structural": "query", "semantic": "attr"}},
        "203": {"answer": "left", "isBalanced": True, "types": {"structural": "query", "semantic": "rel"}},
        "204": {"answer": "no", "isBalanced": True, "types": {"structural": "verify", "semantic": "obj"}},
        "205": {"answer": "yes", "isBalanced": True, "types": {"structural": "verify", "semantic": "global"}},
        "300": {"answer": "no", "isBalanced": False, "types": {"structural": "verify", "semantic": "obj"}},
    }
    (root / "testdev_balanced_questions.json").write_text(json.dumps(truth))
    return root


def test_load_prompts_and_problems(gqa_dir):
    bench = get_benchmark("gqa")
    questions = bench.load(gqa_dir)
    assert [q.question_id for q in questions] == ["201", "202", "203", "999"]
    first = questions[0]
    assert first.text == "Is the sky blue?\nAnswer the question using a single word or phrase."
    assert first.user_message == "<image>\nIs the sky blue?\nAnswer the question using a single word or phrase."
    assert bench.prompt(first) == (
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the user's questions. USER: <image>\nIs the sky blue?\n"
        "Answer the question using a single word or phrase. ASSISTANT:"
    )
    assert first.image.path == gqa_dir / "images" / "n1.png"
    assert first.max_new_tokens == 128
    assert first.record_prompt == first.text
    assert first.metadata["category"] == "x"
    assert first.ground_truth == {"answer": "yes", "structural": "verify", "semantic": "attr"}
    assert problems_of(questions, "malformed_data") == [("llava_gqa_testdev_balanced.jsonl", 4)]
    assert problems_of(questions, "missing_image") == [("llava_gqa_testdev_balanced.jsonl", 5)]
    assert problems_of(questions, "no_ground_truth") == [("llava_gqa_testdev_balanced.jsonl", 6)]
    # 204's line is broken, so the balanced question 204 is never asked; 300 is not balanced.
    assert problems_of(questions, "missing_question") == [("testdev_balanced_questions.json", None)]
    assert questions.problem_counts() == {
        "malformed_data": 1,
        "missing_image": 1,
        "no_ground_truth": 1,
        "missing_question": 1,
    }


def test_score_by_hand(gqa_dir, tmp_path):
    answers = write_lines(
        tmp_path / "answers.jsonl",
        [
            answer("201", "Is the sky blue?" + SHORT, "Yes."),  # -> "yes": right
            answer("202", "What color is the car?" + SHORT, "Red car"),  # -> "red car": wrong
            "",
            "not json",  # line 4
            answer("203", "Which side is the cup on?" + SHORT, "Left."),  # right
            answer("201", "Is the sky blue?" + SHORT, "No"),  # line 6: second answer
            answer("777", "?", "yes"),  # line 7: no such question
            answer("999", "Is it night?" + SHORT, "no"),  # line 8: no ground truth
        ],
    )
    report = get_benchmark("gqa").score(answers, gqa_dir.parent)  # the benchmark_data root works too
    m = report["metrics"]
    assert (m["correct"], m["total"]) == (2, 3)
    assert m["accuracy"] == pytest.approx(200 / 3)
    assert report["headline"] == pytest.approx(200 / 3)
    assert m["open"] == {"accuracy": 50.0, "correct": 1, "total": 2}
    assert m["binary"] == {"accuracy": 100.0, "correct": 1, "total": 1}
    assert m["per_structural"]["query"]["correct"] == 1
    assert m["per_semantic"] == {
        "attr": {"accuracy": 50.0, "correct": 1, "total": 2},
        "rel": {"accuracy": 100.0, "correct": 1, "total": 1},
    }
    counts = report["counts"]
    assert counts["questions"] == 5  # images are not needed to score: 205 counts
    assert counts["answers"] == 6
    assert counts["scored"] == 3
    assert counts["complete"] is False
    assert problems_of(report, "malformed_answer") == [("answers.jsonl", 4)]
    assert problems_of(report, "duplicate_answer") == [("answers.jsonl", 6)]
    assert problems_of(report, "unknown_answer") == [("answers.jsonl", 7)]
    assert problems_of(report, "no_ground_truth") == [("answers.jsonl", 8)]
    assert problems_of(report, "missing_answer") == [("llava_gqa_testdev_balanced.jsonl", 5)]
    assert problems_of(report, "malformed_data") == [("llava_gqa_testdev_balanced.jsonl", 4)]
    assert report["summary_column"] == "GQA"
    json.dumps(report)  # JSON-ready


def test_missing_files(tmp_path, gqa_dir):
    with pytest.raises(DataError, match=r"llava_gqa_testdev_balanced\.jsonl"):
        get_benchmark("gqa").load(tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"answer file .*absent\.jsonl"):
        get_benchmark("gqa").score(tmp_path / "absent.jsonl", gqa_dir)
    (gqa_dir / "testdev_balanced_questions.json").unlink()
    with pytest.raises(DataError, match=r"testdev_balanced_questions\.json"):
        get_benchmark("gqa").load(gqa_dir)
