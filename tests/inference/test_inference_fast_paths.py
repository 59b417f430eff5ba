"""Fast paths of inference: each gives the reference path's greedy tokens, or (quantized) a bounded error.

No timing here: speed lives in ``benchmarks/run.py``.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch
from inference_testdata import QUESTIONS

from mvlm.errors import ConfigError
from mvlm.inference import ChatSession, make_requests, prepare_batch
from mvlm.inference.fast_decode import static_cache_length
from mvlm.inference.prefix_cache import PrefixCache
from mvlm.inference.quantization import Int4Linear, is_int4_quantized, quantize_int4, quantize_weight_int4
from mvlm.inference.threads import configure_threads, physical_cores


# ----------------------------------------------------------------------------- static cache + compiled step
def test_static_cache_length_buckets():
    assert static_cache_length(180, 64, 2048) == 256
    assert static_cache_length(250, 64, 2048) == 512
    assert static_cache_length(2000, 40, 2048) == 2048
    assert static_cache_length(2000, 100, 2048) == 2100  # never shorter than needed (generate caps the answer)


def test_fast_decode_gives_the_plain_greedy_tokens(model, images):
    """Static cache + torch.compile'd step (compiles once here: the slowest test of this file)."""
    torch._dynamo.reset()
    plain = model.chat(images[:2], QUESTIONS[:2], max_new_tokens=16)
    fast = model.chat(images[:2], QUESTIONS[:2], max_new_tokens=16, fast_decode=True)
    assert fast == plain
    # one prompt, streamed, through the same compiled step and the kept static cache
    expected = model.chat(images[2], QUESTIONS[2], max_new_tokens=16)
    assert "".join(model.chat(images[2], QUESTIONS[2], max_new_tokens=16, fast_decode=True, stream=True)) == expected


# ----------------------------------------------------------------------------- prefix cache
def test_session_reuses_the_image_prefix_with_the_same_answers(model, images):
    session = ChatSession(model, images[0], max_new_tokens=12)
    plain = ChatSession(model, images[0], max_new_tokens=12, reuse_prefix=False)
    for question in QUESTIONS:
        assert session.ask(question, remember=False) == plain.ask(question, remember=False)
        assert session.history == []
    # every question after the first reused the system prompt and the image (144 image positions)
    assert session.prefix_cache is not None and session.prefix_cache.reused_positions > model.num_image_tokens
    # multi-turn: each turn reuses the previous prompt, answers equal the uncached session's
    session.reset()
    for question in QUESTIONS[:3]:
        assert session.ask(question) == plain.ask(question)
    assert session.history == plain.history
    assert "".join(session.ask(QUESTIONS[3], stream=True)) == plain.ask(QUESTIONS[3])


def test_prefix_cache_finds_the_common_leading_positions(model, images):
    cache = PrefixCache()
    batches = []
    for question in QUESTIONS[:2]:
        (request,), _ = make_requests(images[1], question)
        batches.append(prepare_batch(model, [request], tokenizer=model.tokenizer))
    with torch.no_grad():
        first = cache.cache_for(model, batches[0].inputs_embeds)
        assert cache.reused_positions == 0 and first.get_seq_length() == 0
        model(inputs_embeds=batches[0].inputs_embeds, cache=first, use_cache=True)
        second = cache.cache_for(model, batches[1].inputs_embeds)
    a, b = batches[0].inputs_embeds[0], batches[1].inputs_embeds[0]
    common = next(i for i in range(min(len(a), len(b))) if not torch.equal(a[i], b[i]))
    assert cache.reused_positions == common and second.get_seq_length() == common
    # the same prompt again: everything but the last position
    cache.cache_for(model, batches[1].inputs_embeds)
    assert cache.reused_positions == common  # only `common` positions were cached
    with pytest.raises(ValueError, match="one sequence"):
        cache.cache_for(model, torch.cat([batches[0].inputs_embeds] * 2))
    cache.clear()
    assert cache.reused_positions == 0


# ----------------------------------------------------------------------------- int8 kernel, int4
def test_int8_decode_kernel_equals_the_dequantized_matmul():
    from mvlm.inference.quantization import Int8Linear

    torch.manual_seed(0)
    linear = torch.nn.Linear(96, 40)
    layer = Int8Linear.from_linear(linear)
    for rows in (1, 3, 8, 9):  # kernel for <= DECODE_ROWS rows, float GEMM above
        x = torch.randn(rows, 96)
        expected = torch.nn.functional.linear(x, layer.dequantized_weight(), linear.bias)
        torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)


def test_int4_scheme():
    torch.manual_seed(0)
    weight = torch.randn(6, 64) * torch.tensor([1e-3, 0.1, 1, 10, 100, 0])[:, None]
    packed, scale_min = quantize_weight_int4(weight, group_size=32)
    assert packed.dtype == torch.uint8 and packed.shape == (6, 32) and scale_min.shape == (6, 2, 2)
    layer = Int4Linear(packed, scale_min, 32)
    error = (layer.dequantized_weight() - weight).abs().reshape(6, 2, 32)
    assert (error <= scale_min[..., :1] / 2 + 1e-6).all()  # each weight within half a step of its group
    assert (layer.dequantized_weight()[5] == 0).all()
    with pytest.raises(ConfigError, match="multiple of group_size"):
        quantize_weight_int4(torch.ones(3, 48), group_size=32)
    with pytest.raises(ConfigError, match="multiple of 32"):
        quantize_weight_int4(torch.ones(3, 64), group_size=16)


@pytest.mark.parametrize("rows", [1, 4, 12])
def test_int4_linear_is_the_dequantized_linear(rows):
    torch.manual_seed(0)
    linear = torch.nn.Linear(128, 24)
    layer = Int4Linear.from_linear(linear, group_size=64)
    x = torch.randn(rows, 128)
    expected = torch.nn.functional.linear(x, layer.dequantized_weight(), linear.bias)
    torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)
    assert layer(x.bfloat16()).dtype == torch.bfloat16


@pytest.fixture(scope="module")
def int4_model(model):
    return quantize_int4(copy.deepcopy(model))


def test_int4_logit_error_and_greedy_agreement(model, int4_model, images):
    """int4 (group 32) against the float model on the deliberately sensitive tiny model: bounded error."""
    assert is_int4_quantized(int4_model) and not is_int4_quantized(model)
    requests, _ = make_requests(images, QUESTIONS)
    with torch.no_grad():
        batch = prepare_batch(model, requests, tokenizer=model.tokenizer)
        reference = model(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask).logits
        logits = int4_model(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask).logits
    mask = batch.attention_mask.bool()
    relative = ((logits - reference)[mask].norm() / reference[mask].norm()).item()
    print(f"int4 relative logit error {relative:.3f}")
    assert relative < 0.5  # measured 0.36; int8 0.029: 16 levels per group instead of 255 per row, x3 weights
    agreement = (logits[mask].argmax(-1) == reference[mask].argmax(-1)).float().mean().item()
    print(f"int4 argmax agreement {agreement:.3f}")
    assert agreement > 0.4  # measured 0.52 on this tiny (hidden 64), chaotic model; see benchmarks/run.py
    # the decode kernel (a few rows) agrees with the prefill path (a float GEMM) on the same positions
    full = int(batch.attention_mask.sum(1).argmax())  # the longest prompt: no padding
    embeds = batch.inputs_embeds[full : full + 1]
    with torch.no_grad():
        gemm = int4_model(inputs_embeds=embeds).logits[0, :4]  # all positions: float GEMM
        kernel = int4_model(inputs_embeds=embeds[:, :4]).logits[0]  # 4 rows: the decode kernel
    torch.testing.assert_close(kernel, gemm, rtol=1e-4, atol=1e-4)


def test_int4_requires_a_valid_group_size(model):
    with pytest.raises(ConfigError, match="multiple of 32"):
        quantize_int4(copy.deepcopy(model.lm_head), group_size=48)


# ----------------------------------------------------------------------------- threads
def test_threads_respect_the_user(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert configure_threads(1) == 1 and torch.get_num_threads() == 1
        torch.set_num_threads(1)
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
        logical = len(os.sched_getaffinity(0))
        if logical > 1:  # 1 is not PyTorch's default here: the user's choice is kept
            assert configure_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert configure_threads() == torch.get_num_threads()
        assert 1 <= physical_cores() <= logical
        with pytest.raises(ValueError, match=">= 1"):
            configure_threads(0)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("scheme", ["int8", "int4"])
def test_compiled_decoding_of_a_quantized_model_runs_the_kernels(checkpoint, images, scheme, monkeypatch):
    """fast_decode's compiled step calls the int8/int4 kernels (custom operators), not a dequantized weight."""
    import mvlm.inference.cpu_kernels as cpu_kernels
    from mvlm.inference.quantization import quantize_int8
    from mvlm.model import MobileVLM

    if cpu_kernels.load_cpu_kernels() is None or not cpu_kernels.custom_ops_available():
        pytest.skip("mvlm's CPU kernels cannot be built here")
    # a fresh model, not a copy of the shared one: a copy would share its compiled forward (transformers keeps
    # it on the instance), which runs the original's layers
    quantize = quantize_int8 if scheme == "int8" else quantize_int4
    quantized = quantize(MobileVLM.from_pretrained(checkpoint, dtype=torch.float32).eval())
    torch._dynamo.reset()
    eager = quantized.chat(images[0], QUESTIONS[0], max_new_tokens=8)
    built = cpu_kernels.load_cpu_kernels()
    calls = []

    class Counting:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(built, name)

    fast = quantized.chat(images[0], QUESTIONS[0], max_new_tokens=8, fast_decode=True)  # compiles
    monkeypatch.setattr(cpu_kernels, "load_cpu_kernels", lambda: Counting())
    again = quantized.chat(images[0], QUESTIONS[0], max_new_tokens=8, fast_decode=True)
    assert again == fast == eager
    layers = sum(type(m).__name__.endswith(("Int8Linear", "Int4Linear")) for m in quantized.modules())
    kernel_calls = calls.count(f"{scheme}_gemv")  # every layer once per compiled step (the prefill dequantizes)
    assert kernel_calls >= 2 * layers and kernel_calls % layers == 0, (kernel_calls, layers)
