"""The two stages end to end on a tiny model: what each writes, and how stage II picks up stage I."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from safetensors.torch import load_file

from mvlm.errors import ConfigError
from mvlm.model import MobileVLM
from mvlm.model.loading import read_state_dict
from mvlm.train import build_training_model, train

WEIGHT_FILES = {"model.safetensors", "pytorch_model.bin", "model.safetensors.index.json"}


def projector_state(model) -> dict[str, torch.Tensor]:
    return {f"model.mm_projector.{k}": v for k, v in model.mm_projector.state_dict().items()}


def test_stage_one_writes_only_the_projector(fast_config, tiny_checkpoint):
    config = fast_config("v1-pretrain", save_steps=1)
    result = train(config)
    out = result.output_dir
    assert result.global_step == 2
    assert result.tokenization_mismatches == 0
    assert not WEIGHT_FILES & {p.name for p in out.iterdir()}
    saved = read_state_dict(out / "mm_projector.bin")
    assert saved and all(key.startswith("model.mm_projector.") for key in saved)
    trained = projector_state(result.model)
    assert saved.keys() == trained.keys()
    assert all(torch.equal(saved[k], trained[k]) for k in saved)
    initial = load_file(tiny_checkpoint / "model.safetensors")
    assert any(not torch.equal(saved[k], initial[k]) for k in saved)  # it trained
    # only the projector trained: the language model is as loaded
    lm_key = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(result.model.state_dict()[lm_key], initial[lm_key])
    # checkpoints are projector-only too (plus the trainer state for resuming)
    checkpoint = out / "checkpoint-2"
    assert (checkpoint / "mm_projector.bin").is_file() and (checkpoint / "optimizer.pt").is_file()
    assert not WEIGHT_FILES & {p.name for p in checkpoint.iterdir()}
    # the loss log
    rows = list(csv.DictReader((out / "loss_log.csv").open()))
    assert [int(row["step"]) for row in rows] == [1, 2]
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 2
    assert json.loads((out / "train_config.json").read_text())["recipe"] == "v1-pretrain"


@pytest.fixture(scope="module")
def stage_one(tmp_path_factory, tiny_checkpoint, synthetic_data):
    """A v1 stage-I run (projector only) from the tiny checkpoint."""
    from mvlm.train import TrainConfig

    out = tmp_path_factory.mktemp("stage1")
    config = TrainConfig(
        recipe="v1-pretrain",
        model=str(tiny_checkpoint),
        data_path=str(synthetic_data["pretrain"]),
        output_dir=str(out),
        max_steps=2,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=1,
        logging_steps=1,
        warmup_ratio=0.0,
    )
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(config)
    finally:
        torch.set_num_threads(previous)
    return out


def test_stage_two_loads_the_stage_one_projector(fast_config, stage_one):
    projector_file = stage_one / "mm_projector.bin"
    model = build_training_model(fast_config("v1-finetune", pretrain_mm_mlp_adapter=str(projector_file)))
    saved = read_state_dict(projector_file)
    assert all(torch.equal(saved[k], v) for k, v in projector_state(model).items())


def test_stage_two_starts_from_the_stage_one_folder(fast_config, stage_one, tiny_checkpoint):
    """``--model out/stage1`` (as the issue's commands): the stage-I model is rebuilt and its projector loaded."""
    result = train(fast_config("v1-finetune", model=str(stage_one), max_steps=1))
    initial = load_file(tiny_checkpoint / "model.safetensors")
    saved = read_state_dict(stage_one / "mm_projector.bin")
    model = build_training_model(fast_config("v1-finetune", model=str(stage_one)))
    assert all(torch.equal(saved[k], v) for k, v in projector_state(model).items())
    lm_key = "model.layers.1.mlp.up_proj.weight"
    assert torch.equal(model.state_dict()[lm_key], initial[lm_key])
    # stage II writes a full checkpoint in the published layout that loads back
    out = result.output_dir
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    reloaded = MobileVLM.from_pretrained(out, dtype=torch.float32)
    assert reloaded.config.image_aspect_ratio == "pad" and reloaded.config.use_cache
    trained = result.model.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in reloaded.state_dict().items())
    assert not torch.equal(trained[lm_key], initial[lm_key])  # the language model trained


def test_stage_one_assembled_from_parts(tmp_path, model_parts, synthetic_data):
    """v1 stage I from a preset name, MobileLLaMA-style LLM and CLIP checkpoints; stage II rebuilds it."""
    from mvlm.train import TrainConfig

    common = {"max_steps": 1, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "warmup_ratio": 0.0}
    first = train(
        TrainConfig(
            recipe="v1-pretrain",
            model="MobileVLM-1.7B",
            language_model=str(model_parts["language_model"]),
            vision_tower=str(model_parts["vision_tower"]),
            data_path=str(synthetic_data["pretrain"]),
            output_dir=str(tmp_path / "stage1"),
            **common,
        )
    )
    assert first.model.config.mm_projector_type == "ldpnet"
    assert first.model.config.mm_hidden_size == 32  # the tower's width, not the preset's 1024
    config = TrainConfig(
        recipe="v1-finetune",
        model=str(tmp_path / "stage1"),
        data_path=str(synthetic_data["finetune"]),
        output_dir=str(tmp_path / "stage2"),
        **common,
    )
    model = build_training_model(config)
    llm = load_file(model_parts["language_model"] / "model.safetensors")
    assert torch.equal(
        model.state_dict()["model.layers.0.mlp.down_proj.weight"], llm["model.layers.0.mlp.down_proj.weight"]
    )
    saved = read_state_dict(tmp_path / "stage1" / "mm_projector.bin")
    assert all(torch.equal(saved[k], v) for k, v in projector_state(model).items())


def test_assembling_needs_both_parts(fast_config, model_parts):
    config = fast_config("v1-pretrain", model="MobileVLM-1.7B", language_model=str(model_parts["language_model"]))
    with pytest.raises(ConfigError, match="vision_tower"):
        build_training_model(config)


def test_projector_lr_recipe_trains_language_model_and_projector(fast_config, tiny_checkpoint):
    result = train(fast_config("v2-pretrain", max_steps=1))
    trainable = {name for name, p in result.model.named_parameters() if p.requires_grad}
    assert any(name.startswith("model.mm_projector.") for name in trainable)
    assert "model.layers.0.self_attn.q_proj.weight" in trainable
    assert not any(name.startswith("model.vision_tower.") for name in trainable)


def test_mixed_data_with_grouping_and_checkpointing(fast_config, synthetic_data):
    """Text-only samples beside image samples, modality-length grouping, gradient checkpointing."""
    result = train(
        fast_config(
            "v2-finetune",
            data_path=str(synthetic_data["mixed"]),
            group_by_modality_length=True,
            gradient_checkpointing=True,
            max_steps=3,
        )
    )
    assert result.global_step == 3
    assert all(torch.isfinite(torch.tensor(loss)) for _, loss in result.loss_history)


def test_training_the_tower_from_the_config(fast_config):
    result = train(fast_config("v1-finetune", max_steps=1, train_vision_tower_last_layers=1))
    trainable = {name for name, p in result.model.named_parameters() if p.requires_grad}
    tower = {name for name in trainable if name.startswith("model.vision_tower.")}
    assert tower and all(".encoder.layers.1." in name for name in tower)
