"""Answer records in the reference's JSON Lines format: making, validating and reading them.

One line per answered question, as ``model_vqa_loader.py`` / ``model_vqa_science.py`` write it::

    {"question_id": ..., "prompt": ..., "text": ..., "answer_id": ..., "model_id": ..., "metadata": {}}

and as ``model_vqa_mmbench.py`` writes it (two more keys, and ``round_id`` after ``question_id``)::

    {"question_id": ..., "round_id": 0, "prompt": ..., "text": ..., "options": [...],
     "option_char": [...], "answer_id": ..., "model_id": ..., "metadata": {}}

``prompt`` is what the reference records, which is not always what it sends (see
:attr:`~mvlm.eval.records.questions.Question.record_prompt`); the scorers read it as the reference does.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mvlm.errors import DataError
from mvlm.eval.records.problems import Problem
from mvlm.eval.records.reading import read_jsonl

if TYPE_CHECKING:  # pragma: no cover
    from mvlm.eval.records.questions import Question

__all__ = [
    "AnswerFile",
    "AnswerRecord",
    "answer_line",
    "load_answers",
    "make_answer_record",
    "new_answer_id",
    "parse_answer_record",
    "read_answers",
]

# The alphabet of shortuuid, which the reference uses for answer ids (22 characters).
_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_ID_LENGTH = 22
_REQUIRED = ("question_id", "prompt", "text")


def new_answer_id() -> str:
    """A fresh random answer id shaped like the reference's ``shortuuid.uuid()`` (22 characters)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


@dataclass(frozen=True)
class AnswerRecord:
    """One validated answer record.

    Attributes:
        question_id: The question's id as the question file spells it (a string or an int).
        prompt: The prompt as the reference records it.
        text: The generated answer.
        answer_id: The record's id (``None`` if the line had none).
        model_id: The model's name (``None`` if the line had none).
        metadata: The ``metadata`` object (empty if the line had none).
        round_id: MMBench: the round (0 for a single pass); ``None`` elsewhere.
        options: MMBench: the options in the order shown.
        option_char: MMBench: the original letter of each shown option.
        file: The file the record was read from (``None`` for in-memory records).
        line: Its 1-based line (or position, for in-memory records).
    """

    question_id: str | int
    prompt: str
    text: str
    answer_id: str | None = None
    model_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    round_id: int | None = None
    options: tuple[str, ...] | None = None
    option_char: tuple[str, ...] | None = None
    file: str | None = None
    line: int | None = None

    @property
    def where(self) -> str:
        """``"file:line"`` (or ``"<records>:position"`` for in-memory records)."""
        return f"{self.file or '<records>'}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        """The record in the reference's key order (MMBench keys only when set)."""
        record: dict[str, Any] = {"question_id": self.question_id}
        if self.round_id is not None:
            record["round_id"] = self.round_id
        record["prompt"] = self.prompt
        record["text"] = self.text
        if self.options is not None:
            record["options"] = list(self.options)
        if self.option_char is not None:
            record["option_char"] = list(self.option_char)
        record["answer_id"] = self.answer_id
        record["model_id"] = self.model_id
        record["metadata"] = dict(self.metadata)
        return record


def make_answer_record(question: Question, text: str, *, model_id: str, answer_id: str | None = None) -> dict[str, Any]:
    """The record the reference writes for ``question`` answered with ``text``.

    Args:
        question: The question asked.
        text: The generated answer, decoded and stripped as the reference does.
        model_id: The model's name (the reference writes the checkpoint folder's name).
        answer_id: The record's id; a fresh :func:`new_answer_id` by default.

    Returns:
        A JSON-ready dict; write it with :func:`answer_line`.

    Example:
        >>> from mvlm.eval.records import Question
        >>> q = Question(benchmark="pope", key="7", question_id=7, text="Is there a cat?",
        ...              record_prompt="Is there a cat?", image=None, max_new_tokens=128)
        >>> make_answer_record(q, "No", model_id="tiny", answer_id="x")  # doctest: +NORMALIZE_WHITESPACE
        {'question_id': 7, 'prompt': 'Is there a cat?', 'text': 'No', 'answer_id': 'x', 'model_id': 'tiny',
         'metadata': {}}
    """
    record = AnswerRecord(
        question_id=question.question_id,
        prompt=question.record_prompt,
        text=text,
        answer_id=new_answer_id() if answer_id is None else answer_id,
        model_id=model_id,
        round_id=question.round_id,
        options=question.options,
        option_char=question.option_char,
    )
    return record.to_dict()


def answer_line(record: Mapping[str, Any] | AnswerRecord) -> str:
    """One line of an answer file: the record as JSON (ASCII-escaped, as ``json.dumps`` by default) plus ``"\\n"``."""
    data = record.to_dict() if isinstance(record, AnswerRecord) else dict(record)
    return json.dumps(data) + "\n"


def _string_list(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"'{name}' must be a list of strings, got {value!r}")
    return tuple(value)


def parse_answer_record(data: Any, *, file: str | None = None, line: int | None = None) -> AnswerRecord:
    """Validate one decoded record.

    Args:
        data: The decoded JSON value.
        file: Where it came from, kept on the record.
        line: Its line (or position), kept on the record.

    Returns:
        The record.

    Raises:
        ValueError: The value is not an object, lacks ``question_id`` / ``prompt`` / ``text``, or a
            field has the wrong type (the message says which).
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)} (a record needs question_id, prompt and text)")
    question_id = data["question_id"]
    if isinstance(question_id, bool) or not isinstance(question_id, (str, int)):
        raise ValueError(f"'question_id' must be a string or an integer, got {question_id!r}")
    for key in ("prompt", "text"):
        if not isinstance(data[key], str):
            raise ValueError(f"'{key}' must be a string, got {data[key]!r}")
    for key in ("answer_id", "model_id"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError(f"'{key}' must be a string, got {data[key]!r}")
    metadata = data.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise ValueError(f"'metadata' must be an object, got {metadata!r}")
    round_id = data.get("round_id")
    if round_id is not None and (isinstance(round_id, bool) or not isinstance(round_id, int) or round_id < 0):
        raise ValueError(f"'round_id' must be a non-negative integer, got {round_id!r}")
    options = _string_list(data["options"], "options") if data.get("options") is not None else None
    option_char = _string_list(data["option_char"], "option_char") if data.get("option_char") is not None else None
    return AnswerRecord(
        question_id=question_id,
        prompt=data["prompt"],
        text=data["text"],
        answer_id=data.get("answer_id"),
        model_id=data.get("model_id"),
        metadata=dict(metadata),
        round_id=round_id,
        options=options,
        option_char=option_char,
        file=file,
        line=line,
    )


@dataclass(frozen=True)
class AnswerFile:
    """The valid records of an answer source and the problems met reading it.

    Attributes:
        source: The file path, or ``"<records>"`` for in-memory records.
        records: Valid records, in order.
        problems: One ``malformed_answer`` problem per invalid line.
    """

    source: str
    records: list[AnswerRecord]
    problems: list[Problem]


def load_answers(answers: str | Path | Iterable[Mapping[str, Any] | AnswerRecord]) -> AnswerFile:
    """Read answer records, keeping the valid ones and reporting each invalid line.

    Args:
        answers: A JSON Lines file (blank lines are ignored), or in-memory records (dicts or
            :class:`AnswerRecord`); in-memory records are located by their 1-based position.

    Returns:
        The records and the problems.

    Raises:
        DataError: The file does not exist or cannot be read.
    """
    if isinstance(answers, (str, Path)):
        path = Path(answers)
        if not path.is_file():
            raise DataError(f"answer file {path} does not exist; pass the jsonl the runner wrote")
        rows, problems = read_jsonl(path, "malformed_answer")
        source = str(path)
    else:
        rows, problems, source = list(enumerate(answers, start=1)), [], "<records>"
    records: list[AnswerRecord] = []
    for line, data in rows:
        if isinstance(data, AnswerRecord):
            records.append(data)
            continue
        try:
            records.append(parse_answer_record(data, file=None if source == "<records>" else source, line=line))
        except ValueError as error:
            file = None if source == "<records>" else source
            problems.append(Problem("malformed_answer", f"not an answer record: {error}", file, line))
    problems.sort(key=lambda p: p.line or 0)
    return AnswerFile(source=source, records=records, problems=problems)


def read_answers(path: str | Path) -> list[AnswerRecord]:
    """Read an answer file strictly: every non-blank line must be a valid record.

    Args:
        path: The JSON Lines file.

    Returns:
        The records in file order.

    Raises:
        DataError: The file is missing, or a line is not a valid record (the message gives file and line).
    """
    loaded = load_answers(path)
    if loaded.problems:
        first = loaded.problems[0]
        more = f" (and {len(loaded.problems) - 1} more bad line(s))" if len(loaded.problems) > 1 else ""
        raise DataError(f"{first.where}: {first.message}{more}")
    return loaded.records
