"""What a benchmark asks: :class:`Question` (the reference's exact user text), :class:`ImageRef`, :class:`QuestionSet`.

Images stay references (a path, or MMBench's base64 text) until :meth:`ImageRef.open` decodes them
with PIL, imported there and not at module import.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from mvlm.errors import DataError, ImageError
from mvlm.eval.records.problems import Problem
from mvlm.prompting.constants import DEFAULT_IMAGE_TOKEN
from mvlm.prompting.image_tags import ensure_image_token

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

__all__ = ["ImageRef", "Question", "QuestionSet"]


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
            # Like the reference's base64.b64decode: characters outside the alphabet are dropped.
            data = base64.b64decode(self.base64 or "")
        except (binascii.Error, ValueError) as error:
            raise ImageError(f"invalid base64 image data: {error}") from error
        if not data:
            raise ImageError("invalid base64 image data: it decodes to nothing")
        return data

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
            (:meth:`Benchmark.record_key <mvlm.eval.benchmarks.Benchmark.record_key>`). Usually
            ``str(question_id)``; MME and TextVQA ids name an image, so their key adds the question;
            MMBench's adds the round.
        question_id: The id written into the answer record, as the question file spells it.
        text: The user text after ``"<image>\\n"`` (the whole user text without an image). A
            question with several images may say where each goes with ``<image>`` tags.
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
        more_images: Further images after :attr:`image`, for questions about several images (a
            LLaVA question line whose ``"image"`` is a list of file names).
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
    more_images: tuple[ImageRef, ...] = ()

    @property
    def has_image(self) -> bool:
        """Whether the question is asked with an image."""
        return self.image is not None

    @property
    def images(self) -> tuple[ImageRef, ...]:
        """Every image of the question, in the order of their tags: :attr:`image`, then :attr:`more_images`."""
        return ((self.image,) if self.image is not None else ()) + self.more_images

    @property
    def user_message(self) -> str:
        """The user turn as sent: ``"<image>\\n" + text`` with an image, ``text`` without.

        With several images, ``text`` as it is when it has their ``<image>`` tags, else one
        ``"<image>\\n"`` per image in front (as ``chat`` places them).
        """
        if self.more_images:
            return ensure_image_token(self.text, len(self.images))
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
