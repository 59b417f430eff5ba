"""Freezing per part: projector, language model, the whole tower, the tower's last N layers."""

from __future__ import annotations

import pytest
import torch

from mvlm.errors import ConfigError
from mvlm.model import MobileVLM
from mvlm.train import TrainableParts, apply_trainable_parts, count_parameters
from train.tiny_models import tiny_config


@pytest.fixture
def model():
    torch.manual_seed(0)
    return MobileVLM(tiny_config(400))


def trainable_names(model) -> set[str]:
    return {name for name, parameter in model.named_parameters() if parameter.requires_grad}


def names_under(model, prefix: str) -> set[str]:
    return {name for name, _ in model.named_parameters() if name.startswith(prefix)}


TOWER = "model.vision_tower."
PROJECTOR = "model.mm_projector."
LAYER = "model.vision_tower.vision_tower.vision_model.encoder.layers."


def language_names(model) -> set[str]:
    return {name for name, _ in model.named_parameters() if not name.startswith((TOWER, PROJECTOR))}


def test_projector_only(model):
    apply_trainable_parts(model, TrainableParts(projector=True, language_model=False))
    assert trainable_names(model) == names_under(model, PROJECTOR)
    assert model.vision_tower.frozen and not model.vision_tower.training


def test_language_model_only(model):
    apply_trainable_parts(model, TrainableParts(projector=False, language_model=True))
    assert trainable_names(model) == language_names(model)
    assert "lm_head.weight" in trainable_names(model)
    assert "model.embed_tokens.weight" in trainable_names(model)


def test_projector_and_language_model(model):
    apply_trainable_parts(model, TrainableParts())
    assert trainable_names(model) == language_names(model) | names_under(model, PROJECTOR)
    assert count_parameters(model)[0] == sum(
        p.numel() for n, p in model.named_parameters() if n in trainable_names(model)
    )


def test_whole_tower_trains_only_the_layers_that_run(model):
    # 3 layers, select layer -2: layers 0 and 1 run; layer 2 and the final norm never do.
    apply_trainable_parts(model, TrainableParts(vision_tower=True))
    tower = trainable_names(model) & names_under(model, TOWER)
    assert not model.vision_tower.frozen
    assert any(name.startswith(LAYER + "0.") for name in tower)
    assert any(name.startswith(LAYER + "1.") for name in tower)
    assert any("embeddings" in name for name in tower)
    assert not any(name.startswith(LAYER + "2.") for name in tower)
    assert not any("post_layernorm" in name for name in tower)


def test_every_trainable_parameter_gets_a_gradient(model):
    """What DDP without find_unused_parameters needs: no trainable parameter is left out of the forward pass."""
    apply_trainable_parts(model, TrainableParts(vision_tower=True))
    model.train()
    ids = torch.tensor([[1, *[model.config.image_token_index] * model.num_image_tokens, 5, 6, 7]])
    model(input_ids=ids, pixel_values=torch.randn(1, 3, 32, 32), labels=ids.clamp(min=0)).loss.backward()
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []


@pytest.mark.parametrize("count", [1, 2])
def test_last_n_tower_layers(model, count):
    apply_trainable_parts(model, TrainableParts(projector=False, language_model=False, vision_tower_last_layers=count))
    expected = set()
    for index in range(2 - count, 2):
        expected |= names_under(model, f"{LAYER}{index}.")
    assert trainable_names(model) == expected
    assert not model.vision_tower.frozen


def test_last_n_beyond_the_layers_that_run(model):
    with pytest.raises(ConfigError, match="runs 2 layers"):
        apply_trainable_parts(model, TrainableParts(vision_tower_last_layers=3))


def test_refreezing_after_training_the_tower(model):
    apply_trainable_parts(model, TrainableParts(vision_tower=True))
    apply_trainable_parts(model, TrainableParts())
    assert not (trainable_names(model) & names_under(model, TOWER))
    assert model.vision_tower.frozen


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"projector": False, "language_model": False}, "nothing would train"),
        ({"vision_tower": True, "vision_tower_last_layers": 1}, "not both"),
        ({"vision_tower_last_layers": -1}, ">= 0"),
    ],
)
def test_bad_parts(fields, message):
    with pytest.raises(ConfigError, match=message):
        TrainableParts(**fields)
