"""The options pre-training and SFT share, and their translation into ``transformers.TrainingArguments``.

These are the training stacks' shared pieces (:mod:`mvlm.training.arguments`), re-exported here:
:class:`RunOptions` (the fields :class:`~mvlm.train_lm.PretrainConfig` and
:class:`~mvlm.train_lm.SFTConfig` start from) and :func:`build_training_arguments`. Precision
follows the hardware: bf16 mixed precision (and TF32 matmuls, as the published SFT ran) on GPUs
that support them, fp32 elsewhere. ``fsdp=True`` selects the shipped FSDP configuration
(``mvlm.train.load_distributed_config("fsdp")``: full sharding, each ``LlamaDecoderLayer`` wrapped,
as MobileLLaMA's chat SFT ran), ``deepspeed`` a shipped ZeRO configuration (``zero2``/``zero3``) or
a JSON file; run the same command under ``torchrun``.
"""

from __future__ import annotations

from mvlm.training.arguments import RunOptions, bf16_supported, build_training_arguments, world_size

__all__ = ["RunOptions", "bf16_supported", "build_training_arguments", "world_size"]
