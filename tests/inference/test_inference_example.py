"""examples/inference.py runs as a user would run it, on a tiny checkpoint, and prints the library's answers."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from mvlm.inference import ChatSession

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inference.py"


def test_inference_example_runs_on_a_tiny_checkpoint(checkpoint, model):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        # The fixture model is float32: the example must load it the same way on every CPU (its default
        # is bfloat16 where the CPU has native bf16, and a random tiny model's greedy text then differs).
        [sys.executable, str(EXAMPLE), "--model", str(checkpoint), "--max-new-tokens", "8", "--dtype", "float32"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr

    spec = importlib.util.spec_from_file_location("inference_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    image = example.drawn_picture()
    answer = model.chat(image, "What is in the image?", max_new_tokens=8)
    questions = ["What colors do you see?", "How many shapes are there?"]
    batch = model.chat(image, questions, max_new_tokens=8)
    session = ChatSession(model, image, max_new_tokens=8)
    turns = [(q, session.ask(q)) for q in ("What is on the left?", "And on the right?")]
    expected = (
        f"answer: {answer}\nstreamed: {answer}\n"
        + "".join(f"batch: {q} -> {a}\n" for q, a in zip(questions, batch, strict=True))
        + "".join(f"chat: {q} -> {a}\n" for q, a in turns)
    )
    assert result.stdout == expected
