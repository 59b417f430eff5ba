"""GQA testdev-balanced, as MobileVLM's ``scripts/benchmark/gqa.sh`` runs it.

Files (``benchmark_data/gqa``): ``llava_gqa_testdev_balanced.jsonl`` (12,578 questions; ``text``
already ends in "\\nAnswer the question using a single word or phrase."), ``images/`` (the GQA
images) and ``testdev_balanced_questions.json`` (the official questions: ``{question id: {"answer",
"types": {"structural", "semantic", ...}, "isBalanced", ...}}``).

Scoring: ``convert_gqa_for_eval.py`` turns each answer into ``text.rstrip('.').lower()`` and the
official ``eval.py`` counts exact matches with ``answer``
(:func:`~mvlm.eval.metrics.score_gqa`), with the per-type breakdown. The official script refuses to
score when a balanced question has no prediction; here the missing answers are counted and reported
and the accuracy is over the answered questions.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from mvlm.errors import DataError
from mvlm.eval.benchmarks.base import ScoredPart, register_benchmark, tally_to_dict
from mvlm.eval.benchmarks.llava_jsonl import LlavaJsonlBenchmark
from mvlm.eval.metrics import score_gqa
from mvlm.eval.records import AnswerRecord, Problem, Question, read_json, require_file

__all__ = ["GQABenchmark"]


@register_benchmark("gqa")
class GQABenchmark(LlavaJsonlBenchmark):
    """GQA testdev-balanced: exact match after the reference's clean-up, by question type.

    Attributes:
        annotation_file: The official questions with their answers and types.
    """

    name = "gqa"
    title = "GQA"
    folder = "gqa"
    question_file = "llava_gqa_testdev_balanced.jsonl"
    image_folder = "images"
    annotation_file = "testdev_balanced_questions.json"
    summary_column = "GQA"

    def _attach_ground_truth(self, root: Path, questions: list[Question], problems: list[Problem]) -> list[Question]:
        path = require_file(root / self.annotation_file, "the GQA ground truth")
        truth = read_json(path)
        if not isinstance(truth, dict):
            raise DataError(f"{path}: expected a JSON object mapping question ids to questions")
        result: list[Question] = []
        for question in questions:
            entry = truth.get(str(question.question_id))
            why = None
            if entry is None:
                why = f"question id {question.question_id!r} is not in {path}"
            elif not isinstance(entry, dict) or not isinstance(entry.get("answer"), str):
                why = f"the entry of {question.question_id!r} in {path} has no string 'answer'"
            elif entry.get("isBalanced") is False:
                why = f"{question.question_id!r} is not a balanced question; eval.py scores balanced questions only"
            if why is not None or not isinstance(entry, dict):
                problems.append(self._no_truth(question, why or "no entry"))
                result.append(question)
                continue
            types: dict[str, Any] = entry["types"] if isinstance(entry.get("types"), dict) else {}
            truth_of = {
                "answer": entry["answer"],
                "structural": types.get("structural"),
                "semantic": types.get("semantic"),
            }
            result.append(replace(question, ground_truth=truth_of))
        asked = {str(q.question_id) for q in questions}
        for question_id, entry in truth.items():
            if question_id not in asked and isinstance(entry, dict) and entry.get("isBalanced", True):
                problems.append(
                    Problem(
                        "missing_question",
                        f"balanced question {question_id!r} has no line in {self.question_file} "
                        "(the official eval.py would stop on its missing prediction)",
                        str(path),
                        key=question_id,
                    )
                )
        return result

    def _score(self, pairs: list[tuple[Question, AnswerRecord]]) -> ScoredPart:
        truths = [question.ground_truth for question, _ in pairs]
        structural = [t["structural"] for t in truths]
        semantic = [t["semantic"] for t in truths]
        result = score_gqa(
            [record.text for _, record in pairs],
            [t["answer"] for t in truths],
            structural_types=structural if all(isinstance(s, str) for s in structural) else None,
            semantic_types=semantic if all(isinstance(s, str) for s in semantic) else None,
        )
        metrics = {
            "accuracy": result.accuracy,
            "correct": result.correct,
            "total": result.total,
            "open": tally_to_dict(result.open),
            "binary": tally_to_dict(result.binary),
            "per_structural": {name: tally_to_dict(t) for name, t in result.per_structural.items()},
            "per_semantic": {name: tally_to_dict(t) for name, t in result.per_semantic.items()},
        }
        return ScoredPart(metrics=metrics, headline=result.headline, scored=result.total)
