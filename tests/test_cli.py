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
