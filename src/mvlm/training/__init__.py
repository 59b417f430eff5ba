"""What MobileVLM training (:mod:`mvlm.train`) and MobileLLaMA training (:mod:`mvlm.train_lm`) share.

One options type for how a run is carried out (:class:`RunOptions`), one translation of it into
``transformers.TrainingArguments`` (:func:`build_training_arguments`: accelerator detection, bf16,
``use_cpu``, FSDP / DeepSpeed), the shipped distributed configurations
(:func:`load_distributed_config`) and the checkpoint a run resumes from (:func:`last_checkpoint`).
The names below are imported on first use; importing :mod:`mvlm.training` loads neither torch nor
transformers.

Example::

    from mvlm.training import RunOptions, build_training_arguments

    arguments = build_training_arguments(
        RunOptions(output_dir="out", deepspeed="zero2"),
        learning_rate=2e-5, per_device_train_batch_size=16, gradient_accumulation_steps=1,
        warmup_ratio=0.03, weight_decay=0.0, lr_scheduler_type="cosine",
    )
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mvlm._lazy import lazy_exports

_LAZY_EXPORTS: dict[str, str] = {
    "RunOptions": "mvlm.training.arguments",
    "accelerator_available": "mvlm.training.arguments",
    "bf16_supported": "mvlm.training.arguments",
    "build_training_arguments": "mvlm.training.arguments",
    "gradient_accumulation_for": "mvlm.training.arguments",
    "world_size": "mvlm.training.arguments",
    "last_checkpoint": "mvlm.training.checkpoints",
    "distributed_training_arguments": "mvlm.training.distributed",
    "fsdp_training_arguments": "mvlm.training.distributed",
    "load_distributed_config": "mvlm.training.distributed",
}

__all__ = [
    "RunOptions",
    "accelerator_available",
    "bf16_supported",
    "build_training_arguments",
    "distributed_training_arguments",
    "fsdp_training_arguments",
    "gradient_accumulation_for",
    "last_checkpoint",
    "load_distributed_config",
    "world_size",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from mvlm.training.arguments import (
        RunOptions,
        accelerator_available,
        bf16_supported,
        build_training_arguments,
        gradient_accumulation_for,
        world_size,
    )
    from mvlm.training.checkpoints import last_checkpoint
    from mvlm.training.distributed import (
        distributed_training_arguments,
        fsdp_training_arguments,
        load_distributed_config,
    )

__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)
