"""Finding the checkpoint a run continues from: the newest complete ``checkpoint-N`` of its output folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["last_checkpoint"]

_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def last_checkpoint(output_dir: str | os.PathLike[str]) -> str | None:
    """The newest complete ``checkpoint-N`` folder in ``output_dir`` (what an interrupted run resumes from).

    A checkpoint is complete when it holds ``trainer_state.json``, which transformers writes last:
    a process killed while saving leaves a folder without it, and the run resumes from the one before.

    Args:
        output_dir: The run's output folder.

    Returns:
        The folder, or ``None`` when there is none.
    """
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    complete = [
        (int(match.group(1)), path)
        for path in folder.iterdir()
        if (match := _CHECKPOINT.fullmatch(path.name)) and (path / "trainer_state.json").is_file()
    ]
    return str(max(complete)[1]) if complete else None
