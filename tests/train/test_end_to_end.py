"""End to end: a tiny MobileVLM trained from scratch on synthetic data on a CPU, in minutes, learns to see.

The test runs ``examples/train_demo_model.py --quick`` as a user would (data, tokenizer, model,
stage I, stage II, greedy evaluation on held-out scenes) and compares its held-out accuracy with
what a model that never looks at the image can reach: for every test question, the answer given
most often to the same question text in the training conversations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_demo_model.py"


def blind_accuracy(finetune_file: Path, test_file: Path) -> tuple[float, dict[str, float]]:
    """Accuracy, overall and per family, of answering each test question with the training data's most frequent
    answer to the same question text (a model that never looks at the image)."""
    answers: dict[str, Counter[str]] = defaultdict(Counter)
    by_family: dict[str, Counter[str]] = defaultdict(Counter)
    for record in json.loads(finetune_file.read_text()):
        turns = record["conversations"]
        for question, answer in zip(turns[::2], turns[1::2], strict=True):
            text = question["value"].replace("<image>\n", "")
            answers[text][answer["value"]] += 1
    questions = [json.loads(line) for line in test_file.read_text().splitlines() if line.strip()]
    for question in questions:
        by_family[question["family"]].update(answers[question["text"]])
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for question in questions:
        known = answers[question["text"]] or by_family[question["family"]]
        tally[question["family"]][0] += bool(known) and known.most_common(1)[0][0] == question["answer"]
        tally[question["family"]][1] += 1
    overall = sum(correct for correct, _ in tally.values()) / len(questions)
    return overall, {family: correct / total for family, (correct, total) in tally.items()}


@pytest.mark.slow
def test_a_tiny_model_trained_from_scratch_answers_held_out_questions(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, str(EXAMPLE), "--output", str(tmp_path), "--quick", "--target", "0"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads((tmp_path / "eval.json").read_text())
    evaluation = report["evaluation"]
    data = tmp_path / "data"
    blind, blind_families = blind_accuracy(data / "finetune" / "train.json", data / "test" / "test.jsonl")
    families = {family: result["accuracy"] for family, result in evaluation["families"].items()}
    summary = f"held-out accuracy {evaluation['accuracy']:.2f} {families}, blind {blind:.2f} {blind_families}"
    print(summary)
    assert evaluation["total"] >= 150
    assert evaluation["accuracy"] >= blind + 0.25, summary
    # counting the shapes (1 or 2) and naming where one is (9 cells) take seeing the image
    assert families["count"] >= blind_families["count"] + 0.4, summary
    assert families["position"] >= blind_families["position"] + 0.3, summary
