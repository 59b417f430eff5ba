"""LoRA through peft: the targets, training beside the projector, merging into a plain checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mvlm.errors import CheckpointError, ConfigError
from mvlm.model import MobileVLM
from mvlm.train import LoraSettings, apply_lora, last_checkpoint, lora_target_modules, merge_lora, train
from mvlm.train.lora import NON_LORA_TRAINABLES
from train.tiny_models import tiny_config

LORA = LoraSettings(r=4, alpha=8, dropout=0.0)


def test_targets_every_linear_outside_tower_and_projector_but_lm_head():
    model = MobileVLM(tiny_config(400))
    targets = lora_target_modules(model)
    expected = set()
    for layer in range(2):
        expected |= {f"model.layers.{layer}.self_attn.{p}" for p in ("q_proj", "k_proj", "v_proj", "o_proj")}
        expected |= {f"model.layers.{layer}.mlp.{p}" for p in ("gate_proj", "up_proj", "down_proj")}
    assert set(targets) == expected
    assert not any("vision_tower" in name or "mm_projector" in name or "lm_head" in name for name in targets)


def test_apply_lora_keeps_the_projector_and_tower_layers_training():
    from mvlm.train import TrainableParts, apply_trainable_parts

    model = MobileVLM(tiny_config(400))
    apply_trainable_parts(model, TrainableParts(language_model=False, vision_tower_last_layers=1))
    wrapped = apply_lora(model, LORA)
    trainable = {name for name, p in wrapped.named_parameters() if p.requires_grad}
    assert any("lora_A" in name for name in trainable)
    assert any(".mm_projector." in name for name in trainable)
    assert any(".encoder.layers.1." in name and "lora" not in name for name in trainable)
    base_llm = [n for n in trainable if ".layers.0.self_attn.q_proj.base_layer" in n or n.endswith("lm_head.weight")]
    assert base_llm == []


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_checkpoint, synthetic_data):
    from mvlm.train import TrainConfig

    out = tmp_path_factory.mktemp("lora")
    config = TrainConfig(
        recipe="v1-finetune",
        model=str(tiny_checkpoint),
        data_path=str(synthetic_data["finetune"]),
        output_dir=str(out),
        lora=LORA,
        learning_rate=5e-3,
        max_steps=3,
        save_steps=2,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=1,
        gradient_checkpointing=False,
        warmup_ratio=0.0,
        logging_steps=1,
    )
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(config)
    finally:
        torch.set_num_threads(previous)


def test_lora_run_saves_adapter_and_projector(lora_run):
    out = lora_run.output_dir
    for name in ("adapter_config.json", "adapter_model.safetensors", NON_LORA_TRAINABLES, "config.json"):
        assert (out / name).is_file(), name
    assert not (out / "model.safetensors").exists()
    # checkpoints hold the projector too, so a resumed LoRA run loses nothing
    checkpoint = Path(last_checkpoint(out))
    assert (checkpoint / NON_LORA_TRAINABLES).is_file() and (checkpoint / "adapter_model.safetensors").is_file()
    assert lora_run.trainable_parameters < lora_run.total_parameters / 2


def batch_with_image(model) -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    ids = [1, 5, *[model.config.image_token_index] * model.num_image_tokens, 17, 33, 60, 2, 99]
    return {"input_ids": torch.tensor([ids]), "pixel_values": torch.randn(1, 3, 32, 32)}


def test_merged_checkpoint_gives_the_peft_models_outputs(lora_run, tiny_checkpoint, tmp_path):
    peft_model = lora_run.model.eval()
    merged_dir = merge_lora(tiny_checkpoint, lora_run.output_dir, tmp_path / "merged")
    merged = MobileVLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    assert not any("lora" in name for name, _ in merged.named_parameters())
    batch = batch_with_image(merged)
    with torch.no_grad():
        expected = peft_model(**batch).logits
        actual = merged(**batch).logits
    assert torch.allclose(actual, expected, atol=1e-5, rtol=1e-5), (actual - expected).abs().max()
    # the adapters did something: the base model answers differently
    base = MobileVLM.from_pretrained(tiny_checkpoint, dtype=torch.float32).eval()
    with torch.no_grad():
        assert not torch.allclose(base(**batch).logits, expected, atol=1e-4)
    assert (merged_dir / "tokenizer_config.json").is_file()


def test_merge_refuses_a_folder_without_adapter(tiny_checkpoint, tmp_path):
    with pytest.raises(CheckpointError, match=r"adapter_config\.json"):
        merge_lora(tiny_checkpoint, tmp_path, tmp_path / "merged")


def test_lora_on_a_recipe_with_a_frozen_language_model(fast_config):
    with pytest.raises(ConfigError, match="keeps frozen"):
        train(fast_config("v1-pretrain", lora=LORA))


def test_qlora_needs_cuda(fast_config):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="CUDA"):
        train(fast_config("v1-finetune", lora=LoraSettings(r=4, alpha=8, bits=4)))


@pytest.mark.parametrize("fields", [{"r": 0}, {"dropout": 1.0}, {"bits": 2}])
def test_bad_lora_settings(fields):
    with pytest.raises(ConfigError):
        LoraSettings(**fields)
