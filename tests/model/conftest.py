"""Fixtures of the model tests: tiny checkpoints in the exact published format."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.checkpoints import build_tiny_mobilevlm_checkpoint
from helpers.tokenizers import build_tiny_sentencepiece_tokenizer


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sentencepiece_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def tiny_v2_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer_dir: Path) -> Path:
    """MobileVLM_V2-1.7B's format (ldpnetv2), bf16 ``pytorch_model.bin``."""
    return build_tiny_mobilevlm_checkpoint(
        tmp_path_factory.mktemp("v2") / "MobileVLM_V2-tiny", tokenizer_dir=tiny_tokenizer_dir
    )


@pytest.fixture(scope="session")
def tiny_v1_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer_dir: Path) -> Path:
    """MobileVLM-1.7B's format (ldpnet), bf16 ``pytorch_model.bin``."""
    return build_tiny_mobilevlm_checkpoint(
        tmp_path_factory.mktemp("v1") / "MobileVLM-tiny", preset="MobileVLM-1.7B", tokenizer_dir=tiny_tokenizer_dir
    )
