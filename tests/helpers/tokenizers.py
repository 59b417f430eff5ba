"""Build a tiny LLaMA-style SentencePiece tokenizer folder that transformers loads, in well under a second.

The model follows the LLaMA conventions that prompting depends on: BPE, ``<unk>`` = 0, ``<s>`` = 1,
``</s>`` = 2, no pad piece, byte fallback (so ``"\\n"`` is the byte piece ``<0x0A>`` = 13, right after
the three specials as in LLaMA), SentencePiece's dummy prefix (``▁`` in front of every encoded text)
and no whitespace normalization. Only the vocabulary is small.

The folder holds ``tokenizer.model``, ``tokenizer_config.json`` and ``special_tokens_map.json``, the
files of a published MobileVLM / MobileLLaMA repository, so ``AutoTokenizer.from_pretrained(folder)``
works as it does on the real ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_TEXTS", "build_tiny_sentencepiece_tokenizer", "load_fast_tokenizer", "load_slow_tokenizer"]

DEFAULT_TEXTS: tuple[str, ...] = (
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user's questions.",
    "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the human's questions.",
    "USER: What is in the image? ASSISTANT: A cat sitting on a red sofa.",
    "Human: What are the key differences between renewable and non-renewable energy sources? Assistant: hi",
    "Who is the author of this book? Answer the question using a single word or phrase.",
    "Describe the picture in detail. The quick brown fox jumps over the lazy dog near 42 green trees.",
    "You are a helpful language and vision assistant. [INST] <<SYS>> <</SYS>> [/INST]",
    "Is there a dog in the photo? Yes, there is. No, there is not. What color is the car? Blue.",
)
"""Sentences the default tokenizer is trained on: the templates' words and a few questions and answers."""


def build_tiny_sentencepiece_tokenizer(
    folder: str | Path,
    texts: Iterable[str] | None = None,
    vocab_size: int = 400,
    *,
    legacy: bool | None = None,
    model_max_length: int = 2048,
) -> Path:
    """Train a small LLaMA-style SentencePiece BPE model on ``texts`` and write a tokenizer folder.

    Args:
        folder: Where to write (created if missing).
        texts: Training sentences; newlines are replaced by spaces so that ``"\\n"`` stays a byte
            piece. Defaults to :data:`DEFAULT_TEXTS`.
        vocab_size: Target vocabulary size (at least 259 + a few: 3 specials and 256 byte pieces come
            first); a corpus too small for it gives a smaller vocabulary rather than an error.
        legacy: Written to ``tokenizer_config.json`` when not ``None``. The published MobileVLM folders
            carry no such key; transformers 5 then loads ``legacy=False``.
        model_max_length: Written to ``tokenizer_config.json``.

    Returns:
        ``folder`` as a :class:`~pathlib.Path`.
    """
    from mvlm.language import train_llama_tokenizer

    sentences = list(DEFAULT_TEXTS if texts is None else texts)
    return train_llama_tokenizer(
        folder,
        sentences * 8,
        vocab_size,
        model_max_length=model_max_length,
        legacy=legacy,
        allow_whitespace_only_pieces=True,
    )


def load_slow_tokenizer(folder: str | Path) -> Any:
    """The SentencePiece-backed ("slow") tokenizer of ``folder``, adding BOS as LLaMA's does.

    transformers 5 has no slow ``LlamaTokenizer`` any more (``LlamaTokenizer`` is the fast one); its
    generic ``SentencePieceBackend`` runs the SentencePiece model itself (``legacy=True``: every text
    between special tokens is encoded with the dummy prefix), which is what transformers 4.33's slow
    ``LlamaTokenizer`` did for the reference.
    """
    from transformers.tokenization_utils_sentencepiece import SentencePieceBackend

    return SentencePieceBackend.from_pretrained(str(folder), special_tokens_pattern="bos")


def load_fast_tokenizer(folder: str | Path, legacy: bool | None = True) -> Any:
    """transformers' (fast, ``tokenizers``-backed) ``LlamaTokenizer`` for ``folder``.

    Args:
        folder: A folder from :func:`build_tiny_sentencepiece_tokenizer`.
        legacy: ``True`` puts the ``▁`` prefix after special tokens too, as the reference's slow
            tokenizer did; ``None`` keeps what the folder says (transformers 5's default is ``False``).
    """
    from transformers import LlamaTokenizer

    kwargs = {} if legacy is None else {"legacy": legacy}
    return LlamaTokenizer.from_pretrained(str(folder), **kwargs)
