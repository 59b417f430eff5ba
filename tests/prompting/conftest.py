"""Fixtures for the prompting tests: one tiny LLaMA-style SentencePiece tokenizer, loaded every way."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

_TESTS_DIR = str(Path(__file__).resolve().parents[1])
if _TESTS_DIR not in sys.path:  # so that `helpers` imports without a pytest `pythonpath` setting
    sys.path.insert(0, _TESTS_DIR)

from helpers.tokenizers import (  # noqa: E402
    build_tiny_sentencepiece_tokenizer,
    load_fast_tokenizer,
    load_slow_tokenizer,
)


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tokenizer folder laid out like a published MobileVLM repository (no ``legacy`` key)."""
    return build_tiny_sentencepiece_tokenizer(tmp_path_factory.mktemp("tiny_tokenizer"))


@pytest.fixture(scope="session")
def sp_model(tokenizer_dir: Path) -> Any:
    """The raw SentencePiece processor of the tiny tokenizer."""
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=str(tokenizer_dir / "tokenizer.model"))


@pytest.fixture(scope="session")
def slow_tokenizer(tokenizer_dir: Path) -> Any:
    """The SentencePiece-backed tokenizer (what the reference used)."""
    return load_slow_tokenizer(tokenizer_dir)


@pytest.fixture(scope="session")
def fast_tokenizer(tokenizer_dir: Path) -> Any:
    """transformers' fast LlamaTokenizer with ``legacy=True``."""
    return load_fast_tokenizer(tokenizer_dir, legacy=True)


@pytest.fixture(scope="session")
def auto_tokenizer(tokenizer_dir: Path) -> Any:
    """``AutoTokenizer.from_pretrained(folder)`` as transformers 5 loads it by default (``legacy=False``)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


@pytest.fixture(params=["slow", "fast", "auto"])
def tokenizer(request: pytest.FixtureRequest) -> Any:
    """Each way of loading the tokenizer in turn."""
    return request.getfixturevalue(f"{request.param}_tokenizer")
