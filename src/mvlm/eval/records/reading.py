"""Reading the eval-kit files line by line, so that every problem can name its file and line.

JSON Lines files are read one line at a time (a bad line is reported, the others are kept); JSON
arrays are walked element by element to know the line each element starts on; MMBench's TSV is read
with the standard :mod:`csv` module (no pandas), quoting as pandas writes it.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mvlm.errors import DataError
from mvlm.eval.records.problems import Problem

__all__ = ["read_json", "read_json_array", "read_jsonl", "read_tsv", "require_file"]

_WHITESPACE = re.compile(r"\s*")


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a file, else raise a :class:`~mvlm.errors.DataError` naming it.

    Args:
        path: The file.
        what: What it holds, for the message ("the GQA question file").
    """
    if not path.is_file():
        raise DataError(
            f"{what} {path} does not exist; lay the benchmark folder out as the MobileVLM README's "
            "benchmark_data tree (unzip benchmark_data.zip and link the images as it says)"
        )
    return path


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read {path}: {error}") from error


def read_jsonl(path: Path, kind: str) -> tuple[list[tuple[int, Any]], list[Problem]]:
    """Decode a JSON Lines file, one value per non-blank line.

    Args:
        path: The file.
        kind: The :class:`Problem` kind for a line that is not valid JSON.

    Returns:
        ``(line number, value)`` for each decoded line, and one problem per undecodable line.

    Raises:
        DataError: The file cannot be read at all.
    """
    rows: list[tuple[int, Any]] = []
    problems: list[Problem] = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            problems.append(Problem(kind, f"not valid JSON ({error.msg} at column {error.colno})", str(path), number))
    return rows, problems


def read_json(path: Path) -> Any:
    """Decode a whole JSON file.

    Raises:
        DataError: The file cannot be read or is not valid JSON (the message gives the line).
    """
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from error


def read_json_array(path: Path) -> list[tuple[int, Any]]:
    """Decode a file holding one JSON array, with the line each element starts on.

    Returns:
        ``(line number, element)`` pairs in file order.

    Raises:
        DataError: The file cannot be read, is not valid JSON, or is not an array.
    """
    text = _read_text(path)
    decoder = json.JSONDecoder()
    index = _WHITESPACE.match(text, 0).end()  # type: ignore[union-attr]
    if not text.startswith("[", index):
        raise DataError(f"{path}: expected a JSON array (a list of questions), found {text[index : index + 20]!r}")
    items: list[tuple[int, Any]] = []
    line, counted_to = 1, 0
    index += 1
    while True:
        index = _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
        if text.startswith("]", index) and not items:
            break
        line += text.count("\n", counted_to, index)
        counted_to = index
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from error
        items.append((line, value))
        index = _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
        if text.startswith(",", index):
            index += 1
            continue
        if text.startswith("]", index):
            break
        lineno = text.count("\n", 0, index) + 1
        raise DataError(f"{path}:{lineno}: expected ',' or ']' between the array's elements")
    return items


@contextmanager
def _large_csv_fields() -> Iterator[None]:
    # Base64 images are far longer than the csv module's default field limit (128 KiB).
    previous = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def read_tsv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]], list[Problem]]:
    """Read a tab-separated file with a header row, as pandas' ``read_table`` splits it.

    Args:
        path: The file.

    Returns:
        The header, ``(line number, row)`` pairs (``row`` maps column -> cell text; the line is the
        row's first line, as a quoted cell may span several), and one ``malformed_data`` problem per
        row whose cell count differs from the header's.

    Raises:
        DataError: The file cannot be read or has no header.
    """
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[Problem] = []
    try:
        with _large_csv_fields(), path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t")
            header = next(reader, None)
            if not header:
                raise DataError(f"{path}: empty file; expected a header row (index, question, hint, A, B, ...)")
            start = reader.line_num + 1
            for cells in reader:
                if cells:
                    if len(cells) == len(header):
                        rows.append((start, dict(zip(header, cells, strict=True))))
                    else:
                        problems.append(
                            Problem(
                                "malformed_data",
                                f"row has {len(cells)} cells but the header has {len(header)} columns",
                                str(path),
                                start,
                            )
                        )
                start = reader.line_num + 1
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"cannot read {path} as a TSV file: {error}") from error
    return header, rows, problems
