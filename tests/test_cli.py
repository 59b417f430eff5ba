"""The `mvlm` command."""

from __future__ import annotations

import subprocess
import sys

from mvlm.cli import main


def test_projectors_command_lists_and_runs_every_projector(capsys):
    assert main(["projectors", "--in-dim", "32", "--out-dim", "48", "--tokens", "144"]) == 0
    out = capsys.readouterr().out
    assert "ldpnet" in out and "ldpnetv2" in out and "mlp2x_gelu" in out
    ldp_row = next(line for line in out.splitlines() if line.startswith("ldpnet "))
    assert "[1, 36, 48]" in ldp_row  # 144 = 12x12 tokens -> 6x6


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: mvlm" in capsys.readouterr().out


def test_console_entry_point_and_python_m():
    result = subprocess.run([sys.executable, "-m", "mvlm", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("mvlm ")


def test_synth_data_command_writes_a_dataset(tmp_path, capsys):
    assert main(["synth-data", "--out", str(tmp_path), "--samples", "3", "--stage", "eval", "--split", "test"]) == 0
    assert "wrote 3 records" in capsys.readouterr().out
    assert (tmp_path / "test.jsonl").is_file() and list((tmp_path / "images").glob("*.png"))


def test_every_command_is_on_the_mvlm_parser(capsys):
    assert main([]) == 2
    usage = capsys.readouterr().out
    for command in (
        "projectors", "synth-data", "infer", "chat", "train", "merge-lora", "run", "eval", "score", "export",
        "pretrain-lm", "sft-lm", "demo",
    ):  # fmt: skip
        assert command in usage, command


def test_demo_command_answers_the_bundled_questions(capsys):
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["demo"]) == 0
    finally:
        torch.set_num_threads(previous)
    lines = capsys.readouterr().out.strip().splitlines()
    correct, total = (int(n) for n in lines[-1].split(" ")[0].split("/"))
    assert lines[-1].endswith("answered as expected") and total == len(lines) - 1 and correct >= 0.8 * total


def test_demo_command_with_a_missing_model_says_so(tmp_path, capsys):
    assert main(["demo", "--model", str(tmp_path / "nowhere")]) == 1
    assert "mvlm demo: error:" in capsys.readouterr().err
