"""Reading MobileVLM checkpoints: the published layouts, strict key checks, clear errors.

transformers' ``from_pretrained`` does the reading (single or sharded ``pytorch_model*.bin`` read
with ``weights_only``, ``model*.safetensors``, a local folder, a hub id, the local hub cache when
offline, ``torch_dtype`` / ``device_map`` / ``low_cpu_mem_usage``); this module turns its loading
report into errors (no tensor may be missing or left over, beyond non-persistent buffers) and
wraps low-level failures (a truncated file, a bad config) into mvlm errors that name the source.
A stage-I projector file (``mm_projector.bin``) loads into a model with :func:`load_projector_weights`.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mvlm.errors import CheckpointError, MvlmError

__all__ = [
    "IGNORED_CHECKPOINT_KEYS",
    "check_loading_report",
    "check_local_source",
    "checkpoint_folder",
    "describe_source",
    "find_damaged_weight_files",
    "load_projector_weights",
    "read_state_dict",
    "save_projector_weights",
    "wrap_loading_error",
]

IGNORED_CHECKPOINT_KEYS = (re.compile(r"(^|\.)position_ids$"), re.compile(r"(^|\.)rotary_emb\.inv_freq$"))
"""Non-persistent buffers that older checkpoints stored; their presence or absence is not an error."""

_PROJECTOR_PREFIX = "mm_projector."


def describe_source(name_or_path: str | os.PathLike[str]) -> str:
    """How to name a checkpoint in messages: the absolute folder when local, else the hub id."""
    path = Path(name_or_path).expanduser()
    return str(path.resolve()) if path.exists() else str(name_or_path)


def _ignored(key: str) -> bool:
    return any(pattern.search(key) for pattern in IGNORED_CHECKPOINT_KEYS)


def _listing(keys: Iterable[str], limit: int = 12) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > limit else shown


def _describe_mismatch(item: Any) -> str:
    if isinstance(item, (tuple, list)) and len(item) == 3:
        key, stored, expected = item
        return f"{key} (checkpoint {tuple(stored)}, model {tuple(expected)})"
    return str(item)


def check_loading_report(report: Mapping[str, Any], source: str) -> None:
    """Raise :class:`~mvlm.errors.CheckpointError` if the checkpoint missed or left over any tensor.

    Args:
        report: transformers' loading info (``missing_keys``, ``unexpected_keys``, ``mismatched_keys``).
        source: The checkpoint, for the message.
    """
    missing = {k for k in report.get("missing_keys", ()) if not _ignored(k)}
    unexpected = {k for k in report.get("unexpected_keys", ()) if not _ignored(k)}
    mismatched = [_describe_mismatch(item) for item in report.get("mismatched_keys", ())]
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensor(s) the model needs are missing: {_listing(missing)}")
    if unexpected:
        problems.append(
            f"{len(unexpected)} tensor(s) in the checkpoint have no place in the model: {_listing(unexpected)}"
        )
    if mismatched:
        problems.append(f"{len(mismatched)} tensor(s) have the wrong shape: {_listing(mismatched)}")
    if problems:
        raise CheckpointError(
            f"the checkpoint at {source} does not match its config.json: " + "; ".join(problems) + ". "
            "Check that config.json belongs to these weights (mm_projector_type, hidden_size, num_hidden_layers...)"
        )


def wrap_loading_error(error: BaseException, source: str, folder: str | os.PathLike[str] | None = None) -> MvlmError:
    """Turn an exception raised while loading ``source`` into an mvlm error that names it.

    Args:
        error: What transformers (or torch, safetensors) raised.
        source: The checkpoint as the user named it (folder or hub id), for the message.
        folder: The folder the weight files were read from (the local folder, or the snapshot in the
            hub cache), where known: a truncated or corrupt file is then named in the message
            (:func:`find_damaged_weight_files`).
    """
    if isinstance(error, MvlmError):
        return type(error)(f"{source}: {error}")
    damaged = find_damaged_weight_files(folder) if folder is not None else []
    if damaged:  # whatever the low-level error said ("Invalid argument" from a short mmap...), name the file
        listing = "; ".join(f"{path} ({problem})" for path, problem in damaged)
        return CheckpointError(
            f"could not load a MobileVLM from {source}: the weight file {listing} is truncated or corrupted. "
            "Download it again (delete the file first; for a hub checkpoint, "
            "`huggingface-cli download REPO --force-download` fetches it anew)"
        )
    text = str(error).strip() or type(error).__name__
    hint = ""
    if isinstance(error, OSError) and os.environ.get("HF_HUB_OFFLINE") == "1":
        hint = " (HF_HUB_OFFLINE=1: only the local hub cache is searched)"
    elif _looks_corrupted(error):
        hint = " (the weight file looks truncated or corrupted; download it again)"
    return CheckpointError(f"could not load a MobileVLM from {source}: {text}{hint}")


def checkpoint_folder(name_or_path: str | os.PathLike[str], **hub_kwargs: Any) -> Path | None:
    """The folder on this machine that holds the checkpoint's files, or ``None`` where there is none yet.

    A local folder as it is; a hub id: its snapshot in the local hub cache (``revision`` and
    ``cache_dir`` from ``hub_kwargs`` are honoured), found without any network access.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path.resolve()
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(
            str(name_or_path),
            "config.json",
            cache_dir=hub_kwargs.get("cache_dir"),
            revision=hub_kwargs.get("revision"),
        )
    except (ValueError, OSError):  # not a valid repo id: there is no cache folder to look in
        return None
    return Path(cached).parent if isinstance(cached, str) else None


_WEIGHT_FILE_PATTERNS = ("model*.safetensors", "pytorch_model*.bin")


def find_damaged_weight_files(folder: str | os.PathLike[str]) -> list[tuple[Path, str]]:
    """The weight files in ``folder`` that cannot be read whole, each with what is wrong.

    Looks at ``model*.safetensors`` (the header must parse and every tensor's bytes must lie in the
    file) and ``pytorch_model*.bin`` (the zip archive's directory must be readable and every member's
    checksum right; a legacy non-zip file must unpickle). Reads every byte of the ``.bin`` files,
    so it is meant for the error path, after a load failed.

    Args:
        folder: A checkpoint folder.

    Returns:
        ``(path, problem)`` for each damaged file, in name order; empty when all read.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    files = sorted({path for pattern in _WEIGHT_FILE_PATTERNS for path in root.glob(pattern) if path.is_file()})
    damaged = []
    for path in files:
        problem = _safetensors_problem(path) if path.suffix == ".safetensors" else _torch_file_problem(path)
        if problem is not None:
            damaged.append((path, problem))
    return damaged


def _safetensors_problem(path: Path) -> str | None:
    import json
    import struct

    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return f"{size} bytes, too short for a safetensors header"
        (header_size,) = struct.unpack("<Q", head)
        if 8 + header_size > size:
            return f"header of {header_size} bytes but the file has {size}"
        try:
            header = json.loads(handle.read(header_size))
        except (UnicodeDecodeError, ValueError) as error:
            return f"unreadable header ({error})"
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    needed = 8 + header_size + max(ends, default=0)
    if needed > size:
        return f"{size} bytes of the {needed} its header describes"
    return None


def _torch_file_problem(path: Path) -> str | None:
    import zipfile

    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            return f"damaged zip archive ({error})"
        return f"checksum error in {bad}" if bad is not None else None
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any failure to read it back is the damage to report
        return f"not a readable PyTorch file ({str(error).splitlines()[0] if str(error) else type(error).__name__})"
    return None


def check_local_source(name_or_path: str | os.PathLike[str]) -> None:
    """Refuse, before any download is tried, a checkpoint named as a local path that does not exist.

    A path object, or a string that is absolute, starts with ``.`` or ``~``, or has more than one
    ``/`` cannot be a hub id; without this check transformers would ask the hub for it (with
    retries) and report a network error instead.

    Raises:
        CheckpointError: The folder does not exist.
    """
    text = os.fspath(name_or_path)
    path_like = (
        not isinstance(name_or_path, str)
        or os.path.isabs(text)
        or text.startswith((".", "~"))
        or text.count("/") > 1
        or (os.sep != "/" and os.sep in text)
    )
    if path_like and not Path(text).expanduser().exists():
        raise CheckpointError(
            f"could not load a MobileVLM from {text}: there is no such folder (a hub id looks like "
            "'mtgv/MobileVLM-1.7B'; a local checkpoint is a folder with config.json)"
        )


_CORRUPTION_MARKERS = ("pytorchstreamreader", "central directory", "unpickl", "deserializ", "incomplete", "truncat")


def _looks_corrupted(error: BaseException) -> bool:
    if isinstance(error, (pickle.UnpicklingError, EOFError)) or "safetensor" in type(error).__name__.lower():
        return True
    text = str(error).lower()
    return any(marker in text for marker in _CORRUPTION_MARKERS)


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read one weight file (``.bin`` / ``.pt`` with ``weights_only``, or ``.safetensors``).

    Raises:
        CheckpointError: The file is missing, truncated, or not a state dict.
    """
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"weight file {file} does not exist")
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(file))
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"could not read weight file {file}: {error} (truncated or corrupted? download it again)"
        ) from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{file} does not hold a state dict of tensors")
    return state


def load_projector_weights(projector: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load a stage-I projector file (``mm_projector.bin``, keys ``model.mm_projector.*``) strictly.

    The reference's stage II strips everything up to ``mm_projector.`` from each key; so does this.

    Raises:
        CheckpointError: The file is unreadable, has non-projector keys, or misses / adds tensors.
    """
    state = read_state_dict(path)
    stripped = {}
    for key, value in state.items():
        if _PROJECTOR_PREFIX not in key:
            raise CheckpointError(f"{path}: key '{key}' is not a projector tensor (expected 'model.mm_projector.*')")
        stripped[key.split(_PROJECTOR_PREFIX, 1)[1]] = value
    own = projector.state_dict()
    report = {
        "missing_keys": [k for k in own if k not in stripped],
        "unexpected_keys": [f"model.{_PROJECTOR_PREFIX}{k}" for k in stripped if k not in own],
        "mismatched_keys": [
            (k, tuple(v.shape), tuple(own[k].shape))
            for k, v in stripped.items()
            if k in own and v.shape != own[k].shape
        ],
    }
    check_loading_report(report, str(path))
    projector.load_state_dict(stripped, strict=True)


def save_projector_weights(projector: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write the projector as stage I does: ``model.mm_projector.*`` keys in a ``.bin`` (or ``.safetensors``) file.

    The file is written next to its final name and renamed into place, so a failure leaves no partial file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    state = {f"model.{_PROJECTOR_PREFIX}{k}": v.detach().cpu().contiguous() for k, v in projector.state_dict().items()}
    partial = target.with_name(f".{target.name}.partial")
    if target.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(partial))
    else:
        torch.save(state, partial)
    os.replace(partial, target)
    return target
