"""ScienceQA-IMG (test split), as MobileVLM's ``scripts/benchmark/sqa.sh`` runs it.

Files (``benchmark_data/sqa``): ``llava_test_CQM-A.json`` (a JSON list of ``{"id", "image"?,
"conversations": [{"from": "human", "value": ...}, ...]}``; 4,241 problems, 2,017 with an image),
``images/`` (ScienceQA's images; the script reads ``images/test/<image>``, where ``image`` is
``"<id>/image.png"``), ``pid_splits.json`` (``{"test": [ids], ...}``) and ``problems.json``
(``{id: {"choices": [...], "answer": <index>, ...}}``).

Asking, as ``model_vqa_science.py --single-pred-prompt``: the first human turn with ``<image>``
removed and stripped, then "\\nAnswer with the option's letter from the given choices directly.";
``"<image>\\n"`` in front only for a problem with an image; a problem without one is asked as text
only. The recorded prompt carries ``"<image>\\n"`` for image problems, which is how
``eval_science_qa.py`` tells them apart. The reference feeds the image to the CLIP processor without
padding to a square (:attr:`ScienceQABenchmark.pad_images` is ``False``) and caps generation at 1024
tokens.

Scoring: the letter parsing of ``eval_science_qa.py``, overall and IMG accuracy
(:func:`~mvlm.eval.metrics.score_sqa`); the README's SQA^I is the IMG accuracy. The reference
counts a test problem with no answer as wrong; here it is counted and reported as missing, and the
accuracies are over the answered problems.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from mvlm.errors import DataError
from mvlm.eval.benchmarks.base import Benchmark, ScoredPart, register_benchmark
from mvlm.eval.metrics import score_sqa
from mvlm.eval.records import AnswerRecord, ImageRef, Problem, Question, read_json, read_json_array, require_file

__all__ = ["SQA_INSTRUCTION", "ScienceQABenchmark"]

SQA_INSTRUCTION = "Answer with the option's letter from the given choices directly."
"""The instruction ``--single-pred-prompt`` appends (also MMBench's)."""


def _parse_item(item: Any) -> tuple[str | int, str, str | None]:
    if not isinstance(item, dict):
        raise ValueError(f"expected a JSON object, got {type(item).__name__}")
    question_id = item.get("id")
    if isinstance(question_id, bool) or not isinstance(question_id, (str, int)):
        raise ValueError(f"'id' must be a string or an integer, got {question_id!r}")
    turns = item.get("conversations")
    if not isinstance(turns, list) or not turns or not isinstance(turns[0], dict):
        raise ValueError("'conversations' must be a non-empty list of turns")
    value = turns[0].get("value")
    if not isinstance(value, str):
        raise ValueError(f"the first turn's 'value' must be a string, got {value!r}")
    image = item.get("image") if "image" in item else None
    if "image" in item and (not isinstance(image, str) or not image):
        raise ValueError(f"'image' must be a file name, got {image!r}")
    return question_id, value, image


@register_benchmark("sqa", aliases=("scienceqa",))
class ScienceQABenchmark(Benchmark):
    """ScienceQA test split: letter answers, overall and IMG accuracy (README SQA^I).

    Attributes:
        image_folder: Where the images are, relative to the benchmark folder.
        problems_file: ScienceQA's problems, with the answers.
        splits_file: ScienceQA's split lists.
        split: The split scored (``test``).
    """

    name = "sqa"
    title = "ScienceQA-IMG"
    folder = "sqa"
    question_file = "llava_test_CQM-A.json"
    image_folder = "images/test"
    problems_file = "problems.json"
    splits_file = "pid_splits.json"
    split = "test"
    max_new_tokens = 1024
    pad_images = False
    summary_column = "SQA-IMG"

    def _ground_truth(self, root: Path) -> tuple[list[str], dict[str, Any]]:
        splits_path = require_file(root / self.splits_file, "the ScienceQA split file")
        problems_path = require_file(root / self.problems_file, "the ScienceQA problems file")
        splits = read_json(splits_path)
        if not isinstance(splits, dict) or not isinstance(splits.get(self.split), list):
            raise DataError(f"{splits_path}: expected an object with a {self.split!r} list of problem ids")
        problems = read_json(problems_path)
        if not isinstance(problems, dict):
            raise DataError(f"{problems_path}: expected an object mapping problem ids to problems")
        return [str(pid) for pid in splits[self.split]], problems

    def _truth_of(self, pid: str, in_split: set[str], problems: dict[str, Any]) -> tuple[dict[str, int] | None, str]:
        if pid not in in_split:
            return None, f"problem {pid!r} is not in the {self.split!r} split of {self.splits_file}"
        entry = problems.get(pid)
        if not isinstance(entry, dict):
            return None, f"problem {pid!r} is not in {self.problems_file}"
        answer, choices = entry.get("answer"), entry.get("choices")
        if isinstance(answer, bool) or not isinstance(answer, int) or not isinstance(choices, list):
            return None, f"problem {pid!r} of {self.problems_file} needs an integer 'answer' and a 'choices' list"
        return {"answer": answer, "num_choices": len(choices)}, ""

    def _read(self, root: Path) -> tuple[list[Question], list[Problem]]:
        path = require_file(root / self.question_file, "the ScienceQA question file")
        split_ids, sqa_problems = self._ground_truth(root)
        in_split = set(split_ids)
        questions: list[Question] = []
        problems: list[Problem] = []
        for line, item in read_json_array(path):
            try:
                question_id, value, image = _parse_item(item)
            except ValueError as error:
                problems.append(Problem("malformed_data", f"not a ScienceQA question: {error}", str(path), line))
                continue
            asked = value.replace("<image>", "").strip()
            recorded = f"<image>\n{asked}" if image is not None else asked
            question = self.make_question(
                question_id=question_id,
                text=f"{asked}\n{SQA_INSTRUCTION}",
                record_prompt=f"{recorded}\n{SQA_INSTRUCTION}",
                image=None if image is None else ImageRef(path=root / self.image_folder / image),
                metadata={"image": image},
                file=str(path),
                line=line,
            )
            truth, why = self._truth_of(str(question_id), in_split, sqa_problems)
            if truth is None:
                problems.append(Problem("no_ground_truth", why, question.file, question.line, question.key))
            else:
                question = replace(question, ground_truth=truth)
            questions.append(question)
        asked_ids = {str(q.question_id) for q in questions}
        for pid in split_ids:
            if pid not in asked_ids:
                problems.append(
                    Problem(
                        "missing_question",
                        f"{self.split} problem {pid!r} has no question in {self.question_file} "
                        "(the reference would count it as answered wrong)",
                        str(root / self.splits_file),
                        key=pid,
                    )
                )
        return questions, problems

    def _score(self, pairs: list[tuple[Question, AnswerRecord]]) -> ScoredPart:
        result = score_sqa(
            [record.text for _, record in pairs],
            [question.ground_truth["answer"] for question, _ in pairs],
            [question.ground_truth["num_choices"] for question, _ in pairs],
            ["<image>" in record.prompt for _, record in pairs],
        )
        metrics = {
            "img_accuracy": result.img_accuracy,
            "accuracy": result.accuracy,
            "correct": result.correct,
            "total": result.total,
            "img_correct": result.img_correct,
            "img_total": result.img_total,
            "failed": result.failed,
        }
        return ScoredPart(metrics=metrics, headline=result.headline, scored=result.total)
