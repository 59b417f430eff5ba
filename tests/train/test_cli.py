"""The training commands: ``train``, ``merge-lora`` and ``run`` (the reference's run.sh)."""

from __future__ import annotations

import argparse

import pytest

from mvlm.errors import ConfigError
from mvlm.train.cli import add_train_commands, build_parser, main, resolve_model_preset, train_config_from_args

REQUIRED = ["--model", "m", "--data", "d.json", "--output", "out"]


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize("command", ["train", "merge-lora", "run"])
def test_every_option_is_explained(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage:")
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    add_train_commands(commands)
    sub = commands.choices[command]
    undocumented = [a.dest for a in sub._actions if not a.help and not isinstance(a, argparse._HelpAction)]
    assert undocumented == []


@pytest.mark.parametrize(
    ("argv", "recipe"),
    [
        (["--stage", "pretrain"], "v1-pretrain"),
        (["--stage", "finetune", "--version", "v2"], "v2-finetune"),
        (["--recipe", "v2-pretrain"], "v2-pretrain"),
    ],
)
def test_recipe_from_stage_and_version(argv, recipe):
    config = train_config_from_args(parse("train", *REQUIRED, *argv))
    assert config.recipe == recipe


@pytest.mark.parametrize(
    ("argv", "message"),
    [([], "--stage"), (["--recipe", "v1-pretrain", "--stage", "pretrain"], "not both")],
)
def test_recipe_options_conflict(argv, message):
    with pytest.raises(ConfigError, match=message):
        train_config_from_args(parse("train", *REQUIRED, *argv))


def test_options_become_the_config():
    args = parse(
        "train", *REQUIRED[:2], "--data", "a.json", "b.jsonl", "--output", "out", "--stage", "finetune",
        "--lora-r", "8", "--deepspeed", "zero3", "--max-steps", "7", "--batch-size", "2", "--lr", "1e-4",
        "--no-gradient-checkpointing", "--resume", "never", "--train-vision-tower-last-layers", "2",
    )  # fmt: skip
    config = train_config_from_args(args)
    assert config.data_path == ["a.json", "b.jsonl"]
    assert config.lora is not None and (config.lora.r, config.lora.alpha) == (8, 256)
    assert (config.deepspeed, config.max_steps, config.per_device_train_batch_size) == ("zero3", 7, 2)
    assert config.learning_rate == 1e-4 and config.gradient_checkpointing is False
    assert config.resume is False and config.train_vision_tower_last_layers == 2
    assert train_config_from_args(parse("train", *REQUIRED, "--stage", "pretrain")).lora is None
    assert train_config_from_args(parse("train", *REQUIRED, "--stage", "pretrain", "--fsdp")).fsdp is True


@pytest.mark.parametrize(
    ("name", "preset"),
    [
        ("mobilevlm1.7b", "MobileVLM-1.7B"),
        ("mobilevlm3b", "MobileVLM-3B"),
        ("mobilevlm_v2_1.7b", "MobileVLM_V2-1.7B"),
        ("MobileVLM_V2-7B", "MobileVLM_V2-7B"),
    ],
)
def test_model_names_like_run_sh(name, preset):
    assert resolve_model_preset(name) == preset


def test_unknown_model_name():
    with pytest.raises(ConfigError, match=r"MobileVLM-1\.7B"):
        resolve_model_preset("mobilevlm9b")


def test_train_command(tiny_checkpoint, synthetic_data, tmp_path, capsys):
    out = tmp_path / "stage1"
    status = main(
        [
            "train", "--stage", "pretrain", "--model", str(tiny_checkpoint), "--data", str(synthetic_data["pretrain"]),
            "--output", str(out), "--max-steps", "1", "--batch-size", "4", "--gradient-accumulation-steps", "1",
        ]
    )  # fmt: skip
    assert status == 0
    assert (out / "mm_projector.bin").is_file()
    assert f"saved to {out}" in capsys.readouterr().out


def test_errors_are_reported_with_exit_status_1(tmp_path, capsys):
    status = main(["merge-lora", str(tmp_path), str(tmp_path), str(tmp_path / "merged")])
    assert status == 1
    assert "mvlm merge-lora: error:" in capsys.readouterr().err


def test_run_pipeline(model_parts, synthetic_data, tmp_path, capsys):
    """``mvlm run mobilevlm1.7b pretrain-finetune-test``: stage I, stage II from it, then the benchmarks."""
    from mvlm.data.synthetic import SyntheticWorld, generate_dataset

    generate_dataset(tmp_path / "bench" / "synthetic", 4, split="test", stage="eval", world=SyntheticWorld(0, 32, 2))
    out = tmp_path / "work"
    status = main(
        [
            "run", "mobilevlm1.7b", "pretrain-finetune-test",
            "--language-model", str(model_parts["language_model"]), "--vision-tower", str(model_parts["vision_tower"]),
            "--pretrain-data", str(synthetic_data["pretrain"]), "--finetune-data", str(synthetic_data["finetune"]),
            "--output", str(out), "--max-steps", "1", "--batch-size", "4", "--gradient-accumulation-steps", "1",
            "--no-gradient-checkpointing", "--benchmark-data", str(tmp_path / "bench"), "--benchmarks", "synthetic",
        ]
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    assert (out / "pretrain" / "mm_projector.bin").is_file()
    assert (out / "finetune" / "model.safetensors").is_file()
    assert (out / "test" / "synthetic").is_dir()
    assert "synthetic" in capsys.readouterr().out


def test_run_needs_the_stage_data(model_parts, tmp_path):
    args = ["--language-model", "l", "--vision-tower", "v", "--output", str(tmp_path)]
    assert main(["run", "mobilevlm1.7b", "pretrain", *args]) == 1
    assert main(["run", "mobilevlm1.7b", "finetune-bake", *args]) == 1
    assert main(["run", "mobilevlm1.7b", "test", *args]) == 1  # no --benchmark-data
