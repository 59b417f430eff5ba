"""Writing MobileVLM checkpoints in the published layout, without harming what a folder already holds.

transformers' ``save_pretrained`` writes the weights (safetensors, sharded above ``max_shard_size``),
``config.json`` and ``generation_config.json``; mvlm adds the tokenizer files, and stages
everything in a temporary folder inside the target, then moves each file into place: a failure
leaves the target as it was, and files the save did not produce stay untouched (except stale
shards of the same weight family it replaces).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from mvlm.errors import CheckpointError

__all__ = ["save_into_folder"]

_WEIGHT_FILES = re.compile(r"^(model|pytorch_model)(-\d{5}-of-\d{5})?\.(safetensors|bin)(\.index\.json)?$")


def save_into_folder(target: str | os.PathLike[str], write: Callable[[Path], None]) -> list[Path]:
    """Run ``write(staging_folder)``, then move what it wrote into ``target``.

    Weight files already in ``target`` of the same family as those written (``model*.safetensors``
    shards of an earlier save) are removed so the folder holds one consistent checkpoint, as
    transformers does; every other file is kept.

    Args:
        target: The folder to save into (created if needed).
        write: Writes the checkpoint files into the folder it is given.

    Returns:
        The paths written in ``target``.

    Raises:
        CheckpointError: ``target`` exists and is not a folder, or nothing was written.
    """
    folder = Path(target).expanduser()
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"cannot save into {folder}: it exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".mvlm-save-", dir=folder))
    try:
        write(staging)
        produced = sorted(p for p in staging.rglob("*") if p.is_file())
        if not produced:
            raise CheckpointError(f"saving into {folder} produced no files")
        produced_names = {p.relative_to(staging).as_posix() for p in produced}
        families = {(m.group(1), m.group(3)) for m in map(_WEIGHT_FILES.match, produced_names) if m}
        for stale in folder.iterdir():
            match = _WEIGHT_FILES.match(stale.name)
            if (
                stale.is_file()
                and match
                and (match.group(1), match.group(3)) in families
                and stale.name not in produced_names
            ):
                stale.unlink()
        written = []
        for file in produced:
            destination = folder / file.relative_to(staging)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(file, destination)
            written.append(destination)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
