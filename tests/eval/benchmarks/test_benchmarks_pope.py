"""POPE: questions matched with coco_pope_<category>.json labels, metrics per category by hand."""

from __future__ import annotations

import pytest
from helpers.benchfiles import SHORT, answer, problems_of, v1, write_lines, write_png

from mvlm.eval.benchmarks import get_benchmark

IMG1, IMG2 = "COCO_val2014_000000000001.png", "COCO_val2014_000000000002.png"


@pytest.fixture
def pope_dir(tmp_path):
    root = tmp_path / "pope"
    write_png(root / "val2014" / IMG1)
    write_png(root / "val2014" / IMG2)
    rows = [
        (1, IMG1, "dog", "adversarial"),
        (2, IMG1, "cat", "adversarial"),
        (3, IMG2, "car", "random"),
        (4, IMG2, "bus", "random"),
        (5, IMG2, "tree", "popular"),  # line 5: no coco_pope_popular.json
        (6, IMG1, "fork", "random"),  # line 6: no label for it
    ]
    write_lines(
        root / "llava_pope_test.jsonl",
        [
            {"question_id": i, "image": img, "text": f"Is there a {obj} in the image?" + SHORT, "category": cat}
            for i, img, obj, cat in rows
        ],
    )
    write_lines(
        root / "coco" / "coco_pope_adversarial.json",
        [
            {"question_id": 1, "image": IMG1, "text": "Is there a dog in the image?", "label": "yes"},
            {"question_id": 2, "image": IMG1, "text": "Is there a cat in the image?", "label": "no"},
        ],
    )
    write_lines(
        root / "coco" / "coco_pope_random.json",
        [
            {"question_id": 1, "image": IMG2, "text": "Is there a car in the image?", "label": "yes"},
            {"image": IMG2},  # line 2: malformed
            {"question_id": 2, "image": IMG2, "text": "Is there a bus in the image?", "label": "no"},
        ],
    )
    return root


def test_load(pope_dir):
    bench = get_benchmark("pope")
    questions = bench.load(pope_dir)
    q = questions[0]
    assert bench.prompt(q) == v1(
        "<image>\nIs there a dog in the image?\nAnswer the question using a single word or phrase."
    )
    assert q.ground_truth == {"label": "yes", "category": "adversarial"}
    assert q.image.path == pope_dir / "val2014" / IMG1
    assert problems_of(questions, "malformed_data") == [("coco_pope_random.json", 2)]
    assert problems_of(questions, "no_ground_truth") == [("llava_pope_test.jsonl", 5), ("llava_pope_test.jsonl", 6)]


def test_score_by_hand(pope_dir):
    def a(i, obj, text):
        return answer(i, f"Is there a {obj} in the image?" + SHORT, text)

    records = [
        a(4, "bus", "Yes"),  # FP (order does not matter)
        a(1, "dog", "Yes, there is a dog."),  # TP
        a(2, "cat", "No."),  # TN
        a(3, "car", "There is not a car"),  # FN
    ]
    report = get_benchmark("pope").score(records, pope_dir)  # in-memory records work too
    m = report["metrics"]
    adversarial, random = m["per_category"]["adversarial"], m["per_category"]["random"]
    assert (adversarial["tp"], adversarial["tn"], adversarial["fp"], adversarial["fn"]) == (1, 1, 0, 0)
    assert adversarial["f1"] == pytest.approx(100.0)
    assert adversarial["yes_ratio"] == pytest.approx(50.0)
    assert (random["tp"], random["tn"], random["fp"], random["fn"]) == (0, 0, 1, 1)
    assert random["f1"] == 0.0
    assert random["accuracy"] == 0.0
    assert m["f1"] == pytest.approx(50.0)
    assert report["headline"] == pytest.approx(50.0)
    assert m["accuracy"] == pytest.approx(50.0)
    assert m["pooled"]["f1"] == pytest.approx(50.0)
    assert report["counts"]["scored"] == 4
    assert problems_of(report, "missing_answer") == [("llava_pope_test.jsonl", 5), ("llava_pope_test.jsonl", 6)]


def test_in_memory_malformed_records_are_located(pope_dir):
    report = get_benchmark("pope").score([{"question_id": 1, "text": "Yes"}, "junk"], pope_dir)
    assert problems_of(report, "malformed_answer") == [(None, 1), (None, 2)]
    first = next(p for p in report["problems"] if p["kind"] == "malformed_answer")
    assert "missing key(s) prompt" in first["message"]
    assert report["metrics"] == {}
    assert report["headline"] is None
