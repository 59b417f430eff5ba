"""Fixtures for the export tests: tiny MobileVLM checkpoints in the published format, loaded once per session.

The ``llamacpp`` marker is registered here (``--strict-markers``); tests that need llama.cpp use the
``llama_cpp`` fixture, which skips them when llama-cpp-python is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers.checkpoints import build_tiny_mobilevlm_checkpoint
from helpers.tokenizers import build_tiny_sentencepiece_tokenizer

PRESETS = {"v1": "MobileVLM-1.7B", "v2": "MobileVLM_V2-1.7B"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "llamacpp: runs llama.cpp through llama-cpp-python (skipped when it is not installed)"
    )


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny SentencePiece tokenizer shared by every checkpoint (training it is the slow part)."""
    return build_tiny_sentencepiece_tokenizer(tmp_path_factory.mktemp("export-tokenizer"))


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> dict[str, Path]:
    """Tiny published-format checkpoints: ``v1`` (ldpnet), ``v2`` (ldpnetv2), ``mlp`` (mlp2x_gelu on V2's config)."""
    root = tmp_path_factory.mktemp("export-checkpoints")
    folders = {
        kind: build_tiny_mobilevlm_checkpoint(root / kind, preset=preset, tokenizer_dir=tokenizer_dir, seed=i)
        for i, (kind, preset) in enumerate(PRESETS.items())
    }
    folders["mlp"] = build_tiny_mobilevlm_checkpoint(
        root / "mlp",
        preset=PRESETS["v2"],
        tokenizer_dir=tokenizer_dir,
        seed=7,
        config_overrides={"mm_projector_type": "mlp2x_gelu"},
    )
    return folders


@pytest.fixture(scope="session")
def load_model(checkpoints: dict[str, Path]) -> Any:
    """``load_model(kind)``: the tiny checkpoint ``kind`` as a float32 MobileVLM in eval mode (cached)."""
    import torch

    from mvlm import MobileVLM

    cache: dict[str, Any] = {}

    def load(kind: str) -> Any:
        if kind not in cache:
            cache[kind] = MobileVLM.from_pretrained(checkpoints[kind], dtype=torch.float32).eval()
        return cache[kind]

    return load


@pytest.fixture(scope="session")
def llama_cpp() -> Any:
    """The llama_cpp module; skips the test when llama-cpp-python is not installed."""
    return pytest.importorskip("llama_cpp", reason='llama-cpp-python is not installed (pip install "mvlm[llamacpp]")')
