"""``train(config)``: one MobileVLM training stage, from a :class:`~mvlm.train.TrainConfig` to a saved model.

The steps: build or load the model (assembling stage I from MobileLLaMA + CLIP + a fresh
projector), choose what trains, wrap LoRA if asked, build the LLaVA data set and collator, turn the
recipe into ``transformers.TrainingArguments`` (scaled to the devices at hand), train with
:class:`~mvlm.train.MobileVLMTrainer` (resuming from the newest checkpoint after an interruption),
and save: ``mm_projector.bin`` for a projector-only stage, adapters for LoRA, a full checkpoint
otherwise.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mvlm.errors import ConfigError
from mvlm.train.config import TrainConfig
from mvlm.train.freezing import TrainableParts, apply_trainable_parts, count_parameters
from mvlm.train.recipes import load_distributed_config
from mvlm.train.trainer import PROJECTOR_FILE, MobileVLMTrainer, last_checkpoint

__all__ = ["TrainResult", "build_training_model", "train"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What a run produced.

    Attributes:
        output_dir: Where the final model (or projector / adapters) was saved.
        global_step: Optimiser steps done (including those before a resume).
        training_loss: Mean training loss of this run's steps.
        trainable_parameters: Parameters that trained.
        total_parameters: All parameters of the model.
        resumed_from: The checkpoint the run resumed from, if any.
        tokenization_mismatches: Samples masked entirely because their tokenization disagreed with
            the template (the reference's "tokenization mismatch"); should be 0.
    """

    output_dir: Path
    global_step: int
    training_loss: float
    trainable_parameters: int
    total_parameters: int
    resumed_from: str | None
    tokenization_mismatches: int


def build_training_model(config: TrainConfig) -> Any:
    """The model a run starts from: a checkpoint, or a preset assembled from a language model and a tower."""
    from mvlm.model import MobileVLM, list_model_presets
    from mvlm.model.assembly import assemble_mobilevlm

    if config.model in list_model_presets() or (config.language_model or config.vision_tower):
        if not (config.language_model and config.vision_tower):
            raise ConfigError(
                f"to assemble '{config.model}' give both language_model (e.g. mtgv/MobileLLaMA-1.4B-Chat) and "
                "vision_tower (e.g. openai/clip-vit-large-patch14-336)"
            )
        model = assemble_mobilevlm(
            config.model, language_model=config.language_model, vision_tower=config.vision_tower, dtype=torch.float32
        )
    else:
        model = MobileVLM.from_pretrained(config.model, dtype=torch.float32)
    if config.pretrain_mm_mlp_adapter:
        model.load_projector(config.pretrain_mm_mlp_adapter)
    model.config.image_aspect_ratio = config.resolved("image_aspect_ratio")
    model.config.use_cache = False
    return model


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _bf16_supported() -> bool:
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return False  # CPU autocast to bf16 is emulated (slow) on most CPUs; train in fp32 there


def _training_arguments(config: TrainConfig, projector_only: bool) -> Any:
    from transformers import TrainingArguments

    recipe = config.recipe_spec
    per_device = config.resolved("per_device_train_batch_size")
    if config.gradient_accumulation_steps is not None:
        accumulation = config.gradient_accumulation_steps
    else:
        global_batch = config.resolved("global_batch_size")
        accumulation = max(1, global_batch // (per_device * _world_size()))
    bf16 = config.bf16 if config.bf16 is not None else (recipe.bf16 and _bf16_supported())
    options: dict[str, Any] = {
        "output_dir": config.output_dir,
        "learning_rate": config.resolved("learning_rate"),
        "num_train_epochs": config.resolved("num_train_epochs"),
        "max_steps": config.max_steps,
        "per_device_train_batch_size": per_device,
        "gradient_accumulation_steps": accumulation,
        "warmup_steps": float(config.resolved("warmup_ratio")),  # a float in [0, 1) is a ratio in transformers 5
        "weight_decay": config.resolved("weight_decay"),
        "lr_scheduler_type": config.resolved("lr_scheduler_type"),
        "bf16": bf16,
        "gradient_checkpointing": config.resolved("gradient_checkpointing") and not projector_only,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.resolved("save_steps"),
        "save_total_limit": config.resolved("save_total_limit"),
        "seed": config.seed,
        "data_seed": config.seed,
        "dataloader_num_workers": config.dataloader_num_workers,
        "remove_unused_columns": False,
        "report_to": config.report_to,
        "optim": recipe.optim,
        "disable_tqdm": False,
    }
    if config.deepspeed:
        path = Path(config.deepspeed)
        options["deepspeed"] = (
            json.loads(path.read_text()) if path.is_file() else load_distributed_config(config.deepspeed)
        )
    if config.fsdp:
        fsdp = (
            json.loads(Path(config.fsdp).read_text())
            if isinstance(config.fsdp, str)
            else load_distributed_config("fsdp")
        )
        options["fsdp"] = fsdp["fsdp"]
        options["fsdp_config"] = fsdp.get("fsdp_config", {})
    options.update(config.extra_training_arguments)
    return TrainingArguments(**options)


def train(config: TrainConfig) -> TrainResult:
    """Run one training stage.

    Raises:
        ConfigError: Inconsistent options (e.g. assembling without a language model).
        DataError / ImageError: The data has problems; all are reported before training starts.
    """
    from mvlm.data.collator import DataCollatorForSupervisedDataset
    from mvlm.data.grouping import ModalityLengthGroupedSampler
    from mvlm.data.llava import LlavaDataset
    from mvlm.train.lora import apply_lora, save_lora

    recipe = config.recipe_spec
    model = build_training_model(config)
    parts = TrainableParts(
        projector=recipe.train_projector,
        language_model=recipe.train_language_model and config.lora is None,
        vision_tower=config.train_vision_tower or recipe.train_vision_tower,
        vision_tower_last_layers=config.train_vision_tower_last_layers,
    )
    apply_trainable_parts(model, parts)
    projector_only = recipe.projector_only_checkpoint and not parts.language_model and config.lora is None
    if config.lora is not None:
        model = apply_lora(model, config.lora)
    trainable, total = count_parameters(model)
    logger.info("training %s of %s parameters (%s)", f"{trainable:,}", f"{total:,}", config.recipe)

    base = model.get_base_model() if config.lora is not None else model
    max_length = config.resolved("model_max_length")
    tokenizer = base.tokenizer
    tokenizer.model_max_length = max_length
    dataset = LlavaDataset(
        config.data_path,
        tokenizer,
        num_image_tokens=base.num_image_tokens,
        image_folder=config.image_folder,
        image_processor=base.image_processor,
        template=recipe.conv_template,
        model_max_length=max_length,
    )
    dataset.validate()  # every problem in the data, before step 1
    collator = DataCollatorForSupervisedDataset.from_tokenizer(tokenizer, model_max_length=max_length)
    arguments = _training_arguments(config, projector_only)
    sampler_factory = None
    if config.resolved("group_by_modality_length"):
        world = arguments.world_size * arguments.gradient_accumulation_steps

        def sampler_factory(data: Any) -> ModalityLengthGroupedSampler:
            return ModalityLengthGroupedSampler.from_dataset(
                data, arguments.per_device_train_batch_size, world, seed=arguments.seed
            )

    trainer = MobileVLMTrainer(
        model=model,
        args=arguments,
        train_dataset=dataset,
        data_collator=collator,
        projector_lr=config.resolved("projector_lr"),
        projector_only_checkpoints=projector_only,
        train_sampler_factory=sampler_factory,
    )
    resume = config.resume
    resumed_from = last_checkpoint(config.output_dir) if resume == "auto" else (resume or None)
    output = trainer.train(resume_from_checkpoint=resumed_from)
    output_dir = Path(config.output_dir)
    if trainer.is_world_process_zero():
        if config.lora is not None:
            save_lora(model, output_dir)
        elif projector_only:
            base.save_projector(output_dir / PROJECTOR_FILE)
            base.config.save_pretrained(output_dir)
        else:
            base.config.use_cache = True
            trainer.save_model(str(output_dir))
        (output_dir / "train_config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str))
    return TrainResult(
        output_dir=output_dir,
        global_step=output.global_step,
        training_loss=float(output.training_loss),
        trainable_parameters=trainable,
        total_parameters=total,
        resumed_from=str(resumed_from) if resumed_from else None,
        tokenization_mismatches=dataset.mismatch_count,
    )
