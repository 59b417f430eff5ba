"""``sft(config)``: chat fine-tuning of a MobileLLaMA on ShareGPT conversations, as the Chat models were made.

The published recipe (``mobilellama/sft/`` in the MobileVLM repository, FastChat's ``train_mem.py``):
ShareGPT data rendered with the vicuna v1.1 template (mvlm's ``v1``, alias ``vicuna_v1``), loss on
the assistant turns only, context 2048, AdamW with cosine decay after 4 % warm-up, no weight decay,
bf16 + TF32, gradient checkpointing, FSDP full sharding with each ``LlamaDecoderLayer`` wrapped, 16
sequences per GPU x 2 accumulation steps x 8 GPUs = 256 per step; 1.4B: lr 2e-5 for 3 epochs, 2.7B:
lr 3e-5 for 2 epochs. Both are registered recipes (``mobilellama-1.4b-chat``, ``mobilellama-2.7b-chat``,
data in ``recipes/*.json``); any field can be overridden in :class:`SFTConfig`. The gradient
accumulation is chosen to keep the published 256-sequence step on the devices at hand.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from mvlm.errors import CheckpointError, ConfigError
from mvlm.presets import read_presets
from mvlm.registry import Registry
from mvlm.train_lm.sharegpt import ShareGPTDataset, TextSFTCollator, read_sharegpt
from mvlm.train_lm.tokenizer_files import load_lm_tokenizer, save_tokenizer_files
from mvlm.train_lm.trainer import LMTrainer
from mvlm.training.arguments import RunOptions, build_training_arguments, gradient_accumulation_for, world_size

__all__ = ["SFT_RECIPES", "SFTConfig", "SFTRecipe", "SFTResult", "get_sft_recipe", "list_sft_recipes", "sft"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SFTRecipe:
    """A published chat-SFT setting.

    Attributes:
        template: The conversation template of the data.
        data: The reference's data file.
        learning_rate: Peak learning rate.
        num_train_epochs: Epochs.
        warmup_ratio: Share of steps for linear warm-up.
        weight_decay: AdamW weight decay.
        lr_scheduler_type: Schedule after warm-up.
        model_max_length: Context length of the samples.
        per_device_train_batch_size: Sequences per GPU per micro-step.
        gradient_accumulation_steps: The reference's accumulation (on 8 GPUs).
        global_batch_size: Sequences per optimizer step.
        bf16: bf16 mixed precision (used where the hardware supports it).
        gradient_checkpointing: Recompute activations.
    """

    template: str
    data: str
    learning_rate: float
    num_train_epochs: float
    warmup_ratio: float
    weight_decay: float
    lr_scheduler_type: str
    model_max_length: int
    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    global_batch_size: int
    bf16: bool
    gradient_checkpointing: bool


SFT_RECIPES: Registry[SFTRecipe] = Registry("chat SFT recipe")
"""The chat-SFT recipes by name (``mobilellama-1.4b-chat``, ``mobilellama-2.7b-chat``)."""


def get_sft_recipe(name: str) -> SFTRecipe:
    """The recipe registered as ``name``; raises ``UnknownNameError`` listing them."""
    return SFT_RECIPES.get(name)


def list_sft_recipes() -> list[str]:
    """Names of the registered chat-SFT recipes."""
    return SFT_RECIPES.names()


def _register_packaged_recipes() -> None:
    for name, data in read_presets("mvlm.train_lm", "recipes", kind="chat SFT recipe").items():
        SFT_RECIPES.register(name, SFTRecipe(**data))


@dataclass(kw_only=True)
class SFTConfig(RunOptions):
    """One chat-SFT run (the :class:`~mvlm.training.RunOptions` fields plus these). ``None``: the recipe's.

    Attributes:
        model: The model to fine-tune (a pre-training output folder, or a hub id).
        data: ShareGPT files (JSON list or JSON Lines).
        recipe: ``mobilellama-1.4b-chat`` or ``mobilellama-2.7b-chat``.
        tokenizer: The tokenizer (default: the model's folder).
        template: The conversation template (``vicuna_v1``).
        model_max_length: Samples are cut to this many tokens.
        learning_rate: Peak learning rate.
        num_train_epochs: Epochs.
        max_steps: Stop after this many optimizer steps (overrides epochs when > 0).
        per_device_train_batch_size: Sequences per device per micro-step.
        gradient_accumulation_steps: Micro-steps per optimizer step (default: reach ``global_batch_size``).
        global_batch_size: Sequences per optimizer step over all devices.
        warmup_ratio: Share of steps for linear warm-up.
        weight_decay: AdamW weight decay.
        lr_scheduler_type: Schedule after warm-up.
        eval_data: Held-out ShareGPT files (loss and perplexity on the answers every ``eval_steps``).
        skip_invalid: Skip records that fail the checks (counted) instead of stopping.
    """

    model: str
    data: list[str]
    recipe: str = "mobilellama-1.4b-chat"
    tokenizer: str | None = None
    template: str | None = None
    model_max_length: int | None = None
    learning_rate: float | None = None
    num_train_epochs: float | None = None
    max_steps: int = -1
    per_device_train_batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    global_batch_size: int | None = None
    warmup_ratio: float | None = None
    weight_decay: float | None = None
    lr_scheduler_type: str | None = None
    eval_data: list[str] | None = None
    skip_invalid: bool = False

    def __post_init__(self) -> None:
        self.recipe_spec: SFTRecipe = get_sft_recipe(self.recipe)

    def resolved(self, key: str) -> Any:
        """The value of ``key``: this config's when set, else the recipe's."""
        value = getattr(self, key)
        return getattr(self.recipe_spec, key) if value is None else value

    def accumulation(self, ranks: int) -> int:
        """Gradient accumulation steps: as given, else enough to reach the global batch on ``ranks`` devices."""
        if self.gradient_accumulation_steps is not None:
            return self.gradient_accumulation_steps
        return gradient_accumulation_for(
            self.resolved("global_batch_size"), self.resolved("per_device_train_batch_size"), ranks
        )

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain data (written as ``sft_config.json``)."""
        data = asdict(self)
        data.pop("recipe_spec", None)
        return data


@dataclass(frozen=True)
class SFTResult:
    """What a chat-SFT run produced.

    Attributes:
        output_dir: The saved model folder.
        global_step: Optimizer steps done (including those before a resume).
        training_loss: Mean training loss of this run's steps.
        eval_loss: Held-out answer loss at the end (``None`` without ``eval_data``).
        samples: Training conversations.
        skipped_records: Records skipped as invalid (``skip_invalid``).
        tokenization_mismatches: Conversations fully masked because their round-by-round token count
            disagreed with the whole (seen in this process; 0 expected with the reference's tokenizer).
        truncated: Conversations cut at ``model_max_length`` (seen in this process).
        untrained: Conversations without one trained token (mismatched, or cut before the first answer).
        resumed_from: The checkpoint the run continued from.
    """

    output_dir: Path
    global_step: int
    training_loss: float
    eval_loss: float | None
    samples: int
    skipped_records: int
    tokenization_mismatches: int
    truncated: int
    untrained: int
    resumed_from: str | None


def _load_model(name_or_path: str) -> Any:
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=torch.float32)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"could not load the model to fine-tune from '{name_or_path}': {error}") from error
    model.config.use_cache = False
    return model


def sft(config: SFTConfig, *, callbacks: list[Any] | None = None) -> SFTResult:
    """Run (or resume) one chat-SFT run; see the module notes.

    Args:
        config: The run.
        callbacks: Extra ``transformers.TrainerCallback`` objects.

    Raises:
        ConfigError: Inconsistent options (e.g. a context longer than the model's).
        DataError: Bad ShareGPT records (named by file and record), unless ``skip_invalid``.
        CheckpointError: The model or tokenizer cannot be loaded.
    """
    template = config.resolved("template")
    max_length = int(config.resolved("model_max_length"))
    records, problems = read_sharegpt(config.data, skip_invalid=config.skip_invalid)  # data problems first
    tokenizer = load_lm_tokenizer(config.tokenizer or config.model)
    model = _load_model(config.model)
    context = getattr(model.config, "max_position_embeddings", None)
    if context is not None and max_length > context:
        raise ConfigError(f"model_max_length {max_length} exceeds the model's context ({context} positions)")
    dataset = ShareGPTDataset(records, tokenizer, template=template, model_max_length=max_length)
    eval_dataset = None
    if config.eval_data:
        eval_records, _ = read_sharegpt(config.eval_data, skip_invalid=config.skip_invalid)
        eval_dataset = ShareGPTDataset(eval_records, tokenizer, template=template, model_max_length=max_length)

    recipe = config.recipe_spec
    options = dataclasses.replace(
        config,  # bf16 None: where the hardware supports it, if the recipe trains in bf16
        bf16=config.bf16 if config.bf16 is not None or recipe.bf16 else False,
        gradient_checkpointing=config.gradient_checkpointing and recipe.gradient_checkpointing,
    )
    arguments = build_training_arguments(
        options,
        learning_rate=config.resolved("learning_rate"),
        per_device_train_batch_size=config.resolved("per_device_train_batch_size"),
        gradient_accumulation_steps=config.accumulation(world_size()),
        warmup_ratio=config.resolved("warmup_ratio"),
        weight_decay=config.resolved("weight_decay"),
        lr_scheduler_type=config.resolved("lr_scheduler_type"),
        max_steps=config.max_steps,
        num_train_epochs=float(config.resolved("num_train_epochs")),
        has_eval=eval_dataset is not None,
        include_num_input_tokens_seen="non_padding",
    )
    resume = config.resume_checkpoint()
    trainer = LMTrainer(
        model=model,
        args=arguments,
        train_dataset=dataset,
        eval_dataset=eval_dataset,
        data_collator=TextSFTCollator(tokenizer, max_length),
        processing_class=tokenizer,
        callbacks=list(callbacks or []),
    )
    output = trainer.train(resume_from_checkpoint=resume)
    metrics = trainer.evaluate() if eval_dataset is not None else {}

    output_dir = Path(config.output_dir)
    trainer.accelerator.unwrap_model(trainer.model).config.use_cache = True
    trainer.save_model(str(output_dir))
    if trainer.is_world_process_zero():
        save_tokenizer_files(tokenizer, output_dir, config.tokenizer or config.model)
        (output_dir / "sft_config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str))
    if dataset.mismatch_count:
        logger.warning("%d conversation(s) had a tokenization mismatch and were fully masked", dataset.mismatch_count)
    return SFTResult(
        output_dir=output_dir,
        global_step=output.global_step,
        training_loss=float(output.training_loss),
        eval_loss=metrics.get("eval_loss"),
        samples=len(dataset),
        skipped_records=len(problems),
        tokenization_mismatches=dataset.mismatch_count,
        truncated=dataset.truncated_count,
        untrained=dataset.untrained_count,
        resumed_from=resume,
    )


_register_packaged_recipes()
