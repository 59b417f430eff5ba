"""LLaVA-format training data: records -> expanded ``input_ids``, masked ``labels`` and ``pixel_values``.

A LLaVA data file is a JSON list (``blip_laion_cc_sbu_558k.json``, ``llava_v1_5_mix665k.json``) or a
JSONL file of records such as::

    {"id": "000000033471",
     "image": "coco/train2017/000000033471.jpg",
     "conversations": [{"from": "human", "value": "<image>\\nWhat are the colors of the bus?"},
                       {"from": "gpt", "value": "The bus is white and red."}]}

A record without ``"image"`` is a text-only sample. ``"image"`` may also be a list of file names,
one per ``<image>`` tag. :class:`LlavaDataset` reads the records up front (as the reference loads its
JSON list) and does the work per item: the conversation template renders and masks the text
(:func:`~mvlm.prompting.build_training_sample`), each image id is expanded to ``M`` placeholder
positions (:func:`~mvlm.prompting.expand_image_tokens`), the sample is cut to ``model_max_length``
without splitting an image block (:func:`~mvlm.data.collator.truncate_sample`), and only then are
the images that survived read and processed. Nothing is dropped silently: a bad record raises
:class:`~mvlm.errors.DataError` (:class:`~mvlm.errors.ImageError` for images) naming the file and
record, and :meth:`LlavaDataset.validate` finds every problem of the data set before training.
"""

from __future__ import annotations

import json
import os
import warnings
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from mvlm.data.collator import ImageCutPolicy, truncate_sample
from mvlm.errors import ConfigError, DataError, ImageError
from mvlm.model.processing import MobileVLMProcessor
from mvlm.prompting import (
    DEFAULT_IMAGE_TOKEN,
    Conversation,
    MaskedSample,
    TextTokenizer,
    TokenizationMismatchWarning,
    count_image_ids,
    get_conversation,
    label_masking_style,
)

__all__ = ["LlavaDataset", "ValidationReport", "read_llava_records"]

PathLike = str | os.PathLike[str]


# ------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class _DataFile:
    """One data file of the data set: its path, its image root, and the index of its first record."""

    path: Path
    image_root: Path
    start: int


def read_llava_records(path: PathLike) -> list[tuple[Any, int, int | None]]:
    """Read a LLaVA JSON list or JSONL file: ``[(record, position, line or None), ...]``.

    A file whose first non-blank character is ``[`` is one JSON list (``line`` is ``None``);
    otherwise it is JSONL, one record per line (blank lines skipped). Records are not checked here
    (:meth:`LlavaDataset.validate` does that).

    Raises:
        DataError: The file cannot be read, is not valid JSON (the message gives the line), is a
            JSON value other than a list, or holds no records.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read the data file '{path}': {error}") from error
    records: list[tuple[Any, int, int | None]] = []
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(
                f"'{path}' is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
            ) from error
        records.extend((record, position, None) for position, record in enumerate(data))
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((json.loads(line), len(records), number))
            except json.JSONDecodeError as error:
                raise DataError(
                    f"'{path}' line {number} is not valid JSON ({error.msg}); a LLaVA data file is a JSON list "
                    "or JSONL with one record per line"
                ) from error
    if not records:
        raise DataError(f"'{path}' holds no records")
    return records


def _turn_problems(turns: Any, plain: bool, num_images: int) -> list[str]:
    """What is wrong with a record's ``conversations`` (empty when nothing is)."""
    if not isinstance(turns, list) or not turns:
        return ["'conversations' must be a non-empty list of {'from', 'value'} turns"]
    problems: list[str] = []
    for number, turn in enumerate(turns):
        if not isinstance(turn, Mapping) or not {"from", "value"} <= set(turn):
            problems.append(f"turn {number} must be an object with 'from' and 'value', got {turn!r:.80}")
        elif turn["from"] not in ("human", "gpt"):
            problems.append(f"turn {number} has 'from' {turn['from']!r}; it must be 'human' or 'gpt'")
        elif not isinstance(turn["value"], str):
            problems.append(f"turn {number} has a 'value' of type {type(turn['value']).__name__}; it must be text")
    if problems:
        return problems
    start = 1 if turns[0]["from"] == "gpt" else 0  # the reference skips a leading gpt turn
    for number in range(start, len(turns)):
        expected = "human" if (number - start) % 2 == 0 else "gpt"
        if turns[number]["from"] != expected:
            problems.append(
                f"turns must alternate human, gpt: turn {number} comes from {turns[number]['from']!r}, expected "
                f"{expected!r}"
            )
            break
    if len(turns) - start < 2:
        problems.append("the conversation needs at least one human turn followed by a gpt answer")
    tags = [turn["value"].count(DEFAULT_IMAGE_TOKEN) for turn in turns]
    for number, count in enumerate(tags):
        if count and turns[number]["from"] != "human":
            problems.append(f"turn {number} (gpt) contains '{DEFAULT_IMAGE_TOKEN}'; images belong in human turns")
        elif count > 1:
            problems.append(
                f"turn {number} contains '{DEFAULT_IMAGE_TOKEN}' {count} times; at most one per turn (the reference "
                "moves a turn's image to its front)"
            )
    total = sum(tags)
    if num_images == 0 and total:
        problems.append(
            f"'{DEFAULT_IMAGE_TOKEN}' appears {total} time(s) but the record has no 'image'; add the image file or "
            "remove the tag"
        )
    elif num_images and total != num_images:
        problems.append(
            f"the record has {num_images} image(s) but {total} '{DEFAULT_IMAGE_TOKEN}' tag(s); put one tag where each "
            "image goes (usually '<image>\\n' at the start of the first human turn)"
        )
    if plain and (len(turns) != 2 or turns[0]["from"] != "human" or num_images != 1):
        problems.append(
            "a 'plain' (stage-I) sample must be one image and exactly two turns: human with '<image>', gpt caption"
        )
    return problems


def _image_names(record: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """The record's image file names, or a problem with its ``"image"`` value."""
    if "image" not in record:
        return [], None
    value = record["image"]
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        return [], (
            f"'image' must be a file name or a non-empty list of file names, got {value!r:.80}; remove the key for a "
            "text-only sample"
        )
    return names, None


# ------------------------------------------------------------------------------------------- report
@dataclass
class ValidationReport:
    """What :meth:`LlavaDataset.validate` found.

    Attributes:
        num_records: Records in the data set.
        num_image_records: Records with at least one image.
        num_text_records: Text-only records.
        num_images: Image references (a file used by two records counts twice).
        problems: One line per problem, ``"<file> record <n> (id ...): <what is wrong>"``.
        mismatches: Data-set indices whose tokenization did not match the round-by-round count (the
            reference masks them fully; they add no loss). ``None`` when not tokenized.
        truncated: Data-set indices longer than ``model_max_length`` (after expansion) that will be
            cut. ``None`` when not tokenized.
        dropped_images: Images that truncation removes from their samples. ``None`` when not tokenized.
    """

    num_records: int
    num_image_records: int
    num_text_records: int
    num_images: int
    problems: list[str] = field(default_factory=list)
    mismatches: list[int] | None = None
    truncated: list[int] | None = None
    dropped_images: int | None = None

    @property
    def ok(self) -> bool:
        """``True`` when no record has a problem (mismatches and truncation are reported, not problems)."""
        return not self.problems

    def summary(self, max_problems: int = 20) -> str:
        """A readable summary: counts, then up to ``max_problems`` problems."""
        lines = [
            f"{self.num_records} records: {self.num_image_records} with images ({self.num_images} image references), "
            f"{self.num_text_records} text-only; {len(self.problems)} problem(s)"
        ]
        if self.mismatches is not None:
            lines.append(f"{len(self.mismatches)} tokenization mismatch(es) (fully masked samples)")
        if self.truncated is not None:
            lines.append(f"{len(self.truncated)} sample(s) truncated, {self.dropped_images} image(s) cut away")
        lines.extend(f"  {problem}" for problem in self.problems[:max_problems])
        if len(self.problems) > max_problems:
            lines.append(f"  ... and {len(self.problems) - max_problems} more")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------- dataset
class LlavaDataset(Dataset):
    """A map-style data set over LLaVA-format JSON / JSONL files, for both MobileVLM training stages.

    Args:
        data_path: One data file or a list of them (JSON list or JSONL; see :func:`read_llava_records`).
        tokenizer: The language model's tokenizer, loaded as the reference (SentencePiece with
            ``legacy=True``; :func:`mvlm.language.load_tokenizer`).
        num_image_tokens: ``M``, the placeholder positions per image (``model.num_image_tokens``:
            144 for MobileVLM's LDP on a 336-pixel CLIP tower).
        image_folder: The root that image names are relative to (``--image-folder``); default: the
            folder of the data file. Absolute image names are used as they are.
        image_processor: Turns image files into pixels (``model.image_processor``); required when
            any record has an image.
        template: The conversation template: ``"plain"`` for stage I, ``"v1"`` for stage II (any
            template with label masking, see :func:`~mvlm.prompting.label_masking_style`).
        model_max_length: The most positions per sample, image positions included (2048 in the
            reference recipes); ``None``: no limit.
        on_image_cut: When truncation would split an image block: ``"drop"`` the image (cut before
            its block) or raise an ``"error"`` (see :func:`~mvlm.data.collator.truncate_sample`).

    Each item is a dict:

    * ``input_ids``: ``[tokens]`` long; each image is ``M`` consecutive ``-200``;
    * ``labels``: ``[tokens]`` long; ``-100`` except on the assistant's answers and their ``</s>``
      (``v1``) or the caption and its newline (``plain``);
    * ``pixel_values``: ``[num_images, 3, S, S]`` float32 in placeholder order, or ``None`` for a
      text-only sample (no zero-image filler).

    Raises:
        DataError: A data file cannot be read or parsed.
        ConfigError: Bad options, or image records and no ``image_processor``.
        PromptError: The template has no label masking.

    Example::

        from mvlm import MobileVLM
        from mvlm.data.llava import LlavaDataset
        from mvlm.data.collator import DataCollatorForSupervisedDataset

        model = MobileVLM.from_pretrained("mtgv/MobileVLM_V2-1.7B")
        data = LlavaDataset("llava_v1_5_mix665k.json", model.tokenizer, image_folder="data/",
                            num_image_tokens=model.num_image_tokens, image_processor=model.image_processor,
                            template="v1", model_max_length=2048)
        print(data.validate(raise_errors=False).summary())    # every problem, before step 1
        collate = DataCollatorForSupervisedDataset.from_tokenizer(model.tokenizer, model_max_length=2048)
    """

    def __init__(
        self,
        data_path: PathLike | Sequence[PathLike],
        tokenizer: TextTokenizer,
        *,
        num_image_tokens: int,
        image_folder: PathLike | None = None,
        image_processor: Any = None,
        template: str | Conversation = "v1",
        model_max_length: int | None = None,
        on_image_cut: ImageCutPolicy = "drop",
    ) -> None:
        if not isinstance(num_image_tokens, int) or isinstance(num_image_tokens, bool) or num_image_tokens < 1:
            raise ConfigError(
                f"num_image_tokens must be a positive int (model.num_image_tokens), got {num_image_tokens!r}"
            )
        if model_max_length is not None and (
            not isinstance(model_max_length, int) or isinstance(model_max_length, bool) or model_max_length < 1
        ):
            raise ConfigError(f"model_max_length must be a positive int or None, got {model_max_length!r}")
        if on_image_cut not in ("drop", "error"):
            raise ConfigError(f"on_image_cut must be 'drop' or 'error', got {on_image_cut!r}")
        self.template = get_conversation(template)
        self._plain = label_masking_style(self.template) == "plain"
        self.processor = MobileVLMProcessor(
            tokenizer, image_processor, num_image_tokens=num_image_tokens, conv_mode=self.template
        )
        self.model_max_length = model_max_length
        self.on_image_cut: ImageCutPolicy = on_image_cut
        self.image_folder = None if image_folder is None else Path(image_folder)
        paths = [data_path] if isinstance(data_path, (str, os.PathLike)) else list(data_path)
        if not paths:
            raise ConfigError("data_path must name at least one data file")
        self.data_paths = [Path(p) for p in paths]
        self._records: list[Any] = []
        self._files: list[_DataFile] = []
        self._file_of = array("I")  # per record: its file (compact, for millions of records)
        self._line_of = array("I")  # per record: its JSONL line, 0 in a JSON list
        for number, path in enumerate(self.data_paths):
            root = self.image_folder if self.image_folder is not None else path.parent
            self._files.append(_DataFile(path, root, len(self._records)))
            for record, _, line in read_llava_records(path):
                self._records.append(record)
                self._file_of.append(number)
                self._line_of.append(line or 0)
        if image_processor is None and any(isinstance(r, Mapping) and "image" in r for r in self._records):
            raise ConfigError(
                "the data has image records but no image_processor; pass image_processor=model.image_processor"
            )
        self._mismatched: set[int] = set()
        self._modality_lengths: list[int] | None = None

    # ------------------------------------------------------------------------------- the processor's parts
    @property
    def tokenizer(self) -> TextTokenizer:
        """The tokenizer (the processor's)."""
        return self.processor.tokenizer

    @tokenizer.setter
    def tokenizer(self, value: TextTokenizer) -> None:
        self.processor.tokenizer = value

    @property
    def num_image_tokens(self) -> int:
        """``M``, the placeholder positions per image (the processor's)."""
        return self.processor.num_image_tokens

    @num_image_tokens.setter
    def num_image_tokens(self, value: int) -> None:
        self.processor.num_image_tokens = value

    @property
    def image_processor(self) -> Any:
        """Image files -> pixels (the processor's), ``None`` for a text-only data set."""
        return self.processor.image_processor

    @image_processor.setter
    def image_processor(self, value: Any) -> None:
        self.processor.image_processor = value

    # ------------------------------------------------------------------------------- records
    def __len__(self) -> int:
        return len(self._records)

    def record(self, index: int) -> Any:
        """The raw record ``index`` as read from its file (do not modify it)."""
        return self._records[index]

    def describe(self, index: int) -> str:
        """Where record ``index`` lives, for messages: ``"'train.json' record 12 (id '000012')"``."""
        index = range(len(self))[index]
        file = self._files[self._file_of[index]]
        where = f"'{file.path}' record {index - file.start}"
        if self._line_of[index]:
            where += f" (line {self._line_of[index]})"
        record = self._records[index]
        if isinstance(record, Mapping) and "id" in record:
            where += f" (id {record['id']!r})"
        return where

    def problems(self, index: int) -> list[str]:
        """What is wrong with record ``index``'s structure (empty when nothing is); files are not checked."""
        record = self._records[index]
        if not isinstance(record, Mapping):
            return [f"a record must be a JSON object, got {type(record).__name__}"]
        if "conversations" not in record:
            return [f"missing key 'conversations' (keys: {sorted(record)})"]
        names, problem = _image_names(record)
        if problem:
            return [problem]
        return _turn_problems(record["conversations"], self._plain, len(names))

    def image_paths(self, index: int) -> list[Path]:
        """The image files of record ``index`` (empty for a text-only record), resolved against the image folder.

        Raises:
            DataError: The record is malformed (the message names it).
        """
        self._check(index)
        names, _ = _image_names(self._records[index])
        return [self._files[self._file_of[index]].image_root / name for name in names]

    def _check(self, index: int) -> None:
        problems = self.problems(index)
        if problems:
            raise DataError(f"{self.describe(index)}: " + "; ".join(problems))

    @property
    def modality_lengths(self) -> list[int]:
        """Signed word counts for grouping, ``[num_records]``, as the reference defines them.

        The number of words (what ``str.split()`` separates) of all turns; negative for text-only
        records. Image positions are not counted (the ``<image>`` tag counts as one word). Use it with
        :class:`~mvlm.data.grouping.ModalityLengthGroupedSampler`.

        Raises:
            DataError: A record without readable turns (the message names it).
        """
        if self._modality_lengths is None:
            lengths = []
            for index, record in enumerate(self._records):
                turns = record.get("conversations") if isinstance(record, Mapping) else None
                if not isinstance(turns, list) or not all(
                    isinstance(t, Mapping) and isinstance(t.get("value"), str) for t in turns
                ):
                    raise DataError(f"{self.describe(index)}: no readable 'conversations' to measure; run validate()")
                words = sum(len(turn["value"].split()) for turn in turns)
                lengths.append(words if "image" in record else -words)
            self._modality_lengths = lengths
        return list(self._modality_lengths)

    # ------------------------------------------------------------------------------- items
    @property
    def mismatch_count(self) -> int:
        """Distinct records seen *in this process* whose tokenization mismatched (fully masked, no loss).

        DataLoader workers each count their own; :meth:`validate` with ``tokenize=True`` counts the
        whole data set. Each mismatch also emits a :class:`~mvlm.prompting.TokenizationMismatchWarning`.
        """
        return len(self._mismatched)

    @property
    def mismatched_indices(self) -> list[int]:
        """The indices behind :attr:`mismatch_count`, sorted."""
        return sorted(self._mismatched)

    def tokenize(self, index: int) -> MaskedSample:
        """Record ``index`` rendered with the template and masked (one ``-200`` per image, not expanded).

        Raises:
            DataError: The record is malformed.
        """
        index = range(len(self))[index]  # a negative index counts from the end, as in a list
        self._check(index)
        record = self._records[index]
        num_images = len(_image_names(record)[0])
        sample = self.processor.encode_conversation(
            record["conversations"], num_images=num_images, model_max_length=self.model_max_length, warn=False
        )
        found = count_image_ids(sample.input_ids)
        if found != num_images:  # e.g. text-only truncation cut nothing, so this means a tag was lost
            raise DataError(
                f"{self.describe(index)}: {num_images} image(s) but {found} image ids after tokenization; check the "
                "'<image>' tags"
            )
        if sample.mismatch and index not in self._mismatched:
            self._mismatched.add(index)
            warnings.warn(
                f"{self.describe(index)}: tokenization mismatch; the sample is fully masked and adds no loss "
                f"({len(self._mismatched)} such record(s) so far in this process). Load the tokenizer as the "
                "reference did (SentencePiece, legacy=True) or check the template.",
                TokenizationMismatchWarning,
                stacklevel=2,
            )
        return sample

    def encode(self, index: int, sample: MaskedSample | None = None) -> tuple[Tensor, Tensor, int, int]:
        """Expanded, truncated ids and labels of record ``index``, without reading images.

        Args:
            index: The record.
            sample: Its :meth:`tokenize` result, if already computed.

        Returns:
            ``(input_ids [tokens], labels [tokens], images kept, images cut by truncation)``.

        Raises:
            DataError: The record is malformed, or truncation would cut an image and
                ``on_image_cut="error"``.
        """
        sample = self.tokenize(index) if sample is None else sample
        expanded = self.processor.expand(sample.input_ids, sample.labels)
        cut = truncate_sample(
            torch.tensor(expanded.input_ids, dtype=torch.long),
            torch.tensor(expanded.labels, dtype=torch.long),
            self.model_max_length,
            num_images=expanded.num_images,
            on_image_cut=self.on_image_cut,
            where=self.describe(index),
        )
        return cut.input_ids, cut.labels, cut.num_images, cut.dropped_images

    def load_images(self, index: int, count: int | None = None) -> Tensor | None:
        """Pixels of record ``index``'s first ``count`` images (all by default): ``[count, 3, S, S]`` or ``None``.

        Raises:
            ImageError: A missing, unreadable or corrupt image; the message names the data file,
                the record and the image file.
        """
        paths = self.image_paths(index)
        paths = paths if count is None else paths[:count]
        if not paths:
            return None
        try:
            pixels = self.image_processor([str(path) for path in paths])
        except ImageError as error:
            raise ImageError(f"{self.describe(index)}: {error}") from error
        return pixels

    def __getitem__(self, index: int) -> dict[str, Tensor | None]:
        """Sample ``index``: ``input_ids`` and ``labels`` ``[tokens]``, ``pixel_values`` ``[n, 3, S, S]`` or ``None``.

        Raises:
            DataError: The record is malformed (see :meth:`problems`).
            ImageError: An image cannot be read.
        """
        index = range(len(self))[int(index)]
        input_ids, labels, kept, _ = self.encode(index)
        return {"input_ids": input_ids, "labels": labels, "pixel_values": self.load_images(index, kept)}

    # ------------------------------------------------------------------------------- validation
    def validate(
        self,
        *,
        check_files: bool = True,
        decode_images: bool = False,
        tokenize: bool = False,
        raise_errors: bool = True,
        max_listed: int = 20,
    ) -> ValidationReport:
        """Check every record up front, so that a long run does not stop at step 10,000.

        Args:
            check_files: Check that every image file exists (one ``stat`` each).
            decode_images: Also read and fully decode every image (slow on large sets).
            tokenize: Also tokenize and mask every record: counts tokenization mismatches, samples
                longer than ``model_max_length`` and images truncation would cut (and finds
                ``on_image_cut="error"`` failures).
            raise_errors: Raise when there are problems; ``False`` returns the report either way.
            max_listed: How many problems the error message lists (the report keeps them all).

        Returns:
            The :class:`ValidationReport`.

        Raises:
            DataError: Some records have problems (the message counts them and lists the first ones).
        """
        from mvlm.vision.processing import load_image

        report = ValidationReport(len(self), 0, 0, 0)
        if tokenize:
            report.mismatches, report.truncated, report.dropped_images = [], [], 0
        for index in range(len(self)):
            where = self.describe(index)
            problems = self.problems(index)
            report.problems.extend(f"{where}: {problem}" for problem in problems)
            if problems:
                continue
            root = self._files[self._file_of[index]].image_root
            paths = [root / name for name in _image_names(self._records[index])[0]]
            report.num_images += len(paths)
            if paths:
                report.num_image_records += 1
            else:
                report.num_text_records += 1
            for path in paths if check_files else []:
                if not path.is_file():
                    report.problems.append(f"{where}: image file '{path}' not found")
                elif decode_images:
                    try:
                        load_image(path, max_pixels=getattr(self.image_processor, "max_pixels", None))
                    except ImageError as error:
                        report.problems.append(f"{where}: {error}")
            if tokenize:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", TokenizationMismatchWarning)
                    try:
                        sample = self.tokenize(index)
                        ids, _, _, dropped = self.encode(index, sample)
                    except DataError as error:
                        report.problems.append(str(error))
                        continue
                assert report.mismatches is not None and report.truncated is not None
                if sample.mismatch:
                    report.mismatches.append(index)
                expanded = len(sample.input_ids) + len(paths) * (self.num_image_tokens - 1)
                # Text-only samples are cut by the tokenizer already (as the reference); count those at the limit.
                at_limit = not paths and self.model_max_length is not None and expanded >= self.model_max_length
                if ids.shape[0] < expanded or at_limit:
                    report.truncated.append(index)
                report.dropped_images = (report.dropped_images or 0) + dropped
        if report.problems and raise_errors:
            raise DataError("the data set has problems:\n" + report.summary(max_listed))
        return report
