"""The run options both training stacks share, and their one translation into ``transformers.TrainingArguments``.

:mod:`mvlm.train` (MobileVLM's two stages) and :mod:`mvlm.train_lm` (MobileLLaMA pre-training and
chat SFT) describe how a run is carried out with the same :class:`RunOptions` and turn it into
``TrainingArguments`` with the same :func:`build_training_arguments`, so both decide the hardware
questions alike:

- **device**: an accelerator is whatever ``torch.accelerator`` reports (CUDA, XPU, MPS...); without
  one ``use_cpu`` is set, which also lets accelerate run multi-process DDP on CPUs (gloo) under
  ``torchrun``; pinned data-loader memory only with an accelerator;
- **precision**: ``bf16=None`` means bf16 mixed precision where an accelerator supports it (the
  check the Trainer itself makes), fp32 elsewhere (CPU bf16 autocast is emulated and slow on most
  CPUs); with bf16 on an Ampere or newer GPU, TF32 matmuls too (as the published runs did);
- **scale-out**: ``fsdp`` / ``deepspeed``, read by
  :func:`~mvlm.training.distributed.distributed_training_arguments`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mvlm.errors import ConfigError
from mvlm.training.checkpoints import last_checkpoint
from mvlm.training.distributed import distributed_training_arguments

__all__ = [
    "RunOptions",
    "accelerator_available",
    "bf16_supported",
    "build_training_arguments",
    "gradient_accumulation_for",
    "world_size",
]


@dataclass(kw_only=True)
class RunOptions:
    """How a run is carried out (not what it learns): logging, checkpoints, precision, scale-out.

    Attributes:
        output_dir: Where checkpoints (``checkpoint-N``) and the final model go.
        logging_steps: Loss / learning-rate logging interval (optimizer steps).
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
        extra_training_arguments: Any further ``transformers.TrainingArguments`` fields (applied last).
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
        """The checkpoint this run continues from (``None``: a fresh start), following :attr:`resume`.

        Raises:
            ConfigError: ``resume`` names a folder that does not exist.
        """
        if self.resume is False or self.resume is None:
            return None
        if self.resume == "auto" or self.resume is True:
            return last_checkpoint(self.output_dir)
        if not Path(str(self.resume)).is_dir():
            raise ConfigError(f"resume: no checkpoint folder '{self.resume}'")
        return str(self.resume)


def world_size() -> int:
    """The number of training processes (``WORLD_SIZE``, 1 outside ``torchrun``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def accelerator_available() -> bool:
    """Whether the Trainer will run on an accelerator (CUDA, XPU, MPS...) rather than on the CPU."""
    import torch

    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    if accelerator is not None and hasattr(accelerator, "is_available"):
        return bool(accelerator.is_available())
    xpu = getattr(torch, "xpu", None)
    return bool(torch.cuda.is_available() or (xpu is not None and xpu.is_available()))


def bf16_supported() -> bool:
    """Whether bf16 mixed precision is worth using here: an accelerator that supports it (never the CPU)."""
    if not accelerator_available():
        return False
    from transformers.utils import is_torch_bf16_gpu_available

    return bool(is_torch_bf16_gpu_available())


def _tf32_supported() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8)


def gradient_accumulation_for(global_batch_size: int, per_device_batch_size: int, ranks: int) -> int:
    """Micro-steps per optimizer step that reach ``global_batch_size`` with ``ranks`` devices (at least 1).

    Args:
        global_batch_size: Samples per optimizer step over all devices (a recipe's).
        per_device_batch_size: Samples per device per micro-step.
        ranks: Training processes (:func:`world_size`).

    Example:
        >>> gradient_accumulation_for(256, 16, 8)
        2
    """
    return max(1, global_batch_size // (per_device_batch_size * ranks))


def _checkpointing_arguments(enabled: bool) -> dict[str, Any]:
    from transformers import TrainingArguments

    # transformers renamed gradient_checkpointing to activation_checkpointing during 5.x: use the one it has
    fields = TrainingArguments.__dataclass_fields__
    name = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    arguments: dict[str, Any] = {name: enabled}
    if enabled:
        arguments[f"{name}_kwargs"] = {"use_reentrant": False}
    return arguments


def _check_positive(values: dict[str, Any]) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive int, got {value!r}")


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
    optim: str = "adamw_torch",
    **more: Any,
) -> Any:
    """``transformers.TrainingArguments`` for one run (see the module notes for device and precision).

    Args:
        options: The run options.
        learning_rate: Peak learning rate.
        per_device_train_batch_size: Samples per device per micro-step.
        gradient_accumulation_steps: Micro-steps per optimizer step.
        warmup_ratio: Share of the steps for linear warm-up.
        weight_decay: AdamW weight decay.
        lr_scheduler_type: The schedule after warm-up (``"cosine"``...).
        max_steps: Optimizer steps (``> 0`` overrides epochs).
        num_train_epochs: Epochs (map-style data).
        has_eval: Evaluate every ``options.eval_steps`` steps (loss only).
        optim: transformers' optimizer name.
        **more: Further ``TrainingArguments`` fields (``adam_beta2``, ``ignore_data_skip``...);
            ``options.extra_training_arguments`` still win over them.

    Returns:
        The ``transformers.TrainingArguments``.

    Raises:
        ConfigError: Inconsistent options (both FSDP and DeepSpeed, a missing configuration file, a
            non-positive batch size or interval).

    Example:
        >>> from mvlm.training import RunOptions, build_training_arguments
        >>> arguments = build_training_arguments(  # doctest: +SKIP
        ...     RunOptions(output_dir="out"), learning_rate=2e-5, per_device_train_batch_size=4,
        ...     gradient_accumulation_steps=8, warmup_ratio=0.03, weight_decay=0.0, lr_scheduler_type="cosine")
    """
    from transformers import TrainingArguments

    _check_positive(
        {
            "per_device_train_batch_size": per_device_train_batch_size,
            "gradient_accumulation_steps": gradient_accumulation_steps,
            "logging_steps": options.logging_steps,
            "save_steps": options.save_steps,
        }
    )
    accelerator = accelerator_available()
    bf16 = bf16_supported() if options.bf16 is None else bool(options.bf16)
    report_to = [options.report_to] if isinstance(options.report_to, str) else list(options.report_to)
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
        "optim": optim,
        "bf16": bf16,
        "tf32": True if bf16 and _tf32_supported() else None,
        **_checkpointing_arguments(options.gradient_checkpointing),
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
        "dataloader_pin_memory": accelerator,
        "use_cpu": not accelerator,  # also lets accelerate run DDP on CPUs (gloo) under torchrun
        "remove_unused_columns": False,
        "report_to": report_to or "none",
        **distributed_training_arguments(fsdp=options.fsdp, deepspeed=options.deepspeed),
        **more,
    }
    arguments.update(options.extra_training_arguments)
    return TrainingArguments(**arguments)
