"""Test data of the inference tests: questions, and a tiny MobileVLM checkpoint whose greedy answers
differ from prompt to prompt and image to image.

The tiny checkpoint of ``helpers.checkpoints`` (published format, CLIP 336 px -> 144 image tokens,
a 2-layer LLaMA) answers every prompt with the same repeated piece. With the language model's
matrices scaled by 3 (still the published format and keys) its greedy answers depend on the
prompt and on the image, and contain byte pieces that form no valid UTF-8 (``"\\ufffd"`` in the
text): what the batching and streaming tests need to mean something.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from helpers.checkpoints import build_tiny_mobilevlm_checkpoint

__all__ = ["LM_SCALE", "QUESTIONS", "chatty_checkpoint"]

LM_SCALE = 3.0
"""Factor applied to the language model's 2-D weights (attention, MLP, ``lm_head``)."""


def chatty_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the checkpoint once per test session (under the session's base temp folder) and return it."""
    folder = tmp_path_factory.getbasetemp() / "mvlm-inference-chatty" / "MobileVLM_V2-chatty"
    if folder.is_dir():
        return folder
    staging = folder.parent / f".staging-{os.getpid()}"
    build_tiny_mobilevlm_checkpoint(staging, seed=0)
    weights = staging / "pytorch_model.bin"
    state = torch.load(weights, weights_only=True)
    for key, value in state.items():
        if (key.startswith("model.layers.") and value.dim() == 2) or key == "lm_head.weight":
            state[key] = (value.float() * LM_SCALE).to(value.dtype)
    torch.save(state, weights)
    # The tower's config folder is named in config.json by its path; point it at the final place.
    config = (staging / "config.json").read_text().replace(str(staging / "vision_tower"), str(folder / "vision_tower"))
    (staging / "config.json").write_text(config)
    shutil.move(str(staging), str(folder))
    return folder


QUESTIONS = [
    "What is in the image?",
    "Describe the picture in detail.",
    "Is there a dog?",
    "Who is the author of this book? Answer the question using a single word or phrase.",
]
"""Questions of different lengths (so a batch of them needs left padding)."""
