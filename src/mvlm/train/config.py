"""``TrainConfig``: one training run — a recipe plus the paths and any overrides.

How the run is carried out (checkpoints, logging, precision, scale-out) ends up in the
:class:`~mvlm.training.RunOptions` both training stacks share: :meth:`TrainConfig.run_options`
fills it with the recipe's values where the config leaves them out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mvlm.errors import ConfigError
from mvlm.train.lora import LoraSettings
from mvlm.train.recipes import Recipe, get_recipe
from mvlm.training.arguments import RunOptions

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Everything one training run needs. ``None`` means "the recipe's value".

    Attributes:
        recipe: ``v1-pretrain``, ``v1-finetune``, ``v2-pretrain`` or ``v2-finetune``.
        output_dir: Where checkpoints and the final model go.
        data_path: LLaVA-format data file(s).
        image_folder: Root of the image names in the data (default: the data file's folder).
        model: Where to start: a MobileVLM checkpoint (a folder or hub id, e.g. stage I's output) or
            a preset name (``MobileVLM-1.7B``...) assembled from ``language_model`` and ``vision_tower``.
        language_model: A MobileLLaMA (any causal LM) checkpoint, when ``model`` is a preset.
        vision_tower: A vision-tower checkpoint (CLIP), when ``model`` is a preset.
        pretrain_mm_mlp_adapter: A stage-I ``mm_projector.bin`` to load (v1 stage II).
        learning_rate: Peak learning rate.
        projector_lr: The projector's own learning rate.
        num_train_epochs: Epochs.
        max_steps: Stop after this many optimiser steps (overrides epochs when > 0).
        per_device_train_batch_size: Samples per device per micro-step.
        gradient_accumulation_steps: Micro-steps per optimiser step (default: reach the recipe's
            global batch with the devices at hand).
        global_batch_size: Total samples per optimiser step (default: the recipe's).
        warmup_ratio: Warm-up share.
        weight_decay: AdamW weight decay.
        lr_scheduler_type: Schedule after warm-up.
        model_max_length: Longest sample in positions (image positions included).
        bf16: bf16 mixed precision (default: the recipe's when the hardware supports it).
        gradient_checkpointing: Recompute activations.
        group_by_modality_length: Group batches by modality and length.
        image_aspect_ratio: ``pad`` or ``square`` preprocessing.
        train_vision_tower: Train the whole tower (the reference never does; a tower trained from
            scratch must).
        train_vision_tower_last_layers: Train only the last N tower layers that run.
        lora: LoRA settings (``None``: full fine-tuning).
        save_steps: Checkpoint interval (steps).
        save_total_limit: Checkpoints kept.
        logging_steps: Loss-logging interval.
        seed: Seed of the run (data order, dropout, initialisation).
        dataloader_num_workers: Data-loading worker processes.
        deepspeed: A shipped ZeRO config name (``zero2``/``zero3``), a JSON path, or ``None``.
        fsdp: ``True`` for the shipped FSDP config, a JSON path, or ``None``.
        resume: ``"auto"`` resumes from the newest ``checkpoint-N`` in ``output_dir`` if there is one
            (so re-running an interrupted command continues it); a path resumes from that
            checkpoint; ``False`` starts fresh.
        report_to: transformers' reporting integrations (default none).
        extra_training_arguments: Any further ``transformers.TrainingArguments`` fields.

    Raises:
        UnknownNameError: ``recipe`` is not a registered recipe.
        ConfigError: A required field is missing or a value is out of range.
    """

    recipe: str
    output_dir: str
    data_path: str | list[str]
    image_folder: str | None = None
    model: str | None = None
    language_model: str | None = None
    vision_tower: str | None = None
    pretrain_mm_mlp_adapter: str | None = None
    learning_rate: float | None = None
    projector_lr: float | None = None
    num_train_epochs: float | None = None
    max_steps: int = -1
    per_device_train_batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    global_batch_size: int | None = None
    warmup_ratio: float | None = None
    weight_decay: float | None = None
    lr_scheduler_type: str | None = None
    model_max_length: int | None = None
    bf16: bool | None = None
    gradient_checkpointing: bool | None = None
    group_by_modality_length: bool | None = None
    image_aspect_ratio: str | None = None
    train_vision_tower: bool = False
    train_vision_tower_last_layers: int = 0
    lora: LoraSettings | None = None
    save_steps: int | None = None
    save_total_limit: int | None = None
    logging_steps: int = 10
    seed: int = 42
    dataloader_num_workers: int = 0
    deepspeed: str | None = None
    fsdp: bool | str | None = None
    resume: bool | str = "auto"
    report_to: list[str] = field(default_factory=list)
    extra_training_arguments: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.recipe_spec: Recipe = get_recipe(self.recipe)
        if not self.model:
            raise ConfigError(
                "TrainConfig.model is required: a MobileVLM checkpoint to continue from (e.g. stage I's output), or "
                "a preset name (e.g. 'MobileVLM-1.7B') together with language_model and vision_tower"
            )
        if not self.output_dir:
            raise ConfigError("TrainConfig.output_dir is required: where checkpoints and the trained model go")
        if not self.data_path:
            raise ConfigError("TrainConfig.data_path is required: one or more LLaVA-format JSON / JSONL files")
        if self.deepspeed and self.fsdp:
            raise ConfigError("choose DeepSpeed or FSDP, not both")
        for name in ("max_steps", "save_steps", "per_device_train_batch_size", "gradient_accumulation_steps"):
            value = getattr(self, name)
            if value is not None and name != "max_steps" and value < 1:
                raise ConfigError(f"TrainConfig.{name} must be >= 1, got {value}")
        if self.logging_steps < 1:
            raise ConfigError(f"TrainConfig.logging_steps must be >= 1, got {self.logging_steps}")
        if self.train_vision_tower and self.train_vision_tower_last_layers:
            raise ConfigError("set train_vision_tower or train_vision_tower_last_layers, not both")

    def resolved(self, key: str) -> Any:
        """The value of ``key``: this config's when set, else the recipe's.

        Args:
            key: A field that both this config and :class:`~mvlm.train.Recipe` have.
        """
        value = getattr(self, key)
        return getattr(self.recipe_spec, key) if value is None else value

    def run_options(self, *, projector_only: bool = False) -> RunOptions:
        """How this run is carried out, as the :class:`~mvlm.training.RunOptions` both training stacks share.

        Recipe values fill what this config leaves out (``save_steps``, ``save_total_limit``,
        ``gradient_checkpointing``); ``bf16`` stays ``None`` (the hardware decides) unless this
        config sets it or the recipe trains in fp32.

        Args:
            projector_only: Only the projector trains: no gradient checkpointing (the frozen
                language model keeps no activations to recompute).
        """
        recipe = self.recipe_spec
        return RunOptions(
            output_dir=self.output_dir,
            logging_steps=self.logging_steps,
            save_steps=self.resolved("save_steps"),
            save_total_limit=self.resolved("save_total_limit"),
            seed=self.seed,
            dataloader_num_workers=self.dataloader_num_workers,
            bf16=self.bf16 if self.bf16 is not None or recipe.bf16 else False,
            gradient_checkpointing=bool(self.resolved("gradient_checkpointing")) and not projector_only,
            fsdp=self.fsdp,
            deepspeed=self.deepspeed,
            resume=self.resume,
            report_to=self.report_to,
            extra_training_arguments=self.extra_training_arguments,
        )

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data (for logs and ``train_config.json``)."""
        data = dataclasses.asdict(self)
        data.pop("recipe_spec", None)
        return data
