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


def blind_accuracy(finetune_file: Path, test_file: Path) -> float:
    """Accuracy of answering each test question with the training data's most frequent answer to its text."""
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
    correct = 0
    for question in questions:
        known = answers[question["text"]] or by_family[question["family"]]
        correct += bool(known) and known.most_common(1)[0][0] == question["answer"]
    return correct / len(questions)


@pytest.mark.slow
def test_a_tiny_model_trained_from_scratch_answers_held_out_questions(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, str(EXAMPLE), "--output", str(tmp_path), "--quick", "--target", "0"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads((tmp_path / "eval.json").read_text())
    evaluation = report["evaluation"]
    data = tmp_path / "data"
    blind = blind_accuracy(data / "finetune" / "train.json", data / "test" / "test.jsonl")
    summary = f"held-out accuracy {evaluation['accuracy']:.2f}, blind {blind:.2f}: {evaluation['families']}"
    print(summary)
    assert evaluation["total"] >= 150
    assert evaluation["accuracy"] >= blind + 0.15, summary
    assert evaluation["families"]["color"]["accuracy"] >= 0.6, summary
