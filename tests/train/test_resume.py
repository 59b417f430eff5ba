"""Resuming after an interruption loses nothing: the resumed run ends where an uninterrupted one does.

Runs are deterministic on one CPU thread (seeded data order, restored optimizer, scheduler and RNG
states), so the final weights and the loss of every step must be equal, not just close.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from mvlm.train import LoraSettings, last_checkpoint, train


class Interrupted(Exception):
    """Stands for the process dying right after a checkpoint."""


class InterruptAfterSave(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Interrupted(f"stopped after the checkpoint of step {self.step}")


def trained_tensors(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def assert_same_run(resumed, reference) -> None:
    assert resumed.global_step == reference.global_step
    assert resumed.loss_history == reference.loss_history
    expected = trained_tensors(reference.model)
    actual = trained_tensors(resumed.model)
    assert actual.keys() == expected.keys()
    different = [name for name in expected if not torch.equal(actual[name], expected[name])]
    assert different == []


def loss_log_steps(folder: Path) -> list[int]:
    return [int(row["step"]) for row in csv.DictReader((folder / "loss_log.csv").open())]


@pytest.mark.parametrize(
    ("recipe", "fields"),
    [
        pytest.param("v1-pretrain", {}, id="projector-only-stage-one"),
        pytest.param("v1-finetune", {"lora": LoraSettings(r=4, alpha=8, dropout=0.0)}, id="lora"),
    ],
)
def test_resume_after_an_interruption(fast_config, tmp_path, recipe, fields):
    options = {"max_steps": 4, "save_steps": 2, "save_total_limit": 2, "learning_rate": 1e-3, **fields}
    reference = train(fast_config(recipe, output_dir=str(tmp_path / "reference"), **options))
    config = fast_config(recipe, output_dir=str(tmp_path / "interrupted"), **options)
    with pytest.raises(Interrupted):
        train(config, callbacks=[InterruptAfterSave(2)])
    assert Path(last_checkpoint(config.output_dir)).name == "checkpoint-2"
    resumed = train(config)
    assert resumed.resumed_from is not None and resumed.resumed_from.endswith("checkpoint-2")
    assert_same_run(resumed, reference)
    assert loss_log_steps(Path(config.output_dir)) == [1, 2, 3, 4]


def test_resume_after_the_process_is_killed(fast_config, tmp_path, tiny_checkpoint, synthetic_data):
    """``mvlm train`` in a subprocess, SIGKILLed after its first checkpoint; the same command then continues it."""
    steps = 24
    options = {"max_steps": steps, "save_steps": 4, "save_total_limit": 2, "learning_rate": 1e-3}
    reference = train(fast_config("v1-finetune", output_dir=str(tmp_path / "reference"), **options))

    out = tmp_path / "killed"
    command = [
        sys.executable, "-m", "mvlm.train.cli", "train", "--recipe", "v1-finetune",
        "--model", str(tiny_checkpoint), "--data", str(synthetic_data["finetune"]), "--output", str(out),
        "--max-steps", str(steps), "--save-steps", "4", "--save-total-limit", "2", "--learning-rate", "1e-3",
        "--batch-size", "4", "--gradient-accumulation-steps", "1", "--no-gradient-checkpointing",
        "--warmup-ratio", "0", "--logging-steps", "1",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while last_checkpoint(out) is None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert last_checkpoint(out) is not None, stderr.decode()[-2000:]
    assert not (out / "model.safetensors").exists(), "the run finished before it could be killed"

    resumed = train(fast_config("v1-finetune", output_dir=str(out), **options))
    assert resumed.resumed_from is not None
    assert_same_run(resumed, reference)
    assert loss_log_steps(out) == list(range(1, steps + 1))


def test_resume_options(fast_config):
    first = train(fast_config("v1-pretrain", max_steps=2, save_steps=1))
    assert first.resumed_from is None
    fresh = train(fast_config("v1-pretrain", max_steps=2, save_steps=1, resume=False))
    assert fresh.resumed_from is None and [step for step, _ in fresh.loss_history] == [1, 2]
    finished = train(fast_config("v1-pretrain", max_steps=2, save_steps=1))  # "auto": nothing left to do
    assert finished.resumed_from.endswith("checkpoint-2") and finished.global_step == 2
