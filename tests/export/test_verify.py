"""``mvlm verify`` / ``export gguf --verify``: an export that answers as PyTorch passes, a wrong one fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mvlm.inference.verify import Divergence, PromptCheck, VerifyReport, quant_of

pytestmark = [pytest.mark.llamacpp]


def test_quant_of_reads_the_file_name():
    assert quant_of("out/ggml-model-q4_k_s.gguf") == "q4_k_s"
    assert quant_of("ggml-model-f32.gguf") == "f32"
    assert quant_of("model.gguf") == "unknown"


def test_report_verdict_and_description():
    good = PromptCheck("Hi?", 1, 8, 1.0, 1e-6, None)
    near_tie = PromptCheck("Why?", 0, 8, 0.875, 2e-2, Divergence(5, 10, 11, 1e-4))
    report = VerifyReport(Path("ggml-model-f16.gguf"), "f16", [good, near_tie], 2e-2, 0.95)
    assert not report.passed and report.worst_agreement == 0.875 and report.worst_error == 2e-2
    text = report.describe()
    assert "first divergence at step 5" in text and "top-2 margin 0.0001" in text and text.endswith("(limit 0.95)")
    assert "FAIL" in text
    assert VerifyReport(Path("x-f16.gguf"), "f16", [good], 2e-2, 0.95).passed


@pytest.fixture(scope="module")
def exported(load_model: Any, tmp_path_factory: pytest.TempPathFactory, llama_cpp: Any) -> dict[str, Path]:
    """The v2 tiny model's language model as f32 and q8_0, and another model's (v1, other weights) as f32."""
    from mvlm.export.gguf import export_language_model

    folder = tmp_path_factory.mktemp("verify")
    return {
        "f32": export_language_model(load_model("v2"), folder / "ggml-model-f32.gguf", quant="f32"),
        "q8_0": export_language_model(load_model("v2"), folder / "ggml-model-q8_0.gguf", quant="q8_0"),
        "other": export_language_model(load_model("v1"), folder / "other" / "ggml-model-f32.gguf", quant="f32"),
    }


def test_the_models_own_export_passes_and_another_model_fails(load_model, exported):
    from mvlm.inference.verify import drawn_picture, verify_language_model

    model = load_model("v2")
    exact = verify_language_model(model, exported["f32"], images=drawn_picture(), steps=12, threads=1)
    assert exact.passed and exact.quant == "f32"
    assert all(check.agreement == 1.0 and check.divergence is None for check in exact.checks)
    assert exact.worst_error < 1e-3
    quantized = verify_language_model(model, exported["q8_0"], images=drawn_picture(), steps=12, threads=1)
    assert quantized.worst_error > exact.worst_error  # rounding shows, within q8_0's limits
    wrong = verify_language_model(model, exported["other"], images=drawn_picture(), steps=12, threads=1)
    assert not wrong.passed and wrong.worst_error > 0.3


def test_the_command_exits_1_beyond_the_limits(checkpoints, exported, capsys):
    from mvlm.cli import main

    base = ["verify", "--model", str(checkpoints["v2"]), "--dtype", "float32", "--steps", "6", "--threads", "1"]
    assert main([*base, "--against", str(exported["f32"])]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "ggml-model-f32.gguf (f32)" in out
    assert main([*base, "--against", str(exported["other"]), "--verify-prompt", "What is it?"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_export_gguf_then_verify(checkpoints, tmp_path, capsys, llama_cpp):
    from mvlm.cli import main

    argv = ["export", "gguf", "--model", str(checkpoints["v2"]), "--output", str(tmp_path), "--quant", "f32"]
    assert main([*argv, "--verify", "--steps", "6", "--verify-prompt", "What is in the image?"]) == 0
    out = capsys.readouterr().out
    assert "language model (f32)" in out and "PASS" in out
