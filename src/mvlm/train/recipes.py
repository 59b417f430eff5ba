"""The published training recipes of MobileVLM, as data (``recipes/*.json``).

Four recipes: ``v1-pretrain`` (feature alignment: projector only, lr 1e-3, ``plain`` template),
``v1-finetune`` (instruction tuning: projector + LLM), ``v2-pretrain`` (projector + LLM, the
projector at its own lr 1e-3) and ``v2-finetune`` (multi-task tuning). Batch sizes are those of the
reference's 8-GPU runs; :class:`~mvlm.train.TrainConfig` scales them to the machine at hand.

The shipped DeepSpeed / FSDP configurations (:func:`load_distributed_config`) and
:func:`fsdp_training_arguments` are those of :mod:`mvlm.training.distributed`, re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from mvlm.presets import read_presets
from mvlm.registry import Registry
from mvlm.training.distributed import fsdp_training_arguments, load_distributed_config

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


def _register_packaged_recipes() -> None:
    for name, data in read_presets("mvlm.train", "recipes", kind="training recipe").items():
        RECIPES.register(name, Recipe(**data), aliases=(name.replace("-", "_"),))


_register_packaged_recipes()
