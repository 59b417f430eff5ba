"""Weight-only int8 on CPU: the scheme, the layer, the model's logits error and greedy agreement."""

from __future__ import annotations

import copy

import pytest
import torch
from inference_testdata import QUESTIONS

from mvlm.errors import ConfigError
from mvlm.inference import make_requests, prepare_batch
from mvlm.inference.quantization import Int8Linear, is_int8_quantized, quantize_int8, quantize_weight_int8


@pytest.fixture(scope="module")
def int8_model(model):
    return quantize_int8(copy.deepcopy(model))


def test_per_channel_symmetric_scheme():
    torch.manual_seed(0)
    weight = torch.randn(6, 10) * torch.tensor([1e-3, 0.1, 1, 10, 100, 0])[:, None]
    q, scale = quantize_weight_int8(weight)
    assert q.dtype == torch.int8 and scale.shape == (6,) and int(q.abs().max()) == 127
    torch.testing.assert_close(scale[:5], weight[:5].abs().amax(1) / 127)
    error = (q.float() * scale[:, None] - weight).abs()
    assert (error <= scale[:, None] / 2 + 1e-9).all()  # each weight rounded to its row's nearest level
    assert scale[5] == 1 and (q[5] == 0).all()  # an all-zero row
    with pytest.raises(ConfigError, match="2-D floating"):
        quantize_weight_int8(torch.ones(3, dtype=torch.int64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_int8_linear_is_the_dequantized_linear(dtype):
    torch.manual_seed(0)
    linear = torch.nn.Linear(48, 24).to(dtype)
    layer = Int8Linear.from_linear(linear)
    x = torch.randn(2, 5, 48, dtype=dtype)
    expected = torch.nn.functional.linear(x.float(), layer.dequantized_weight(), linear.bias.float())
    out = layer(x)
    assert out.dtype == dtype and out.shape == (2, 5, 24)
    tolerance = 1e-5 if dtype == torch.float32 else 5e-2  # bf16: the kernel's own rounding
    torch.testing.assert_close(out.float(), expected, rtol=tolerance, atol=tolerance)


def test_only_the_language_models_linears_are_quantized(model, int8_model):
    quantized = {name for name, module in int8_model.named_modules() if isinstance(module, Int8Linear)}
    linears = {name for name, module in model.named_modules() if type(module) is torch.nn.Linear}
    layers = model.config.num_hidden_layers
    assert len(quantized) == 7 * layers  # q, k, v, o, gate, up, down per layer
    assert all(name.startswith("model.layers.") for name in quantized)
    assert {n for n in linears - quantized if "vision_tower" not in n and "mm_projector" not in n} == {"lm_head"}
    assert is_int8_quantized(int8_model) and not is_int8_quantized(model)
    bytes_int8 = sum(m.weight_int8.numel() for m in int8_model.modules() if isinstance(m, Int8Linear))
    bytes_float = sum(model.get_submodule(n).weight.numel() * 4 for n in quantized)
    assert bytes_int8 * 4 == bytes_float  # a quarter of float32
    with pytest.raises(ConfigError, match=r"no nn\.Linear"):
        quantize_int8(int8_model)


def test_logits_error_is_bounded(model, int8_model, images):
    requests, _ = make_requests(images, QUESTIONS)
    with torch.no_grad():
        batch = prepare_batch(model, requests, tokenizer=model.tokenizer)
        reference = model(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask).logits
        batch8 = prepare_batch(int8_model, requests, tokenizer=model.tokenizer)
        logits = int8_model(inputs_embeds=batch8.inputs_embeds, attention_mask=batch8.attention_mask).logits
    torch.testing.assert_close(batch8.inputs_embeds, batch.inputs_embeds)  # tower, projector, embeddings: float
    mask = batch.attention_mask.bool()
    relative = ((logits - reference)[mask].norm() / reference[mask].norm()).item()
    # measured 0.029 on this deliberately sensitive model (LM weights x3), about bf16's own rounding error
    assert relative < 0.06
    agreement = (logits[mask].argmax(-1) == reference[mask].argmax(-1)).float().mean().item()
    assert agreement > 0.9


def test_greedy_decoding_agrees(model, int8_model, images):
    """Along each float greedy answer, int8 picks the same token except at near-ties of the float model.

    The model is deliberately sensitive (its answers are chaotic), so a long free-running answer can
    part ways at the first near-tie; teacher forcing checks every step of the answer instead.
    """
    steps, disagreements = 0, 0
    for image, question in zip(images, QUESTIONS, strict=True):
        (request,), _ = make_requests(image, question)
        batch = prepare_batch(model, [request], tokenizer=model.tokenizer)
        with torch.no_grad():
            answer = model.generate(
                inputs_embeds=batch.inputs_embeds, max_new_tokens=12, do_sample=False, pad_token_id=0
            )[0]
            embeds = torch.cat([batch.inputs_embeds, model.get_input_embeddings()(answer[None])], dim=1)
            reference = model(inputs_embeds=embeds).logits[0, batch.length - 1 : -1]
            logits = int8_model(inputs_embeds=embeds).logits[0, batch.length - 1 : -1]
        assert (reference.argmax(-1) == answer).all()
        top2 = reference.topk(2).values
        margin = top2[:, 0] - top2[:, 1]
        differs = logits.argmax(-1) != answer
        assert (margin[differs] < 0.1).all()  # only where the float model nearly tied (logits' std: about 1.5)
        steps, disagreements = steps + len(answer), disagreements + int(differs.sum())
    assert disagreements <= 0.1 * steps
    # free-running: the first tokens of every answer are the same
    expected = model.chat(images, QUESTIONS, max_new_tokens=2)
    assert int8_model.chat(images, QUESTIONS, max_new_tokens=2, tokenizer=model.tokenizer) == expected
