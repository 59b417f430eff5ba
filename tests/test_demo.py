"""The bundled demo model: it loads offline in the published layout and answers the bundled questions."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from mvlm.demo import add_demo_command, answer_question, demo_images, demo_model_path, demo_questions, run_demo
from mvlm.eval.benchmarks.synthetic import normalize_synthetic_answer


@pytest.fixture(scope="module")
def demo_model():
    from mvlm.model import MobileVLM

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield MobileVLM.from_pretrained(demo_model_path(), dtype=torch.float32).eval()
    torch.set_num_threads(previous)


def test_the_model_folder_has_the_published_layout():
    folder = demo_model_path()
    for name in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.model", "README.md"):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "mobilevlm"
    assert config["mm_projector_type"] == "ldpnet"
    tower = config["mm_vision_config"]  # the tower is inline: no other folder needed
    assert tower["image_size"] % tower["patch_size"] == 0
    size = sum(path.stat().st_size for path in folder.iterdir())
    assert size < 10 * 2**20  # a few MB


def test_bundled_images_and_questions():
    questions = demo_questions()
    assert len(questions) >= 8
    assert {q.image for q in questions} == set(demo_images())
    assert all(image.is_file() for image in demo_images())
    assert len({q.family for q in questions}) >= 4
    assert all(q.answer == normalize_synthetic_answer(q.answer) for q in questions)


def test_it_answers_most_bundled_questions(demo_model):
    questions = demo_questions()
    correct = sum(
        normalize_synthetic_answer(answer_question(demo_model, q.image, q.question)) == q.answer for q in questions
    )
    assert correct >= 0.8 * len(questions), f"{correct}/{len(questions)}"


def test_from_pretrained_without_options():
    from mvlm import MobileVLM

    model = MobileVLM.from_pretrained(demo_model_path())
    tower = model.config.mm_vision_config
    assert model.num_image_tokens == (tower["image_size"] // tower["patch_size"]) ** 2 // 4  # LDP: a quarter
    assert model.tokenizer.bos_token_id == 1 and model.tokenizer.eos_token_id == 2


def test_run_demo_prints_question_answer_expected():
    lines: list[str] = []
    correct, total = run_demo(print_fn=lines.append)
    assert total == len(demo_questions()) and correct >= 0.8 * total
    assert "expected:" in lines[0] and lines[-1] == f"{correct}/{total} answered as expected"


def test_demo_command_is_registered():
    parser = argparse.ArgumentParser()
    add_demo_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["demo"])
    assert args.model is None and callable(args.handler)
