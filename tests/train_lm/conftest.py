"""Fixtures of the LM-training tests: a synthetic corpus with structure, its tokenizer, tiny Llama shapes.

Training tests run torch on one thread: the machine's cores are shared, and tiny models gain
nothing from more.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

for _folder in (Path(__file__).resolve().parents[1], Path(__file__).resolve().parent):
    if str(_folder) not in sys.path:  # `helpers` and `lm_corpus` import without a pytest `pythonpath` setting
        sys.path.insert(0, str(_folder))

from lm_corpus import synthetic_corpus, tiny_pretrain_config, write_jsonl  # noqa: E402

from helpers.tokenizers import build_tiny_sentencepiece_tokenizer  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def lm_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LLaMA-style SentencePiece tokenizer trained on the synthetic corpus and the chat template's words."""
    from helpers.tokenizers import DEFAULT_TEXTS

    texts = synthetic_corpus(300, seed=1234) + list(DEFAULT_TEXTS) * 10
    return build_tiny_sentencepiece_tokenizer(tmp_path_factory.mktemp("lm_tokenizer"), texts, vocab_size=400)


@pytest.fixture(scope="session")
def lm_tokenizer(lm_tokenizer_dir: Path) -> Any:
    """The tokenizer as training loads it (``mvlm.train_lm.load_lm_tokenizer``)."""
    from mvlm.train_lm import load_lm_tokenizer

    return load_lm_tokenizer(lm_tokenizer_dir)


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JSON Lines corpus of 120 synthetic documents."""
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "corpus.jsonl", synthetic_corpus(120, seed=7))


@pytest.fixture(scope="session")
def pretrained_dir(tmp_path_factory: pytest.TempPathFactory, lm_tokenizer_dir: Path, corpus_file: Path) -> Path:
    """The output folder of one tiny pre-training run (with held-out evaluation)."""
    import torch

    from mvlm.train_lm import pretrain

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        output = tmp_path_factory.mktemp("pretrained") / "base"
        pretrain(tiny_pretrain_config(output, lm_tokenizer_dir, [str(corpus_file)], holdout_documents=10))
    finally:
        torch.set_num_threads(threads)
    return output
