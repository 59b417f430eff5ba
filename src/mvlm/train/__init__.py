"""Training MobileVLM: the published recipes as data, freezing, LoRA, and a ``transformers.Trainer`` run.

Distributed training (DDP, FSDP, DeepSpeed ZeRO-2/3) comes from transformers and accelerate:
run the same command under ``torchrun``. The names below are imported on first use, so importing
``mvlm.train`` (or its command line, :mod:`mvlm.train.cli`) does not import the Trainer.

Example::

    from mvlm.train import TrainConfig, train

    stage1 = train(TrainConfig(recipe="v1-pretrain", model="MobileVLM-1.7B",
                               language_model="mtgv/MobileLLaMA-1.4B-Chat",
                               vision_tower="openai/clip-vit-large-patch14-336",
                               data_path="blip_laion_cc_sbu_558k.json", image_folder="images/",
                               output_dir="out/stage1"))
    stage2 = train(TrainConfig(recipe="v1-finetune", model="out/stage1",
                               data_path="llava_v1_5_mix665k.json", image_folder="data/",
                               output_dir="out/stage2"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mvlm._lazy import lazy_exports

_LAZY_EXPORTS: dict[str, str] = {
    "RECIPES": "mvlm.train.recipes",
    "Recipe": "mvlm.train.recipes",
    "get_recipe": "mvlm.train.recipes",
    "list_recipes": "mvlm.train.recipes",
    "load_distributed_config": "mvlm.train.recipes",
    "fsdp_training_arguments": "mvlm.train.recipes",
    "recipe_for": "mvlm.train.recipes",
    "TrainConfig": "mvlm.train.config",
    "TrainableParts": "mvlm.train.freezing",
    "apply_trainable_parts": "mvlm.train.freezing",
    "count_parameters": "mvlm.train.freezing",
    "LoraSettings": "mvlm.train.lora",
    "apply_lora": "mvlm.train.lora",
    "lora_target_modules": "mvlm.train.lora",
    "merge_lora": "mvlm.train.lora",
    "save_lora": "mvlm.train.lora",
    "MobileVLMTrainer": "mvlm.train.trainer",
    "LossLogCallback": "mvlm.train.trainer",
    "last_checkpoint": "mvlm.train.trainer",
    "TrainResult": "mvlm.train.run",
    "build_training_model": "mvlm.train.run",
    "train": "mvlm.train.run",
}

__all__ = [
    "RECIPES",
    "LoraSettings",
    "LossLogCallback",
    "MobileVLMTrainer",
    "Recipe",
    "TrainConfig",
    "TrainResult",
    "TrainableParts",
    "apply_lora",
    "apply_trainable_parts",
    "build_training_model",
    "count_parameters",
    "fsdp_training_arguments",
    "get_recipe",
    "last_checkpoint",
    "list_recipes",
    "load_distributed_config",
    "lora_target_modules",
    "merge_lora",
    "recipe_for",
    "save_lora",
    "train",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from mvlm.train.config import TrainConfig
    from mvlm.train.freezing import TrainableParts, apply_trainable_parts, count_parameters
    from mvlm.train.lora import LoraSettings, apply_lora, lora_target_modules, merge_lora, save_lora
    from mvlm.train.recipes import (
        RECIPES,
        Recipe,
        fsdp_training_arguments,
        get_recipe,
        list_recipes,
        load_distributed_config,
        recipe_for,
    )
    from mvlm.train.run import TrainResult, build_training_model, train
    from mvlm.train.trainer import LossLogCallback, MobileVLMTrainer, last_checkpoint


__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)
