"""MMBench (dev, English), as MobileVLM's ``scripts/benchmark/mmbench.sh`` runs it.

File (``benchmark_data/mmbench``): ``mmbench_dev_en_20231003.tsv``, one row per question with the
columns ``index``, ``question``, ``hint``, ``A`` ... ``D``, ``answer``, ``category``,
``l2-category``, ``image`` (the image file, base64) and a few more. Read as pandas'
``read_table`` would: an empty cell, or one of pandas' default missing-value spellings
(``NaN``, ``None``, ``NA``, ``N/A``, ``null``...), is missing.

Asking, as ``model_vqa_mmbench.py --single-pred-prompt --lang en``: options ``A`` to ``D`` are read
until the first missing one (``is_none``: missing, or ``nan`` / ``none`` in any case); the question
is ``[hint + "\\n"] + question`` followed by ``"\\n<letter>. <option>"`` per option; the user text
adds "\\nAnswer with the option's letter from the given choices directly."; the recorded prompt is
the question without that instruction; generation is capped at 1024 tokens.

Single pass (MobileVLM's script, no ``--all-rounds``): one round per question. Circular evaluation
(``circular=True``, the reference's ``--all-rounds``): one round per option, the options rotated
left by one each round; a question counts as right only if every round is
(:func:`~mvlm.eval.metrics.score_mmbench`); a question with unanswered rounds is reported as
``excluded``. The answer letter is read as MMBench's local evaluator (OpenCompass
``tools/eval_mmbench.py``) reads it (``matcher="mmbench"``, the default), or with VLMEvalKit's or
LLaVA's rules (``matcher="vlmevalkit"`` / ``"llava"``; see :mod:`mvlm.eval.metrics.mmbench`). The key
is ``index#round``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from mvlm.errors import ConfigError, DataError
from mvlm.eval.benchmarks.base import Benchmark, ScoredPart, keep_complete_groups, register_benchmark, tally_to_dict
from mvlm.eval.benchmarks.sqa import SQA_INSTRUCTION
from mvlm.eval.metrics import MMBENCH_MATCHERS, circular_rounds, score_mmbench
from mvlm.eval.records import AnswerRecord, ImageRef, Problem, Question, read_tsv, require_file

__all__ = ["MMBENCH_OPTION_LETTERS", "MMBenchBenchmark", "is_missing_cell"]

MMBENCH_OPTION_LETTERS: tuple[str, ...] = ("A", "B", "C", "D")
"""The option columns the reference reads."""

# pandas' default missing-value spellings (read_table's na_values), plus "" for an empty cell.
_PANDAS_NA = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)


def is_missing_cell(cell: str | None) -> bool:
    """Whether the reference treats a TSV cell as absent (pandas' missing values, then ``is_none``).

    Example:
        >>> [is_missing_cell(c) for c in ("", "nan", "NONE", "N/A", "0", "cat")]
        [True, True, True, True, False, False]
    """
    return cell is None or cell in _PANDAS_NA or cell.lower() in ("nan", "none")


@register_benchmark("mmbench", aliases=("mmb",))
class MMBenchBenchmark(Benchmark):
    """MMBench dev: option-letter accuracy, single pass (as the reference) or circular.

    Args:
        circular: Ask every rotation of the options and require all rounds right.
        matcher: How the letter is read from an answer: ``"mmbench"`` (MMBench's local evaluator, the
            default), ``"vlmevalkit"`` or ``"llava"``.

    Raises:
        ConfigError: An unknown ``matcher``.
    """

    name = "mmbench"
    title = "MMBench"
    folder = "mmbench"
    question_file = "mmbench_dev_en_20231003.tsv"
    max_new_tokens = 1024
    summary_column = "MMBench"

    def __init__(self, circular: bool = False, matcher: Literal["mmbench", "vlmevalkit", "llava"] = "mmbench") -> None:
        if matcher not in MMBENCH_MATCHERS:
            raise ConfigError(
                f"unknown MMBench matcher {matcher!r}; use one of {', '.join(map(repr, MMBENCH_MATCHERS))}"
            )
        self.circular = bool(circular)
        self.matcher = matcher

    def __repr__(self) -> str:
        return f"MMBenchBenchmark(circular={self.circular}, matcher={self.matcher!r})"

    def key_for(self, question_id: str | int, prompt: str, round_id: int | None) -> str:
        """``index#round`` (a record without ``round_id`` is round 0)."""
        return f"{question_id}#{round_id or 0}"

    def _read(self, root: Path) -> tuple[list[Question], list[Problem]]:
        path = require_file(root / self.question_file, "the MMBench question file")
        header, rows, problems = read_tsv(path)
        for column in ("index", "question", "image", "A"):
            if column not in header:
                raise DataError(f"{path}: no {column!r} column; is this an MMBench TSV?")
        questions: list[Question] = []
        for line, row in rows:
            try:
                index = int(row["index"])
            except ValueError:
                problems.append(Problem("malformed_data", f"index {row['index']!r} is not an integer", str(path), line))
                continue
            options: list[str] = []
            for letter in MMBENCH_OPTION_LETTERS:
                if is_missing_cell(row.get(letter)):
                    break
                options.append(row[letter])
            if is_missing_cell(row["question"]) or not options:
                problems.append(Problem("malformed_data", "the row has no question or no option A", str(path), line))
                continue
            hint = row.get("hint")
            stem = row["question"] if is_missing_cell(hint) else f"{hint}\n{row['question']}"
            answer = row.get("answer")
            category = row.get("category")
            truth = None
            if not is_missing_cell(answer) and answer in MMBENCH_OPTION_LETTERS[: len(options)]:
                truth = {"answer": answer, "category": None if is_missing_cell(category) else category}
            rounds = circular_rounds(options) if self.circular else circular_rounds(options)[:1]
            for round_id, (shown, letters) in enumerate(rounds):
                asked = stem + "".join(f"\n{MMBENCH_OPTION_LETTERS[i]}. {text}" for i, text in enumerate(shown))
                question = self.make_question(
                    question_id=index,
                    text=f"{asked}\n{SQA_INSTRUCTION}",
                    record_prompt=asked,
                    image=ImageRef(base64=row["image"]),
                    ground_truth=truth,
                    round_id=round_id,
                    options=tuple(shown),
                    option_char=tuple(letters),
                    metadata={"category": category, "l2-category": row.get("l2-category"), "rounds": len(rounds)},
                    file=str(path),
                    line=line,
                )
                if truth is None:
                    why = f"the 'answer' cell {answer!r} is not one of the row's option letters"
                    problems.append(Problem("no_ground_truth", why, str(path), line, question.key))
                questions.append(question)
        return questions, problems

    def _score(self, pairs: list[tuple[Question, AnswerRecord]]) -> ScoredPart:
        problems: list[Problem] = []
        if self.circular:
            pairs, problems = keep_complete_groups(
                pairs,
                group_of=lambda question: question.question_id,
                size_of=lambda question: question.metadata["rounds"],
                why=lambda question_id, answered, needed: (
                    f"question {question_id} has {answered} of its {needed} rounds answered; "
                    "circular evaluation needs all of them"
                ),
            )
        if not pairs:
            return ScoredPart(metrics={}, headline=None, scored=0, problems=problems)
        categories = [question.ground_truth["category"] for question, _ in pairs]
        result = score_mmbench(
            [record.text for _, record in pairs],
            [question.ground_truth["answer"] for question, _ in pairs],
            [list(question.options or ()) for question, _ in pairs],
            option_letters=[list(question.option_char or ()) for question, _ in pairs],
            question_ids=[question.question_id for question, _ in pairs],
            categories=categories if all(isinstance(c, str) for c in categories) else None,
            circular=self.circular,
            matcher=self.matcher,
        )
        metrics = {
            "accuracy": result.accuracy,
            "correct": result.correct,
            "total": result.total,
            "rows": result.rows,
            "unparsed": result.unparsed,
            "circular": result.circular,
            "matcher": self.matcher,
            "per_category": {name: tally_to_dict(t) for name, t in result.per_category.items()},
        }
        return ScoredPart(metrics=metrics, headline=result.headline, scored=len(pairs), problems=problems)
