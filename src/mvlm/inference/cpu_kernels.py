"""Small CPU kernels for weight-only int8 / int4 matrix-vector products with float32 activations.

Decoding one token multiplies a few activation rows by every weight matrix once, so its speed is the
speed at which the weights stream from memory. PyTorch's packed kernels (``torch._weight_int8pack_mm``,
``torch._weight_int4pack_mm_for_cpu``) are vectorised for AVX-512 only; on an AVX2 CPU their float32
paths are scalar (measured 20-100x slower than a float32 ``linear``). This module compiles, on first
use, two short AVX2/FMA kernels written for mvlm (with ``torch.utils.cpp_extension.load_inline``; a C++
compiler and ``ninja`` are needed, the build takes about a minute once and is cached by PyTorch):

* ``int8_gemv(x [M, K] f32, q [N, K] int8, scale [N] f32) -> [M, N]``: ``x @ (scale * q)^T``;
* ``int4_gemv(x [M, K] f32, packed [N, K/2] uint8, scale_min [N, K/G, 2] f32, G) -> [M, N]``:
  group-wise asymmetric int4, ``w = q * scale + min`` per group of ``G`` weights; byte ``j`` of a
  group holds weight ``j`` (low nibble) and weight ``j + G/2`` (high nibble).

Both accumulate in float32 with FMA and split the output rows over PyTorch's intra-op threads. They are
meant for a few rows (decoding); larger inputs (prefill) are faster as a dequantized float32 GEMM.
Where the CPU has AVX-512 (F, BW, VL), ``int4_gemv`` runs an AVX-512 version of its inner loop (16 floats
per operation; measured 2x faster than the AVX2 loop on an AVX-512 CPU, where the AVX2 loop is bound by
unpacking and converting the codes, not by memory); the AVX2 loop runs everywhere else. The arithmetic is
the same (float32 activations and codes), only the summation order differs.

:func:`load_cpu_kernels` returns the compiled module, or ``None`` when it cannot be built here (no
compiler, no AVX2/FMA, ``MVLM_CPU_KERNELS=0``); callers then fall back to plain PyTorch.

The kernels are also registered as PyTorch custom operators, ``torch.ops.mvlm.int8_gemv`` and
``torch.ops.mvlm.int4_gemv`` (with their output shapes for tracing), so code compiled with
``torch.compile`` (mvlm's ``fast_decode`` step) calls them instead of dequantizing every weight at
every step.
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import Any

__all__ = ["cpu_supports", "custom_ops_available", "kernels_loaded", "load_cpu_kernels"]

_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <immintrin.h>

static inline float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v);
    __m128 hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    __m128 sh = _mm_movehdup_ps(lo);
    lo = _mm_add_ps(lo, sh);
    sh = _mm_movehl_ps(sh, lo);
    lo = _mm_add_ss(lo, sh);
    return _mm_cvtss_f32(lo);
}

static inline __m256 i8x8_to_f32(const int8_t* p) {
    __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
}

static inline __m256 u8x8_to_f32(__m128i b) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
}

torch::Tensor int8_gemv(torch::Tensor x, torch::Tensor q, torch::Tensor scale) {
    TORCH_CHECK(x.dtype() == torch::kFloat32 && q.dtype() == torch::kInt8 && scale.dtype() == torch::kFloat32);
    TORCH_CHECK(x.dim() == 2 && q.dim() == 2 && x.size(1) == q.size(1) && x.size(1) % 32 == 0);
    x = x.contiguous(); q = q.contiguous(); scale = scale.contiguous();
    const int64_t M = x.size(0), K = x.size(1), N = q.size(0);
    auto out = torch::empty({M, N}, x.options());
    const float* xp = x.data_ptr<float>();
    const int8_t* qp = q.data_ptr<int8_t>();
    const float* sp = scale.data_ptr<float>();
    float* op = out.data_ptr<float>();
    at::parallel_for(0, N, 16, [&](int64_t begin, int64_t end) {
        for (int64_t n = begin; n < end; ++n) {
            const int8_t* row = qp + n * K;
            for (int64_t m = 0; m < M; ++m) {
                const float* xr = xp + m * K;
                __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
                __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
                for (int64_t k = 0; k < K; k += 32) {
                    a0 = _mm256_fmadd_ps(i8x8_to_f32(row + k), _mm256_loadu_ps(xr + k), a0);
                    a1 = _mm256_fmadd_ps(i8x8_to_f32(row + k + 8), _mm256_loadu_ps(xr + k + 8), a1);
                    a2 = _mm256_fmadd_ps(i8x8_to_f32(row + k + 16), _mm256_loadu_ps(xr + k + 16), a2);
                    a3 = _mm256_fmadd_ps(i8x8_to_f32(row + k + 24), _mm256_loadu_ps(xr + k + 24), a3);
                }
                op[m * N + n] = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) * sp[n];
            }
        }
    });
    return out;
}

static bool use_avx512 = false;

void set_avx512(bool enabled) { use_avx512 = enabled; }

// One output of the int4 product with AVX-512 (16 floats per operation; two groups in flight):
// sum over groups of scale * (codes . x) + min * sum(x). Compiled for AVX-512 only here, called only
// where the CPU has it (set_avx512).
__attribute__((target("avx512f,avx512bw,avx512vl,fma")))
static float int4_row_avx512(const uint8_t* row, const float* xr, const float* rsm, const float* xsr,
                             int64_t groups, int64_t G) {
    const int64_t half = G / 2;
    const __m128i low = _mm_set1_epi8(0x0F);
    __m512 total0 = _mm512_setzero_ps(), total1 = _mm512_setzero_ps();
    float offset = 0.f;
    for (int64_t g = 0; g < groups; ++g) {
        const uint8_t* gb = row + g * half;
        const float* xg = xr + g * G;
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
        for (int64_t j = 0; j < half; j += 16) {
            __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(gb + j));
            __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(b, low)));
            __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(b, 4), low)));
            acc0 = _mm512_fmadd_ps(lo, _mm512_loadu_ps(xg + j), acc0);
            acc1 = _mm512_fmadd_ps(hi, _mm512_loadu_ps(xg + half + j), acc1);
        }
        const __m512 scale = _mm512_set1_ps(rsm[2 * g]);
        if (g & 1) {
            total1 = _mm512_fmadd_ps(_mm512_add_ps(acc0, acc1), scale, total1);
        } else {
            total0 = _mm512_fmadd_ps(_mm512_add_ps(acc0, acc1), scale, total0);
        }
        offset += xsr[g] * rsm[2 * g + 1];
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(total0, total1)) + offset;
}

torch::Tensor int4_gemv(torch::Tensor x, torch::Tensor packed, torch::Tensor scale_min, int64_t G) {
    TORCH_CHECK(x.dtype() == torch::kFloat32 && packed.dtype() == torch::kUInt8);
    TORCH_CHECK(scale_min.dtype() == torch::kFloat32 && G % 32 == 0 && x.dim() == 2 && packed.dim() == 2);
    TORCH_CHECK(x.size(1) == 2 * packed.size(1) && x.size(1) % G == 0);
    x = x.contiguous(); packed = packed.contiguous(); scale_min = scale_min.contiguous();
    const int64_t M = x.size(0), K = x.size(1), N = packed.size(0), groups = K / G, half = G / 2;
    auto out = torch::empty({M, N}, x.options());
    // per row of x and group: the sum of its activations (for the "min" term)
    auto xsum = x.view({M, groups, G}).sum(-1).contiguous();
    const float* xp = x.data_ptr<float>();
    const float* xs = xsum.data_ptr<float>();
    const uint8_t* pp = packed.data_ptr<uint8_t>();
    const float* sm = scale_min.data_ptr<float>();
    float* op = out.data_ptr<float>();
    const __m128i low = _mm_set1_epi8(0x0F);
    if (use_avx512) {
        at::parallel_for(0, N, 16, [&](int64_t begin, int64_t end) {
            for (int64_t n = begin; n < end; ++n) {
                for (int64_t m = 0; m < M; ++m) {
                    op[m * N + n] = int4_row_avx512(pp + n * (K / 2), xp + m * K, sm + n * groups * 2,
                                                    xs + m * groups, groups, G);
                }
            }
        });
        return out;
    }
    at::parallel_for(0, N, 16, [&](int64_t begin, int64_t end) {
        for (int64_t n = begin; n < end; ++n) {
            const uint8_t* row = pp + n * (K / 2);
            const float* rsm = sm + n * groups * 2;
            for (int64_t m = 0; m < M; ++m) {
                const float* xr = xp + m * K;
                const float* xsr = xs + m * groups;
                __m256 total = _mm256_setzero_ps();
                float offset = 0.f;
                for (int64_t g = 0; g < groups; ++g) {
                    const uint8_t* gb = row + g * half;
                    const float* xg = xr + g * G;
                    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
                    for (int64_t j = 0; j < half; j += 16) {
                        __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(gb + j));
                        __m128i lo = _mm_and_si128(b, low);
                        __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), low);
                        a0 = _mm256_fmadd_ps(u8x8_to_f32(lo), _mm256_loadu_ps(xg + j), a0);
                        a1 = _mm256_fmadd_ps(u8x8_to_f32(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(xg + j + 8), a1);
                        a0 = _mm256_fmadd_ps(u8x8_to_f32(hi), _mm256_loadu_ps(xg + half + j), a0);
                        __m256 x3 = _mm256_loadu_ps(xg + half + j + 8);
                        a1 = _mm256_fmadd_ps(u8x8_to_f32(_mm_srli_si128(hi, 8)), x3, a1);
                    }
                    total = _mm256_fmadd_ps(_mm256_add_ps(a0, a1), _mm256_set1_ps(rsm[2 * g]), total);
                    offset += xsr[g] * rsm[2 * g + 1];
                }
                op[m * N + n] = hsum256(total) + offset;
            }
        }
    });
    return out;
}
"""


def cpu_supports(*flags: str) -> bool:
    """Whether the CPU reports every one of ``flags`` (``/proc/cpuinfo`` names: ``avx2``, ``avx512_bf16``...).

    On systems without ``/proc/cpuinfo`` only PyTorch's capability (``DEFAULT``, ``AVX2``, ``AVX512``)
    is known: ``avx2``/``fma`` are taken as present from ``AVX2`` up, anything else as absent.

    ``MVLM_CPU_FLAGS`` (space-separated flag names) replaces what the CPU reports, so that mvlm's
    choices (the default CPU dtype, the int8/int4 kernels) can be reproduced as on another machine:
    ``MVLM_CPU_FLAGS="avx2 fma"`` chooses as on an AVX2-only CPU. Together with PyTorch's
    ``ATEN_CPU_CAPABILITY=avx2`` (and oneDNN's ``ONEDNN_MAX_CPU_ISA=AVX2``) a newer CPU then runs the
    AVX2 machine's code paths. Naming a flag the CPU lacks makes mvlm use instructions it cannot run.
    """
    import torch

    override = os.environ.get("MVLM_CPU_FLAGS")
    if override is not None:
        return set(flags) <= set(override.split())
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return all(flag in present for flag in flags)
    except OSError:
        pass
    capability = torch.backends.cpu.get_cpu_capability()
    return capability in ("AVX2", "AVX512") and set(flags) <= {"avx2", "fma"}


def kernels_loaded() -> bool:
    """Whether :func:`load_cpu_kernels` already ran here and gave the kernels (never compiles anything).

    Compiled code asks this instead of :func:`load_cpu_kernels`, which may build and warn.
    """
    return _LOADED is not None


@functools.cache
def load_cpu_kernels() -> Any:
    """Compile (once per machine, cached by PyTorch) and return the kernels, or ``None`` where they cannot run.

    ``None`` when ``MVLM_CPU_KERNELS=0``, when the CPU lacks AVX2/FMA, or when the build fails (a
    warning says why); callers then use plain PyTorch.
    """
    if os.environ.get("MVLM_CPU_KERNELS", "1") == "0" or not cpu_supports("avx2", "fma", "f16c"):
        return None
    try:
        from torch.utils.cpp_extension import load_inline

        global _LOADED
        _LOADED = load_inline(
            name="mvlm_cpu_kernels_v3",
            cpp_sources=[_SOURCE],
            functions=["int8_gemv", "int4_gemv", "set_avx512"],
            extra_cflags=["-O3", "-mavx2", "-mfma", "-mf16c", "-fopenmp"],
            extra_ldflags=["-fopenmp"],
            verbose=False,
        )
        _LOADED.set_avx512(cpu_supports("avx512f", "avx512bw", "avx512vl"))
        return _LOADED
    except Exception as error:  # no compiler, no ninja, headers missing...
        warnings.warn(
            f"mvlm's int8/int4 CPU kernels could not be built ({type(error).__name__}: {error}); "
            "quantized layers fall back to dequantizing their weights (slower)",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def _register_custom_ops() -> None:
    """``torch.ops.mvlm.int8_gemv`` / ``int4_gemv``: the kernels as operators ``torch.compile`` can call."""
    import torch
    from torch import Tensor

    @torch.library.custom_op("mvlm::int8_gemv", mutates_args=(), schema="(Tensor x, Tensor q, Tensor scale) -> Tensor")  # type: ignore[misc]
    def int8_gemv(x: Tensor, q: Tensor, scale: Tensor) -> Tensor:
        return load_cpu_kernels().int8_gemv(x, q, scale)  # type: ignore[no-any-return]

    @int8_gemv.register_fake  # type: ignore[misc]
    def _int8_gemv_shape(x: Tensor, q: Tensor, scale: Tensor) -> Tensor:
        return x.new_empty((x.shape[0], q.shape[0]))

    @torch.library.custom_op(
        "mvlm::int4_gemv",
        mutates_args=(),
        schema="(Tensor x, Tensor packed, Tensor scale_min, int group_size) -> Tensor",
    )  # type: ignore[misc]
    def int4_gemv(x: Tensor, packed: Tensor, scale_min: Tensor, group_size: int) -> Tensor:
        return load_cpu_kernels().int4_gemv(x, packed, scale_min, group_size)  # type: ignore[no-any-return]

    @int4_gemv.register_fake  # type: ignore[misc]
    def _int4_gemv_shape(x: Tensor, packed: Tensor, scale_min: Tensor, group_size: int) -> Tensor:
        return x.new_empty((x.shape[0], packed.shape[0]))


def custom_ops_available() -> bool:
    """Whether ``torch.ops.mvlm.int8_gemv`` / ``int4_gemv`` exist (registered on first call; torch >= 2.4)."""
    global _CUSTOM_OPS
    if _CUSTOM_OPS is None:
        import torch

        _CUSTOM_OPS = hasattr(torch.library, "custom_op")
        if _CUSTOM_OPS:
            _register_custom_ops()
    return _CUSTOM_OPS


_CUSTOM_OPS: bool | None = None
_LOADED: Any = None  # the built kernels once load_cpu_kernels succeeded
