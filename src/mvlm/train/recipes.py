"""The published training recipes of MobileVLM, as data (``recipes/*.json``).

Four recipes: ``v1-pretrain`` (feature alignment: projector only, lr 1e-3, ``plain`` template),
``v1-finetune`` (instruction tuning: projector + LLM), ``v2-pretrain`` (projector + LLM, the
projector at its own lr 1e-3) and ``v2-finetune`` (multi-task tuning). Batch sizes are those of the
reference's 8-GPU runs; :class:`~mvlm.train.TrainConfig` scales them to the machine at hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any

from mvlm.registry import Registry

__all__ = [
    "RECIPES",
    "Recipe",
    "fsdp_training_arguments",
    "get_recipe",
    "list_recipes",
    "load_distributed_config",
    "recipe_for",
]


@dataclass(frozen=True)
class Recipe:
    """One training stage as the reference ran it.

    Attributes:
        version: ``v1`` or ``v2``.
        stage: ``pretrain`` (stage I) or ``finetune`` (stage II).
        conv_template: The conversation template of the data (``plain`` or ``v1``).
        train_projector: Whether the projector trains.
        train_language_model: Whether the language model trains.
        train_vision_tower: Whether the vision tower trains (never, in the reference).
        learning_rate: Peak learning rate (1.7B models; ``learning_rate_3b`` for 3B where it differs).
        projector_lr: A separate learning rate for the projector, or ``None``.
        per_device_train_batch_size: Per-GPU batch of the reference (8 GPUs).
        global_batch_size: The reference's total batch (per-device x 8).
        image_aspect_ratio: ``square`` (stage I) or ``pad`` (stage II).
        group_by_modality_length: Whether batches group image and text-only samples apart.
        deepspeed: The ZeRO config the reference used (``zero2`` / ``zero3``).
        save_steps: Checkpoint interval of the reference.
        save_total_limit: Checkpoints kept.
        projector_only_checkpoint: Whether only ``mm_projector.bin`` is written (v1 stage I).
        data: The reference's data file.
        weight_decay: AdamW weight decay.
        warmup_ratio: Share of steps for linear warm-up.
        lr_scheduler_type: Learning-rate schedule after warm-up.
        num_train_epochs: Epochs.
        model_max_length: Longest tokenized sample.
        gradient_checkpointing: Recompute activations in the backward pass.
        bf16: Train in bf16 mixed precision.
        optim: The optimizer name of transformers.
        learning_rate_3b: The 3B model's learning rate when it differs.
        deepspeed_3b: The 3B model's ZeRO config when it differs.
    """

    version: str
    stage: str
    conv_template: str
    train_projector: bool
    train_language_model: bool
    train_vision_tower: bool
    learning_rate: float
    projector_lr: float | None
    per_device_train_batch_size: int
    global_batch_size: int
    image_aspect_ratio: str
    group_by_modality_length: bool
    deepspeed: str
    save_steps: int
    save_total_limit: int
    projector_only_checkpoint: bool
    data: str
    weight_decay: float
    warmup_ratio: float
    lr_scheduler_type: str
    num_train_epochs: float
    model_max_length: int
    gradient_checkpointing: bool
    bf16: bool
    optim: str
    learning_rate_3b: float | None = None
    deepspeed_3b: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The recipe as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


RECIPES: Registry[Recipe] = Registry("training recipe")
"""The training recipes by name (``v1-pretrain``, ``v1-finetune``, ``v2-pretrain``, ``v2-finetune``)."""


def get_recipe(name: str) -> Recipe:
    """The recipe registered as ``name``.

    Args:
        name: ``v1-pretrain``, ``v1-finetune``, ``v2-pretrain``, ``v2-finetune`` (or ``v1_pretrain``...).

    Returns:
        The :class:`Recipe`.

    Raises:
        UnknownNameError: No such recipe (the message lists them).
    """
    return RECIPES.get(name)


def recipe_for(version: str, stage: str) -> Recipe:
    """The recipe of one MobileVLM ``version`` (``v1`` / ``v2``) and ``stage`` (``pretrain`` / ``finetune``).

    Raises:
        UnknownNameError: No such version or stage.
    """
    return RECIPES.get(f"{version.lower()}-{stage.lower()}")


def list_recipes() -> list[str]:
    """Names of the registered recipes, sorted."""
    return RECIPES.names()


def load_distributed_config(name: str) -> dict[str, Any]:
    """A shipped DeepSpeed / FSDP config as a dict (the ``_source`` note removed).

    Args:
        name: ``zero2``, ``zero3`` (DeepSpeed, as the reference's ``scripts/deepspeed/*.json``) or ``fsdp``.

    Raises:
        ConfigError: No shipped config of that name (the message lists them).
    """
    from mvlm.errors import ConfigError

    folder = resources.files("mvlm.train").joinpath("distributed")
    entry = folder.joinpath(f"{name}.json")
    if not entry.is_file():
        known = sorted(e.name.removesuffix(".json") for e in folder.iterdir() if e.name.endswith(".json"))
        raise ConfigError(f"no shipped distributed config '{name}'; known: {', '.join(known)} (or pass a JSON path)")
    return {k: v for k, v in json.loads(entry.read_text()).items() if not k.startswith("_")}


def fsdp_training_arguments(settings: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``TrainingArguments``' ``fsdp`` and ``fsdp_config`` from an FSDP config dict (shipped or the user's).

    The legacy strategy string (``"full_shard auto_wrap"``, what the reference's scripts pass) is
    deprecated in transformers 5 for FSDP2; it becomes ``fsdp=True`` with ``reshard_after_forward``
    (``full_shard``: true, ``shard_grad_op``: false) and ``cpu_offload`` (``offload``) in the config.
    A string naming an FSDP1-only strategy, or a config with ``"version": 1``, is passed on unchanged.

    Args:
        settings: ``{"fsdp": true | "<strategy words>", "fsdp_config": {...}}``.
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


def _register_packaged_recipes() -> None:
    folder = resources.files("mvlm.train").joinpath("recipes")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            data = {k: v for k, v in json.loads(entry.read_text()).items() if not k.startswith("_")}
            name = entry.name.removesuffix(".json")
            RECIPES.register(name, Recipe(**data), aliases=(name.replace("-", "_"),))


_register_packaged_recipes()
