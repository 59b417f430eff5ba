"""The bundled demo: a tiny MobileVLM trained from scratch on the synthetic shapes world, and sample images.

``mvlm demo`` (see :func:`add_demo_command`) answers questions about the bundled images offline::

    from mvlm import MobileVLM
    from mvlm.demo import answer_question, demo_model_path, demo_questions

    model = MobileVLM.from_pretrained(demo_model_path())
    sample = demo_questions()[0]
    print(sample.question, answer_question(model, sample.image, sample.question), sample.answer)

The model (``demo/model/``, published layout) was trained by ``examples/train_demo_model.py``; its
``README.md`` says how and how well it answers held-out questions.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DemoQuestion",
    "add_demo_command",
    "answer_question",
    "demo_images",
    "demo_model_path",
    "demo_questions",
    "run_demo",
]

_HERE = Path(__file__).resolve().parent
QUESTIONS_FILE = "questions.json"
"""The bundled questions, ``images/questions.json``: ``[{"image", "question", "answer", "family"}, ...]``."""


@dataclass(frozen=True)
class DemoQuestion:
    """A question about a bundled image, with its expected answer.

    Attributes:
        image: The image file.
        question: The question (without ``<image>``).
        answer: The canonical answer (lowercase, no trailing period).
        family: The question family of :mod:`mvlm.data.synthetic` (``color``, ``count``...).
    """

    image: Path
    question: str
    answer: str
    family: str


def demo_model_path() -> Path:
    """The folder of the bundled demo model (``MobileVLM.from_pretrained(demo_model_path())`` loads it).

    Raises:
        CheckpointError: The model files are not installed (e.g. a source tree without them).
    """
    from mvlm.errors import CheckpointError

    folder = _HERE / "model"
    if not (folder / "config.json").is_file():
        raise CheckpointError(
            f"the demo model is missing from {folder}; reinstall mvlm, or train it with examples/train_demo_model.py"
        )
    return folder


def demo_questions() -> list[DemoQuestion]:
    """The bundled sample questions, in file order.

    Raises:
        DataError: ``images/questions.json`` is missing or malformed.
    """
    from mvlm.errors import DataError

    folder = _HERE / "images"
    try:
        records = json.loads((folder / QUESTIONS_FILE).read_text())
        return [DemoQuestion(folder / r["image"], r["question"], r["answer"], r.get("family", "")) for r in records]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"cannot read the demo questions {folder / QUESTIONS_FILE}: {error}") from error


def demo_images() -> list[Path]:
    """The bundled sample images (the ones :func:`demo_questions` ask about), sorted."""
    return sorted({question.image for question in demo_questions()})


def answer_question(model: Any, image: Any, question: str, *, max_new_tokens: int = 8) -> str:
    """Answer ``question`` about ``image`` with greedy decoding in the ``v1`` template.

    Uses :meth:`MobileVLM.chat <mvlm.model.MobileVLM.chat>` when the model has it (mvlm's inference
    module), else ``generate`` on the expanded prompt; both give the same tokens.

    Args:
        model: A :class:`~mvlm.model.MobileVLM` (its ``tokenizer`` and ``image_processor`` are used).
        image: A path, a PIL image or anything ``model.image_processor`` takes.
        question: The question, without ``<image>`` (it is put in front, as the reference does).
        max_new_tokens: The most tokens to generate.

    Returns:
        The decoded answer, stripped.

    Raises:
        ImageError: The image cannot be read.
        PromptError: The prompt does not fit the model.
    """
    chat = getattr(model, "chat", None)
    if chat is not None:  # mvlm.inference: greedy decoding in the v1 template, as below
        source = str(image) if isinstance(image, os.PathLike) else image
        return str(chat(source, question, max_new_tokens=max_new_tokens)).strip()
    import torch

    from mvlm.language.decoding import text_decoder
    from mvlm.prompting import build_prompt, encode_prompt

    tokenizer = model.tokenizer
    ids = encode_prompt(build_prompt(question, "v1"), tokenizer, num_image_tokens=model.num_image_tokens, num_images=1)
    device = next(model.parameters()).device
    input_ids = torch.tensor([ids.input_ids], device=device)
    pixels = model.image_processor([image]).to(device=device, dtype=model.vision_tower.dtype)
    with torch.inference_mode():
        output = model.generate(
            input_ids=input_ids,
            pixel_values=pixels,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    return text_decoder(tokenizer)(output[0, input_ids.shape[1] :].tolist()).strip()


def run_demo(model_path: str | os.PathLike[str] | None = None, *, print_fn: Any = print) -> tuple[int, int]:
    """Answer every bundled question with the demo model and print question, answer and expected answer.

    Args:
        model_path: Another MobileVLM checkpoint to ask (default: the bundled model).
        print_fn: Where the lines go.

    Returns:
        ``(correct, total)``.

    Raises:
        CheckpointError: The model cannot be loaded.
    """
    import torch

    from mvlm.eval.benchmarks.synthetic import normalize_synthetic_answer
    from mvlm.model import MobileVLM

    path = demo_model_path() if model_path is None else model_path
    model = MobileVLM.from_pretrained(path, dtype=torch.float32).eval()
    questions = demo_questions()
    correct = 0
    width = max(len(q.question) for q in questions)
    for question in questions:
        answer = answer_question(model, question.image, question.question)
        ok = normalize_synthetic_answer(answer) == question.answer
        correct += ok
        mark = "ok " if ok else "BAD"
        print_fn(
            f"{mark} {question.image.name:<12} {question.question:<{width}}  answer: {answer!r:<14} "
            f"expected: {question.answer!r}"
        )
    print_fn(f"{correct}/{len(questions)} answered as expected")
    return correct, len(questions)


def _demo_command(args: argparse.Namespace) -> int:
    """Handler of ``mvlm demo`` (exit status 0; a model that cannot be loaded raises an ``MvlmError``)."""
    run_demo(args.model)
    return 0


def add_demo_command(commands: Any) -> None:
    """Register ``mvlm demo`` on the ``mvlm`` parser's sub-commands (``parser.add_subparsers()``).

    Args:
        commands: The sub-parsers action of the ``mvlm`` parser.
    """
    demo = commands.add_parser(
        "demo",
        help="answer questions about the bundled sample images with the bundled tiny model (offline)",
        description="Load the bundled demo MobileVLM (trained from scratch on synthetic shapes by "
        "examples/train_demo_model.py) and answer the bundled questions about the bundled images, printing "
        "question, answer and expected answer.",
    )
    demo.add_argument("--model", default=None, help="ask another MobileVLM checkpoint instead (default: the bundled)")
    demo.set_defaults(handler=_demo_command)
