"""The language model's tokenizer for LM training: loaded from a folder, a hub id or a bare ``tokenizer.model``.

MobileLLaMA uses the LLaMA SentencePiece tokenizer (``<unk>`` = 0 = pad, ``<s>`` = 1, ``</s>`` = 2).
:func:`load_lm_tokenizer` accepts what users have at hand, including the ``tokenizer.model`` file
alone, and :func:`save_tokenizer_files` writes the tokenizer beside a trained model so that the
folder loads in transformers, in mvlm (``load_tokenizer``) and in tools that need the SentencePiece
file itself (the reference's slow tokenizer, llama.cpp's converter).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mvlm.errors import CheckpointError

__all__ = ["load_lm_tokenizer", "save_tokenizer_files"]

SENTENCEPIECE_FILE = "tokenizer.model"

_LLAMA_TOKENIZER_CONFIG = {
    "tokenizer_class": "LlamaTokenizer",
    "add_bos_token": True,
    "add_eos_token": False,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "legacy": True,
    "clean_up_tokenization_spaces": False,
}


def load_lm_tokenizer(path: str | os.PathLike[str]) -> Any:
    """Load a causal LM's tokenizer with MobileVLM's conventions (SentencePiece ``legacy``, pad = unk).

    Args:
        path: A tokenizer or checkpoint folder, a hub id, or a SentencePiece ``.model`` file (read as a
            LLaMA tokenizer: ``<s>`` added in front of each text, ``</s>`` the end of a document).

    Raises:
        CheckpointError: Nothing loadable at ``path``.
    """
    from mvlm.language import load_tokenizer

    path = Path(path)
    if not path.is_file():
        return load_tokenizer(path)
    if path.suffix != ".model":
        raise CheckpointError(f"'{path}' is a file but not a SentencePiece model (*.model); give it or its folder")
    with tempfile.TemporaryDirectory(prefix="mvlm-tokenizer-") as staging:
        shutil.copyfile(path, Path(staging) / SENTENCEPIECE_FILE)
        (Path(staging) / "tokenizer_config.json").write_text(json.dumps(_LLAMA_TOKENIZER_CONFIG, indent=2))
        tokenizer = load_tokenizer(staging)
    tokenizer.init_kwargs.pop("vocab_file", None)
    return tokenizer


def save_tokenizer_files(tokenizer: Any, folder: str | os.PathLike[str], source: str | os.PathLike[str] | None) -> None:
    """Write ``tokenizer`` into ``folder`` (``save_pretrained``) plus the SentencePiece file of ``source``.

    Args:
        tokenizer: The tokenizer the model was trained with.
        folder: The model folder.
        source: Where the tokenizer came from (a ``.model`` file or a folder holding ``tokenizer.model``);
            its SentencePiece file is copied when there is one.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(folder))
    if source is None:
        return
    source = Path(source)
    model_file = source if source.is_file() else source / SENTENCEPIECE_FILE
    target = folder / SENTENCEPIECE_FILE
    if model_file.is_file() and model_file.resolve() != target.resolve():
        shutil.copyfile(model_file, target)
