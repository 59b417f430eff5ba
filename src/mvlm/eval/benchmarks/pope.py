"""POPE on COCO, as MobileVLM's ``scripts/benchmark/pope.sh`` runs it.

Files (``benchmark_data/pope``): ``llava_pope_test.jsonl`` (``question_id``, ``image`` in
``val2014/``, ``text`` = "Is there a <object> in the image?" + "\\nAnswer the question using a
single word or phrase.", ``category`` = ``adversarial`` / ``popular`` / ``random``), ``val2014/``
(COCO val2014 images) and ``coco/`` (POPE's own files, one ``coco_pope_<category>.json`` per
category, JSON Lines of ``{"question_id", "image", "text", "label"}``).

Labels: ``eval_pope.py`` pairs a category's answers, in answer-file order, with the lines of its
``coco_pope_<category>.json`` by position. Here each question is matched with the label line of the
same category, image and question text (the question's first line); for the kit's files, which list
the questions in the same order, this is the same pairing, and it stays right for a reordered or
partial answer file. Scoring: yes/no parsing and accuracy, precision, recall, F1, yes-ratio per
category and their mean (:func:`~mvlm.eval.metrics.score_pope`); the README's POPE column is the
mean F1.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mvlm.eval.benchmarks.base import ScoredPart, register_benchmark
from mvlm.eval.benchmarks.llava_jsonl import LlavaJsonlBenchmark
from mvlm.eval.metrics import PopeMetrics, score_pope
from mvlm.eval.records import AnswerRecord, Problem, Question, read_jsonl

__all__ = ["PopeBenchmark"]


def _rates(metrics: PopeMetrics) -> dict[str, float | int]:
    return {
        "accuracy": metrics.accuracy,
        "precision": metrics.precision,
        "recall": metrics.recall,
        "f1": metrics.f1,
        "yes_ratio": metrics.yes_ratio,
        "tp": metrics.tp,
        "fp": metrics.fp,
        "tn": metrics.tn,
        "fn": metrics.fn,
        "total": metrics.total,
    }


@register_benchmark("pope")
class PopeBenchmark(LlavaJsonlBenchmark):
    """POPE: object-hallucination yes/no questions, metrics per category and averaged.

    Attributes:
        label_folder: The folder of the ``coco_pope_<category>.json`` label files.
    """

    name = "pope"
    title = "POPE"
    folder = "pope"
    question_file = "llava_pope_test.jsonl"
    image_folder = "val2014"
    label_folder = "coco"
    summary_column = "POPE"

    def _labels(self, path: Path, problems: list[Problem]) -> dict[tuple[str, str], str]:
        rows, bad = read_jsonl(path, "malformed_data")
        problems.extend(bad)
        labels: dict[tuple[str, str], str] = {}
        for line, row in rows:
            ok = isinstance(row, dict) and all(isinstance(row.get(k), str) for k in ("image", "text", "label"))
            if not ok or row["label"] not in ("yes", "no"):
                problems.append(Problem("malformed_data", "expected {image, text, label: 'yes'|'no'}", str(path), line))
                continue
            key = (row["image"], row["text"].strip())
            if key in labels:
                problems.append(Problem("malformed_data", f"second label for {key}", str(path), line))
                continue
            labels[key] = row["label"]
        return labels

    def _attach_ground_truth(self, root: Path, questions: list[Question], problems: list[Problem]) -> list[Question]:
        by_category: dict[str, dict[tuple[str, str], str] | None] = {}
        result: list[Question] = []
        for question in questions:
            category = question.metadata.get("category")
            why, label = None, None
            if not isinstance(category, str) or not category:
                why = "the question line has no 'category' (adversarial, popular or random)"
            else:
                label_file = root / self.label_folder / f"coco_pope_{category}.json"
                if category not in by_category:
                    by_category[category] = self._labels(label_file, problems) if label_file.is_file() else None
                labels = by_category[category]
                image = question.metadata["image"]  # a file name, or a list of them (its first is the picture)
                asked = (image[0] if isinstance(image, list) else image, question.text.split("\n")[0].strip())
                if labels is None:
                    why = f"label file {label_file} does not exist"
                else:
                    label = labels.get(asked)
                    if label is None:
                        why = f"{label_file} has no label for image {asked[0]!r} and question {asked[1]!r}"
            if why is not None:
                problems.append(self._no_truth(question, why))
                result.append(question)
            else:
                result.append(replace(question, ground_truth={"label": label, "category": category}))
        return result

    def _score(self, pairs: list[tuple[Question, AnswerRecord]]) -> ScoredPart:
        report = score_pope(
            [record.text for _, record in pairs],
            [question.ground_truth["label"] for question, _ in pairs],
            [question.ground_truth["category"] for question, _ in pairs],
        )
        metrics = {
            "f1": report.f1,
            "accuracy": report.accuracy,
            "precision": report.precision,
            "recall": report.recall,
            "yes_ratio": report.yes_ratio,
            "per_category": {name: _rates(m) for name, m in report.per_category.items()},
            "pooled": _rates(report.pooled),
        }
        return ScoredPart(metrics=metrics, headline=report.headline, scored=len(pairs))
