"""Fixtures for the training-data tests: a tiny tokenizer, a small image processor, data files, a tiny model."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from helpers.tokenizers import build_tiny_sentencepiece_tokenizer, load_fast_tokenizer

RecordWriter = Callable[..., Path]


@pytest.fixture(scope="session")
def data_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LLaMA-style SentencePiece tokenizer folder (unk 0, bos 1, eos 2, byte fallback)."""
    return build_tiny_sentencepiece_tokenizer(tmp_path_factory.mktemp("data_tokenizer"))


@pytest.fixture(scope="session")
def sp(data_tokenizer_dir: Path) -> Any:
    """The raw SentencePiece processor: expected ids in the tests come from it, not from mvlm."""
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=str(data_tokenizer_dir / "tokenizer.model"))


@pytest.fixture(scope="session")
def tokenizer(data_tokenizer_dir: Path) -> Any:
    """transformers' fast LlamaTokenizer with ``legacy=True`` (as the reference tokenized)."""
    return load_fast_tokenizer(data_tokenizer_dir, legacy=True)


@pytest.fixture(scope="session")
def processor() -> Any:
    """A small CLIP-style image processor (32 x 32 crops) so image tests stay fast."""
    from mvlm.vision.processing import ImageProcessor

    return ImageProcessor(image_size=32)


@pytest.fixture
def write_records(tmp_path: Path) -> RecordWriter:
    """``write_records(records, name="data.json")``: a JSON list (``.json``) or JSONL (``.jsonl``) file in tmp_path."""

    def write(records: Sequence[Any], name: str = "data.json") -> Path:
        path = tmp_path / name
        if name.endswith(".jsonl"):
            path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
        else:
            path.write_text(json.dumps(list(records), indent=1), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A tiny MobileVLM (V2 layout, LDPv2: 144 tokens per 336-pixel image) loaded in float32."""
    import torch

    import mvlm
    from helpers.checkpoints import build_tiny_mobilevlm_checkpoint

    folder = build_tiny_mobilevlm_checkpoint(tmp_path_factory.mktemp("tiny_mobilevlm"))
    return mvlm.MobileVLM.from_pretrained(folder, dtype=torch.float32)
