"""Document sources for pre-training: text files, JSON Lines files and Hugging Face ``datasets``.

A source turns a corpus into a stream of :class:`Document` objects, in a fixed order, and can start
that stream again at any document it produced: every document carries its ``start`` position, a
small JSON-able dict (file number and byte offset for files; record number, and the data set's own
state when it has one, for Hugging Face data sets). That position is what a pre-training checkpoint
stores (see :class:`~mvlm.train_lm.stream.PackedTokenStream`).

Documents are numbered from 0 in corpus order (``Document.index``). A stream that is split over
several readers (ranks and data-loader workers) asks for one *shard* ``(k, n)``: the documents whose
number is ``k`` modulo ``n``. Every reader scans the whole corpus but parses and yields only its own
documents, so the shards are disjoint and together hold every document exactly once.

File kinds, by name:

* ``*.jsonl``, ``*.json`` (JSON Lines: one object per line, the text under ``text_field``);
* anything else is plain text, cut into documents by ``text_unit``: ``"paragraph"`` (blocks of
  non-blank lines separated by blank lines, the default), ``"line"`` (each non-blank line) or
  ``"file"`` (the whole file);
* a trailing ``.gz`` is decompressed on the fly (positions are offsets in the decompressed bytes).

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.jsonl").write_text('{"text": "first"}\\n{"text": "second"}\\n')
    >>> source = FileDocumentSource([folder / "a.jsonl"])
    >>> [(d.index, d.text) for d in source.iter_documents()]
    [(0, 'first'), (1, 'second')]
    >>> later = list(source.iter_documents())[1].start
    >>> [d.text for d in source.iter_documents(later)]
    ['second']
"""

from __future__ import annotations

import copy
import glob
import gzip
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from mvlm.errors import ConfigError, DataError

__all__ = [
    "Document",
    "DocumentSource",
    "FileDocumentSource",
    "HFDocumentSource",
    "TextUnit",
    "resolve_data_files",
]

TextUnit = Literal["paragraph", "line", "file"]
_TEXT_UNITS = ("paragraph", "line", "file")
_JSON_SUFFIXES = (".jsonl", ".json")


@dataclass(frozen=True)
class Document:
    """One document of a corpus.

    Attributes:
        index: Its number in corpus order (0-based; the same in every epoch).
        text: Its text.
        start: The position at which the source starts again with this document (JSON-able).
        where: Where it comes from, for messages (``"corpus/a.jsonl:17"``).
    """

    index: int
    text: str
    start: dict[str, Any]
    where: str


class DocumentSource(Protocol):
    """What :class:`~mvlm.train_lm.stream.PackedTokenStream` needs from a corpus."""

    def iter_documents(
        self, start: dict[str, Any] | None = None, shard: tuple[int, int] = (0, 1)
    ) -> Iterator[Document]:
        """The documents from ``start`` (a :attr:`Document.start`; ``None``: the beginning) to the end.

        Args:
            start: Where to begin: the ``start`` of a document this source produced.
            shard: ``(k, n)``: yield only the documents whose index is ``k`` modulo ``n``.
        """
        ...

    def describe(self) -> str:
        """A short description for logs and messages."""
        ...


def _check_shard(shard: tuple[int, int]) -> tuple[int, int]:
    k, n = shard
    if n < 1 or not 0 <= k < n:
        raise ConfigError(f"a shard is (k, n) with 0 <= k < n, got {shard!r}")
    return k, n


def resolve_data_files(patterns: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand file names and glob patterns (``corpus/*.jsonl``) into a sorted, duplicate-free list.

    Each pattern's matches are sorted; the patterns keep their order. Folders are not searched.

    Raises:
        DataError: A pattern matches nothing, or a name is a folder.
    """
    items = [patterns] if isinstance(patterns, (str, os.PathLike)) else list(patterns)
    files: list[Path] = []
    seen: set[Path] = set()
    for item in items:
        text = str(item)
        matches = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        if not matches or (not glob.has_magic(text) and not Path(text).exists()):
            raise DataError(f"no data file matches '{text}'")
        for match in matches:
            path = Path(match)
            if path.is_dir():
                raise DataError(f"'{path}' is a folder; give the data files (e.g. '{path}/*.jsonl')")
            if path.resolve() not in seen:
                seen.add(path.resolve())
                files.append(path)
    if not files:
        raise DataError("no data files given")
    return files


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def _file_kind(path: Path) -> str:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return "jsonl" if name.endswith(_JSON_SUFFIXES) else "text"


class FileDocumentSource:
    """Documents from local files: JSON Lines (``text_field``) and plain text (``text_unit``).

    Args:
        paths: Files and glob patterns, read in this order (see :func:`resolve_data_files`).
        text_field: The key of the text in each JSON Lines record.
        text_unit: How plain-text files are cut into documents: ``"paragraph"``, ``"line"`` or ``"file"``.
        encoding: The files' text encoding.

    A position is ``{"file": i, "path": name, "offset": byte, "line": n, "index": d}``; restarting
    checks that file ``i`` still has the same file name (its folder may move), so a changed file list
    is reported rather than silently read from the wrong place.

    Raises:
        DataError: No file matches, or (while reading) a record is not JSON, has no text, or is not valid text.
        ConfigError: An unknown ``text_unit``.
    """

    def __init__(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        text_field: str = "text",
        text_unit: TextUnit = "paragraph",
        encoding: str = "utf-8",
    ) -> None:
        if text_unit not in _TEXT_UNITS:
            raise ConfigError(f"text_unit must be one of {', '.join(_TEXT_UNITS)}, got {text_unit!r}")
        self.paths = resolve_data_files(paths)
        self.text_field = text_field
        self.text_unit = text_unit
        self.encoding = encoding

    def describe(self) -> str:
        """``"N file(s): first, ..."``."""
        names = ", ".join(str(p) for p in self.paths[:3]) + (", ..." if len(self.paths) > 3 else "")
        return f"{len(self.paths)} file(s): {names}"

    def iter_documents(
        self, start: dict[str, Any] | None = None, shard: tuple[int, int] = (0, 1)
    ) -> Iterator[Document]:
        """The documents from ``start`` on (see :class:`DocumentSource`)."""
        k, n = _check_shard(shard)
        position = start or {"file": 0, "offset": 0, "line": 0, "index": 0}
        first_file = int(position["file"])
        saved_name = Path(str(position.get("path", ""))).name
        if first_file < len(self.paths) and saved_name and saved_name != self.paths[first_file].name:
            raise DataError(
                f"the saved stream position points into data file {first_file} '{position['path']}', but that file is "
                f"now '{self.paths[first_file]}'; resume with the same data files, in the same order"
            )
        index = int(position["index"])
        for file_number in range(first_file, len(self.paths)):
            resume_here = file_number == first_file
            offset = int(position["offset"]) if resume_here else 0
            line = int(position["line"]) if resume_here else 0
            for text, doc_offset, doc_line in self._read_file(file_number, offset, line, index, k, n):
                if text is not None:
                    start_position = {
                        "file": file_number,
                        "path": str(self.paths[file_number]),
                        "offset": doc_offset,
                        "line": doc_line,
                        "index": index,
                    }
                    yield Document(index, text, start_position, f"{self.paths[file_number]}:{doc_line + 1}")
                index += 1

    # ------------------------------------------------------------------ reading one file
    def _read_file(
        self, file_number: int, offset: int, line: int, index: int, k: int, n: int
    ) -> Iterator[tuple[str | None, int, int]]:
        """``(text or None when not in the shard, byte offset, line number)`` of each document of one file."""
        path = self.paths[file_number]
        kind = _file_kind(path)
        with _open_binary(path) as handle:
            if offset:
                handle.seek(offset)
            if kind == "jsonl":
                yield from self._read_jsonl(handle, path, offset, line, index, k, n)
            else:
                yield from self._read_text(handle, path, offset, line, index, k, n)

    def _decode(self, raw: bytes, path: Path, line: int) -> str:
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError as error:
            raise DataError(f"{path}:{line + 1}: not valid {self.encoding} text ({error.reason})") from error

    def _read_jsonl(
        self, handle: IO[bytes], path: Path, offset: int, line: int, index: int, k: int, n: int
    ) -> Iterator[tuple[str | None, int, int]]:
        for raw in handle:
            here, here_line = offset, line
            offset += len(raw)
            line += 1
            if not raw.strip():
                continue
            if index % n != k:
                yield None, here, here_line
                index += 1
                continue
            try:
                record = json.loads(self._decode(raw, path, here_line))
            except json.JSONDecodeError as error:
                raise DataError(
                    f"{path}:{here_line + 1}: not a JSON object ({error.msg}); a .jsonl/.json corpus is JSON Lines, "
                    f"one object per line with its text under '{self.text_field}'"
                ) from error
            if not isinstance(record, dict) or not isinstance(record.get(self.text_field), str):
                found = sorted(record) if isinstance(record, dict) else type(record).__name__
                raise DataError(
                    f"{path}:{here_line + 1}: expected an object with a string '{self.text_field}' field, got {found}; "
                    "choose the field with text_field (--text-field)"
                )
            yield record[self.text_field], here, here_line
            index += 1

    def _read_text(
        self, handle: IO[bytes], path: Path, offset: int, line: int, index: int, k: int, n: int
    ) -> Iterator[tuple[str | None, int, int]]:
        lines: list[bytes] = []
        doc_offset, doc_line = offset, line

        def flush() -> tuple[str | None, int, int]:
            mine = index % n == k
            text = self._decode(b"".join(lines), path, doc_line).rstrip("\r\n") if mine else None
            return text, doc_offset, doc_line

        for raw in handle:
            blank = not raw.strip()
            if self.text_unit == "file":
                lines.append(raw)
            elif blank:
                if lines:
                    yield flush()
                    index += 1
                    lines = []
            else:
                if not lines:
                    doc_offset, doc_line = offset, line
                lines.append(raw)
                if self.text_unit == "line":
                    yield flush()
                    index += 1
                    lines = []
            offset += len(raw)
            line += 1
        if lines and (self.text_unit != "file" or any(raw.strip() for raw in lines)):
            yield flush()


class HFDocumentSource:
    """Documents from a Hugging Face ``datasets`` data set, streamed by default (``datasets`` imported lazily).

    Args:
        dataset: A data set name or path for ``datasets.load_dataset`` (``"togethercomputer/RedPajama-Data-1T"``,
            ``"json"`` with ``data_files``...), or a ``datasets.Dataset`` / ``datasets.IterableDataset``.
        name: The data set's configuration name.
        split: The split to read.
        text_field: The column holding the text.
        streaming: Stream the data set instead of downloading it first.
        **load_kwargs: Passed to ``datasets.load_dataset`` (``data_files``, ``revision``...).

    A position is ``{"record": r, "index": d}`` plus, for a streamed data set that supports it, the
    data set's own ``state_dict()`` before record ``r`` (``"native"``), so a restart does not read
    the ``r`` earlier records again; without it the stream skips them (``IterableDataset.skip``). An
    in-memory ``datasets.Dataset`` is read by index.

    Raises:
        MissingDependencyError: ``datasets`` is not installed.
        DataError: A record has no string ``text_field``.
    """

    def __init__(
        self,
        dataset: Any,
        *,
        name: str | None = None,
        split: str = "train",
        text_field: str = "text",
        streaming: bool = True,
        **load_kwargs: Any,
    ) -> None:
        self.dataset = dataset
        self.name = name
        self.split = split
        self.text_field = text_field
        self.streaming = streaming
        self.load_kwargs = load_kwargs
        self._loaded: Any = None
        self._initial_state: dict[str, Any] | None = None

    def describe(self) -> str:
        """The data set's name, configuration and split."""
        label = self.dataset if isinstance(self.dataset, str) else type(self.dataset).__name__
        return f"Hugging Face data set {label}{f' ({self.name})' if self.name else ''}, split {self.split}"

    def _data(self) -> Any:
        if self._loaded is None:
            if isinstance(self.dataset, str):
                try:
                    import datasets
                except ImportError as error:  # pragma: no cover - datasets is in the train extra
                    from mvlm.errors import MissingDependencyError

                    raise MissingDependencyError.for_package("datasets", "a Hugging Face corpus", "train") from error
                self._loaded = datasets.load_dataset(
                    self.dataset, self.name, split=self.split, streaming=self.streaming, **self.load_kwargs
                )
            else:
                self._loaded = self.dataset
            if hasattr(self._loaded, "state_dict") and hasattr(self._loaded, "load_state_dict"):
                self._initial_state = copy.deepcopy(self._loaded.state_dict())
        return self._loaded

    def _text(self, record: Any, number: int) -> str:
        text = record.get(self.text_field) if isinstance(record, dict) else None
        if not isinstance(text, str):
            found = sorted(record) if isinstance(record, dict) else type(record).__name__
            raise DataError(
                f"{self.describe()}, record {number}: expected a string '{self.text_field}' column, got {found}; "
                "choose the column with text_field (--text-field)"
            )
        return text

    def iter_documents(
        self, start: dict[str, Any] | None = None, shard: tuple[int, int] = (0, 1)
    ) -> Iterator[Document]:
        """The documents from ``start`` on (see :class:`DocumentSource`)."""
        k, n = _check_shard(shard)
        data = self._data()
        record = int(start["record"]) if start else 0
        if hasattr(data, "__getitem__") and hasattr(data, "__len__") and not hasattr(data, "load_state_dict"):
            for number in range(record, len(data)):  # an in-memory data set: read by index
                if number % n == k:
                    text = self._text(data[number], number)
                    yield Document(
                        number, text, {"record": number, "index": number}, f"{self.describe()}, record {number}"
                    )
            return
        native = self._initial_state is not None
        if native:
            data.load_state_dict(copy.deepcopy(start["native"] if start and "native" in start else self._initial_state))
        elif record:
            data = data.skip(record)
        iterator = iter(data)
        while True:
            state = copy.deepcopy(data.state_dict()) if native else None
            try:
                item = next(iterator)
            except StopIteration:
                return
            if record % n == k:
                position: dict[str, Any] = {"record": record, "index": record}
                if state is not None:
                    position["native"] = state
                yield Document(record, self._text(item, record), position, f"{self.describe()}, record {record}")
            record += 1
