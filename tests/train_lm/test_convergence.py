"""A tiny MobileLLaMA-shaped model, pre-trained for half a minute, beats the unigram baseline on held-out text.

The synthetic documents have structure a language model can learn (an animal fixes its colour, action and
place; numbers count up), which word frequencies alone cannot capture.
"""

from __future__ import annotations

import collections
import math
from pathlib import Path
from typing import Any

import pytest
from lm_corpus import synthetic_corpus, write_jsonl
from transformers import TrainerCallback

from mvlm.train_lm import (
    FileDocumentSource,
    PackedTokenStream,
    PretrainConfig,
    build_eval_sequences,
    load_lm_tokenizer,
    pretrain,
)

SEQ_LEN = 64


class EvalLosses(TrainerCallback):
    def __init__(self) -> None:
        self.perplexities: list[float] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        if logs and "eval_perplexity" in logs:
            self.perplexities.append(logs["eval_perplexity"])


def unigram_perplexity(train: Path, held_out: Path, tokenizer: Any, vocab_size: int, sequences: int) -> float:
    """Perplexity of add-one-smoothed training token frequencies on the positions the model predicts."""
    stream = PackedTokenStream(FileDocumentSource([train]), tokenizer, SEQ_LEN, loop=False, rank=0, world_size=1)
    counts: collections.Counter[int] = collections.Counter()
    for document in FileDocumentSource([train]).iter_documents():
        counts.update(stream.encode(document.text))
    total = sum(counts.values())
    evaluation = build_eval_sequences(FileDocumentSource([held_out]), tokenizer, SEQ_LEN, max_sequences=sequences)
    targets = [token for sequence in evaluation.sequences for token in sequence[1:]]  # the shifted labels
    return math.exp(-sum(math.log((counts[t] + 1) / (total + vocab_size)) for t in targets) / len(targets))


@pytest.mark.slow
def test_held_out_perplexity_falls_far_below_the_unigram_baseline(tmp_path: Path, lm_tokenizer_dir: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", synthetic_corpus(2000, seed=1))
    held_out = write_jsonl(tmp_path / "held_out.jsonl", synthetic_corpus(200, seed=2))
    evals = EvalLosses()
    config = PretrainConfig(
        output_dir=str(tmp_path / "out"),
        tokenizer=str(lm_tokenizer_dir),
        model="mobilellama-1.4b",
        model_overrides={
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
            "max_position_embeddings": 256,
            "vocab_size": 400,
        },
        data=[str(train)],
        eval_data=[str(held_out)],
        eval_sequences=32,
        seq_len=SEQ_LEN,
        per_device_train_batch_size=8,
        max_steps=300,
        learning_rate=3e-3,
        warmup_ratio=0.05,
        weight_decay=0.0,
        eval_steps=100,
        save_steps=10_000,
        logging_steps=50,
        gradient_checkpointing=False,
        report_to=[],
        extra_training_arguments={"disable_tqdm": True, "eval_on_start": True},
    )
    result = pretrain(config, callbacks=[evals])
    baseline = unigram_perplexity(train, held_out, load_lm_tokenizer(lm_tokenizer_dir), 400, 32)
    print(
        f"held-out perplexity {result.eval_perplexity:.3f}, unigram baseline {baseline:.3f}, evals {evals.perplexities}"
    )
    assert 10 < baseline < 400  # the baseline itself is sensible: far better than uniform
    assert result.eval_perplexity < 0.25 * baseline
    assert evals.perplexities[0] > baseline  # the random model starts worse than word frequencies
    assert evals.perplexities[1] > evals.perplexities[-1]
