"""The ``pretrain-lm`` and ``sft-lm`` commands: light to import, wired to the recipes, errors as messages."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lm_corpus import TINY_LLAMA

from mvlm.train_lm.cli import add_lm_training_commands, build_parser, main


def test_importing_the_commands_is_light() -> None:
    code = "import sys, mvlm.train_lm.cli; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_python_dash_m_runs_the_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mvlm.train_lm", "pretrain-lm", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--seq-len" in out and "--fsdp" in out


def test_commands_join_any_parser() -> None:
    parser = argparse.ArgumentParser(prog="mvlm")
    add_lm_training_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            *("pretrain-lm", "--config", "mobilellama-1.4b", "--tokenizer", "t.model", "--data", "a.jsonl", "b.jsonl"),
            *("--output", "out", "--max-steps", "9", "--set", "num_hidden_layers=2", "--set", "rope_theta=5e5"),
            "--fsdp",
        ]
    )
    assert args.data == ["a.jsonl", "b.jsonl"] and args.set == [("num_hidden_layers", 2), ("rope_theta", 500000.0)]
    assert args.fsdp is True and args.seq_len == 2048 and args.resume == "auto" and args.bf16 is None
    args = parser.parse_args(["sft-lm", "--model", "out/base", "--data", "s.json", "--output", "o", "--no-resume"])
    assert args.template is None and args.recipe == "mobilellama-1.4b-chat" and args.resume is False


def test_mvlm_command_has_them_once_wired() -> None:
    from mvlm.cli import build_parser as mvlm_parser

    actions = [a for a in mvlm_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    if "pretrain-lm" not in actions[0].choices:
        pytest.skip("mvlm.cli does not call add_lm_training_commands yet")
    assert "sft-lm" in actions[0].choices


def test_pretrain_then_sft_from_the_command_line(
    tmp_path: Path, lm_tokenizer_dir: Path, corpus_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = [f"--set={k}={v}" for k, v in {**TINY_LLAMA, "vocab_size": 400}.items()]
    code = main(
        [
            *("pretrain-lm", "--config", "mobilellama-1.4b", *overrides),
            *("--tokenizer", str(lm_tokenizer_dir / "tokenizer.model"), "--data", str(corpus_file)),
            *("--output", str(tmp_path / "base"), "--seq-len", "32", "--batch-size", "2", "--max-steps", "2"),
            *("--save-steps", "2", "--holdout-documents", "5", "--no-gradient-checkpointing"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "pre-trained 2 steps (128 tokens), held-out perplexity" in out
    assert (tmp_path / "base" / "tokenizer.model").is_file()

    data = tmp_path / "chat.json"
    data.write_text(
        json.dumps(
            [{"id": "a", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello."}]}]
        )
    )
    code = main(
        [
            *("sft-lm", "--model", str(tmp_path / "base"), "--data", str(data), "--template", "vicuna_v1"),
            *("--output", str(tmp_path / "chat"), "--max-steps", "1", "--batch-size", "1", "--max-length", "128"),
            "--no-gradient-checkpointing",
        ]
    )
    assert code == 0
    assert "fine-tuned 1 conversations for 1 steps (0 skipped, 0 tokenization mismatches" in capsys.readouterr().out
    assert (tmp_path / "chat" / "model.safetensors").is_file()


def test_errors_are_reported_as_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["pretrain-lm", "--config", "mobilellama-1.4b", "--tokenizer", "t", "--output", str(tmp_path)])
    assert code == 1
    assert "mvlm pretrain-lm: error: give the corpus as data" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"conversations": [{"from": "bing", "value": "x"}]}]))
    code = main(["sft-lm", "--model", str(tmp_path), "--data", str(bad), "--output", str(tmp_path / "o")])
    assert code == 1 and "unknown role 'bing'" in capsys.readouterr().err
    assert build_parser().parse_args([]).command is None and main([]) == 2
