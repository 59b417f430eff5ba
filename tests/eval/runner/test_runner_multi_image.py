"""Questions about several images, end to end: a LLaVA question line whose ``"image"`` is a list."""

from __future__ import annotations

import json

from PIL import Image
from runner_testdata import SHORT

from helpers.benchfiles import write_lines, write_png
from mvlm.eval.asking import reference_image
from mvlm.eval.benchmarks import get_benchmark
from mvlm.eval.runner import run_benchmark

NEW = 8


def multi_image_gqa(root):
    """GQA's layout with three questions about several images: tags in the text, no tags, a one-image list."""
    for name, color in (("a.png", (200, 30, 30)), ("b.png", (30, 200, 30)), ("c.png", (20, 40, 220))):
        write_png(root / "images" / name, color)
    rows = [
        ("11", ["a.png", "c.png"], "Is <image> brighter than <image>?" + SHORT),
        ("12", ["c.png", "b.png"], "Are these the same picture?" + SHORT),
        ("13", ["b.png"], "Is there a cup in the image?" + SHORT),
    ]
    write_lines(
        root / "llava_gqa_testdev_balanced.jsonl",
        [{"question_id": qid, "image": names, "text": text} for qid, names, text in rows],
    )
    truth = {qid: {"answer": "no", "isBalanced": True, "types": {"structural": "verify"}} for qid, _, _ in rows}
    (root / "testdev_balanced_questions.json").write_text(json.dumps(truth))
    return root, rows


def test_questions_about_several_images_are_asked_with_all_of_them(model, tmp_path):
    root, rows = multi_image_gqa(tmp_path / "gqa")
    bench = get_benchmark("gqa")
    questions = {q.question_id: q for q in bench.load(root)}
    assert len(questions["11"].images) == 2 and questions["11"].user_message == rows[0][2]  # the tags say where
    assert questions["12"].user_message == "<image>\n<image>\n" + rows[1][2]  # no tags: in front, in order
    assert questions["13"].user_message == "<image>\n" + rows[2][2] and not questions["13"].more_images
    run_benchmark(model, bench, root, tmp_path / "out", batch_size=4, max_new_tokens=NEW, progress=False)
    answers = {
        record["question_id"]: record["text"]
        for record in map(json.loads, (tmp_path / "out" / "gqa" / "answers.jsonl").read_text().splitlines())
    }
    for question_id, names, text in rows:
        images = [reference_image(questions[question_id].images[i]) for i in range(len(names))]
        assert all(isinstance(image, Image.Image) for image in images)
        expected = model.chat(images if len(images) > 1 else images[0], text, max_new_tokens=NEW)
        assert answers[question_id] == expected, question_id
