"""Forward latency of each vision-tower type at MobileVLM's size, full versus truncated at layer -2.

Every tower is shaped like MobileVLM's CLIP ViT-L/14-336 (hidden 1024, 24 layers, 16 heads, patch 14,
336 pixels: 576 patches), with random weights:

- ``clip``: ``openai/clip-vit-large-patch14-336`` built from its preset;
- ``siglip``: a SigLIP ViT with the same shape;
- ``timm``: timm's ``vit_large_patch14_clip_336``.

"full" is what the reference does: run every layer, keep every hidden state
(``output_hidden_states=True``; timm: ``forward_intermediates`` without ``stop_early``) and take
``[-2]``. "truncated" is the mvlm tower with ``select_layer=-2``: layer 24 is never run, so the
expected saving is about 1/24 (4 %). Both outputs are checked equal before timing, the FLOPs of each
are counted (``torch.utils.flop_counter``: a machine-independent measure of the saving), and the two
are timed alternately, run by run, so that a busy machine's drifting load hits both alike.

    python benchmarks/vision.py                      # ViT-L/14-336, batch 1, fp32 (and bf16 if native)
    python benchmarks/vision.py --quick              # a ViT-Ti-sized tower, 3 repeats: a smoke run
    python benchmarks/vision.py --towers clip --dtypes bfloat16 --repeats 9 --json results/v.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from timing import RESULTS_DIR, Timing, markdown_table, write_json
from torch.utils.flop_counter import FlopCounterMode

from mvlm.vision import VisionTower, create_vision_tower

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
TOWERS = ("clip", "siglip", "timm")

VIT_L14_336 = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "image_size": 336,
    "patch_size": 14,
}
VIT_TI16_224 = {  # --quick
    "hidden_size": 192,
    "intermediate_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 3,
    "image_size": 224,
    "patch_size": 16,
}


def build_tower(kind: str, quick: bool) -> VisionTower:
    """The tower ``kind`` at ViT-L/14-336 size (or ViT-Ti/16-224 with ``quick``), truncated at -2."""
    shape = VIT_TI16_224 if quick else VIT_L14_336
    if kind == "clip":
        config: Any = {**shape, "hidden_act": "quick_gelu"} if quick else "openai/clip-vit-large-patch14-336"
        return create_vision_tower("clip", config, select_layer=-2)
    if kind == "siglip":
        return create_vision_tower("siglip", {**shape, "vision_use_head": False}, select_layer=-2)
    if quick:
        return create_vision_tower("timm", "vit_tiny_patch16_224", select_layer=-2)
    return create_vision_tower("timm", "vit_large_patch14_clip_336", select_layer=-2)


def full_forward(tower: VisionTower) -> Callable[[torch.Tensor], torch.Tensor]:
    """Every layer, every hidden state kept, then ``[-2]`` (CLS dropped): the reference's way."""
    if tower.tower_type == "timm":
        model = tower.vision_tower

        def timm_full(pixels: torch.Tensor) -> torch.Tensor:
            _, intermediates = model.forward_intermediates(
                pixels, indices=list(range(tower.num_layers)), norm=False, output_fmt="NCHW"
            )
            return intermediates[-2].flatten(2).transpose(1, 2)

        return timm_full
    prefix = tower.num_prefix_tokens

    def hf_full(pixels: torch.Tensor) -> torch.Tensor:
        return tower.vision_tower(pixels, output_hidden_states=True).hidden_states[-2][:, prefix:]

    return hf_full


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matmuls run natively (CUDA, or a CPU with AVX512-BF16 / AMX); emulated ones are slow."""
    if device.type == "cuda":
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(
    calls: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    pixels: torch.Tensor,
    device: torch.device,
    *,
    warmup: int,
    repeats: int,
) -> dict[str, Timing]:
    """Time several callables on the same input, alternating them run by run.

    On a busy machine the load drifts; alternating lets it hit every callable alike, so the ratio of
    the medians stays meaningful even when the absolute times move.
    """
    samples: dict[str, list[float]] = {name: [] for name in calls}
    with torch.inference_mode():
        for round_index in range(warmup + repeats):
            order = list(calls) if round_index % 2 == 0 else list(reversed(calls))
            for name in order:
                synchronize(device)
                start = time.perf_counter()
                calls[name](pixels)
                synchronize(device)
                if round_index >= warmup:
                    samples[name].append(time.perf_counter() - start)
    return {name: Timing(statistics.median(runs), min(runs), max(runs), len(runs)) for name, runs in samples.items()}


def run(
    towers: list[str], dtypes: list[str], batch: int, repeats: int, warmup: int, quick: bool, device: torch.device
) -> list[dict[str, Any]]:
    results = []
    for kind in towers:
        if kind == "timm":
            try:
                import timm  # noqa: F401
            except ImportError:
                print("  timm is not installed; skipping the timm tower", flush=True)
                continue
        tower = build_tower(kind, quick).to(device)
        full = full_forward(tower)
        for dtype_name in dtypes:
            tower = tower.to(DTYPES[dtype_name])
            pixels = torch.randn(batch, 3, tower.image_size, tower.image_size, device=device, dtype=DTYPES[dtype_name])
            flops: dict[str, int] = {}
            with torch.inference_mode():
                with FlopCounterMode(display=False) as counter:
                    full_out = full(pixels)
                flops["full"] = counter.get_total_flops()
                with FlopCounterMode(display=False) as counter:
                    truncated_out = tower(pixels)
                flops["truncated"] = counter.get_total_flops()
            torch.testing.assert_close(truncated_out, full_out)  # the same numbers, fewer layers
            calls = {"full": full, "truncated": tower}
            rows = time_interleaved(calls, pixels, device, warmup=warmup, repeats=repeats)
            for mode, timing in rows.items():
                results.append(
                    {
                        "tower": kind,
                        "model": tower.name_or_path or f"{kind} ViT ({tower.hidden_size}, {tower.num_layers} layers)",
                        "dtype": dtype_name,
                        "mode": mode,
                        "layers_run": tower.num_layers if mode == "full" else tower.selected_layer,
                        "batch": batch,
                        "image_size": tower.image_size,
                        "tokens": tower.num_tokens,
                        "parameters": sum(p.numel() for p in tower.parameters()),
                        "gflops": round(flops[mode] / 1e9, 2),
                        "median_ms": round(timing.median_s * 1e3, 2),
                        "min_ms": round(timing.min_s * 1e3, 2),
                        "max_ms": round(timing.max_s * 1e3, 2),
                        "runs": timing.runs,
                    }
                )
                print(f"  {kind:7s} {dtype_name:9s} {mode:10s} {timing.median_s * 1e3:10.1f} ms", flush=True)
            results[-1]["saving_vs_full"] = round(1 - rows["truncated"].median_s / rows["full"].median_s, 4)
            results[-1]["saving_vs_full_min"] = round(1 - rows["truncated"].min_s / rows["full"].min_s, 4)
        del tower
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--towers", nargs="+", default=list(TOWERS), choices=TOWERS)
    parser.add_argument(
        "--dtypes",
        nargs="+",
        default=None,
        choices=list(DTYPES),
        help="default: float32, plus bfloat16 where it runs natively (CUDA, or a CPU with AVX512-BF16/AMX)",
    )
    parser.add_argument("--batch", type=int, default=1, help="images per forward (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--quick", action="store_true", help="ViT-Ti/16-224-sized towers, 3 repeats: a smoke run")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "vision.json", help="where to write the JSON")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else args.repeats
    torch.manual_seed(0)
    device = torch.device(args.device)
    dtypes = args.dtypes
    if dtypes is None:
        dtypes = list(DTYPES) if native_bf16(device) else ["float32"]
        if "bfloat16" not in dtypes:
            print(
                f"note: this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native bf16, where it is "
                "emulated and several times slower than fp32; timing float32 only (force with --dtypes)",
                flush=True,
            )
    results = run(args.towers, dtypes, args.batch, repeats, args.warmup, args.quick, device)
    header = ["tower", "dtype", "mode", "layers", "GFLOP", "median ms", "min ms", "max ms", "saving median/min"]
    rows = [
        [
            r["tower"],
            r["dtype"],
            r["mode"],
            r["layers_run"],
            r["gflops"],
            r["median_ms"],
            r["min_ms"],
            r["max_ms"],
            f"{100 * r['saving_vs_full']:.1f} / {100 * r['saving_vs_full_min']:.1f} %" if "saving_vs_full" in r else "",
        ]
        for r in results
    ]
    print()
    print(markdown_table(header, rows))
    payload = {
        "benchmark": "vision",
        "device": str(device),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": native_bf16(device),
        "threads": torch.get_num_threads(),
        "size": "ViT-Ti/16-224" if args.quick else "ViT-L/14-336",
        "results": results,
    }
    path = write_json(args.json, payload)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
