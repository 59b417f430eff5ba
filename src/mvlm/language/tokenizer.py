"""Loading the language model's tokenizer as MobileVLM uses it (LLaMA SentencePiece, pad = unk)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mvlm.errors import CheckpointError

__all__ = ["load_tokenizer"]


def load_tokenizer(
    name_or_path: str | Path,
    *,
    use_fast: bool = True,
    legacy: bool = True,
    padding_side: str = "right",
    **hub_kwargs: Any,
) -> Any:
    """Load the tokenizer of a checkpoint folder or hub id.

    MobileVLM checkpoints ship a LLaMA SentencePiece ``tokenizer.model``. As the reference does
    for training and batching, a tokenizer without a pad token gets ``pad = unk`` (id 0).

    Args:
        name_or_path: A local folder or a hub id (resolved from the local cache when offline).
        use_fast: Ask transformers for its fast (tokenizers) implementation; transformers 5
            converts ``tokenizer.model`` to it (needs ``sentencepiece`` and ``protobuf``).
        legacy: SentencePiece's legacy handling of text after special tokens, as transformers 4.33
            (the reference) tokenized. The published folders carry no ``legacy`` key and
            transformers 5 would otherwise default to ``False``, which changes multi-turn ids.
        padding_side: ``"right"`` for training, ``"left"`` for batched generation.
        **hub_kwargs: Passed to ``AutoTokenizer.from_pretrained`` (``revision``, ``cache_dir``...).

    Raises:
        CheckpointError: No tokenizer could be loaded from ``name_or_path``.
    """
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), use_fast=use_fast, legacy=legacy, **hub_kwargs)
    except (OSError, ValueError, TypeError) as error:
        raise CheckpointError(
            f"could not load a tokenizer from '{name_or_path}': {error}. A MobileVLM checkpoint needs tokenizer.model "
            "(SentencePiece) or tokenizer.json beside config.json"
        ) from error
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token
    tokenizer.padding_side = padding_side
    return tokenizer
