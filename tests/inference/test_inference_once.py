"""The reference's inference_once(args) on CPU, and loading for inference (device, dtype, 8/4-bit)."""

from __future__ import annotations

import types
import warnings

import pytest
import torch
from inference_testdata import QUESTIONS

import mvlm.inference.loading as loading
from mvlm.errors import ConfigError, MissingDependencyError
from mvlm.inference import (
    REFERENCE_DEFAULTS,
    inference_once,
    load_model_for_inference,
    model_name_from_path,
    resolve_device,
    resolve_dtype,
)
from mvlm.inference.quantization import is_int4_quantized


def reference_args(checkpoint, image_file, **changes):
    """Every attribute the reference's argument object has, with the README example's values."""
    fields = {
        "model_path": str(checkpoint),
        "image_file": str(image_file),
        "prompt": QUESTIONS[3],
        "conv_mode": "v1",
        "temperature": 0,
        "top_p": None,
        "num_beams": 1,
        "max_new_tokens": 12,
        "load_8bit": False,
        "load_4bit": False,
    }
    fields.update(changes)
    return types.SimpleNamespace(**fields)


def test_reference_args_object_runs_on_cpu_and_prints_like_the_reference(checkpoint, image_file, model, capsys):
    text = inference_once(reference_args(checkpoint, image_file))
    assert text == model.chat(image_file, QUESTIONS[3], max_new_tokens=12)
    assert capsys.readouterr().out == f"🚀 MobileVLM_V2-chatty: {text}\n"


def test_reference_style_class_object_and_missing_attributes_take_defaults(checkpoint, image_file, model, capsys):
    # the README builds args as type('Args', (), {...})(); attributes left out get the CLI defaults
    fields = {"model_path": str(checkpoint), "image_file": str(image_file), "prompt": "Hi", "max_new_tokens": 8}
    args = type("Args", (), fields)()
    torch.manual_seed(0)
    text = inference_once(args, model=model)  # temperature 0.2 (the reference CLI's default): sampled
    assert capsys.readouterr().out.startswith("🚀 MobileVLM_V2-chatty: ")
    torch.manual_seed(0)
    assert model.chat(image_file, "Hi", temperature=0.2, max_new_tokens=8) == text
    assert REFERENCE_DEFAULTS["temperature"] == 0.2 and REFERENCE_DEFAULTS["max_new_tokens"] == 512


def test_mapping_args_and_text_only(model, capsys):
    text = inference_once({"prompt": "Hello there.", "temperature": 0, "max_new_tokens": 8}, model=model)
    assert text == model.chat(None, "Hello there.", max_new_tokens=8)
    assert "MobileVLM-1.7B" in capsys.readouterr().out  # the reference's default model name


def test_missing_prompt_is_a_clear_error(model):
    with pytest.raises(ConfigError, match=r"args\.prompt"):
        inference_once(types.SimpleNamespace(image_file=None), model=model)


def test_load_8bit_on_cpu_uses_int8_and_load_4bit_int4(checkpoint, image_file, model, capsys):
    expected = model.chat(image_file, QUESTIONS[3], max_new_tokens=12)
    assert inference_once(reference_args(checkpoint, image_file, load_8bit=True)) == expected
    quantized = load_model_for_inference(checkpoint, load_4bit=True, dtype="float32")  # CPU: mvlm's group-wise int4
    assert is_int4_quantized(quantized) and quantized.device.type == "cpu" and quantized.dtype == torch.float32
    with pytest.raises(ConfigError, match="not both"):
        load_model_for_inference(checkpoint, load_8bit=True, load_4bit=True)


def test_bitsandbytes_is_required_on_cuda(checkpoint, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(loading.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match="pip install bitsandbytes"):
        load_model_for_inference(checkpoint, load_8bit=True)
    with pytest.raises(MissingDependencyError, match="bitsandbytes"):
        load_model_for_inference(checkpoint, device="cuda", load_4bit=True)


def test_devices_and_dtypes(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(None).type == "cpu" and resolve_device("auto").type == "cpu"
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("toaster")
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(loading, "default_cpu_dtype", lambda: torch.float32)  # an AVX2-only CPU
    assert resolve_dtype(None, cpu) == torch.float32 and resolve_dtype("auto", cuda) == torch.float16
    monkeypatch.setattr(loading, "default_cpu_dtype", lambda: torch.bfloat16)  # a CPU with native bf16
    assert resolve_dtype(None, cpu) == torch.bfloat16 and resolve_dtype(None, torch.device("mps")) == torch.float32
    assert resolve_dtype("bf16", cpu) == torch.bfloat16 and resolve_dtype(torch.float16, cpu) == torch.float16
    with pytest.raises(ConfigError, match="unknown dtype"):
        resolve_dtype("int4", cpu)


def test_model_name_from_path():
    assert model_name_from_path("mtgv/MobileVLM_V2-1.7B") == "MobileVLM_V2-1.7B"
    assert model_name_from_path("/runs/ft/checkpoint-500/") == "ft_checkpoint-500"
    assert model_name_from_path("local-model") == "local-model"


def test_no_warnings_from_greedy_defaults(model, image_file):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.chat(image_file, "Hi", max_new_tokens=4)


def test_fast_decode_chosen_at_loading_is_a_decoding_default(checkpoint, monkeypatch):
    """load_model_for_inference(fast_decode=True) records the choice in generation_config, and chat reads it."""
    import mvlm.inference.fast_decode as fast_decode

    model = load_model_for_inference(checkpoint, dtype="float32", fast_decode=True)
    assert model.generation_config.mvlm_fast_decode is True
    calls = []
    monkeypatch.setattr(fast_decode, "fast_decode_options", lambda *args: calls.append(args) or {})
    model.chat(None, "Hi", max_new_tokens=2)
    assert len(calls) == 1
    model.chat(None, "Hi", max_new_tokens=2, fast_decode=False)  # a call's own choice wins
    assert len(calls) == 1
    assert not load_model_for_inference(checkpoint, dtype="float32").generation_config.mvlm_fast_decode
