"""The benchmark contract, the question and image types, and the ``BENCHMARKS`` registry.

A benchmark plugin reads one folder of the LLaVA-1.5 eval kit (the MobileVLM README's
``benchmark_data/<name>`` layout) and answers three questions for a runner:

* :meth:`Benchmark.load` -- what to ask: :class:`Question` objects with the user text exactly as the
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

import base64
import binascii
import io
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from mvlm.errors import DataError, ImageError
from mvlm.eval.benchmarks.problems import PROBLEM_KINDS, Problem
from mvlm.eval.benchmarks.records import AnswerRecord, load_answers, make_answer_record
from mvlm.eval.metrics import Tally
from mvlm.prompting.constants import DEFAULT_IMAGE_TOKEN
from mvlm.prompting.conversation import get_conversation
from mvlm.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "ImageRef",
    "Question",
    "QuestionSet",
    "ScoredPart",
    "get_benchmark",
    "list_benchmarks",
    "register_benchmark",
    "tally_to_dict",
]

BENCHMARKS: Registry[type[Benchmark]] = Registry("benchmark")
"""Benchmark classes by name (``gqa``, ``mmbench``, ``mme``, ``pope``, ``sqa``, ``textvqa``, ``synthetic``)."""


def register_benchmark(name: str, *, aliases: tuple[str, ...] = ()) -> Any:
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
    """
    return BENCHMARKS.get(name)(**options)


def list_benchmarks() -> list[str]:
    """The registered benchmark names, sorted."""
    return BENCHMARKS.names()


def tally_to_dict(tally: Tally | None) -> dict[str, Any] | None:
    """A :class:`~mvlm.eval.metrics.Tally` as ``{"accuracy", "correct", "total"}`` (``None`` stays ``None``)."""
    if tally is None:
        return None
    return {"accuracy": tally.accuracy, "correct": tally.correct, "total": tally.total}


@dataclass(frozen=True)
class ImageRef:
    """Where a question's image is: a file, or base64 text (MMBench). Nothing is decoded until asked.

    Attributes:
        path: The image file.
        base64: The base64-encoded image file (MMBench's ``image`` column).
    """

    path: Path | None = None
    base64: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.base64 is None):
            raise DataError("an ImageRef needs exactly one of path= or base64=")

    def describe(self) -> str:
        """A short human description (the path, or the base64 length)."""
        return str(self.path) if self.path is not None else f"<base64 image, {len(self.base64 or '')} characters>"

    def read_bytes(self) -> bytes:
        """The encoded image file's bytes.

        Raises:
            ImageError: The file is missing or unreadable, or the base64 text is invalid.
        """
        if self.path is not None:
            try:
                return self.path.read_bytes()
            except OSError as error:
                raise ImageError(f"cannot read image {self.path}: {error}") from error
        try:
            return base64.b64decode(self.base64 or "", validate=True)
        except (binascii.Error, ValueError) as error:
            raise ImageError(f"invalid base64 image data: {error}") from error

    def check(self) -> str | None:
        """Cheap availability check: ``None`` if the image can be read, else why not (no decoding of pixels)."""
        if self.path is not None:
            return None if self.path.is_file() else f"image file {self.path} does not exist"
        if not (self.base64 or "").strip():
            return "the image cell is empty"
        try:
            self.read_bytes()
        except ImageError as error:
            return str(error)
        return None

    def open(self, *, convert_rgb: bool = True) -> Image:
        """Decode the image with PIL (imported here, not at module import).

        Args:
            convert_rgb: Convert to RGB (as ``model_vqa_loader.py`` does; the CLIP processor would anyway).

        Raises:
            ImageError: The image cannot be read or decoded.
        """
        from PIL import Image as PILImage
        from PIL import UnidentifiedImageError

        data = self.read_bytes()
        try:
            image = PILImage.open(io.BytesIO(data))
            image.load()
        except (UnidentifiedImageError, OSError) as error:
            raise ImageError(f"cannot decode image {self.describe()}: {error}") from error
        return image.convert("RGB") if convert_rgb else image


@dataclass(frozen=True)
class Question:
    """One question to ask, exactly as the reference asks it.

    Attributes:
        benchmark: The benchmark's registered name.
        key: Unique within the benchmark; pairs the question with its answer record
            (:meth:`Benchmark.record_key`). Usually ``str(question_id)``; MME and TextVQA ids name an
            image, so their key adds the question; MMBench's adds the round.
        question_id: The id written into the answer record, as the question file spells it.
        text: The user text after ``"<image>\\n"`` (the whole user text without an image).
        record_prompt: The ``prompt`` field the reference writes into the answer record.
        image: The image, or ``None`` for a text-only question (some ScienceQA ones).
        max_new_tokens: The reference's generation cap for this benchmark.
        ground_truth: What the scorer compares with (``None`` when the data has none for it).
        round_id: MMBench round (0 for a single pass); ``None`` elsewhere.
        options: MMBench: the options in the order shown.
        option_char: MMBench: the original letter of each shown option.
        metadata: Benchmark-specific extras (category, subtask, ...).
        file: The question file it was read from.
        line: Its 1-based line there.
    """

    benchmark: str
    key: str
    question_id: str | int
    text: str
    record_prompt: str
    image: ImageRef | None
    max_new_tokens: int
    ground_truth: Any = None
    round_id: int | None = None
    options: tuple[str, ...] | None = None
    option_char: tuple[str, ...] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    file: str | None = None
    line: int | None = None

    @property
    def has_image(self) -> bool:
        """Whether the question is asked with an image."""
        return self.image is not None

    @property
    def user_message(self) -> str:
        """The user turn as sent: ``"<image>\\n" + text`` with an image, ``text`` without."""
        return f"{DEFAULT_IMAGE_TOKEN}\n{self.text}" if self.has_image else self.text

    @property
    def where(self) -> str:
        """``"file:line"`` of the question."""
        return f"{self.file}:{self.line}"


class QuestionSet(Sequence[Question]):
    """The questions of a benchmark folder, with the problems met reading it.

    Behaves as a read-only list of :class:`Question`.

    Args:
        benchmark: The benchmark's name.
        data_dir: The folder read.
        questions: The questions that can be asked, in file order.
        problems: Everything that was skipped or incomplete, located.
    """

    def __init__(self, benchmark: str, data_dir: Path, questions: list[Question], problems: list[Problem]) -> None:
        self.benchmark = benchmark
        self.data_dir = data_dir
        self.questions = questions
        self.problems = problems
        self._by_key = {question.key: question for question in questions}

    @overload
    def __getitem__(self, index: int) -> Question: ...

    @overload
    def __getitem__(self, index: slice) -> list[Question]: ...

    def __getitem__(self, index: int | slice) -> Question | list[Question]:
        return self.questions[index]

    def __len__(self) -> int:
        return len(self.questions)

    def __iter__(self) -> Iterator[Question]:
        return iter(self.questions)

    def get(self, key: str) -> Question | None:
        """The question with ``key``, or ``None``."""
        return self._by_key.get(key)

    def problem_counts(self) -> dict[str, int]:
        """How many problems of each kind (kinds with none are left out)."""
        counts: dict[str, int] = {}
        for problem in self.problems:
            counts[problem.kind] = counts.get(problem.kind, 0) + 1
        return counts

    def __repr__(self) -> str:
        return f"QuestionSet({self.benchmark!r}, {len(self)} questions, {len(self.problems)} problems)"


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
            if check_images and question.image is not None:
                why = question.image.check()
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
            record = answered.get(question.key)
            if record is None:
                problems.append(
                    Problem("missing_answer", "question has no answer", question.file, question.line, question.key)
                )
            elif question.ground_truth is None:
                why = no_truth.get(question.key, "no ground truth")
                problems.append(
                    Problem(
                        "no_ground_truth",
                        f"answer to the question at {question.where} cannot be scored: {why}",
                        record.file,
                        record.line,
                        question.key,
                    )
                )
            else:
                pairs.append((question, record))
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
    def _question(self, **fields: Any) -> Question:
        """A :class:`Question` of this benchmark with its key computed by :meth:`key_for`."""
        fields.setdefault("max_new_tokens", self.max_new_tokens)
        key = self.key_for(fields["question_id"], fields["record_prompt"], fields.get("round_id"))
        return Question(benchmark=self.name, key=key, **fields)
