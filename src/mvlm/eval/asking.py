"""How the runner asks: questions in batches through :func:`mvlm.inference.chat`, greedy, as the reference.

* :func:`batch_questions`: batches of questions with the same generation cap, in file order;
* :func:`check_prompts`: what ``chat`` is sent (``Question.user_message`` in the benchmark's
  template) must be exactly :meth:`Benchmark.prompt <mvlm.eval.benchmarks.Benchmark.prompt>`;
* :func:`answer_batch`: one batch answered greedily (temperature 0, one beam); a question that
  cannot be asked (an undecodable image, a prompt too long for the context) becomes a located
  problem and the others are still answered;
* :func:`reference_image`, :func:`image_padding`, :func:`eval_mode`: images opened and processed
  as the reference does, with the model in eval mode.

Nothing here imports torch or PIL at import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from mvlm.errors import ConfigError, ImageError, PromptError
from mvlm.eval.benchmarks import Benchmark
from mvlm.eval.records import ImageRef, Problem, Question

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

    from mvlm.model import MobileVLM

__all__ = ["answer_batch", "batch_questions", "check_prompts", "eval_mode", "image_padding", "reference_image"]


def reference_image(image: ImageRef) -> Image:
    """Open a question's image as the reference does: decoded, RGB, and no EXIF rotation.

    The reference's loaders call ``Image.open(...).convert("RGB")``, which ignores an EXIF orientation
    tag; mvlm's image processor would apply it, so the metadata is dropped here.

    Raises:
        ImageError: The image cannot be read or decoded.
    """
    opened = image.open()
    opened.info.clear()  # no EXIF / XMP left for ImageOps.exif_transpose to act on
    return opened


def batch_questions(
    questions: Sequence[Question], batch_size: int, max_new_tokens: int | None = None
) -> list[list[Question]]:
    """Cut ``questions`` into batches of at most ``batch_size`` that share their generation cap, keeping the order.

    Args:
        questions: The questions, in the order they are asked.
        batch_size: The most questions per batch.
        max_new_tokens: A cap for every question (default: each question's own, the reference's).

    Example:
        >>> from mvlm.eval.records import Question
        >>> qs = [Question("b", str(i), i, "t", "t", None, cap) for i, cap in enumerate([128, 128, 1024, 128])]
        >>> [[q.key for q in batch] for batch in batch_questions(qs, 8)]
        [['0', '1'], ['2'], ['3']]
    """
    batches: list[list[Question]] = []
    current: list[Question] = []
    cap: int | None = None
    for question in questions:
        own = max_new_tokens if max_new_tokens is not None else question.max_new_tokens
        if current and (len(current) == batch_size or own != cap):
            batches.append(current)
            current = []
        if not current:
            cap = own
        current.append(question)
    if current:
        batches.append(current)
    return batches


@contextlib.contextmanager
def image_padding(model: MobileVLM, pad: bool | None) -> Iterator[None]:
    """Within the block, pad images to a square (``True``) or not (``False``); ``None`` leaves the model's setting.

    The model's image processor follows ``model.config.image_aspect_ratio``; the block sets it
    (``"pad"`` / ``"square"``) and puts the old value back when it ends, also on an error.
    ScienceQA needs ``False``: the reference feeds its images to the CLIP processor unpadded.
    """
    wanted = None if pad is None else ("pad" if pad else "square")
    config = model.config
    previous = config.image_aspect_ratio
    if wanted is None or previous == wanted:
        yield
        return
    config.image_aspect_ratio = wanted
    try:
        yield
    finally:
        config.image_aspect_ratio = previous


@contextlib.contextmanager
def eval_mode(model: MobileVLM) -> Iterator[None]:
    """Within the block the model is in eval mode (no dropout); training mode comes back after, if it was on."""
    training = model.training
    model.eval()
    try:
        yield
    finally:
        if training:
            model.train()


def check_prompts(bench: Benchmark, questions: Sequence[Question]) -> None:
    """The runner sends ``q.user_message`` through ``chat``; that must be exactly ``bench.prompt(q)``."""
    from mvlm.inference import ChatRequest, render_prompt

    for question in questions:
        images = question.images
        try:
            sent = render_prompt(ChatRequest(question.user_message, images), bench.template)
        except PromptError:
            continue  # reported as not_asked when the question's batch is generated
        if sent != bench.prompt(question):
            raise ConfigError(
                f"{bench.name}: the runner would send {sent!r} for the question at {question.where}, but "
                f"{type(bench).__name__}.prompt gives {bench.prompt(question)!r}; the runner asks "
                "Question.user_message in the benchmark's template, so a plugin must not change prompt() otherwise"
            )


def answer_batch(
    model: MobileVLM, bench: Benchmark, batch: Sequence[Question], max_new_tokens: int, tokenizer: Any
) -> tuple[list[tuple[Question, str]], list[Problem]]:
    """Greedy answers of one batch; a question that cannot be asked becomes a problem, the others are answered."""
    from mvlm.inference import chat

    problems: list[Problem] = []
    ready: list[Question] = []
    images: list[Any] = []
    opened: dict[ImageRef, Any] = {}  # one object per image: chat encodes it once (MME asks two questions per image)
    for question in batch:
        try:
            for ref in question.images:
                if ref not in opened:
                    opened[ref] = reference_image(ref)
        except ImageError as error:
            why = f"{error}; not asked"
            problems.append(Problem("missing_image", why, question.file, question.line, question.key))
            continue
        ready.append(question)
        images.append([opened[ref] for ref in question.images] or None)
    if not ready:
        return [], problems
    try:
        texts = chat(
            model,
            images,
            [question.user_message for question in ready],
            conv_mode=bench.template,
            temperature=0.0,
            num_beams=1,
            max_new_tokens=max_new_tokens,
            tokenizer=tokenizer,
        )
    except (PromptError, ImageError) as error:
        if len(ready) > 1:  # find the question at fault: ask one at a time
            pairs: list[tuple[Question, str]] = []
            for question in ready:
                answered, more = answer_batch(model, bench, [question], max_new_tokens, tokenizer)
                pairs.extend(answered)
                problems.extend(more)
            return pairs, problems
        question = ready[0]
        kind = "missing_image" if isinstance(error, ImageError) else "not_asked"
        problems.append(Problem(kind, f"cannot be asked: {error}", question.file, question.line, question.key))
        return [], problems
    return list(zip(ready, texts, strict=True)), problems
