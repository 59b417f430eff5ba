"""MobileVLMTrainer's optimizer groups (the projector's own learning rate) and finding the checkpoint to resume."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainingArguments

from mvlm.model import MobileVLM
from mvlm.train import MobileVLMTrainer, TrainableParts, apply_trainable_parts, last_checkpoint
from train.tiny_models import tiny_config


@pytest.fixture
def model():
    torch.manual_seed(0)
    model = MobileVLM(tiny_config(400))
    apply_trainable_parts(model, TrainableParts(projector=True, language_model=True))
    return model


def make_trainer(model, tmp_path, projector_lr):
    arguments = TrainingArguments(
        output_dir=str(tmp_path), learning_rate=2e-5, weight_decay=0.1, use_cpu=True, report_to="none"
    )
    return MobileVLMTrainer(model=model, args=arguments, projector_lr=projector_lr)


def group_of(optimizer) -> dict[int, dict]:
    return {id(p): group for group in optimizer.param_groups for p in group["params"]}


def test_projector_gets_its_own_learning_rate(model, tmp_path):
    trainer = make_trainer(model, tmp_path, projector_lr=1e-3)
    optimizer = trainer.create_optimizer()
    groups = group_of(optimizer)
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    assert set(groups) == {id(p) for p in trainable.values()}  # every trainable parameter, once
    for name, parameter in trainable.items():
        group = groups[id(parameter)]
        assert group["lr"] == (1e-3 if name.startswith("model.mm_projector.") else 2e-5), name
        decays = parameter.dim() > 1 and "norm" not in name
        assert group["weight_decay"] == (0.1 if decays else 0.0), name
    assert len(optimizer.param_groups) == 4  # (projector, rest) x (decay, no decay)


def test_schedule_scales_both_rates_alike(model, tmp_path):
    trainer = make_trainer(model, tmp_path, projector_lr=1e-3)
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    trainer.optimizer.step()
    for _ in range(5):
        trainer.lr_scheduler.step()
    rates = sorted({group["lr"] for group in trainer.optimizer.param_groups})
    assert len(rates) == 2
    assert rates[1] / rates[0] == pytest.approx(1e-3 / 2e-5)


def test_without_projector_lr_transformers_groups(model, tmp_path):
    optimizer = make_trainer(model, tmp_path, projector_lr=None).create_optimizer()
    assert len(optimizer.param_groups) == 2
    assert {group["lr"] for group in optimizer.param_groups} == {2e-5}


def test_last_checkpoint_skips_incomplete_ones(tmp_path):
    assert last_checkpoint(tmp_path / "missing") is None
    assert last_checkpoint(tmp_path) is None
    for step, complete in ((2, True), (10, True), (12, False), (3, True)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-old").mkdir()
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")  # 12 was cut short while saving


def test_a_step_with_every_label_masked_leaves_the_weights_finite(model, tmp_path):
    trainer = make_trainer(model, tmp_path, projector_lr=None)
    trainer.create_optimizer_and_scheduler(num_training_steps=2)
    input_ids = torch.randint(3, 400, (2, 12))
    inputs = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "labels": torch.full_like(input_ids, -100),
    }
    loss = trainer.training_step(trainer.model, inputs, num_items_in_batch=torch.tensor(0))
    assert torch.isfinite(loss) and float(loss) == 0.0
    trainer.optimizer.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())
