"""``build_training_arguments``: one translation of the run options into ``TrainingArguments`` for both stacks."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mvlm.errors import ConfigError
from mvlm.training import arguments as arguments_module
from mvlm.training.arguments import (
    RunOptions,
    bf16_supported,
    build_training_arguments,
    gradient_accumulation_for,
    world_size,
)
from mvlm.training.distributed import load_distributed_config

SCHEDULE: dict[str, Any] = {
    "learning_rate": 1e-3,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "warmup_ratio": 0.0,
    "weight_decay": 0.0,
    "lr_scheduler_type": "cosine",
}


@pytest.fixture
def on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without an accelerator, whatever this one has."""
    monkeypatch.setattr(arguments_module, "accelerator_available", lambda: False)


@pytest.fixture
def passed(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The keyword arguments ``TrainingArguments`` receives (it is not built: no DeepSpeed needed)."""
    seen: dict[str, Any] = {}

    def record(**kwargs: Any) -> dict[str, Any]:
        seen.update(kwargs)
        return kwargs

    library = sys.modules["transformers"]  # the module the builder imports from, at this point of the session
    record.__dataclass_fields__ = library.TrainingArguments.__dataclass_fields__  # type: ignore[attr-defined]
    monkeypatch.setattr(library, "TrainingArguments", record)
    return seen


def test_on_cpu_use_cpu_and_no_bf16(on_cpu: None, tmp_path: Path) -> None:
    arguments = build_training_arguments(RunOptions(output_dir=str(tmp_path)), **SCHEDULE)
    assert arguments.use_cpu is True
    assert arguments.bf16 is False and not bf16_supported()
    assert arguments.dataloader_pin_memory is False
    assert arguments.report_to == [] and arguments.optim == "adamw_torch"
    assert arguments.activation_checkpointing is True
    assert arguments.activation_checkpointing_kwargs == {"use_reentrant": False}
    assert arguments.eval_strategy == "no"


def test_bf16_follows_the_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    library = sys.modules["transformers.utils"]
    monkeypatch.setattr(library, "is_torch_bf16_gpu_available", lambda: True)
    monkeypatch.setattr(arguments_module, "accelerator_available", lambda: False)
    assert not bf16_supported()  # never on the CPU, even where it could emulate bf16
    monkeypatch.setattr(arguments_module, "accelerator_available", lambda: True)
    assert bf16_supported()
    monkeypatch.setattr(library, "is_torch_bf16_gpu_available", lambda: False)
    assert not bf16_supported()


def test_an_explicit_bf16_is_kept(on_cpu: None, passed: dict[str, Any]) -> None:
    build_training_arguments(RunOptions(output_dir="out", bf16=True), **SCHEDULE)
    assert passed["bf16"] is True and passed["use_cpu"] is True


def test_fsdp_settings_are_translated(on_cpu: None, passed: dict[str, Any]) -> None:
    build_training_arguments(RunOptions(output_dir="out", fsdp=True), **SCHEDULE)
    assert passed["fsdp"] is True
    assert passed["fsdp_config"] == load_distributed_config("fsdp")["fsdp_config"]
    assert passed["fsdp_config"]["reshard_after_forward"] is True  # the reference's "full_shard auto_wrap"
    assert "deepspeed" not in passed


def test_the_deepspeed_config_is_passed_through(on_cpu: None, passed: dict[str, Any]) -> None:
    build_training_arguments(RunOptions(output_dir="out", deepspeed="zero2"), **SCHEDULE)
    assert passed["deepspeed"] == load_distributed_config("zero2")
    assert "fsdp" not in passed


def test_fsdp_and_deepspeed_together_are_refused(on_cpu: None) -> None:
    with pytest.raises(ConfigError, match="not both"):
        build_training_arguments(RunOptions(output_dir="out", fsdp=True, deepspeed="zero3"), **SCHEDULE)


def test_extra_arguments_win_over_the_callers(on_cpu: None, passed: dict[str, Any]) -> None:
    options = RunOptions(output_dir="out", report_to=[], extra_training_arguments={"adam_beta2": 0.9})
    build_training_arguments(options, adam_beta2=0.95, optim="adafactor", has_eval=True, **SCHEDULE)
    assert passed["adam_beta2"] == 0.9 and passed["optim"] == "adafactor"
    assert passed["report_to"] == "none"
    assert (passed["eval_strategy"], passed["eval_steps"]) == ("steps", 1000)


def test_checkpointing_off_has_no_kwargs(on_cpu: None, passed: dict[str, Any]) -> None:
    build_training_arguments(RunOptions(output_dir="out", gradient_checkpointing=False, report_to="wandb"), **SCHEDULE)
    assert passed["activation_checkpointing"] is False and "activation_checkpointing_kwargs" not in passed
    assert passed["report_to"] == ["wandb"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("per_device_train_batch_size", 0), ("gradient_accumulation_steps", True), ("logging_steps", 0)],
)
def test_non_positive_sizes_are_refused(on_cpu: None, field: str, value: Any) -> None:
    schedule = dict(SCHEDULE)
    options = RunOptions(output_dir="out")
    if field in schedule:
        schedule[field] = value
    else:
        setattr(options, field, value)
    with pytest.raises(ConfigError, match=field):
        build_training_arguments(options, **schedule)


def test_gradient_accumulation_reaches_the_global_batch() -> None:
    assert gradient_accumulation_for(256, 16, 8) == 2
    assert gradient_accumulation_for(128, 32, 8) == 1  # never below one
    assert gradient_accumulation_for(128, 4, 1) == 32


def test_world_size_comes_from_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert world_size() == 1
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert world_size() == 4


def test_resume_finds_the_newest_complete_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "checkpoint-10").mkdir()
    (tmp_path / "checkpoint-10" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-12").mkdir()  # cut short while saving: no trainer_state.json
    assert RunOptions(output_dir=str(tmp_path)).resume_checkpoint() == str(tmp_path / "checkpoint-10")
    assert RunOptions(output_dir=str(tmp_path), resume=False).resume_checkpoint() is None
    assert RunOptions(output_dir=str(tmp_path / "fresh")).resume_checkpoint() is None
    with pytest.raises(ConfigError, match="no checkpoint folder"):
        RunOptions(output_dir=str(tmp_path), resume=str(tmp_path / "checkpoint-99")).resume_checkpoint()


def test_both_stacks_share_the_pieces() -> None:
    import mvlm.train
    import mvlm.train_lm
    import mvlm.training
    from mvlm.train import trainer

    assert mvlm.train_lm.RunOptions is RunOptions and mvlm.train_lm.build_training_arguments is build_training_arguments
    assert issubclass(mvlm.train_lm.PretrainConfig, RunOptions) and issubclass(mvlm.train_lm.SFTConfig, RunOptions)
    assert mvlm.train.load_distributed_config is load_distributed_config
    assert trainer.last_checkpoint is mvlm.training.last_checkpoint


def test_the_vlm_config_fills_the_run_options_from_its_recipe(tmp_path: Path) -> None:
    from mvlm.train import TrainConfig

    config = TrainConfig(recipe="v1-pretrain", output_dir=str(tmp_path), data_path="d.json", model="m", fsdp=True)
    options = config.run_options(projector_only=True)
    assert isinstance(options, RunOptions)
    assert (options.save_steps, options.save_total_limit) == (24000, 1)  # the recipe's
    assert options.gradient_checkpointing is False  # nothing to recompute when only the projector trains
    assert options.bf16 is None and options.fsdp is True  # bf16: the hardware decides
    assert config.run_options().gradient_checkpointing is True
    assert TrainConfig(**{**config.to_dict(), "bf16": False}).run_options().bf16 is False


def test_importing_the_package_is_light() -> None:
    code = "import sys, mvlm.training; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


@pytest.mark.parametrize(
    "module_name",
    ["mvlm.training", "mvlm.training.arguments", "mvlm.training.checkpoints", "mvlm.training.distributed"],
)
def test_public_names_are_documented_and_typed(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert inspect.getdoc(module)
    for name in module.__all__:
        value = getattr(module, name)
        functions = [value] if inspect.isfunction(value) else []
        if inspect.isclass(value):
            functions = [m for n, m in vars(value).items() if inspect.isfunction(m) and not n.startswith("_")]
        assert inspect.getdoc(value), f"{module_name}.{name} has no docstring"
        for function in functions:
            signature = inspect.signature(function)
            assert all(
                p.annotation is not inspect.Parameter.empty for p in signature.parameters.values() if p.name != "self"
            )
            assert signature.return_annotation is not inspect.Signature.empty, function.__qualname__
            assert inspect.getdoc(function), function.__qualname__
