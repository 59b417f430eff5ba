"""Forward latency and size of every registered projector at MobileVLM sizes, beside the peer.

The peer is transformers' ``LlavaMultiModalProjector`` (LLaVA-1.5's two-layer MLP over all 576
tokens), timed in the same run.

    python benchmarks/projectors.py                      # 1024 -> 2048 and 2560, fp32 and bf16
    python benchmarks/projectors.py --quick              # fewer repeats, one width
    python benchmarks/projectors.py --out-dims 4096 --dtypes bfloat16 --json results/p.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from timing import RESULTS_DIR, markdown_table, time_call, write_json

from mvlm.projectors import create_projector, summarize_projectors

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def _llava_peer(in_dim: int, out_dim: int) -> torch.nn.Module | None:
    try:
        from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig
        from transformers.models.llava.modeling_llava import LlavaMultiModalProjector
    except ImportError:
        return None
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=in_dim, num_attention_heads=1),
        text_config=LlamaConfig(hidden_size=out_dim, num_attention_heads=1),
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
    )
    return LlavaMultiModalProjector(config)


def run(
    in_dim: int, out_dims: list[int], tokens: int, dtypes: list[str], batch: int, repeats: int
) -> list[dict[str, Any]]:
    results = []
    for out_dim in out_dims:
        candidates: list[tuple[str, torch.nn.Module]] = []
        for summary in summarize_projectors(in_dim, out_dim, tokens):
            if summary.parameters is not None:
                candidates.append((summary.name, create_projector(summary.name, in_dim, out_dim)))
        peer = _llava_peer(in_dim, out_dim)
        if peer is not None:
            candidates.append(("transformers LlavaMultiModalProjector (peer)", peer))
        for name, module in candidates:
            for dtype_name in dtypes:
                module = module.to(DTYPES[dtype_name]).eval()
                features = torch.randn(batch, tokens, in_dim, dtype=DTYPES[dtype_name])
                with torch.inference_mode():
                    output = module(features)
                    timing = time_call(lambda m=module, f=features: m(f), repeats=repeats)
                results.append(
                    {
                        "projector": name,
                        "in_dim": in_dim,
                        "out_dim": out_dim,
                        "dtype": dtype_name,
                        "batch": batch,
                        "input_tokens": tokens,
                        "output_tokens": output.shape[1],
                        "parameters": sum(p.numel() for p in module.parameters()),
                        "median_ms": round(timing.median_s * 1e3, 3),
                        "min_ms": round(timing.min_s * 1e3, 3),
                        "max_ms": round(timing.max_s * 1e3, 3),
                        "runs": timing.runs,
                    }
                )
                print(f"  {name:48s} {out_dim:5d} {dtype_name:9s} {timing.median_s * 1e3:9.2f} ms", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--in-dim", type=int, default=1024, help="vision feature width (default 1024)")
    parser.add_argument("--out-dims", type=int, nargs="+", default=[2048, 2560], help="LM widths (default 2048 2560)")
    parser.add_argument("--tokens", type=int, default=576, help="vision tokens per image (default 576)")
    parser.add_argument("--batch", type=int, default=1, help="images per forward (default 1)")
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per row (default 9)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, first width only")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "projectors.json", help="where to write the JSON")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out_dims = args.out_dims[:1] if args.quick else args.out_dims
    repeats = 3 if args.quick else args.repeats
    torch.manual_seed(0)
    results = run(args.in_dim, out_dims, args.tokens, args.dtypes, args.batch, repeats)
    header = ["projector", "out_dim", "dtype", "tokens", "params", "median ms", "min ms", "max ms"]
    rows = [
        [
            r["projector"],
            r["out_dim"],
            r["dtype"],
            f"{r['input_tokens']}->{r['output_tokens']}",
            f"{r['parameters']:,}",
            r["median_ms"],
            r["min_ms"],
            r["max_ms"],
        ]
        for r in results
    ]
    print()
    print(markdown_table(header, rows))
    path = write_json(args.json, {"benchmark": "projectors", "threads": torch.get_num_threads(), "results": results})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
