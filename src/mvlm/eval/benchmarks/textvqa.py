"""TextVQA val, as MobileVLM's ``scripts/benchmark/textvqa.sh`` runs it.

Files (``benchmark_data/textvqa``): ``llava_textvqa_val_v051_ocr.jsonl`` (5,000 questions;
``question_id`` is the *image* id, ``image`` in ``train_images/``, ``text`` =
"<question>\\nReference OCR token: <tokens>\\nAnswer the question using a single word or phrase."),
``train_images/`` (TextVQA's train/val images) and ``TextVQA_0.5.1_val.json`` (``{"data": [{"image_id",
"question", "answers": [10 strings], ...}]}``).

Pairing as ``eval_textvqa.py``: an answer goes with the annotation whose ``image_id`` equals the
record's ``question_id`` and whose lowercased ``question`` equals the question read back from the
record's prompt (:func:`~mvlm.eval.metrics.textvqa_question_from_prompt`); the key is
``question_id + "|" + that question``. Scoring: VQA soft accuracy with the EvalAI normalisation of
``m4c_evaluator.py`` (:func:`~mvlm.eval.metrics.score_textvqa`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mvlm.errors import DataError
from mvlm.eval.benchmarks.base import ScoredPart, register_benchmark
from mvlm.eval.benchmarks.llava_jsonl import LlavaJsonlBenchmark
from mvlm.eval.metrics import score_textvqa, textvqa_question_from_prompt
from mvlm.eval.records import AnswerRecord, Problem, Question, read_json, require_file

__all__ = ["TextVQABenchmark"]

_NUM_ANSWERS = 10


@register_benchmark("textvqa")
class TextVQABenchmark(LlavaJsonlBenchmark):
    """TextVQA: VQA soft accuracy with the reference's answer normalisation.

    Attributes:
        annotation_file: The official val annotations.
    """

    name = "textvqa"
    title = "TextVQA"
    folder = "textvqa"
    question_file = "llava_textvqa_val_v051_ocr.jsonl"
    image_folder = "train_images"
    annotation_file = "TextVQA_0.5.1_val.json"
    summary_column = "TextVQA"

    def key_for(self, question_id: str | int, prompt: str, round_id: int | None) -> str:
        """``question_id|question`` with the question read back from the prompt, as ``eval_textvqa.py`` pairs them.

        Raises:
            DataError: The prompt does not have the eval kit's shape.
        """
        return f"{question_id}|{textvqa_question_from_prompt(prompt)}"

    def _attach_ground_truth(self, root: Path, questions: list[Question], problems: list[Problem]) -> list[Question]:
        path = require_file(root / self.annotation_file, "the TextVQA annotations")
        data = read_json(path)
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise DataError(f"{path}: expected an object with a 'data' list of annotations")
        table: dict[str, list[str]] = {}
        for index, entry in enumerate(entries):
            answers = entry.get("answers") if isinstance(entry, dict) else None
            valid = (
                isinstance(entry, dict)
                and isinstance(entry.get("image_id"), (str, int))
                and isinstance(entry.get("question"), str)
                and isinstance(answers, list)
                and len(answers) == _NUM_ANSWERS
                and all(isinstance(a, str) for a in answers)
            )
            if not valid:
                problems.append(
                    Problem(
                        "malformed_data",
                        f"entry data[{index}] needs image_id, question and {_NUM_ANSWERS} string answers",
                        str(path),
                    )
                )
                continue
            # Later entries win, as in the reference's dict.
            table[f"{entry['image_id']}|{entry['question'].lower()}"] = list(answers)  # type: ignore[arg-type]
        result: list[Question] = []
        for question in questions:
            answers = table.get(question.key)
            if answers is None:
                image_id, asked = question.key.split("|", 1)
                why = f"{path} has no annotation with image_id {image_id!r} and question {asked!r}"
                problems.append(self._no_truth(question, why))
                result.append(question)
            else:
                result.append(replace(question, ground_truth={"answers": answers}))
        return result

    def _score(self, pairs: list[tuple[Question, AnswerRecord]]) -> ScoredPart:
        result = score_textvqa(
            [record.text for _, record in pairs], [question.ground_truth["answers"] for question, _ in pairs]
        )
        metrics = {"accuracy": result.accuracy, "score_sum": result.score_sum, "total": result.total}
        return ScoredPart(metrics=metrics, headline=result.headline, scored=result.total)
