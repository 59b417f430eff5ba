"""``torchrun --nproc_per_node 2`` on CPU (gloo): DDP through transformers' Trainer, no distributed code of ours."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RANK_SCRIPT = """
import hashlib, json, os, sys
from pathlib import Path

import torch

from mvlm.train import train
from mvlm.train.cli import build_parser, train_config_from_args

args = build_parser().parse_args(sys.argv[1:])
result = train(train_config_from_args(args))
digest = hashlib.sha256()
for name, tensor in sorted(result.model.state_dict().items()):
    digest.update(name.encode())
    digest.update(tensor.detach().float().contiguous().numpy().tobytes())
report = {
    "world_size": torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1,
    "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
    "digest": digest.hexdigest(),
    "global_step": result.global_step,
    "loss_history": result.loss_history,
}
Path(args.output).with_name(f"rank{os.environ['RANK']}.json").write_text(json.dumps(report))
"""


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path, tiny_checkpoint, synthetic_data):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not installed")
    script = tmp_path / "rank_script.py"
    script.write_text(RANK_SCRIPT)
    out = tmp_path / "run" / "out"
    steps, batch = 4, 2
    command = [
        torchrun, "--standalone", "--nproc_per_node", "2", str(script), "train",
        "--recipe", "v1-finetune", "--model", str(tiny_checkpoint), "--data", str(synthetic_data["mixed"]),
        "--output", str(out), "--max-steps", str(steps), "--batch-size", str(batch),
        "--gradient-accumulation-steps", "1", "--save-steps", "2", "--logging-steps", "1", "--warmup-ratio", "0",
        "--learning-rate", "1e-3", "--no-gradient-checkpointing", "--group-by-modality-length",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-4000:]

    reports = [json.loads((out.parent / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["world_size"] for r in reports] == [2, 2]
    assert reports[0]["backend"] == "gloo"
    assert reports[0]["global_step"] == reports[1]["global_step"] == steps
    assert reports[0]["digest"] == reports[1]["digest"]  # identical weights on both ranks
    assert reports[0]["loss_history"] == reports[1]["loss_history"]  # the loss, averaged over ranks

    # one final model, one checkpoint kept, one loss log written by one process
    assert [p.name for p in out.glob("model*.safetensors")] == ["model.safetensors"]
    assert sorted(p.name for p in out.glob("checkpoint-*")) == [f"checkpoint-{steps}"]
    rows = list(csv.DictReader((out / "loss_log.csv").open()))
    assert [int(row["step"]) for row in rows] == list(range(1, steps + 1))
    # each step saw 2 ranks x batch samples of the 24: the epoch counter moves twice as fast as on one process
    assert float(rows[0]["epoch"]) == pytest.approx(2 * batch / 24, abs=1e-3)
