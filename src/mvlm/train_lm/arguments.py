"""The options pre-training and SFT share, and their translation into ``transformers.TrainingArguments``.

Precision follows the hardware: bf16 mixed precision (and TF32 matmuls, as the published SFT ran)
on GPUs that support them, fp32 elsewhere (CPU bf16 autocast is emulated and slow on most CPUs).
Distributed training is transformers' and accelerate's: ``fsdp=True`` selects the shipped FSDP
configuration (``mvlm.train.load_distributed_config("fsdp")``: full sharding, each
``LlamaDecoderLayer`` wrapped, as MobileLLaMA's chat SFT ran), ``deepspeed`` a shipped ZeRO
configuration (``zero2``/``zero3``) or a JSON file; run the same command under ``torchrun``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mvlm.errors import ConfigError
from mvlm.train.recipes import fsdp_training_arguments, load_distributed_config

__all__ = ["RunOptions", "bf16_supported", "build_training_arguments", "world_size"]


@dataclass(kw_only=True)
class RunOptions:
    """How a run is carried out (not what it learns): logging, checkpoints, precision, scale-out.

    Attributes:
        output_dir: Where checkpoints (``checkpoint-N``) and the final model go.
        logging_steps: Loss / learning-rate / tokens-per-second logging interval (optimizer steps).
        save_steps: Checkpoint interval (optimizer steps).
        save_total_limit: Checkpoints kept (the oldest are deleted).
        eval_steps: Evaluation interval (optimizer steps), when there is evaluation data.
        seed: Seed of initialisation, data order and dropout.
        dataloader_num_workers: Data-loading worker processes.
        bf16: bf16 mixed precision; ``None``: when the hardware supports it.
        gradient_checkpointing: Recompute activations in the backward pass (less memory, ~30 % slower).
        fsdp: ``True`` for the shipped FSDP configuration, a JSON file, or ``None``.
        deepspeed: A shipped ZeRO configuration name (``zero2``, ``zero3``), a JSON file, or ``None``.
        resume: ``"auto"``: continue from the newest checkpoint in ``output_dir`` if any; a path: from
            it; ``False``: start fresh.
        report_to: transformers' reporting integrations (``"tensorboard"``, ``"wandb"``...).
        extra_training_arguments: Any further ``transformers.TrainingArguments`` fields.
    """

    output_dir: str
    logging_steps: int = 10
    save_steps: int = 1000
    save_total_limit: int | None = 3
    eval_steps: int = 1000
    seed: int = 42
    dataloader_num_workers: int = 0
    bf16: bool | None = None
    gradient_checkpointing: bool = True
    fsdp: bool | str | None = None
    deepspeed: str | None = None
    resume: bool | str = "auto"
    report_to: list[str] = field(default_factory=list)
    extra_training_arguments: dict[str, Any] = field(default_factory=dict)

    def resume_checkpoint(self) -> str | None:
        """The checkpoint this run continues from (``None``: a fresh start), following :attr:`resume`."""
        if self.resume is False or self.resume is None:
            return None
        if self.resume == "auto" or self.resume is True:
            from mvlm.train.trainer import last_checkpoint

            return last_checkpoint(self.output_dir)
        if not Path(str(self.resume)).is_dir():
            raise ConfigError(f"resume: no checkpoint folder '{self.resume}'")
        return str(self.resume)


def world_size() -> int:
    """The number of training processes (``WORLD_SIZE``, 1 outside ``torchrun``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def bf16_supported() -> bool:
    """Whether bf16 mixed precision is worth using here: a CUDA device that supports it."""
    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def _accelerator_available() -> bool:
    xpu = getattr(torch, "xpu", None)
    return bool(torch.cuda.is_available() or (xpu is not None and xpu.is_available()))


def _distributed_options(options: RunOptions) -> dict[str, Any]:
    if options.fsdp and options.deepspeed:
        raise ConfigError("choose FSDP or DeepSpeed, not both")
    # transformers / accelerate treat a torchrun launch as multi-process CPU training only with use_cpu
    out: dict[str, Any] = {"use_cpu": True} if world_size() > 1 and not _accelerator_available() else {}
    if options.fsdp:
        if isinstance(options.fsdp, str):
            path = Path(options.fsdp)
            if not path.is_file():
                raise ConfigError(f"fsdp: no FSDP configuration file '{path}' (or pass True for the shipped one)")
            fsdp = json.loads(path.read_text())
        else:
            fsdp = load_distributed_config("fsdp")
        out["fsdp"], out["fsdp_config"] = fsdp_training_arguments(fsdp)
    if options.deepspeed:
        path = Path(options.deepspeed)
        if path.is_file():
            out["deepspeed"] = json.loads(path.read_text())
        else:
            out["deepspeed"] = load_distributed_config(options.deepspeed)
    return out


def build_training_arguments(
    options: RunOptions,
    *,
    learning_rate: float,
    per_device_train_batch_size: int,
    gradient_accumulation_steps: int,
    warmup_ratio: float,
    weight_decay: float,
    lr_scheduler_type: str,
    max_steps: int = -1,
    num_train_epochs: float = 1.0,
    has_eval: bool = False,
    **more: Any,
) -> Any:
    """``transformers.TrainingArguments`` for one run.

    Args:
        options: The run options.
        learning_rate: Peak learning rate.
        per_device_train_batch_size: Sequences per device per micro-step.
        gradient_accumulation_steps: Micro-steps per optimizer step.
        warmup_ratio: Share of the steps for linear warm-up.
        weight_decay: AdamW weight decay.
        lr_scheduler_type: The schedule after warm-up (``"cosine"``...).
        max_steps: Optimizer steps (``> 0`` overrides epochs).
        num_train_epochs: Epochs (map-style data).
        has_eval: Evaluate every ``options.eval_steps`` steps (and log ``eval_perplexity``).
        **more: Further ``TrainingArguments`` fields (``adam_beta2``, ``ignore_data_skip``...).

    Raises:
        ConfigError: Inconsistent options (both FSDP and DeepSpeed, a missing configuration file, a
            non-positive batch size or interval).
    """
    from transformers import TrainingArguments

    for name, value in (
        ("per_device_train_batch_size", per_device_train_batch_size),
        ("gradient_accumulation_steps", gradient_accumulation_steps),
        ("logging_steps", options.logging_steps),
        ("save_steps", options.save_steps),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive int, got {value!r}")
    bf16 = bf16_supported() if options.bf16 is None else options.bf16
    tf32 = bool(torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8)
    arguments: dict[str, Any] = {
        "output_dir": options.output_dir,
        "learning_rate": learning_rate,
        "max_steps": max_steps,
        "num_train_epochs": num_train_epochs,
        "per_device_train_batch_size": per_device_train_batch_size,
        "per_device_eval_batch_size": per_device_train_batch_size,
        "gradient_accumulation_steps": gradient_accumulation_steps,
        "warmup_steps": float(warmup_ratio),  # a float in [0, 1) is a ratio in transformers 5
        "weight_decay": weight_decay,
        "lr_scheduler_type": lr_scheduler_type,
        "bf16": bf16,
        "tf32": tf32 if bf16 else None,
        "activation_checkpointing": options.gradient_checkpointing,
        "logging_steps": options.logging_steps,
        "save_strategy": "steps",
        "save_steps": options.save_steps,
        "save_total_limit": options.save_total_limit,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": options.eval_steps if has_eval else None,
        "prediction_loss_only": True,
        "seed": options.seed,
        "data_seed": options.seed,
        "dataloader_num_workers": options.dataloader_num_workers,
        "dataloader_pin_memory": torch.cuda.is_available(),
        "remove_unused_columns": False,
        "report_to": list(options.report_to),
        "include_num_input_tokens_seen": "non_padding",
        "optim": "adamw_torch",
        **_distributed_options(options),
        **more,
    }
    if options.gradient_checkpointing:
        arguments["activation_checkpointing_kwargs"] = {"use_reentrant": False}
    arguments.update(options.extra_training_arguments)
    return TrainingArguments(**arguments)
