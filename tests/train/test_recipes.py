"""The four published recipes (facts sheet section 6), the shipped DeepSpeed/FSDP configs, and TrainConfig."""

from __future__ import annotations

import pytest

from mvlm.errors import ConfigError, UnknownNameError
from mvlm.train import TrainConfig, get_recipe, list_recipes, load_distributed_config, recipe_for
from mvlm.train.recipes import fsdp_training_arguments

# The facts sheet's table, column by column (1.7B values; 3B where it differs).
FACTS = {
    "v1-pretrain": {
        "conv_template": "plain",
        "train_projector": True,
        "train_language_model": False,
        "learning_rate": 1e-3,
        "projector_lr": None,
        "per_device_train_batch_size": 32,
        "global_batch_size": 256,
        "image_aspect_ratio": "square",
        "group_by_modality_length": False,
        "deepspeed": "zero2",
        "save_steps": 24000,
        "save_total_limit": 1,
        "projector_only_checkpoint": True,
    },
    "v1-finetune": {
        "conv_template": "v1",
        "train_projector": True,
        "train_language_model": True,
        "learning_rate": 2e-5,
        "learning_rate_3b": 4e-5,
        "projector_lr": None,
        "per_device_train_batch_size": 16,
        "global_batch_size": 128,
        "image_aspect_ratio": "pad",
        "group_by_modality_length": True,
        "deepspeed": "zero2",
        "deepspeed_3b": "zero3",
        "save_steps": 50000,
        "projector_only_checkpoint": False,
    },
    "v2-pretrain": {
        "conv_template": "plain",
        "train_projector": True,
        "train_language_model": True,
        "learning_rate": 2e-5,
        "projector_lr": 1e-3,
        "per_device_train_batch_size": 32,
        "global_batch_size": 256,
        "image_aspect_ratio": "square",
        "group_by_modality_length": False,
        "deepspeed": "zero2",
        "save_steps": 24000,
        "projector_only_checkpoint": False,
    },
    "v2-finetune": {
        "conv_template": "v1",
        "train_projector": True,
        "train_language_model": True,
        "learning_rate": 4e-5,
        "projector_lr": None,
        "per_device_train_batch_size": 16,
        "global_batch_size": 128,
        "image_aspect_ratio": "pad",
        "group_by_modality_length": True,
        "deepspeed": "zero3",
        "save_steps": 2000,
        "projector_only_checkpoint": False,
    },
}
COMMON = {
    "train_vision_tower": False,
    "weight_decay": 0.0,
    "warmup_ratio": 0.03,
    "lr_scheduler_type": "cosine",
    "num_train_epochs": 1,
    "model_max_length": 2048,
    "gradient_checkpointing": True,
    "bf16": True,
    "optim": "adamw_torch",
}


def test_the_four_recipes_are_registered():
    assert list_recipes() == ["v1-finetune", "v1-pretrain", "v2-finetune", "v2-pretrain"]


@pytest.mark.parametrize("name", sorted(FACTS))
def test_recipe_matches_the_facts_table(name):
    recipe = get_recipe(name)
    version, stage = name.split("-")
    assert (recipe.version, recipe.stage) == (version, stage)
    assert recipe is recipe_for(version, stage) is get_recipe(name.replace("-", "_"))
    expected = {**COMMON, **FACTS[name]}
    actual = {key: getattr(recipe, key) for key in expected}
    assert actual == expected
    assert recipe.global_batch_size == recipe.per_device_train_batch_size * 8  # the reference's 8 GPUs
    assert recipe.to_dict()["learning_rate"] == recipe.learning_rate


def test_unknown_recipe_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="v1-pretrain"):
        get_recipe("v3-pretrain")


def test_shipped_deepspeed_configs_are_the_reference_ones():
    zero2 = load_distributed_config("zero2")
    zero3 = load_distributed_config("zero3")
    assert zero2["zero_optimization"]["stage"] == 2
    assert zero2["zero_optimization"]["overlap_comm"] is False
    assert zero2["zero_optimization"]["contiguous_gradients"] is True
    assert zero3["zero_optimization"]["stage"] == 3
    assert zero3["zero_optimization"]["overlap_comm"] is True
    assert zero3["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    for config in (zero2, zero3):
        assert config["bf16"] == {"enabled": "auto"}
        assert config["train_micro_batch_size_per_gpu"] == "auto"
        assert not any(key.startswith("_") for key in config)


def test_shipped_fsdp_config_wraps_llama_layers():
    fsdp = load_distributed_config("fsdp")
    assert fsdp["fsdp"] is True and fsdp["fsdp_config"]["reshard_after_forward"] is True  # full sharding
    assert fsdp["fsdp_config"]["transformer_layer_cls_to_wrap"] == ["LlamaDecoderLayer"]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("full_shard auto_wrap", (True, {"reshard_after_forward": True})),
        ("shard_grad_op", (True, {"reshard_after_forward": False})),
        ("full_shard offload auto_wrap", (True, {"reshard_after_forward": True, "cpu_offload": True})),
        ("hybrid_shard", ("hybrid_shard", {})),  # FSDP1-only: passed on for transformers to judge
        (True, (True, {})),
    ],
)
def test_legacy_fsdp_strings_become_transformers_5_settings(strategy, expected):
    assert fsdp_training_arguments({"fsdp": strategy, "fsdp_config": {}}) == expected
    assert fsdp_training_arguments({"fsdp": "full_shard", "fsdp_config": {"version": 1}}) == (
        "full_shard",
        {"version": 1},
    )


def test_unknown_distributed_config():
    with pytest.raises(ConfigError, match="zero2"):
        load_distributed_config("zero4")


def test_train_config_resolves_the_recipe_and_overrides(tmp_path):
    config = TrainConfig(recipe="v2-pretrain", output_dir=str(tmp_path), data_path="d.json", model="m")
    assert config.resolved("learning_rate") == 2e-5
    assert config.resolved("projector_lr") == 1e-3
    config = TrainConfig(
        recipe="v2-pretrain", output_dir=str(tmp_path), data_path="d.json", model="m", learning_rate=1e-4
    )
    assert config.resolved("learning_rate") == 1e-4
    assert config.to_dict()["learning_rate"] == 1e-4
    assert "recipe_spec" not in config.to_dict()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": None}, "model is required"),
        ({"deepspeed": "zero2", "fsdp": True}, "not both"),
        ({"logging_steps": 0}, "logging_steps"),
        ({"per_device_train_batch_size": 0}, "per_device_train_batch_size"),
        ({"train_vision_tower": True, "train_vision_tower_last_layers": 1}, "not both"),
    ],
)
def test_train_config_refuses_bad_options(tmp_path, fields, message):
    options = {"recipe": "v1-finetune", "output_dir": str(tmp_path), "data_path": "d.json", "model": "m", **fields}
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**options)


def test_train_config_refuses_an_unknown_recipe(tmp_path):
    with pytest.raises(UnknownNameError):
        TrainConfig(recipe="v1-posttrain", output_dir=str(tmp_path), data_path="d.json", model="m")
