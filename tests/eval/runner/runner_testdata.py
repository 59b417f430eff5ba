"""Test data of the runner tests: a fake ``benchmark_data`` tree in the official layout, and record helpers.

Every benchmark of the MobileVLM README is there (a few questions each) with some bad input at known
lines: a cut-short line, a missing image, an image that is not an image, a question the ground
truth does not know. :data:`EXPECTED` says what a full run gives.
"""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers.benchfiles import SHORT, png_base64, write_lines, write_png

__all__ = ["BUILDERS", "EXPECTED", "build_benchmark_data", "records_without_ids"]

MMBENCH_COLUMNS = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image", "source", "l2"]
SQA_Q = {
    "1": "Context: A bird.\nQuestion: Which animal can fly?\nOptions: (A) bird (B) fish",
    "2": "Context: N/A\nQuestion: What is 2+2?\nOptions: (A) 3 (B) 4 (C) 5",
    "3": "Context: N/A\nQuestion: Which is hot?\nOptions: (A) ice (B) fire",
    "4": "Context: N/A\nQuestion: Which is cold?\nOptions: (A) ice (B) fire",
}
YN = " Please answer yes or no."

EXPECTED: dict[str, dict[str, int]] = {
    # questions in the question set (score's view), answers written, answers scored
    "gqa": {"questions": 5, "answers": 4, "scored": 3},
    "sqa": {"questions": 4, "answers": 3, "scored": 3},
    "textvqa": {"questions": 3, "answers": 3, "scored": 3},
    "pope": {"questions": 6, "answers": 6, "scored": 5},
    "mme": {"questions": 4, "answers": 4, "scored": 4},
    "mmbench": {"questions": 3, "answers": 2, "scored": 2},
}
"""What a full run over :func:`build_benchmark_data` gives, worked out from the files below."""


def _colors(n: int) -> list[tuple[int, int, int]]:
    return [((70 * i) % 256, (130 + 50 * i) % 256, (200 - 60 * i) % 256) for i in range(n)]


def build_gqa(root: Path) -> None:
    for name, color in zip(("g1.png", "g2.png", "g3.png"), _colors(3), strict=True):
        write_png(root / "images" / name, color)
    write_lines(
        root / "llava_gqa_testdev_balanced.jsonl",
        [
            {"question_id": "201", "image": "g1.png", "text": "Is the sky blue?" + SHORT},
            {"question_id": "202", "image": "g2.png", "text": "What color is the car?" + SHORT},
            '{"question_id": "203", "image": ',  # line 3: cut short
            {"question_id": "204", "image": "gone.png", "text": "Is it day?" + SHORT},  # line 4: no image
            {"question_id": "205", "image": "g3.png", "text": "Which side is the cup on?" + SHORT},
            {"question_id": "999", "image": "g1.png", "text": "Is it night?" + SHORT},  # line 6: no ground truth
        ],
    )
    truth = {
        qid: {"answer": answer, "isBalanced": True, "types": {"structural": "query", "semantic": "attr"}}
        for qid, answer in [("201", "yes"), ("202", "red"), ("203", "no"), ("204", "yes"), ("205", "left")]
    }
    (root / "testdev_balanced_questions.json").write_text(json.dumps(truth))


def build_pope(root: Path) -> None:
    images = ["COCO_val2014_000000000001.png", "COCO_val2014_000000000002.png"]
    for name, color in zip(images, _colors(2), strict=True):
        write_png(root / "val2014" / name, color)
    rows = [
        (1, images[0], "dog", "adversarial", "yes"),
        (2, images[0], "cat", "adversarial", "no"),
        (3, images[1], "car", "random", "yes"),
        (4, images[1], "bus", "random", "no"),
        (5, images[1], "tree", "popular", None),  # line 5: no coco_pope_popular.json
        (6, images[0], "fork", "random", "no"),
    ]
    write_lines(
        root / "llava_pope_test.jsonl",
        [
            {"question_id": i, "image": img, "text": f"Is there a {obj} in the image?" + SHORT, "category": cat}
            for i, img, obj, cat, _ in rows
        ],
    )
    for category in ("adversarial", "random"):
        write_lines(
            root / "coco" / f"coco_pope_{category}.json",
            [
                {"question_id": i, "image": img, "text": f"Is there a {obj} in the image?", "label": label}
                for i, img, obj, cat, label in rows
                if cat == category
            ],
        )


def build_textvqa(root: Path) -> None:
    for name, color in zip(("t1.png", "t2.png"), _colors(2), strict=True):
        write_png(root / "train_images" / name, color)
    questions = [
        ("t1", "what is the brand?", "Nokia, phone"),
        ("t1", "what number is shown?", "3"),
        ("t2", "What does the sign say?", "STOP"),
    ]
    write_lines(
        root / "llava_textvqa_val_v051_ocr.jsonl",
        [
            {"question_id": qid, "image": f"{qid}.png", "text": f"{q}\nReference OCR token: {ocr}" + SHORT}
            for qid, q, ocr in questions
        ],
    )
    data = [
        {"image_id": "t1", "question": "what is the brand?", "answers": ["nokia"] * 7 + ["lg"] * 3},
        {"image_id": "t1", "question": "what number is shown?", "answers": ["3"] * 10},
        {"image_id": "t2", "question": "what does the sign say?", "answers": ["stop"] * 10},
    ]
    (root / "TextVQA_0.5.1_val.json").write_text(json.dumps({"data": data}))


def build_sqa(root: Path) -> None:
    write_png(root / "images" / "test" / "1" / "image.png", (10, 200, 10))
    write_png(root / "images" / "test" / "3" / "image.png", (200, 10, 200))
    items = []
    for pid, text in SQA_Q.items():
        item = {"id": pid, "conversations": [{"from": "human", "value": text}, {"from": "gpt", "value": "x"}]}
        if pid != "2":  # 2 is text-only; 4's image file is missing
            item["image"] = f"{pid}/image.png"
            item["conversations"][0]["value"] = "<image>\n" + text
        items.append(item)
    (root / "llava_test_CQM-A.json").write_text(json.dumps(items, indent=2))
    (root / "pid_splits.json").write_text(json.dumps({"test": list(SQA_Q)}))
    problems = {pid: {"choices": ["a", "b", "c"][: 2 + (pid == "2")], "answer": 0} for pid in SQA_Q}
    (root / "problems.json").write_text(json.dumps(problems))


def build_mme(root: Path) -> None:
    images = root / "images"
    write_png(images / "existence" / "000.png", (250, 250, 0))
    write_lines(images / "existence" / "000.txt", [f"Is there a dog?{YN}\tYes", f"Is there a cat?{YN}\tNo"])
    write_png(images / "artwork" / "images" / "10002.png", (0, 40, 90))
    write_lines(
        images / "artwork" / "questions_answers_YN" / "10002.txt",
        [f"Is this by Monet?{YN}\tNo", f"Is this by Degas?{YN}\tYes"],
    )
    rows = [
        ("existence/000.png", "existence/000.png", "Is there a dog?"),
        ("existence/000.png", "existence/000.png", "Is there a cat?"),
        ("artwork/10002.png", "artwork/images/10002.png", "Is this by Monet?"),
        ("artwork/10002.png", "artwork/images/10002.png", "Is this by Degas?"),
    ]
    write_lines(
        root / "llava_mme.jsonl",
        [{"question_id": q, "image": i, "text": t + SHORT, "category": q.split("/")[0]} for q, i, t in rows],
    )


def build_mmbench(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    not_an_image = base64.b64encode(b"these bytes are no image").decode("ascii")
    rows = [
        MMBENCH_COLUMNS,
        ["0", "What animal is shown?", "", "cat", "dog", "bird", "fish", "B", "attribute", png_base64(), "s", "l2"],
        ["1", "How many cars?", "A street.", "1", "2", "nan", "", "A", "counting", png_base64((9, 9, 9)), "s", "l2"],
        ["2", "Which is larger?", "", "sun", "moon", "", "", "A", "attribute", not_an_image, "s", "l2"],  # line 4
    ]
    with (root / "mmbench_dev_en_20231003.tsv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter="\t").writerows(rows)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "gqa": build_gqa,
    "sqa": build_sqa,
    "textvqa": build_textvqa,
    "pope": build_pope,
    "mme": build_mme,
    "mmbench": build_mmbench,
}


def build_benchmark_data(root: Path) -> Path:
    """Write ``root/<benchmark>/...`` for the six benchmarks; returns ``root``."""
    for name, build in BUILDERS.items():
        build(root / name)
    return root


def records_without_ids(path: Path) -> list[dict[str, Any]]:
    """The answer records of ``path`` without their random ``answer_id``."""
    out = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        record.pop("answer_id")
        out.append(record)
    return out
