"""Fixtures of the training tests: a tiny MobileVLM checkpoint, its parts, and tiny synthetic data sets.

The model is small enough that a training step takes milliseconds: a CLIP-architecture tower on
32-pixel images (patch 8: 16 patches; LDP turns them into 4 visual tokens), a 2-layer Llama 64 wide.
Tests run torch on one thread: the CI machine has two cores, shared.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from helpers.tokenizers import DEFAULT_TEXTS, build_tiny_sentencepiece_tokenizer
from train.tiny_models import SYNTHETIC_TEXTS, TINY_LLM, TINY_TOWER, tiny_config


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def train_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sentencepiece_tokenizer(
        tmp_path_factory.mktemp("train_tokenizer"), [*DEFAULT_TEXTS, *SYNTHETIC_TEXTS], vocab_size=420
    )


@pytest.fixture(scope="session")
def make_checkpoint(tmp_path_factory: pytest.TempPathFactory, train_tokenizer_dir: Path) -> Callable[..., Path]:
    """``make_checkpoint(projector="ldpnet", seed=0)``: a saved tiny MobileVLM with random weights (cached)."""
    from mvlm.language import load_tokenizer
    from mvlm.model import MobileVLM

    cache: dict[tuple[str, int], Path] = {}

    def make(projector: str = "ldpnet", seed: int = 0) -> Path:
        if (projector, seed) not in cache:
            tokenizer = load_tokenizer(train_tokenizer_dir)
            torch.manual_seed(seed)
            model = MobileVLM(tiny_config(len(tokenizer), projector))
            model.tokenizer = tokenizer
            folder = tmp_path_factory.mktemp(f"tiny_{projector}_{seed}")
            model.save_pretrained(folder)
            cache[(projector, seed)] = folder
        return cache[(projector, seed)]

    return make


@pytest.fixture(scope="session")
def tiny_checkpoint(make_checkpoint: Callable[..., Path]) -> Path:
    """A tiny v1-layout (LDP) MobileVLM checkpoint with random weights."""
    return make_checkpoint()


@pytest.fixture(scope="session")
def model_parts(tmp_path_factory: pytest.TempPathFactory, train_tokenizer_dir: Path) -> dict[str, Path]:
    """Separate checkpoints to assemble from: ``language_model`` (Llama + tokenizer) and ``vision_tower`` (CLIP)."""
    from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

    from mvlm.language import load_tokenizer

    root = tmp_path_factory.mktemp("parts")
    tokenizer = load_tokenizer(train_tokenizer_dir)
    torch.manual_seed(1)
    llm = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), **TINY_LLM))
    llm.save_pretrained(root / "llm")
    for name in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"):
        (root / "llm" / name).write_bytes((train_tokenizer_dir / name).read_bytes())
    CLIPVisionModel(CLIPVisionConfig(**TINY_TOWER)).save_pretrained(root / "clip")
    return {"language_model": root / "llm", "vision_tower": root / "clip"}


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny synthetic sets of 32-pixel images: ``pretrain``, ``finetune`` and ``mixed`` (a third text-only)."""
    from mvlm.data.synthetic import SyntheticWorld, generate_dataset

    root = tmp_path_factory.mktemp("synthetic")
    world = SyntheticWorld(0, 32, 2)
    pretrain = generate_dataset(root / "pretrain", 24, split="train", stage="pretrain", world=world).data_file
    finetune = generate_dataset(root / "finetune", 24, split="train", stage="finetune", world=world).data_file
    records = json.loads(finetune.read_text())
    for index in range(0, len(records), 3):  # every third record loses its image: a text-only sample
        record = records[index]
        del record["image"]
        record["conversations"][0]["value"] = record["conversations"][0]["value"].replace("<image>\n", "")
    mixed = finetune.with_name("mixed.json")
    mixed.write_text(json.dumps(records))
    return {"pretrain": pretrain, "finetune": finetune, "mixed": mixed}


@pytest.fixture
def fast_config(tmp_path: Path, tiny_checkpoint: Path, synthetic_data: dict[str, Path]) -> Callable[..., Any]:
    """``fast_config(recipe, **fields)``: a TrainConfig for a few quick steps on the tiny model (fields override)."""
    from mvlm.train import TrainConfig

    def make(recipe: str = "v1-finetune", **fields: Any) -> Any:
        stage = "pretrain" if recipe.endswith("pretrain") else "finetune"
        options: dict[str, Any] = {
            "recipe": recipe,
            "model": str(tiny_checkpoint),
            "data_path": str(synthetic_data[stage]),
            "output_dir": str(tmp_path / "out"),
            "max_steps": 2,
            "per_device_train_batch_size": 4,
            "gradient_accumulation_steps": 1,
            "gradient_checkpointing": False,
            "logging_steps": 1,
            "save_steps": 100,
            "warmup_ratio": 0.0,
        }
        options.update(fields)
        return TrainConfig(**options)

    return make
