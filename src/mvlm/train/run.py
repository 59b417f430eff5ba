"""``train(config)``: one MobileVLM training stage, from a :class:`~mvlm.train.TrainConfig` to a saved model.

The steps: build or load the model (assembling stage I from MobileLLaMA + CLIP + a fresh
projector, or continuing from stage I's output), choose what trains, wrap LoRA if asked, build the
LLaVA data set and collator, turn the recipe into ``transformers.TrainingArguments`` (scaled to the
devices at hand; :func:`mvlm.training.build_training_arguments`, as MobileLLaMA training does),
train with :class:`~mvlm.train.MobileVLMTrainer` (resuming from the newest checkpoint after an
interruption), and save: ``mm_projector.bin`` for a projector-only stage, adapters for LoRA, a full
checkpoint otherwise; plus ``trainer_state.json``, ``loss_log.csv`` and ``train_config.json``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mvlm.errors import ConfigError
from mvlm.train.config import TrainConfig
from mvlm.train.freezing import TrainableParts, apply_trainable_parts, count_parameters
from mvlm.train.trainer import PROJECTOR_FILE, LossLogCallback, MobileVLMTrainer
from mvlm.training.arguments import RunOptions, build_training_arguments, gradient_accumulation_for, world_size

__all__ = ["TrainResult", "build_training_model", "train"]

logger = logging.getLogger(__name__)

TRAIN_CONFIG_FILE = "train_config.json"
_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


@dataclass(frozen=True)
class TrainResult:
    """What a run produced.

    Attributes:
        output_dir: Where the final model (or projector / adapters) was saved.
        global_step: Optimiser steps done (including those before a resume).
        training_loss: Mean training loss of this run's steps (``nan`` when a finished run had none left).
        trainable_parameters: Parameters that trained.
        total_parameters: All parameters of the model.
        resumed_from: The checkpoint the run resumed from, if any.
        tokenization_mismatches: Samples masked entirely because their tokenization disagreed with
            the template (the reference's "tokenization mismatch"); should be 0.
        loss_history: ``(step, loss)`` for every logged step, those before a resume included.
        model: The trained model (a peft model for LoRA runs), in memory.
    """

    output_dir: Path
    global_step: int
    training_loss: float
    trainable_parameters: int
    total_parameters: int
    resumed_from: str | None
    tokenization_mismatches: int
    loss_history: list[tuple[int, float]] = field(default_factory=list)
    model: Any = field(default=None, repr=False, compare=False)


# ------------------------------------------------------------------------------------------- the model
def _is_stage_one_output(path: str) -> bool:
    folder = Path(path)
    return (folder / PROJECTOR_FILE).is_file() and not any((folder / name).is_file() for name in _WEIGHT_FILES)


def _loading_options(quantization: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"dtype": torch.float32}
    if quantization is not None:
        options["quantization_config"] = quantization
    return options


def _from_stage_one_output(config: TrainConfig, quantization: Any) -> Any:
    """Stage I's output holds the projector only: rebuild the model it was trained in, then load the projector."""
    from mvlm.model import MobileVLM, MobileVLMConfig
    from mvlm.model.assembly import assemble_mobilevlm

    folder = Path(str(config.model))
    saved_file = folder / TRAIN_CONFIG_FILE
    saved = json.loads(saved_file.read_text()) if saved_file.is_file() else {}
    language_model = config.language_model or saved.get("language_model")
    vision_tower = config.vision_tower or saved.get("vision_tower")
    start = saved.get("model")
    if language_model:
        if quantization is not None:
            raise ConfigError("QLoRA needs a saved MobileVLM checkpoint to start from, not parts to assemble")
        model_config = MobileVLMConfig.from_pretrained(folder)
        if not vision_tower and not model_config.mm_vision_config:
            vision_tower = model_config.mm_vision_tower
        model = assemble_mobilevlm(
            model_config, language_model=language_model, vision_tower=vision_tower, dtype=torch.float32
        )
    elif start and not _is_stage_one_output(start):
        model = MobileVLM.from_pretrained(start, **_loading_options(quantization))
    else:
        raise ConfigError(
            f"{folder} holds only a stage-I projector ({PROJECTOR_FILE}) and its {TRAIN_CONFIG_FILE} does not say "
            "which language model and vision tower it was trained with; pass language_model and vision_tower"
        )
    model.load_projector(folder / PROJECTOR_FILE)
    return model


def build_training_model(config: TrainConfig) -> Any:
    """The model a run starts from, in float32.

    ``config.model`` is one of: a MobileVLM checkpoint (a folder or hub id); a stage-I output
    folder (``mm_projector.bin`` and ``train_config.json``: the model it was trained in is rebuilt
    and the projector loaded); or a preset name (``MobileVLM-1.7B``...) assembled from
    ``language_model`` and ``vision_tower`` with a fresh projector.
    ``pretrain_mm_mlp_adapter`` is loaded last.

    Args:
        config: The run's configuration.

    Returns:
        The :class:`~mvlm.model.MobileVLM`, ``use_cache`` off, ``image_aspect_ratio`` as the recipe says.

    Raises:
        ConfigError: A preset without both parts, or QLoRA from parts.
        CheckpointError: A checkpoint or part cannot be loaded.
    """
    from mvlm.model import MODEL_PRESETS, MobileVLM
    from mvlm.model.assembly import assemble_mobilevlm
    from mvlm.train.lora import quantization_config

    quantization = quantization_config(config.lora) if config.lora is not None else None
    source = str(config.model)
    if _is_stage_one_output(source):
        model = _from_stage_one_output(config, quantization)
    elif source in MODEL_PRESETS or config.language_model or config.vision_tower:
        if not (config.language_model and config.vision_tower):
            raise ConfigError(
                f"to assemble '{source}' give both language_model (e.g. mtgv/MobileLLaMA-1.4B-Chat) and "
                "vision_tower (e.g. openai/clip-vit-large-patch14-336)"
            )
        if quantization is not None:
            raise ConfigError("QLoRA needs a saved MobileVLM checkpoint to start from, not parts to assemble")
        model = assemble_mobilevlm(
            source, language_model=config.language_model, vision_tower=config.vision_tower, dtype=torch.float32
        )
    else:
        model = MobileVLM.from_pretrained(source, **_loading_options(quantization))
    if config.pretrain_mm_mlp_adapter:
        model.load_projector(config.pretrain_mm_mlp_adapter)
    model.config.image_aspect_ratio = config.resolved("image_aspect_ratio")
    model.config.use_cache = False
    return model


# ------------------------------------------------------------------------------------------- arguments
def _training_arguments(config: TrainConfig, options: RunOptions, learning_rate: float, unused_params: bool) -> Any:
    """The run's ``TrainingArguments``: the recipe's schedule, its global batch reached on the devices at hand."""
    per_device = config.resolved("per_device_train_batch_size")
    accumulation = config.gradient_accumulation_steps
    if accumulation is None:
        accumulation = gradient_accumulation_for(config.resolved("global_batch_size"), per_device, world_size())
    # e.g. a text-only batch leaves the projector without gradients
    more: dict[str, Any] = {"ddp_find_unused_parameters": True} if unused_params else {}
    return build_training_arguments(
        options,
        learning_rate=learning_rate,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        warmup_ratio=config.resolved("warmup_ratio"),
        weight_decay=config.resolved("weight_decay"),
        lr_scheduler_type=config.resolved("lr_scheduler_type"),
        max_steps=config.max_steps,
        num_train_epochs=config.resolved("num_train_epochs"),
        optim=config.recipe_spec.optim,
        **more,
    )


def _learning_rate(config: TrainConfig, model: Any) -> float:
    """The configured rate, else the recipe's (its 3B value for a MobileLLaMA-2.7B-wide model)."""
    recipe = config.recipe_spec
    if config.learning_rate is not None:
        return config.learning_rate
    if recipe.learning_rate_3b is not None and model.config.hidden_size == 2560:
        return recipe.learning_rate_3b
    return recipe.learning_rate


def _is_finished(checkpoint: str, config: TrainConfig) -> bool:
    """Whether ``checkpoint`` already holds the last step of the run ``config`` describes."""
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    target = config.max_steps if config.max_steps > 0 else int(state.get("max_steps") or 0)
    return target > 0 and int(state.get("global_step", 0)) >= target


# ------------------------------------------------------------------------------------------- the run
def train(config: TrainConfig, callbacks: Sequence[Any] = ()) -> TrainResult:
    """Run one training stage and save its result into ``config.output_dir``.

    Under ``torchrun`` every process calls this; transformers and accelerate do the rest (one
    process writes the files).

    Args:
        config: The run's configuration.
        callbacks: Extra ``transformers.TrainerCallback`` objects (early stopping, custom logging...).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ConfigError: Inconsistent options (e.g. assembling without a language model, LoRA on a
            recipe that does not train the language model).
        DataError / ImageError: The data has problems; all are reported before training starts.
    """
    from mvlm.data.collator import DataCollatorForSupervisedDataset
    from mvlm.data.grouping import ModalityLengthGroupedSampler
    from mvlm.data.llava import LlavaDataset
    from mvlm.train.lora import apply_lora

    recipe = config.recipe_spec
    if config.lora is not None and not recipe.train_language_model:
        raise ConfigError(f"LoRA adapts the language model, which recipe '{config.recipe}' keeps frozen")
    model = build_training_model(config)
    learning_rate = _learning_rate(config, model)
    parts = TrainableParts(
        projector=recipe.train_projector,
        language_model=recipe.train_language_model and config.lora is None,
        vision_tower=config.train_vision_tower or recipe.train_vision_tower,
        vision_tower_last_layers=config.train_vision_tower_last_layers,
    )
    apply_trainable_parts(model, parts)
    projector_only = recipe.projector_only_checkpoint and not parts.language_model and not parts.trains_tower
    base = model
    if config.lora is not None:
        model = apply_lora(model, config.lora)
    trainable, total = count_parameters(model)
    logger.info("training %s of %s parameters (%s)", f"{trainable:,}", f"{total:,}", config.recipe)

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
    has_text_only = any(length < 0 for length in dataset.modality_lengths)
    collator = DataCollatorForSupervisedDataset.from_tokenizer(tokenizer, model_max_length=max_length)
    options = config.run_options(projector_only=projector_only)
    arguments = _training_arguments(config, options, learning_rate, unused_params=has_text_only)
    sampler_factory = None
    if config.resolved("group_by_modality_length"):
        steps_world = arguments.world_size * arguments.gradient_accumulation_steps

        def sampler_factory(data: Any) -> ModalityLengthGroupedSampler:
            return ModalityLengthGroupedSampler.from_dataset(
                data, arguments.per_device_train_batch_size, steps_world, seed=arguments.seed
            )

    trainer = MobileVLMTrainer(
        model=model,
        args=arguments,
        train_dataset=dataset,
        data_collator=collator,
        callbacks=[LossLogCallback(), *callbacks],
        projector_lr=config.resolved("projector_lr"),
        projector_only_checkpoints=projector_only,
        train_sampler_factory=sampler_factory,
    )
    resumed_from = options.resume_checkpoint()
    if resumed_from is not None and _is_finished(resumed_from, config):
        # transformers would run one step past the end; reload the finished state and save again instead
        if config.deepspeed or config.fsdp:
            raise ConfigError(
                f"{resumed_from} is the last checkpoint of a finished run; to train again, give a new output "
                "folder or resume=False (--resume never)"
            )
        from transformers import TrainerState

        logger.info("%s is the end of a finished run: nothing left to train", resumed_from)
        trainer._load_from_checkpoint(resumed_from)
        trainer.state = TrainerState.load_from_json(str(Path(resumed_from) / "trainer_state.json"))
        global_step, training_loss = trainer.state.global_step, float("nan")
    else:
        output = trainer.train(resume_from_checkpoint=resumed_from)
        global_step, training_loss = output.global_step, float(output.training_loss)

    output_dir = Path(config.output_dir)
    base.config.use_cache = True
    trainer.save_model(str(output_dir))  # every rank: ZeRO-3 / FSDP gather the weights; one rank writes
    trainer.save_state()  # trainer_state.json: the loss history and the rest of the state
    if trainer.is_world_process_zero():
        if config.lora is not None:
            base.config.save_pretrained(output_dir)
        (output_dir / TRAIN_CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2, default=str))
    history = [(int(e["step"]), float(e["loss"])) for e in trainer.state.log_history if "loss" in e]
    return TrainResult(
        output_dir=output_dir,
        global_step=global_step,
        training_loss=training_loss,
        trainable_parameters=trainable,
        total_parameters=total,
        resumed_from=resumed_from,
        tokenization_mismatches=dataset.mismatch_count,
        loss_history=history,
        model=model,
    )
