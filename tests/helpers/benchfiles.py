"""Helpers that build fake benchmark folders in the official (MobileVLM README) layout."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

V1_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
SHORT = "\nAnswer the question using a single word or phrase."
LETTER = "\nAnswer with the option's letter from the given choices directly."


def png_bytes(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (8, 6)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: Path, color: tuple[int, int, int] = (200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(color))
    return path


def png_base64(color: tuple[int, int, int] = (10, 200, 10)) -> str:
    return base64.b64encode(png_bytes(color)).decode("ascii")


def write_lines(path: Path, lines: list[Any]) -> Path:
    """Write one line per item: dicts as JSON, strings verbatim."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in lines)
    path.write_text(text, encoding="utf-8")
    return path


def answer(question_id: Any, prompt: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "question_id": question_id,
        **({"round_id": extra.pop("round_id")} if "round_id" in extra else {}),
        "prompt": prompt,
        "text": text,
        "answer_id": "a",
        "model_id": "m",
        "metadata": {},
        **extra,
    }


def problems_of(report_or_set: Any, kind: str) -> list[tuple[str | None, int | None]]:
    """``(file name, line)`` of each problem of ``kind`` (file reduced to its name)."""
    problems = report_or_set["problems"] if isinstance(report_or_set, dict) else report_or_set.problems
    out = []
    for p in problems:
        data = p if isinstance(p, dict) else p.to_dict()
        if data["kind"] == kind:
            out.append((None if data["file"] is None else Path(data["file"]).name, data["line"]))
    return out


def v1(user: str) -> str:
    return f"{V1_SYSTEM} USER: {user} ASSISTANT:"
