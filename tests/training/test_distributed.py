"""The FSDP / DeepSpeed choice of a run, as both training stacks pass it to ``TrainingArguments``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mvlm.errors import ConfigError
from mvlm.training.distributed import distributed_training_arguments, load_distributed_config


def test_neither_is_plain_ddp() -> None:
    assert distributed_training_arguments(fsdp=None, deepspeed=None) == {}
    assert distributed_training_arguments(fsdp=False, deepspeed="") == {}


def test_fsdp_true_is_the_shipped_configuration() -> None:
    shipped = load_distributed_config("fsdp")
    assert distributed_training_arguments(fsdp=True, deepspeed=None) == {
        "fsdp": True,
        "fsdp_config": shipped["fsdp_config"],
    }


def test_an_fsdp_file_with_the_legacy_strategy_is_translated(tmp_path: Path) -> None:
    path = tmp_path / "fsdp.json"
    path.write_text(json.dumps({"fsdp": "full_shard offload auto_wrap", "fsdp_config": {"min_num_params": 0}}))
    assert distributed_training_arguments(fsdp=str(path), deepspeed=None) == {
        "fsdp": True,
        "fsdp_config": {"min_num_params": 0, "reshard_after_forward": True, "cpu_offload": True},
    }


def test_deepspeed_names_and_files_pass_through(tmp_path: Path) -> None:
    assert distributed_training_arguments(fsdp=None, deepspeed="zero3") == {
        "deepspeed": load_distributed_config("zero3")
    }
    mine = {"_comment": "kept", "zero_optimization": {"stage": 1}, "train_micro_batch_size_per_gpu": "auto"}
    path = tmp_path / "my_zero.json"
    path.write_text(json.dumps(mine))
    assert distributed_training_arguments(fsdp=None, deepspeed=str(path)) == {"deepspeed": mine}


@pytest.mark.parametrize(
    ("fsdp", "deepspeed", "message"),
    [
        (True, "zero2", "not both"),
        ("missing/fsdp.json", None, r"cannot read the FSDP configuration file 'missing/fsdp\.json'"),
        (None, "zero4", r"no shipped distributed config 'zero4'; known: fsdp, zero2, zero3 \(or pass a JSON"),
        (None, "missing.json", r"cannot read the DeepSpeed configuration file 'missing\.json'"),
        ("zero2", None, "neither 'fsdp' nor 'fsdp_config'"),
        (None, "fsdp", "is an FSDP configuration; pass it as fsdp"),
    ],
)
def test_bad_choices_are_refused(fsdp: bool | str | None, deepspeed: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        distributed_training_arguments(fsdp=fsdp, deepspeed=deepspeed)


def test_shipped_configurations_lose_their_notes() -> None:
    for name in ("fsdp", "zero2", "zero3"):
        assert not any(key.startswith("_") for key in load_distributed_config(name))
