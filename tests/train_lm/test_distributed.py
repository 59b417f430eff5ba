"""Two ranks under ``torchrun`` on the CPU (gloo): they agree on the weights and read disjoint parts of the stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from lm_corpus import TINY_LLAMA

from mvlm.train_lm import FileDocumentSource, PackedTokenStream

SCRIPT = textwrap.dedent(
    """
    import hashlib, json, os, sys
    import torch
    from mvlm.train_lm import PretrainConfig, pretrain
    from mvlm.train_lm import trainer as trainer_module

    root, options = sys.argv[1], json.loads(sys.argv[2])
    rank = int(os.environ["RANK"])
    seen = []
    original = trainer_module.LMTrainer.training_step

    def recording(self, model, inputs, num_items=None):
        seen.append(inputs["input_ids"].tolist())
        return original(self, model, inputs, num_items)

    trainer_module.LMTrainer.training_step = recording
    torch.set_num_threads(1)
    final = {}

    from transformers import TrainerCallback

    class Weights(TrainerCallback):
        def on_train_end(self, args, state, control, model=None, **kwargs):
            digest = hashlib.sha256()
            for name, value in sorted(model.state_dict().items()):
                digest.update(name.encode() + value.detach().float().numpy().tobytes())
            final["weights"] = digest.hexdigest()

    result = pretrain(PretrainConfig(**options), callbacks=[Weights()])
    with open(os.path.join(root, f"rank{rank}.json"), "w") as handle:
        json.dump({"seen": seen, "weights": final["weights"], "steps": result.global_step,
                   "world": int(os.environ["WORLD_SIZE"])}, handle)
    """
)


@pytest.mark.slow
def test_two_ranks_agree_and_read_disjoint_shards(
    tmp_path: Path, lm_tokenizer_dir: Path, corpus_file: Path, lm_tokenizer: Any
) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    options = {
        "output_dir": str(tmp_path / "out"),
        "tokenizer": str(lm_tokenizer_dir),
        "model": "mobilellama-1.4b",
        "model_overrides": {**TINY_LLAMA, "vocab_size": 400},
        "data": [str(corpus_file)],
        "seq_len": 48,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 2,
        "max_steps": 3,
        "save_steps": 2,
        "logging_steps": 1,
        "gradient_checkpointing": False,
        "report_to": [],
        "extra_training_arguments": {"disable_tqdm": True},
    }
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    completed = subprocess.run(
        [*command, str(script), str(tmp_path), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["world"] for r in ranks] == [2, 2] and [r["steps"] for r in ranks] == [3, 3]
    assert ranks[0]["weights"] == ranks[1]["weights"]  # DDP kept the replicas identical

    sequences = []
    for rank, record in enumerate(ranks):
        trained = [row for batch in record["seen"] for row in batch]
        assert len(record["seen"]) == 3 * 2 and len(trained) == 12
        stream = PackedTokenStream(FileDocumentSource([corpus_file]), lm_tokenizer, 48, rank=rank, world_size=2)
        expected = [s["input_ids"].tolist() for s, _ in zip(stream, range(12), strict=False)]
        assert trained == expected  # rank r read exactly its own shard, from its start
        sequences.append(trained)
    assert not {tuple(s) for s in sequences[0]} & {tuple(s) for s in sequences[1]}

    checkpoint = tmp_path / "out" / "checkpoint-2"
    states = [json.loads((checkpoint / f"stream_state_{r}.json").read_text()) for r in range(2)]
    assert [s["stream"]["rank"] for s in states] == [0, 1] and all(s["stream"]["world_size"] == 2 for s in states)
    from transformers import LlamaForCausalLM

    assert LlamaForCausalLM.from_pretrained(tmp_path / "out").config.hidden_size == TINY_LLAMA["hidden_size"]
