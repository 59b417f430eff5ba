"""The common shape of GQA, MME, POPE and TextVQA: a LLaVA eval-kit question jsonl, asked by ``model_vqa_loader.py``.

Each line of the question file is ``{"question_id", "image", "text", ...}`` (more keys, such as
``category``, are kept as metadata); ``"image"`` may also be a list of file names, for a question about
several images (its ``text`` says where each goes with ``<image>`` tags, or they all go in front).
The reference sends ``"<image>\\n" + text`` exactly as stored
(the instruction suffix is already part of ``text``), opens ``<image folder>/<image>`` as RGB, caps
generation at 128 new tokens, and records ``text`` as the answer's ``prompt``.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any

from mvlm.errors import DataError
from mvlm.eval.benchmarks.base import Benchmark
from mvlm.eval.records import ImageRef, Problem, Question, read_jsonl, require_file

__all__ = ["LlavaJsonlBenchmark"]


def _check_row(row: Any) -> tuple[str | int, list[str], str]:
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    missing = [key for key in ("question_id", "image", "text") if key not in row]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}; a question line needs question_id, image and text")
    question_id, image, text = row["question_id"], row["image"], row["text"]
    if isinstance(question_id, bool) or not isinstance(question_id, (str, int)):
        raise ValueError(f"'question_id' must be a string or an integer, got {question_id!r}")
    names = image if isinstance(image, list) else [image]
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ValueError(f"'image' must be a non-empty file name or a list of them, got {image!r}")
    if not isinstance(text, str):
        raise ValueError(f"'text' must be a string, got {text!r}")
    return question_id, names, text


class LlavaJsonlBenchmark(Benchmark):
    """A benchmark whose questions are one LLaVA eval-kit jsonl (see the module doc).

    Subclasses set :attr:`question_file` and :attr:`image_folder` and attach the ground truth in
    :meth:`_attach_ground_truth`.

    Attributes:
        image_folder: The image folder, relative to the benchmark folder.
    """

    image_folder: str = "images"
    max_new_tokens = 128

    def _read(self, root: Path) -> tuple[list[Question], list[Problem]]:
        path = require_file(root / self.question_file, f"the {self.title} question file")
        rows, problems = read_jsonl(path, "malformed_data")
        questions: list[Question] = []
        for line, row in rows:
            try:
                question_id, names, text = _check_row(row)
                refs = [ImageRef(path=root / self.image_folder / name) for name in names]
                questions.append(
                    self.make_question(
                        question_id=question_id,
                        text=text,
                        record_prompt=text,
                        image=refs[0],
                        more_images=tuple(refs[1:]),
                        metadata={key: value for key, value in row.items() if key not in ("question_id", "text")},
                        file=str(path),
                        line=line,
                    )
                )
            except (ValueError, DataError) as error:
                problems.append(Problem("malformed_data", f"not a question line: {error}", str(path), line))
        return self._attach_ground_truth(root, questions, problems), problems

    @abstractmethod
    def _attach_ground_truth(self, root: Path, questions: list[Question], problems: list[Problem]) -> list[Question]:
        """Return ``questions`` with ``ground_truth`` set; report a ``no_ground_truth`` problem for each one without."""

    @staticmethod
    def _no_truth(question: Question, why: str) -> Problem:
        return Problem("no_ground_truth", why, question.file, question.line, question.key)
