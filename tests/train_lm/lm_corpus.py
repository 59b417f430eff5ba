"""Shared pieces of the LM-training tests: a synthetic corpus with structure and a tiny Llama configuration."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

ANIMALS = {  # animal -> (its colour, what it does, where)
    "cat": ("black", "sleeps", "on the sofa"),
    "dog": ("brown", "barks", "in the garden"),
    "bird": ("blue", "sings", "in the tree"),
    "fish": ("golden", "swims", "in the pond"),
    "horse": ("white", "runs", "in the field"),
    "mouse": ("grey", "hides", "under the bed"),
}
NUMBERS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]

TINY_LLAMA: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
}
"""A Llama small enough for a training step in milliseconds (vocab_size comes from the tokenizer)."""


def synthetic_document(rng: random.Random) -> str:
    """One document: sentences whose words depend on each other (so a model can beat word frequencies)."""
    sentences = []
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.25:
            start = rng.randint(0, 5)
            sentences.append("we count " + " ".join(NUMBERS[start : start + rng.randint(3, 5)]) + ".")
        else:
            animal = rng.choice(sorted(ANIMALS))
            colour, action, place = ANIMALS[animal]
            sentences.append(f"the {colour} {animal} {action} {place}.")
    return " ".join(sentences)


def synthetic_corpus(documents: int, seed: int) -> list[str]:
    """``documents`` synthetic documents (deterministic in ``seed``)."""
    rng = random.Random(seed)
    return [synthetic_document(rng) for _ in range(documents)]


def write_jsonl(path: Path, texts: list[str]) -> Path:
    """Write ``texts`` as JSON Lines records ``{"text": ...}``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    return path


def tiny_pretrain_config(output_dir: Path, tokenizer_dir: Path, data: list[str], **overrides: Any) -> Any:
    """A ``PretrainConfig`` for a tiny Llama that trains in seconds."""
    from mvlm.train_lm import PretrainConfig

    options: dict[str, Any] = {
        "output_dir": str(output_dir),
        "tokenizer": str(tokenizer_dir),
        "model": "mobilellama-1.4b",
        "model_overrides": {**TINY_LLAMA, "vocab_size": 400},
        "data": data,
        "seq_len": 48,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 2,
        "max_steps": 6,
        "save_steps": 3,
        "logging_steps": 2,
        "gradient_checkpointing": False,
        "report_to": [],
        "extra_training_arguments": {"disable_tqdm": True},
    }
    options.update(overrides)
    return PretrainConfig(**options)
