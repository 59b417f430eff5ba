"""Chat SFT: the published recipes as data, and a tiny end-to-end run from a pre-training output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mvlm.errors import ConfigError, UnknownNameError
from mvlm.train_lm import SFTConfig, get_sft_recipe, list_sft_recipes, sft

CONVERSATIONS = [
    {
        "id": f"c{i}",
        "conversations": [
            {"from": "human", "value": f"What does the {animal} do?"},
            {"from": "gpt", "value": f"The {animal} {action}."},
            {"from": "user", "value": "Where?"},
            {"from": "assistant", "value": place.capitalize() + "."},
        ],
    }
    for i, (animal, action, place) in enumerate(
        [("cat", "sleeps", "on the sofa"), ("dog", "barks", "in the garden"), ("bird", "sings", "in the tree")] * 2
    )
]


def test_the_published_settings() -> None:
    assert list_sft_recipes() == ["mobilellama-1.4b-chat", "mobilellama-2.7b-chat"]
    small, large = get_sft_recipe("mobilellama-1.4b-chat"), get_sft_recipe("mobilellama-2.7b-chat")
    assert (small.learning_rate, small.num_train_epochs, large.learning_rate, large.num_train_epochs) == (
        2e-5,
        3,
        3e-5,
        2,
    )
    for recipe in (small, large):
        assert recipe.template == "vicuna_v1" and recipe.lr_scheduler_type == "cosine"
        assert (recipe.warmup_ratio, recipe.weight_decay, recipe.model_max_length) == (0.04, 0.0, 2048)
        assert recipe.per_device_train_batch_size * recipe.gradient_accumulation_steps * 8 == recipe.global_batch_size
        assert recipe.bf16 and recipe.gradient_checkpointing
    with pytest.raises(UnknownNameError):
        get_sft_recipe("mobilellama-7b-chat")


def test_accumulation_keeps_the_global_batch(tmp_path: Path) -> None:
    config = SFTConfig(output_dir=str(tmp_path), model="m", data=["d.json"])
    assert config.accumulation(8) == 2 and config.accumulation(1) == 16
    assert config.resolved("learning_rate") == 2e-5
    assert (
        SFTConfig(output_dir=".", model="m", data=["d"], recipe="mobilellama-2.7b-chat").resolved("num_train_epochs")
        == 2
    )
    assert SFTConfig(output_dir=".", model="m", data=["d"], gradient_accumulation_steps=3).accumulation(8) == 3


def test_chat_sft_end_to_end(tmp_path: Path, pretrained_dir: Path) -> None:
    from transformers import LlamaForCausalLM

    data = tmp_path / "sharegpt.json"
    data.write_text(json.dumps(CONVERSATIONS))
    config = SFTConfig(
        output_dir=str(tmp_path / "chat"),
        model=str(pretrained_dir),
        data=[str(data)],
        eval_data=[str(data)],
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        max_steps=2,
        model_max_length=256,
        learning_rate=1e-3,
        gradient_checkpointing=False,
        report_to=[],
        extra_training_arguments={"disable_tqdm": True},
    )
    result = sft(config)
    assert result.global_step == 2 and result.samples == 6 and result.skipped_records == 0
    assert result.tokenization_mismatches == 0 and result.truncated == 0 and result.untrained == 0
    assert result.training_loss > 0
    assert result.eval_loss is not None and torch.isfinite(torch.tensor(result.eval_loss))
    out = tmp_path / "chat"
    assert {"config.json", "model.safetensors", "tokenizer.model", "sft_config.json"} <= {p.name for p in out.iterdir()}
    model = LlamaForCausalLM.from_pretrained(out)
    assert model.config.use_cache is True


def test_a_context_longer_than_the_model_is_refused(tmp_path: Path, pretrained_dir: Path) -> None:
    data = tmp_path / "sharegpt.json"
    data.write_text(json.dumps(CONVERSATIONS))
    config = SFTConfig(output_dir=str(tmp_path / "x"), model=str(pretrained_dir), data=[str(data)])  # 2048 > 256
    with pytest.raises(ConfigError, match="exceeds the model's context"):
        sft(config)


def test_steps_without_a_trained_token_do_not_poison_the_weights(tmp_path: Path, pretrained_dir: Path) -> None:
    from safetensors.torch import load_file

    data = tmp_path / "sharegpt.json"
    data.write_text(json.dumps(CONVERSATIONS))
    config = SFTConfig(
        output_dir=str(tmp_path / "chat"),
        model=str(pretrained_dir),
        data=[str(data)],
        per_device_train_batch_size=2,
        gradient_accumulation_steps=1,
        max_steps=2,
        model_max_length=24,  # inside the system prompt: no answer survives
        gradient_checkpointing=False,
        report_to=[],
        extra_training_arguments={"disable_tqdm": True},
    )
    result = sft(config)
    assert result.truncated == result.untrained >= 4 and result.training_loss == 0.0
    assert all(torch.isfinite(t).all() for t in load_file(tmp_path / "chat" / "model.safetensors").values())
