"""Presets as data: the JSON files a package ships in one of its folders, read by name.

Model presets (``mvlm/model/presets``), language-model presets (``mvlm/language/presets``),
training recipes (``mvlm/train/recipes``), chat-SFT recipes (``mvlm/train_lm/recipes``) and the
shipped distributed-training configurations (``mvlm/training/distributed_configs``) are all
``<name>.json`` files read through :mod:`importlib.resources`, so they work from a wheel or a zip
as well as from a source tree. Keys starting with ``_`` (``_source``...) are notes for people;
they are dropped unless ``keep_notes`` is set.

This module imports only the standard library and :mod:`mvlm.errors`, so every layer of mvlm may
use it.

Example:
    >>> from mvlm.presets import preset_names, read_preset
    >>> "zero2" in preset_names("mvlm.training", "distributed_configs")
    True
    >>> read_preset("mvlm.training", "distributed_configs", "zero2")["zero_optimization"]["stage"]
    2
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mvlm.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover - importlib.resources.abc is Python 3.11+
    from importlib.resources.abc import Traversable

__all__ = ["preset_names", "read_json_file", "read_preset", "read_presets"]

_SUFFIX = ".json"


def _folder(package: str, folder: str) -> Traversable:
    try:
        entry = resources.files(package).joinpath(folder)
    except ModuleNotFoundError as error:
        raise ConfigError(f"cannot read presets: there is no package '{package}'") from error
    if not entry.is_dir():
        raise ConfigError(f"package '{package}' ships no preset folder '{folder}'")
    return entry


def _parse(text: str, where: str, keep_notes: bool) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"{where} is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a JSON object ({{...}}), not a {type(data).__name__}")
    return data if keep_notes else {key: value for key, value in data.items() if not key.startswith("_")}


def preset_names(package: str, folder: str) -> list[str]:
    """The names of the presets ``package`` ships in ``folder``: its ``*.json`` files without the suffix, sorted.

    Args:
        package: A dotted package name (``"mvlm.train"``).
        folder: A folder inside the package (``"recipes"``).

    Raises:
        ConfigError: No such package or folder.
    """
    entries = _folder(package, folder).iterdir()
    return sorted(entry.name.removesuffix(_SUFFIX) for entry in entries if entry.name.endswith(_SUFFIX))


def read_preset(
    package: str, folder: str, name: str, *, kind: str = "preset", keep_notes: bool = False, hint: str = ""
) -> dict[str, Any]:
    """The preset ``name`` of ``package``'s ``folder``, as a dict.

    Args:
        package: A dotted package name (``"mvlm.train"``).
        folder: A folder inside the package (``"recipes"``).
        name: The preset's file name without ``.json``.
        kind: What the presets are, in words, for error messages (``"training recipe"``).
        keep_notes: Keep the ``_``-prefixed keys (``_source``...).
        hint: Appended to the unknown-name message (``"or pass a JSON file"``).

    Returns:
        The file's JSON object.

    Raises:
        ConfigError: No preset of that name (the message lists the known ones), or the file is not a
            JSON object.
    """
    entry = _folder(package, folder).joinpath(f"{name}{_SUFFIX}")
    if not entry.is_file():
        known = ", ".join(preset_names(package, folder)) or "none"
        more = f" ({hint})" if hint else ""
        raise ConfigError(f"no shipped {kind} '{name}'; known: {known}{more}")
    return _parse(entry.read_text(encoding="utf-8"), f"{kind} '{name}' ({package}/{folder})", keep_notes)


def read_presets(
    package: str, folder: str, *, kind: str = "preset", keep_notes: bool = False
) -> dict[str, dict[str, Any]]:
    """Every preset of ``package``'s ``folder``, by name, in name order.

    Args:
        package: A dotted package name (``"mvlm.model"``).
        folder: A folder inside the package (``"presets"``).
        kind: What the presets are, in words, for error messages.
        keep_notes: Keep the ``_``-prefixed keys (``_source``...).

    Raises:
        ConfigError: No such package or folder, or a file is not a JSON object.
    """
    return {
        name: read_preset(package, folder, name, kind=kind, keep_notes=keep_notes)
        for name in preset_names(package, folder)
    }


def read_json_file(path: str | os.PathLike[str], *, kind: str = "JSON configuration") -> dict[str, Any]:
    """A user's JSON configuration file (a DeepSpeed or FSDP config...), as a dict, every key kept.

    Args:
        path: The file.
        kind: What the file is, in words, for error messages.

    Raises:
        ConfigError: The file cannot be read or does not hold a JSON object.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read the {kind} '{file}': {error.strerror or error}") from error
    return _parse(text, f"the {kind} '{file}'", keep_notes=True)
