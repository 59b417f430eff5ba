"""Train a LLaMA-style SentencePiece tokenizer on your own text and write a folder transformers loads.

For a language model trained from scratch (the bundled demo model, a small MobileLLaMA on a new
corpus) the vocabulary has to come from somewhere. :func:`train_llama_tokenizer` trains one with the
conventions MobileLLaMA's tokenizer follows and prompting depends on: BPE, ``<unk>`` = 0, ``<s>`` = 1,
``</s>`` = 2, no pad piece (pad is ``<unk>`` as in the reference), byte fallback (so ``"\\n"`` is the
byte piece ``<0x0A>`` = 13), SentencePiece's dummy prefix, digits split, no whitespace normalisation.

The folder holds ``tokenizer.model``, ``tokenizer_config.json`` and ``special_tokens_map.json`` (the
files of a published MobileLLaMA repository), so :func:`mvlm.language.load_tokenizer` and
``AutoTokenizer.from_pretrained`` load it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mvlm.errors import ConfigError, DataError

__all__ = ["LLAMA_SPECIAL_TOKENS", "train_llama_tokenizer"]

LLAMA_SPECIAL_TOKENS: dict[str, str] = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
"""The special tokens of a LLaMA tokenizer (ids 0, 1 and 2), as ``special_tokens_map.json`` writes them."""

_FIRST_PIECES = 3 + 256  # the specials, then one piece per byte (byte fallback)


def train_llama_tokenizer(
    folder: str | Path,
    texts: Iterable[str],
    vocab_size: int,
    *,
    model_max_length: int = 2048,
    legacy: bool | None = None,
    allow_whitespace_only_pieces: bool = False,
) -> Path:
    """Train a SentencePiece BPE model on ``texts`` and write a LLaMA tokenizer folder.

    Args:
        folder: Where to write (created if missing). Existing tokenizer files there are replaced
            only after training succeeded.
        texts: The training text, one sentence or document per item; newlines are replaced by spaces
            (so ``"\\n"`` stays a byte piece, as in LLaMA).
        vocab_size: Target vocabulary size, more than the 259 pieces that come first (3 specials, 256
            bytes); a corpus too small for it gives a smaller vocabulary rather than an error.
        model_max_length: Written to ``tokenizer_config.json``.
        legacy: Written to ``tokenizer_config.json`` when not ``None`` (``True``: the ``▁`` prefix after
            special tokens too, as the reference's slow tokenizer; the published folders carry no key).
        allow_whitespace_only_pieces: Let pieces of several spaces form (code, aligned text).

    Returns:
        ``folder`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: ``vocab_size`` leaves no room for learned pieces.
        DataError: ``texts`` is empty.
    """
    import sentencepiece as spm

    if vocab_size <= _FIRST_PIECES:
        raise ConfigError(
            f"vocab_size must exceed {_FIRST_PIECES} (3 special and 256 byte pieces come first), got {vocab_size}"
        )
    sentences = [text.replace("\n", " ") for text in texts]
    if not any(sentence.strip() for sentence in sentences):
        raise DataError("train_llama_tokenizer: no text to train on")
    options: dict[str, Any] = {
        "vocab_size": vocab_size,
        "model_type": "bpe",
        "byte_fallback": True,
        "unk_id": 0,
        "bos_id": 1,
        "eos_id": 2,
        "pad_id": -1,
        "add_dummy_prefix": True,
        "remove_extra_whitespaces": False,
        "normalization_rule_name": "identity",
        "split_digits": True,
        "character_coverage": 1.0,
        "hard_vocab_limit": False,
        "num_threads": 1,
        "minloglevel": 2,
    }
    if allow_whitespace_only_pieces:  # only when asked: an explicit False changes the model file's bytes
        options["allow_whitespace_only_pieces"] = True
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=model, **options)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.model").write_bytes(model.getvalue())
    config: dict[str, Any] = {
        "tokenizer_class": "LlamaTokenizer",
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
        "pad_token": None,
        "padding_side": "right",
        "sp_model_kwargs": {},
        **LLAMA_SPECIAL_TOKENS,
    }
    if legacy is not None:
        config["legacy"] = legacy
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    (folder / "special_tokens_map.json").write_text(json.dumps(LLAMA_SPECIAL_TOKENS, indent=2))
    return folder
