"""MME: the two ground-truth layouts, the " Please answer yes or no." lookup, acc / acc+ by hand."""

from __future__ import annotations

import pytest
from helpers.benchfiles import SHORT, answer, problems_of, v1, write_lines, write_png

from mvlm.eval.benchmarks import get_benchmark

YN = " Please answer yes or no."


@pytest.fixture
def mme_dir(tmp_path):
    root = tmp_path / "mme"
    images = root / "images"  # = MME_Benchmark_release_version
    # A subtask without an images/ folder: images and .txt ground truth side by side.
    write_png(images / "existence" / "000.png")
    write_lines(
        images / "existence" / "000.txt",
        [f"Is there a dog in this image?{YN}\tYes", f"Is there a cat in this image?{YN}\tNo"],
    )
    # A subtask with images/ and questions_answers_YN/ (and a double space before "Please", as in real files).
    write_png(images / "artwork" / "images" / "10002.png")
    write_lines(
        images / "artwork" / "questions_answers_YN" / "10002.txt",
        [f"Is this artwork created by Monet? {YN}\tNo", f"Is this artwork created by Degas?{YN}\tYes"],
    )
    write_png(images / "count" / "001.png")
    write_lines(
        images / "count" / "001.txt",
        [f"Are there two apples?{YN}\tYes", "Is this broken", f"Are there three apples?{YN}\tNo"],
    )
    write_png(images / "code_reasoning" / "0020.png")
    write_lines(
        images / "code_reasoning" / "0020.txt",
        [f"Does the code print 3?{YN}\tYes", f"Does the code print 4?{YN}\tNo"],
    )
    rows = [
        ("existence/000.png", "existence/000.png", "Is there a dog in this image?"),
        ("existence/000.png", "existence/000.png", "Is there a cat in this image?"),
        ("artwork/10002.png", "artwork/images/10002.png", "Is this artwork created by Monet?"),
        ("artwork/10002.png", "artwork/images/10002.png", "Is this artwork created by Degas?"),
        ("count/001.png", "count/001.png", "Are there two apples?"),
        ("count/001.png", "count/001.png", "Are there three apples?"),
        ("code_reasoning/0020.png", "code_reasoning/0020.png", "Does the code print 3?"),
        ("code_reasoning/0020.png", "code_reasoning/0020.png", "Does the code print 4?"),
        ("color/missing.png", "color/missing.png", "Is it red?"),  # line 9: no ground-truth file
        ("foo/1.png", "existence/000.png", "Is it?"),  # line 10: not an MME subtask
    ]
    write_lines(
        root / "llava_mme.jsonl",
        [{"question_id": q, "image": i, "text": t + SHORT, "category": q.split("/")[0]} for q, i, t in rows],
    )
    return root


def test_load(mme_dir):
    bench = get_benchmark("mme")
    questions = bench.load(mme_dir, check_images=False)
    assert len(questions) == 10
    q = questions[2]
    assert (
        q.key
        == "artwork/10002.png|Is this artwork created by Monet?\nAnswer the question using a single word or phrase."
    )
    assert q.image.path == mme_dir / "images" / "artwork" / "images" / "10002.png"
    assert q.ground_truth == {"answer": "No", "subtask": "artwork", "image": "artwork/10002"}
    assert bench.prompt(q) == v1(
        "<image>\nIs this artwork created by Monet?\nAnswer the question using a single word or phrase."
    )
    assert problems_of(questions, "malformed_data") == [("001.txt", 2)]
    assert problems_of(questions, "no_ground_truth") == [("llava_mme.jsonl", 9), ("llava_mme.jsonl", 10)]
    with_images = bench.load(mme_dir)
    assert problems_of(with_images, "missing_image") == [("llava_mme.jsonl", 9)]


def test_score_by_hand(mme_dir, tmp_path):
    def a(qid, question, text):
        return answer(qid, question + SHORT, text)

    answers = write_lines(
        tmp_path / "answers.jsonl",
        [
            a("existence/000.png", "Is there a dog in this image?", "Yes"),  # yes == Yes
            a("existence/000.png", "Is there a cat in this image?", "No, there is no cat."),  # "no" in "no, "
            a("artwork/10002.png", "Is this artwork created by Monet?", "Yes"),  # wrong
            a("artwork/10002.png", "Is this artwork created by Degas?", "yes"),  # right
            a("count/001.png", "Are there two apples?", "Yes"),  # line 5: its pair is unanswered
            a("code_reasoning/0020.png", "Does the code print 3?", "maybe"),  # other: wrong
            a("code_reasoning/0020.png", "Does the code print 4?", "No"),  # right
            a("color/missing.png", "Is it red?", "Yes"),  # line 8: no ground truth
        ],
    )
    report = get_benchmark("mme").score(answers, mme_dir)
    m = report["metrics"]
    # existence: acc 100 + acc+ 100; artwork: 50 + 0; code_reasoning: 50 + 0.
    assert m["subtasks"]["existence"]["score"] == pytest.approx(200.0)
    assert m["subtasks"]["artwork"]["acc"] == pytest.approx(50.0)
    assert m["subtasks"]["artwork"]["acc_plus"] == pytest.approx(0.0)
    assert m["subtasks"]["code_reasoning"]["other"] == 1
    assert m["perception"] == pytest.approx(250.0)
    assert m["cognition"] == pytest.approx(50.0)
    assert "count" in m["missing_perception"]
    assert report["headline"] is None  # MME-P needs all ten perception subtasks
    assert report["counts"]["scored"] == 6
    assert problems_of(report, "excluded") == [("answers.jsonl", 5)]
    assert problems_of(report, "no_ground_truth") == [("answers.jsonl", 8)]
    assert problems_of(report, "missing_answer") == [
        ("llava_mme.jsonl", 6),
        ("llava_mme.jsonl", 10),
    ]
