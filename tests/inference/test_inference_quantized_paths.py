"""The kernel each quantized layer runs: PyTorch's packed kernels for bf16 activations, mvlm's for float32
(AVX-512 and AVX2 loops agreeing), and the same numbers eager and compiled."""

from __future__ import annotations

import pytest
import torch

from mvlm.inference.cpu_kernels import cpu_supports, load_cpu_kernels
from mvlm.inference.quantization import Int4Linear, Int8Linear, quantize_int4, quantize_int8


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def bf16_model() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(128, 96), torch.nn.Linear(96, 64)).to(torch.bfloat16)


@pytest.mark.parametrize("scheme", ["int8", "int4"])
def test_a_bf16_model_gets_the_packed_layout_and_matches_its_dequantized_weights(scheme):
    model = bf16_model()
    (quantize_int8 if scheme == "int8" else quantize_int4)(model, skip=())
    layer = model[0]
    assert isinstance(layer, Int8Linear if scheme == "int8" else Int4Linear)
    packed = layer.torch_scale if scheme == "int8" else layer.torch_packed
    if packed is None:
        pytest.skip("this PyTorch has no packed CPU kernel for this scheme")
    x = torch.randn(5, 128).bfloat16()
    expected = torch.nn.functional.linear(x.float(), layer.dequantized_weight(), layer.bias.float())
    out = layer(x)
    assert out.dtype == torch.bfloat16
    assert ((out.float() - expected).norm() / expected.norm()).item() < 1e-2  # bf16 rounding only
    float_layer_out = layer(x.float())  # float32 activations: mvlm's kernel / the dequantized GEMM
    assert ((out.float() - float_layer_out).norm() / float_layer_out.norm()).item() < 1e-2


@pytest.mark.skipif(
    not (cpu_supports("avx512_bf16") or cpu_supports("amx_bf16")),
    reason="bf16 models (and so compiled bf16 layers) are mvlm's default only on CPUs with native bf16",
)
@pytest.mark.parametrize("scheme", ["int8", "int4"])
def test_compiled_bf16_layers_give_the_eager_numbers(scheme):
    """inductor lowers PyTorch's int8/int4 kernels on the layers' own tensors (not on scales converted in the step)."""
    model = bf16_model()
    (quantize_int8 if scheme == "int8" else quantize_int4)(model, skip=())
    x = torch.randn(1, 128).bfloat16()
    with torch.no_grad():
        eager = model(x)
        torch._dynamo.reset()
        compiled = torch.compile(model, fullgraph=False)(x)
    torch.testing.assert_close(compiled.float(), eager.float(), rtol=2e-2, atol=2e-2)


@pytest.mark.skipif(not cpu_supports("avx512f", "avx512bw", "avx512vl"), reason="the CPU has no AVX-512")
def test_the_avx512_and_avx2_int4_loops_agree():
    kernels = load_cpu_kernels()
    if kernels is None:
        pytest.skip("mvlm's CPU kernels cannot be built here")
    torch.manual_seed(0)
    layer = Int4Linear.from_linear(torch.nn.Linear(256, 80), group_size=64)
    x = torch.randn(3, 256)
    try:
        kernels.set_avx512(False)
        avx2 = kernels.int4_gemv(x, layer.packed, layer.scale_min, 64)
        kernels.set_avx512(True)
        avx512 = kernels.int4_gemv(x, layer.packed, layer.scale_min, 64)
    finally:
        kernels.set_avx512(cpu_supports("avx512f", "avx512bw", "avx512vl"))
    expected = torch.nn.functional.linear(x, layer.dequantized_weight())
    torch.testing.assert_close(avx512, avx2, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(avx512, expected, rtol=1e-5, atol=1e-5)
