"""MME, as MobileVLM's ``scripts/benchmark/mme.sh`` runs it.

Files (``benchmark_data/mme``): ``llava_mme.jsonl`` (``question_id`` = ``"<subtask>/<image file>"``,
``image`` relative to ``images/``, ``text`` ending in "\\nAnswer the question using a single word
or phrase.") and ``images/`` = MME's ``MME_Benchmark_release_version``, which also holds the ground
truth: one ``<image stem>.txt`` per image with ``question<TAB>answer`` lines, in
``<subtask>/questions_answers_YN/`` when the subtask has an ``images/`` folder, else beside the
images in ``<subtask>/``.

Ground truth, as ``convert_answer_to_mme.py`` finds it: subtask = ``question_id`` up to the first
``/``; file = the part after the last ``/``, cut at its first ``.``, plus ``.txt``; question = the
recorded prompt with the short-answer instruction removed and " Please answer yes or no." restored
(:func:`~mvlm.eval.metrics.mme_question_candidates`). Scoring: ``calculation.py``'s acc / acc+ per
subtask and the perception / cognition totals (:func:`~mvlm.eval.metrics.score_mme`). An image is
scored only with both its questions answered (acc+ needs the pair); a lone answer is reported as
``excluded``. The headline (README MME^P) is given only when all ten perception subtasks are scored.

An MME ``question_id`` names an image, which has two questions; the pairing key is therefore
``question_id + "|" + prompt``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mvlm.errors import DataError
from mvlm.eval.benchmarks.base import ScoredPart, keep_complete_groups, register_benchmark
from mvlm.eval.benchmarks.llava_jsonl import LlavaJsonlBenchmark
from mvlm.eval.metrics import MME_COGNITION, MME_PERCEPTION, mme_question_candidates, score_mme
from mvlm.eval.records import AnswerRecord, Problem, Question

__all__ = ["MMEBenchmark"]


@register_benchmark("mme")
class MMEBenchmark(LlavaJsonlBenchmark):
    """MME: yes/no questions, acc + acc+ per subtask, perception (README MME^P) and cognition totals."""

    name = "mme"
    title = "MME"
    folder = "mme"
    question_file = "llava_mme.jsonl"
    image_folder = "images"
    summary_column = "MME-P"

    def key_for(self, question_id: str | int, prompt: str, round_id: int | None) -> str:
        """``question_id|prompt``: an MME question id names an image, shared by its two questions."""
        return f"{question_id}|{prompt}"

    @staticmethod
    def _truth_table(
        path: Path, problems: list[Problem], cache: dict[Path, dict[str, str] | None]
    ) -> dict[str, str] | None:
        if path in cache:
            return cache[path]
        table: dict[str, str] | None = None
        if path.is_file():
            table = {}
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as error:
                raise DataError(f"cannot read MME ground truth {path}: {error}") from error
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                parts = line.strip().split("\t")
                if len(parts) != 2:
                    problems.append(Problem("malformed_data", "expected 'question<TAB>answer'", str(path), number))
                    continue
                table[parts[0]] = parts[1]
        cache[path] = table
        return table

    def _attach_ground_truth(self, root: Path, questions: list[Question], problems: list[Problem]) -> list[Question]:
        cache: dict[Path, dict[str, str] | None] = {}
        known = MME_PERCEPTION + MME_COGNITION
        result: list[Question] = []
        for question in questions:
            question_id = str(question.question_id)
            subtask = question_id.split("/")[0]
            stem = question_id.split("/")[-1].split(".")[0]
            category_dir = root / self.image_folder / subtask
            qa_dir = category_dir / "questions_answers_YN" if (category_dir / "images").exists() else category_dir
            truth_file = qa_dir / f"{stem}.txt"
            why, answer = None, None
            if subtask not in known:
                why = f"subtask {subtask!r} (from question_id {question_id!r}) is not an MME subtask"
            else:
                table = self._truth_table(truth_file, problems, cache)
                if table is None:
                    why = f"ground-truth file {truth_file} does not exist"
                else:
                    candidates = mme_question_candidates(question.record_prompt)
                    answer = next((table[c] for c in candidates if c in table), None)
                    if answer is None:
                        why = f"{truth_file} has no line for the question {candidates[0]!r}"
                    elif answer.lower() not in ("yes", "no"):
                        why = f"{truth_file} gives {answer!r} for {candidates[0]!r}; MME answers are Yes or No"
            if why is not None:
                problems.append(self._no_truth(question, why))
                result.append(question)
                continue
            truth = {"answer": answer, "subtask": subtask, "image": f"{subtask}/{stem}"}
            result.append(replace(question, ground_truth=truth))
        return result

    def _score(self, pairs: list[tuple[Question, AnswerRecord]]) -> ScoredPart:
        kept, problems = keep_complete_groups(
            pairs,
            group_of=lambda question: question.ground_truth["image"],
            size_of=lambda question: 2,
            why=lambda image, answered, needed: (
                f"image {image} has {answered} answered question(s) with ground truth; MME scores the two "
                "questions of an image together (acc+), so answer both"
            ),
        )
        if not kept:
            return ScoredPart(metrics={}, headline=None, scored=0, problems=problems)
        truths = [question.ground_truth for question, _ in kept]
        report = score_mme(
            [record.text for _, record in kept],
            [t["answer"] for t in truths],
            [t["subtask"] for t in truths],
            [t["image"] for t in truths],
        )
        subtasks = {
            name: {
                "score": s.score,
                "acc": s.acc,
                "acc_plus": s.acc_plus,
                "correct": s.correct,
                "total": s.total,
                "images_correct": s.images_correct,
                "images": s.images,
                "other": s.other,
            }
            for name, s in report.subtasks.items()
        }
        metrics = {
            "perception": report.perception,
            "cognition": report.cognition,
            "missing_perception": list(report.missing_perception),
            "missing_cognition": list(report.missing_cognition),
            "subtasks": subtasks,
        }
        return ScoredPart(metrics=metrics, headline=report.headline, scored=len(kept), problems=problems)
