"""Distributed training settings: the shipped DeepSpeed / FSDP configurations and their ``TrainingArguments`` form.

Both training stacks (:mod:`mvlm.train` and :mod:`mvlm.train_lm`) name their distributed set-up the
same way: ``deepspeed`` is a shipped ZeRO configuration (``zero2``, ``zero3``, as the reference's
``scripts/deepspeed/*.json``) or a JSON file; ``fsdp`` is ``True`` for the shipped FSDP
configuration (full sharding, each ``LlamaDecoderLayer`` wrapped, as MobileLLaMA's chat SFT ran) or
a JSON file with ``fsdp`` / ``fsdp_config``. A user's JSON file is passed on as it is; a shipped one
loses its ``_source`` note.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mvlm.errors import ConfigError
from mvlm.presets import read_json_file, read_preset

__all__ = ["distributed_training_arguments", "fsdp_training_arguments", "load_distributed_config"]

_PACKAGE, _FOLDER = "mvlm.training", "distributed_configs"


def load_distributed_config(name: str) -> dict[str, Any]:
    """A shipped DeepSpeed / FSDP config as a dict (the ``_source`` note removed).

    Args:
        name: ``zero2``, ``zero3`` (DeepSpeed, as the reference's ``scripts/deepspeed/*.json``) or ``fsdp``.

    Raises:
        ConfigError: No shipped config of that name (the message lists them).
    """
    return read_preset(_PACKAGE, _FOLDER, name, kind="distributed config", hint="or pass a JSON file path")


def _is_file_spec(spec: str) -> bool:
    return spec.endswith(".json") or os.sep in spec or Path(spec).is_file()


def _resolve(spec: str, kind: str) -> dict[str, Any]:
    """A JSON file (a path ending in ``.json``, holding a separator, or an existing file), else a shipped name."""
    if _is_file_spec(spec):
        return read_json_file(spec, kind=f"{kind} configuration file")
    return load_distributed_config(spec)


def fsdp_training_arguments(settings: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``TrainingArguments``' ``fsdp`` and ``fsdp_config`` from an FSDP config dict (shipped or the user's).

    The legacy strategy string (``"full_shard auto_wrap"``, what the reference's scripts pass) is
    deprecated in transformers 5 for FSDP2; it becomes ``fsdp=True`` with ``reshard_after_forward``
    (``full_shard``: true, ``shard_grad_op``: false) and ``cpu_offload`` (``offload``) in the config.
    A string naming an FSDP1-only strategy, or a config with ``"version": 1``, is passed on unchanged.

    Args:
        settings: ``{"fsdp": true | "<strategy words>", "fsdp_config": {...}}``.

    Returns:
        ``(fsdp, fsdp_config)`` for ``transformers.TrainingArguments``.
    """
    fsdp = settings.get("fsdp", True)
    config = dict(settings.get("fsdp_config", {}))
    if not isinstance(fsdp, str) or int(config.get("version", 2)) != 2:
        return fsdp, config
    translated = dict(config)
    for word in fsdp.split():
        if word == "full_shard":
            translated.setdefault("reshard_after_forward", True)
        elif word == "shard_grad_op":
            translated.setdefault("reshard_after_forward", False)
        elif word == "offload":
            translated.setdefault("cpu_offload", True)
        elif word != "auto_wrap":
            return fsdp, config  # an FSDP1-only strategy: transformers handles (or refuses) it
    return True, translated


def distributed_training_arguments(*, fsdp: bool | str | None, deepspeed: str | None) -> dict[str, Any]:
    """The ``TrainingArguments`` fields of a run's FSDP or DeepSpeed choice (empty for plain DDP / one process).

    Args:
        fsdp: ``True`` for the shipped FSDP configuration, a JSON file (``{"fsdp": ..., "fsdp_config":
            {...}}``) or a shipped configuration's name; ``None`` / ``False``: no FSDP.
        deepspeed: A shipped ZeRO configuration (``zero2``, ``zero3``) or a DeepSpeed JSON file,
            passed on as a dict; ``None``: no DeepSpeed.

    Returns:
        ``{"fsdp": ..., "fsdp_config": {...}}``, ``{"deepspeed": {...}}`` or ``{}``.

    Raises:
        ConfigError: Both are set, a file cannot be read, a name is not shipped, or a configuration
            is of the other kind (an FSDP file without ``fsdp`` / ``fsdp_config``, a DeepSpeed one with them).
    """
    if fsdp and deepspeed:
        raise ConfigError("choose FSDP or DeepSpeed, not both")
    if fsdp:
        settings = _resolve("fsdp" if fsdp is True else str(fsdp), "FSDP")
        if not {"fsdp", "fsdp_config"} & set(settings):
            raise ConfigError(f"fsdp: '{fsdp}' has neither 'fsdp' nor 'fsdp_config'; is it a DeepSpeed configuration?")
        arguments, config = fsdp_training_arguments(settings)
        return {"fsdp": arguments, "fsdp_config": config}
    if deepspeed:
        config = _resolve(str(deepspeed), "DeepSpeed")
        if {"fsdp", "fsdp_config"} & set(config):
            raise ConfigError(f"deepspeed: '{deepspeed}' is an FSDP configuration; pass it as fsdp instead")
        return {"deepspeed": config}
    return {}
