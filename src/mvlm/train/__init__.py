"""Training MobileVLM: the published recipes as data, freezing, LoRA, and a ``transformers.Trainer`` run.

Distributed training (DDP, FSDP, DeepSpeed ZeRO-2/3) comes from transformers and accelerate:
run the same command under ``torchrun``. Import ``mvlm.train`` only when training: it imports
transformers' Trainer.
"""

from mvlm.train.config import TrainConfig
from mvlm.train.freezing import TrainableParts, apply_trainable_parts, count_parameters
from mvlm.train.lora import LoraSettings, apply_lora, lora_target_modules, merge_lora
from mvlm.train.recipes import RECIPES, Recipe, get_recipe, list_recipes, load_distributed_config
from mvlm.train.run import TrainResult, build_training_model, train
from mvlm.train.trainer import MobileVLMTrainer

__all__ = [
    "RECIPES",
    "LoraSettings",
    "MobileVLMTrainer",
    "Recipe",
    "TrainConfig",
    "TrainResult",
    "TrainableParts",
    "apply_lora",
    "apply_trainable_parts",
    "build_training_model",
    "count_parameters",
    "get_recipe",
    "list_recipes",
    "load_distributed_config",
    "lora_target_modules",
    "merge_lora",
    "train",
]
