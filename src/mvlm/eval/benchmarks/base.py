"""The benchmark contract and the ``BENCHMARKS`` registry.

A benchmark plugin reads one folder of the LLaVA-1.5 eval kit (the MobileVLM README's
``benchmark_data/<name>`` layout) and answers three questions for a runner:

* :meth:`Benchmark.load` -- what to ask: :class:`~mvlm.eval.records.questions.Question` objects (from
  :mod:`mvlm.eval.records`, like the answer records and problems) with the user text exactly as the
  reference sends it, the image (a path, or base64 for MMBench; never decoded here) and the
  reference's ``max_new_tokens``;
* :meth:`Benchmark.prompt` -- the full conversation prompt for one question (template ``v1``);
* :meth:`Benchmark.score` -- the metrics of an answer file (records made with
  :meth:`Benchmark.make_record`), with every problem counted and located.

Example::

    bench = get_benchmark("pope")
    questions = bench.load("data/benchmark_data/pope")
    for q in questions:                       # a runner batches these
        text = generate(bench.prompt(q), q.image, max_new_tokens=q.max_new_tokens)
        append(answer_line(bench.make_record(q, text, model_id="MobileVLM-1.7B")))
    report = bench.score("answers.jsonl", "data/benchmark_data/pope")
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mvlm.errors import ConfigError, DataError
from mvlm.eval.metrics import Tally
from mvlm.eval.records import (
    PROBLEM_KINDS,
    AnswerRecord,
    Problem,
    Question,
    QuestionSet,
    load_answers,
    make_answer_record,
)
from mvlm.prompting.conversation import get_conversation
from mvlm.registry import Registry

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "ScoredPart",
    "get_benchmark",
    "keep_complete_groups",
    "list_benchmarks",
    "register_benchmark",
    "tally_to_dict",
]

BENCHMARKS: Registry[type[Benchmark]] = Registry("benchmark")
"""Benchmark classes by name (``gqa``, ``mmbench``, ``mme``, ``pope``, ``sqa``, ``textvqa``, ``synthetic``)."""


def register_benchmark(name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[type[Benchmark]], type[Benchmark]]:
    """Class decorator: register a :class:`Benchmark` subclass under ``name`` (and ``aliases``).

    Example::

        @register_benchmark("my_vqa")
        class MyVQABenchmark(Benchmark): ...
    """
    return BENCHMARKS.register(name, aliases=aliases)


def get_benchmark(name: str, **options: Any) -> Benchmark:
    """Build the benchmark registered as ``name``.

    Args:
        name: A registered name or alias (see :func:`list_benchmarks`).
        **options: Passed to the class, e.g. ``get_benchmark("mmbench", circular=True)``.

    Raises:
        UnknownNameError: No benchmark has that name; the message lists close ones.
        ConfigError: An option the benchmark does not take, or a bad option value.
    """
    cls = BENCHMARKS.get(name)
    try:
        return cls(**options)
    except TypeError as error:
        raise ConfigError(
            f"benchmark {name!r} ({cls.__name__}) does not take the options {options}: {error}"
        ) from error


def list_benchmarks() -> list[str]:
    """The registered benchmark names, sorted."""
    return BENCHMARKS.names()


def tally_to_dict(tally: Tally | None) -> dict[str, Any] | None:
    """A :class:`~mvlm.eval.metrics.Tally` as ``{"accuracy", "correct", "total"}`` (``None`` stays ``None``)."""
    if tally is None:
        return None
    return {"accuracy": tally.accuracy, "correct": tally.correct, "total": tally.total}


AnsweredQuestion = tuple[Question, AnswerRecord]


def keep_complete_groups(
    pairs: Sequence[AnsweredQuestion],
    group_of: Callable[[Question], Hashable],
    size_of: Callable[[Question], int],
    why: Callable[[Hashable, int, int], str],
) -> tuple[list[AnsweredQuestion], list[Problem]]:
    """The answered questions whose whole group is answered, and an ``excluded`` problem for each of the rest.

    For benchmarks that score questions together (MME's two questions per image, MMBench's circular
    rounds): a group with fewer answers than it needs cannot be scored.

    Args:
        pairs: ``(question, answer record)`` pairs.
        group_of: The group of a question.
        size_of: How many answers a question's group needs.
        why: The problem message for a group: ``why(group, answered, needed)``.

    Returns:
        ``(kept, problems)``, ``kept`` in the order of ``pairs`` group by group.
    """
    groups: dict[Hashable, list[AnsweredQuestion]] = {}
    for pair in pairs:
        groups.setdefault(group_of(pair[0]), []).append(pair)
    kept: list[AnsweredQuestion] = []
    problems: list[Problem] = []
    for group, members in groups.items():
        needed = size_of(members[0][0])
        if len(members) == needed:
            kept.extend(members)
            continue
        message = why(group, len(members), needed)
        problems.extend(
            Problem("excluded", message, record.file, record.line, question.key) for question, record in members
        )
    return kept, problems


@dataclass(frozen=True)
class ScoredPart:
    """What a benchmark's metric step returns to :meth:`Benchmark.score`.

    Attributes:
        metrics: The metrics, JSON-ready.
        headline: The README number (``None`` when it cannot be given, e.g. MME without all subtasks).
        scored: How many answers went into the metrics.
        problems: Answers left out by the metric step (``excluded``), located.
    """

    metrics: dict[str, Any]
    headline: float | None
    scored: int
    problems: list[Problem] = field(default_factory=list)


class Benchmark(ABC):
    """One benchmark: read its folder, build its prompts, score answer files.

    Subclasses set the class attributes and implement :meth:`_read` and :meth:`_score`; they are
    registered with :func:`register_benchmark`. Instances are cheap and hold only options.

    Attributes:
        name: The registered name.
        title: A human title.
        folder: The folder name in the README's ``benchmark_data`` tree (for :meth:`resolve_data_dir`).
        question_file: The question file, relative to the benchmark folder.
        max_new_tokens: The reference's generation cap.
        template: The conversation template the reference uses (``v1`` for every MobileVLM benchmark).
        pad_images: ``None``: preprocess images as the model config says (``image_aspect_ratio``,
            ``pad`` for the released models); ``False``: never pad (ScienceQA, where the reference calls
            the image processor directly).
        summary_column: The README table column this benchmark fills, if any.
    """

    name: str = ""
    title: str = ""
    folder: str | None = None
    question_file: str = ""
    max_new_tokens: int = 128
    template: str = "v1"
    pad_images: bool | None = None
    summary_column: str | None = None

    # ----------------------------------------------------------------------------- data folder
    def resolve_data_dir(self, data_dir: str | Path) -> Path:
        """The benchmark folder: ``data_dir`` itself, or ``data_dir/<folder>`` (a ``benchmark_data`` root).

        Raises:
            DataError: Neither holds :attr:`question_file`.
        """
        root = Path(data_dir)
        if (root / self.question_file).is_file():
            return root
        if self.folder and (root / self.folder / self.question_file).is_file():
            return root / self.folder
        inner = f" nor in {root / self.folder}" if self.folder else ""
        raise DataError(
            f"no {self.question_file} in {root}{inner}; point data_dir at the {self.title} folder laid out as the "
            "MobileVLM README's benchmark_data tree (see the Evaluation docs page)"
        )

    def load(self, data_dir: str | Path, *, check_images: bool = True) -> QuestionSet:
        """Read the questions to ask, reporting every problem with file and line.

        Args:
            data_dir: The benchmark folder (or the ``benchmark_data`` root holding it).
            check_images: Drop (and report) questions whose image is missing or unreadable; set
                ``False`` when only scoring.

        Returns:
            The askable questions and the problems.

        Raises:
            DataError: The question file (or a file every question needs) is missing or unreadable.
        """
        root = self.resolve_data_dir(data_dir)
        questions, problems = self._read(root)
        kept: list[Question] = []
        first_line: dict[str, Question] = {}
        for question in questions:
            earlier = first_line.get(question.key)
            if earlier is not None:
                problems.append(
                    Problem(
                        "duplicate_question",
                        f"question key {question.key!r} was already used at line {earlier.line}; not asked twice",
                        question.file,
                        question.line,
                        question.key,
                    )
                )
                continue
            if check_images:
                why = next((reason for ref in question.images if (reason := ref.check()) is not None), None)
                if why is not None:
                    problems.append(Problem("missing_image", f"{why}; not asked", question.file, question.line))
                    continue
            first_line[question.key] = question
            kept.append(question)
        problems.sort(key=lambda p: (p.file or "", p.line or 0))
        return QuestionSet(self.name, root, kept, problems)

    # ----------------------------------------------------------------------------- asking
    def prompt(self, question: Question, template: str | None = None) -> str:
        """The full prompt for ``question``: one user turn (:attr:`Question.user_message`), empty answer slot.

        Args:
            question: The question.
            template: A registered conversation template; default :attr:`template` (``v1``).

        Example:
            >>> from mvlm.eval.benchmarks import ImageRef, Question, get_benchmark
            >>> q = Question(benchmark="gqa", key="1", question_id="1", text="Is it red?", record_prompt="Is it red?",
            ...              image=ImageRef(path=Path("x.jpg")), max_new_tokens=128)
            >>> get_benchmark("gqa").prompt(q).split("questions. ")[1]
            'USER: <image>\\nIs it red? ASSISTANT:'
        """
        conversation = get_conversation(template or self.template)
        conversation.append_message(conversation.roles[0], question.user_message)
        conversation.append_message(conversation.roles[1], None)
        return conversation.get_prompt()

    def make_record(
        self, question: Question, text: str, *, model_id: str, answer_id: str | None = None
    ) -> dict[str, Any]:
        """The answer record the reference writes (see :func:`~mvlm.eval.benchmarks.make_answer_record`)."""
        return make_answer_record(question, text, model_id=model_id, answer_id=answer_id)

    def key_for(self, question_id: str | int, prompt: str, round_id: int | None) -> str:
        """The pairing key of a question / record; ``str(question_id)`` unless a benchmark needs more.

        Raises:
            DataError: The prompt does not have the shape the key needs (TextVQA).
        """
        return str(question_id)

    def record_key(self, record: AnswerRecord) -> str:
        """The key of the question ``record`` answers (see :attr:`Question.key`).

        Raises:
            DataError: The record cannot be keyed (e.g. a TextVQA prompt without a question line).
        """
        return self.key_for(record.question_id, record.prompt, record.round_id)

    def answered_keys(self, answers: str | Path | Iterable[Mapping[str, Any] | AnswerRecord]) -> set[str]:
        """The keys of the questions an answer file already answers (valid records only), for resuming a run.

        Args:
            answers: The answer JSON Lines file (a missing file answers nothing), or in-memory records.

        Returns:
            The set of :attr:`Question.key` values answered; skip those questions when resuming.
        """
        if isinstance(answers, (str, Path)) and not Path(answers).is_file():
            return set()
        keys: set[str] = set()
        for record in load_answers(answers).records:
            try:
                keys.add(self.record_key(record))
            except DataError:
                continue  # a record that cannot be keyed answers nothing; score() reports it
        return keys

    # ----------------------------------------------------------------------------- scoring
    def score(
        self, answers: str | Path | Iterable[Mapping[str, Any] | AnswerRecord], data_dir: str | Path
    ) -> dict[str, Any]:
        """Score an answer file against the benchmark's ground truth.

        Args:
            answers: The answer JSON Lines file, or in-memory records.
            data_dir: The benchmark folder (images are not needed).

        Returns:
            A JSON-ready dict: ``benchmark``; ``metrics`` (the benchmark's, computed by
            :mod:`mvlm.eval.metrics`, over the scored answers); ``headline`` (the README number, or
            ``None``); ``summary_column``; ``counts`` (``questions``, ``answers`` read, ``scored``,
            ``complete`` -- every question answered and scored -- and one count per problem kind);
            ``problems`` (each with ``kind``, ``file``, ``line``, ``key``, ``message``).

        Raises:
            DataError: The answer file or the benchmark's files are missing or unreadable.
        """
        questions = self.load(data_dir, check_images=False)
        answer_file = load_answers(answers)
        problems = list(questions.problems)
        problems = [p for p in problems if p.kind != "no_ground_truth"]  # reported below, per answer
        problems.extend(answer_file.problems)
        pairs = self._pair(questions, answer_file.records, problems)
        part = self._score(pairs) if pairs else ScoredPart(metrics={}, headline=None, scored=0)
        problems.extend(part.problems)
        counts: dict[str, Any] = {
            "questions": len(questions),
            "answers": len(answer_file.records),
            "scored": part.scored,
        }
        for kind in PROBLEM_KINDS:
            counts[kind] = sum(1 for p in problems if p.kind == kind)
        counts["complete"] = part.scored == len(questions) and len(questions) > 0
        return {
            "benchmark": self.name,
            "data_dir": str(questions.data_dir),
            "answers": answer_file.source,
            "metrics": part.metrics,
            "headline": part.headline,
            "summary_column": self.summary_column,
            "counts": counts,
            "problems": [p.to_dict() for p in problems],
        }

    def _pair(
        self, questions: QuestionSet, records: list[AnswerRecord], problems: list[Problem]
    ) -> list[tuple[Question, AnswerRecord]]:
        answered: dict[str, AnswerRecord] = {}
        for record in records:
            try:
                key = self.record_key(record)
            except DataError as error:
                problems.append(Problem("malformed_answer", str(error), record.file, record.line))
                continue
            if questions.get(key) is None:
                problems.append(
                    Problem(
                        "unknown_answer",
                        f"question {key!r} is not in {self.name}'s question file; not scored",
                        record.file,
                        record.line,
                        key,
                    )
                )
            elif key in answered:
                problems.append(
                    Problem(
                        "duplicate_answer",
                        f"question {key!r} was already answered at {answered[key].where}; only the first answer counts",
                        record.file,
                        record.line,
                        key,
                    )
                )
            else:
                answered[key] = record
        no_truth = {p.key: p.message for p in questions.problems if p.kind == "no_ground_truth"}
        pairs: list[tuple[Question, AnswerRecord]] = []
        for question in questions:
            found = answered.get(question.key)
            if found is None:
                problems.append(
                    Problem("missing_answer", "question has no answer", question.file, question.line, question.key)
                )
            elif question.ground_truth is None:
                why = no_truth.get(question.key, "no ground truth")
                problems.append(
                    Problem(
                        "no_ground_truth",
                        f"answer to the question at {question.where} cannot be scored: {why}",
                        found.file,
                        found.line,
                        question.key,
                    )
                )
            else:
                pairs.append((question, found))
        return pairs

    # ----------------------------------------------------------------------------- subclass hooks
    @abstractmethod
    def _read(self, root: Path) -> tuple[list[Question], list[Problem]]:
        """Read the questions (with their ground truth) from the benchmark folder ``root``."""

    @abstractmethod
    def _score(self, pairs: list[tuple[Question, AnswerRecord]]) -> ScoredPart:
        """Compute the metrics of answered questions that have ground truth (``pairs`` is not empty)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # helpers for subclasses ----------------------------------------------------------------
    def make_question(self, **fields: Any) -> Question:
        """A :class:`Question` of this benchmark, for :meth:`_read` implementations.

        Args:
            **fields: The :class:`Question` fields except ``benchmark`` and ``key`` (computed with
                :meth:`key_for`); ``max_new_tokens`` defaults to :attr:`max_new_tokens`.

        Raises:
            DataError: The key cannot be computed (see :meth:`key_for`).
        """
        fields.setdefault("max_new_tokens", self.max_new_tokens)
        key = self.key_for(fields["question_id"], fields["record_prompt"], fields.get("round_id"))
        return Question(benchmark=self.name, key=key, **fields)
