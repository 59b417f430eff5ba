"""Which kernel runs a quantized (or bf16) linear layer fastest on this CPU: the measurement behind mvlm's choice.

    python benchmarks/linear_kernels.py                 # 1.4B / 2.7B decode shapes, 1 row (one decoded token)
    python benchmarks/linear_kernels.py --rows 1 8 128  # also a few rows and a prefill-sized block

For each weight shape of MobileLLaMA's decoder layers and each row count, times (median of
``--repeats`` after a warm-up, ``--threads`` threads):

* float32 and bfloat16 ``F.linear`` (the float paths);
* int8: mvlm's kernel (AVX2; float32 activations, ``mvlm.inference.cpu_kernels``) and PyTorch's
  ``_weight_int8pack_mm`` with float32 and bfloat16 activations;
* int4 (groups of 32): mvlm's kernel (AVX-512 where the CPU has it, else AVX2; float32 activations) and PyTorch's
  ``_weight_int4pack_mm_for_cpu`` with float32 and bfloat16 activations, on the same codes.

It prints the machine's capability line, a table (milliseconds and effective GB/s of weight read)
and writes ``benchmarks/results/linear_kernels.json``. mvlm's rule (``mvlm.inference.quantization``):
float32 activations with a few rows take mvlm's kernels; bfloat16 activations take PyTorch's packed
kernels; the table shows where that holds on the machine at hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch
from timing import RESULTS_DIR, capability_line, markdown_table, time_call, write_json

from mvlm.inference.cpu_kernels import load_cpu_kernels
from mvlm.inference.quantization import Int4Linear, Int8Linear

SHAPES = {
    "1.4B attention (2048x2048)": (2048, 2048),
    "1.4B MLP up (5632x2048)": (5632, 2048),
    "1.4B MLP down (2048x5632)": (2048, 5632),
    "2.7B MLP up (6912x2560)": (6912, 2560),
}


def variants(out_features: int, in_features: int, rows: int) -> dict[str, tuple[Any, float]]:
    """``{name: (callable, weight bytes read per call)}`` for one shape and row count."""
    kernels = load_cpu_kernels()
    linear = torch.nn.Linear(in_features, out_features, bias=False)
    int8 = Int8Linear.from_linear(linear)
    int4 = Int4Linear.from_linear(linear, 32)
    int4.pack_for_torch_kernel(torch.bfloat16)
    weight = linear.weight.detach()
    x = torch.randn(rows, in_features)
    xb, wb = x.bfloat16(), weight.bfloat16()
    count = out_features * in_features
    zeros_f32 = int4.torch_scale_zeros.float()
    out: dict[str, tuple[Any, float]] = {
        "float32 F.linear": (lambda: torch.nn.functional.linear(x, weight), 4 * count),
        "bfloat16 F.linear": (lambda: torch.nn.functional.linear(xb, wb), 2 * count),
        "int8 PyTorch pack, float32 act.": (
            lambda: torch._weight_int8pack_mm(x, int8.weight_int8, int8.scale),
            count,
        ),
        "int8 PyTorch pack, bfloat16 act.": (
            lambda: torch._weight_int8pack_mm(xb, int8.weight_int8, int8.scale.bfloat16()),
            count,
        ),
        "int4 PyTorch pack, float32 act.": (
            lambda: torch._weight_int4pack_mm_for_cpu(x, int4.torch_packed, 32, zeros_f32),
            count * 0.625,
        ),
        "int4 PyTorch pack, bfloat16 act.": (
            lambda: torch._weight_int4pack_mm_for_cpu(xb, int4.torch_packed, 32, int4.torch_scale_zeros),
            count * 0.625,
        ),
    }
    if kernels is not None:
        out["int8 mvlm kernel, float32 act."] = (lambda: kernels.int8_gemv(x, int8.weight_int8, int8.scale), count)
        out["int4 mvlm kernel, float32 act."] = (
            lambda: kernels.int4_gemv(x, int4.packed, int4.scale_min, 32),
            count * 0.75,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default: 2)")
    parser.add_argument("--rows", type=int, nargs="+", default=[1], help="activation rows (default: 1 = decoding)")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per variant (default: 15)")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "linear_kernels.json", help="output JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    line = capability_line()
    print(line)
    results: dict[str, Any] = {"capability_line": line, "rows": args.rows, "results": {}}
    table = []
    for shape_name, (out_features, in_features) in SHAPES.items():
        for rows in args.rows:
            for name, (fn, nbytes) in variants(out_features, in_features, rows).items():
                with torch.no_grad():
                    timing = time_call(fn, warmup=3, repeats=args.repeats)
                key = f"{shape_name}, {rows} row(s), {name}"
                results["results"][key] = {"ms": timing.median_s * 1e3, "gbps": nbytes / timing.median_s / 1e9}
                table.append(
                    [shape_name, rows, name, f"{timing.median_s * 1e3:.3f}", f"{nbytes / timing.median_s / 1e9:.1f}"]
                )
            print(f"{shape_name}, {rows} row(s) done", flush=True)
    print(markdown_table(["weight", "rows", "kernel", "ms", "weight GB/s"], table))
    write_json(args.json, results)
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
