"""`mvlm infer` and `mvlm chat` on a tiny checkpoint: answers printed as generated, scripted conversations."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.torch_threads import one_thread  # noqa: F401 - autouse fixture
from mvlm import MobileVLM
from mvlm.cli import build_parser, main

sys.path.insert(0, str(Path(__file__).resolve().parent / "inference"))
from inference_testdata import chatty_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chatty_checkpoint(tmp_path_factory)


@pytest.fixture(scope="module")
def model(checkpoint: Path) -> MobileVLM:
    return MobileVLM.from_pretrained(checkpoint, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def image_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli_images") / "photo.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (60, 90, 3), dtype=np.uint8)).save(path)
    return path


def test_help_explains_every_option():
    parser = build_parser()
    for command in ("infer", "chat"):
        sub = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
        for action in sub._actions:
            assert action.help, f"mvlm {command} {action.option_strings} has no help"
        options = {option for action in sub._actions for option in action.option_strings}
        expected = {"--model", "--image", "--conv-mode", "--temperature", "--top-p", "--num-beams", "--max-new-tokens"}
        assert expected | {"--load-8bit", "--load-4bit", "--device", "--dtype"} <= options
        assert ("--prompt" in options) == (command == "infer")


# The `model` fixture is float32. Every command below whose answer is compared with it pins
# ``--dtype float32``: the default is bfloat16 on CPUs with native bf16 (AVX-512 BF16, AMX), and a
# random tiny model's greedy text differs between the two dtypes.


def test_infer_prints_the_answer_and_a_loading_line(checkpoint, image_file, model, capsys):
    status = main(
        ["infer", "--model", str(checkpoint), "--image", str(image_file), "--prompt", "What is it?",
         "--max-new-tokens", "12", "--dtype", "float32"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0
    assert captured.out == model.chat(image_file, "What is it?", max_new_tokens=12) + "\n"
    assert f"loading {checkpoint} on cpu (float32)" in captured.err and "done in" in captured.err


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (set(), torch.float32),  # an AVX2-only CPU
        ({"avx512_bf16"}, torch.bfloat16),  # AVX-512 BF16
        ({"amx_bf16"}, torch.bfloat16),  # AMX
    ],
)
def test_infer_default_dtype_follows_the_cpu(checkpoint, image_file, flags, expected, monkeypatch, capsys):
    """Without --dtype, the CPU's capability (the probe patched here) picks the dtype; the answer is
    that of the model loaded in that dtype."""
    import mvlm.inference.cpu_kernels

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(mvlm.inference.cpu_kernels, "cpu_supports", lambda *wanted: set(wanted) <= flags)
    argv = ["infer", "--model", str(checkpoint), "--image", str(image_file), "--prompt", "What is it?",
            "--max-new-tokens", "6"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    name = str(expected).removeprefix("torch.")
    assert f"loading {checkpoint} on cpu ({name})" in captured.err
    same = MobileVLM.from_pretrained(checkpoint, dtype=expected).eval()
    assert same.dtype == expected
    assert captured.out == same.chat(image_file, "What is it?", max_new_tokens=6) + "\n"


def test_infer_streams_tokens_as_they_are_generated(checkpoint, image_file, monkeypatch, capsys):
    writes: list[str] = []

    class Recorder(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return super().write(text)

    monkeypatch.setattr(sys, "stdout", Recorder())
    assert main(["infer", "--model", str(checkpoint), "--image", str(image_file), "--prompt", "Hi",
                 "--max-new-tokens", "16", "--dtype", "float32"]) == 0  # fmt: skip
    assert len([w for w in writes if w and w != "\n"]) > 1  # several pieces, not one final string


def test_infer_options_reach_generation(checkpoint, image_file, model, capsys):
    args = ["infer", "--model", str(checkpoint), "--prompt", "Describe it.", "--max-new-tokens", "8"]
    args += ["--dtype", "float32"]
    assert main([*args, "--num-beams", "2", "--image", str(image_file)]) == 0
    assert capsys.readouterr().out.strip() == model.chat(image_file, "Describe it.", max_new_tokens=8, num_beams=2)
    assert main([*args, "--temperature", "0.8", "--top-p", "0.9", "--seed", "3"]) == 0
    torch.manual_seed(3)
    assert capsys.readouterr().out.strip() == model.chat(
        None, "Describe it.", max_new_tokens=8, temperature=0.8, top_p=0.9
    )
    assert main([*args, "--load-8bit", "--device", "cpu"]) == 0
    assert capsys.readouterr().out.strip()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--image", "missing.png"], "file not found"),
        (["--conv-mode", "nope"], "nope"),
        (["--temperature", "-1"], "temperature"),
        (["--prompt", "<image> <image>", "--image", "IMG"], "2 '<image>' tag"),
        (["--device", "cuda"], "no CUDA GPU"),
    ],
)
def test_infer_errors_exit_1_with_a_message(checkpoint, image_file, extra, message, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    extra = [str(image_file) if part == "IMG" else part for part in extra]
    argv = ["infer", "--model", str(checkpoint), "--prompt", "Hi", "--max-new-tokens", "4", *extra]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("mvlm infer: error:") or "mvlm infer: error:" in err
    assert message in err


def test_chat_runs_a_scripted_conversation(checkpoint, image_file, model, monkeypatch, capsys):
    script = "What is it?\n\nWhat color is it?\n/reset\nWhat is it?\nexit\nnever read\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(script))
    status = main(
        ["chat", "--model", str(checkpoint), "--image", str(image_file), "--max-new-tokens", "10", "--dtype", "float32"]
    )
    out = capsys.readouterr().out
    assert status == 0
    first = model.chat(image_file, "What is it?", max_new_tokens=10)
    second = model.chat(image_file, "What color is it?", history=[("What is it?", first)], max_new_tokens=10)
    assert out == (
        f"USER: What is it?\nASSISTANT: {first}\n"
        "USER: \n"
        f"USER: What color is it?\nASSISTANT: {second}\n"
        "USER: /reset\n(conversation cleared)\n"
        f"USER: What is it?\nASSISTANT: {first}\n"
        "USER: exit\n"
    )


def test_chat_without_image_ends_at_end_of_input_and_reports_overlong_turns(checkpoint, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Hello.\n" + "word " * 600 + "\n"))
    assert main(["chat", "--model", str(checkpoint), "--max-new-tokens", "4"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("USER: Hello.\nASSISTANT: ") and captured.out.endswith("USER: \n")
    assert "context length is 512" in captured.err and "/reset" in captured.err
