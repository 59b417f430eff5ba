"""Training throughput (samples/s) and peak memory (RSS) per stage, at the tiny and the MobileVLM-1.7B shape.

Each case runs in its own process (so its peak RSS is its own): a model with random weights, the
trainable parts of the stage's recipe (stage I ``v1-pretrain``: projector only, gradients still flow
back through the frozen language model; stage II ``v1-finetune``: projector + language model), AdamW,
and timed optimiser steps (forward, backward, step) on random batches of the stated shape. Data
loading is not included. fp32 throughout (bf16 matrix products are very slow on CPUs without
AVX-512 bf16).

At the 1.7B shape, full stage II with fp32 AdamW needs ~16 bytes per parameter (weights, gradients,
two moments: ~27 GB for 1.7B parameters) plus activations, more than a 24 GiB machine has; the
default run therefore measures stage II as the reference's LoRA variant (r 128, alpha 256) there and
reports the full variant's memory estimate. ``--full-1.7b`` tries the full variant anyway.

    python benchmarks/training.py            # tiny (both stages) and 1.7B (stage I, stage II LoRA): minutes
    python benchmarks/training.py --quick    # the tiny shape only, fewer steps (seconds)
    python benchmarks/training.py --shapes 1.7b --steps 2

Writes ``benchmarks/results/training.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from timing import RESULTS_DIR, markdown_table, write_json

# shape -> (batch size, text tokens in stage I, text tokens in stage II)
SHAPES: dict[str, dict[str, Any]] = {
    "tiny": {"batch": 32, "text": {"pretrain": 32, "finetune": 72}, "source": "the bundled demo model's config"},
    "1.7b": {"batch": 1, "text": {"pretrain": 32, "finetune": 32}, "source": "MobileVLM-1.7B preset"},
}
BYTES_PER_PARAMETER_ADAMW = 16  # fp32 weights, gradients and two moments


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def _build(shape: str) -> Any:
    from mvlm.model import MobileVLM, MobileVLMConfig

    if shape == "tiny":
        from mvlm.demo import demo_model_path

        config = MobileVLMConfig.from_pretrained(demo_model_path())
    else:
        config = MobileVLMConfig.from_preset("MobileVLM-1.7B")
    torch.manual_seed(0)
    return MobileVLM(config).float()


def _batch(model: Any, batch: int, text: int) -> dict[str, torch.Tensor]:
    image = [model.config.image_token_index] * model.num_image_tokens
    vocab = model.config.vocab_size
    rows = [[1, *image, *torch.randint(3, vocab, (text,)).tolist()] for _ in range(batch)]
    input_ids = torch.tensor(rows)
    labels = input_ids.clone()
    labels[:, : 1 + len(image)] = -100
    size = model.vision_tower.image_size
    return {"input_ids": input_ids, "labels": labels, "pixel_values": torch.randn(batch, 3, size, size)}


def run_case(shape: str, stage: str, variant: str, steps: int, warmup: int) -> dict[str, Any]:
    """One case in this process: build, freeze as the stage says, time ``steps`` optimiser steps."""
    from mvlm.train import LoraSettings, TrainableParts, apply_lora, apply_trainable_parts, count_parameters

    start = time.perf_counter()
    model = _build(shape)
    build_s = time.perf_counter() - start
    rss_model = _peak_rss_mib()
    lora = variant == "lora"
    parts = TrainableParts(projector=True, language_model=stage == "finetune" and not lora)
    apply_trainable_parts(model, parts)
    if lora:
        model = apply_lora(model, LoraSettings())
    model.train()
    trainable, total = count_parameters(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    settings = SHAPES[shape]
    batch = _batch(model.get_base_model() if lora else model, settings["batch"], settings["text"][stage])
    times = []
    for index in range(warmup + steps):
        begin = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if index >= warmup:
            times.append(time.perf_counter() - begin)
    step_s = sum(times) / len(times)
    return {
        "shape": shape,
        "stage": stage,
        "variant": variant,
        "batch": settings["batch"],
        "tokens": int(batch["input_ids"].shape[1]),
        "trainable_parameters": trainable,
        "parameters": total,
        "build_s": build_s,
        "step_s": step_s,
        "samples_per_s": settings["batch"] / step_s,
        "rss_after_build_mib": rss_model,
        "peak_rss_mib": _peak_rss_mib(),
        "steps": steps,
    }


def _child(shape: str, stage: str, variant: str, steps: int, warmup: int, threads: int) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--case", f"{shape}:{stage}:{variant}", "--steps", str(steps),
        "--warmup", str(warmup), "--threads", str(threads),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["killed (out of memory?)"]
        return {"shape": shape, "stage": stage, "variant": variant, "error": tail[0]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the tiny shape only, 3 timed steps")
    parser.add_argument("--shapes", default=None, help="comma-separated: tiny, 1.7b (default: both)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 10 tiny, 1 at 1.7B)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default: 1)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--full-1.7b", dest="full_large", action="store_true", help="also try full stage II at 1.7B")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "training.json", help="where to write results")
    parser.add_argument("--case", default=None, help=argparse.SUPPRESS)  # shape:stage:variant, in a child process
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.case:
        shape, stage, variant = args.case.split(":")
        print(json.dumps(run_case(shape, stage, variant, args.steps or 1, args.warmup)))
        return 0

    shapes = ["tiny"] if args.quick else (args.shapes.split(",") if args.shapes else ["tiny", "1.7b"])
    cases = []
    for shape in shapes:
        stage_two = ["full"] if shape == "tiny" else (["lora", "full"] if args.full_large else ["lora"])
        cases += [(shape, "pretrain", "projector")] + [(shape, "finetune", variant) for variant in stage_two]
    results = []
    for shape, stage, variant in cases:
        steps = args.steps or (3 if args.quick else (10 if shape == "tiny" else 1))
        print(f"running {shape} {stage} ({variant}), {steps} timed step(s)...", file=sys.stderr, flush=True)
        results.append(_child(shape, stage, variant, steps, args.warmup, args.threads))
    notes = {}
    if "1.7b" in shapes and not args.full_large:
        large = next((r for r in results if r["shape"] == "1.7b" and "parameters" in r), None)
        if large is not None:
            estimate = large["parameters"] * BYTES_PER_PARAMETER_ADAMW / 2**30
            notes["1.7b full stage II"] = (
                f"not run: fp32 AdamW needs ~{estimate:.0f} GiB for weights, gradients and moments alone"
            )
    header = ["shape", "stage", "trains", "batch x tokens", "trainable / all params", "step s", "samples/s", "peak RSS"]
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["shape"], r["stage"], r["variant"], "-", "-", "-", "-", f"failed: {r['error']}"])
            continue
        rows.append(
            [
                r["shape"],
                "I" if r["stage"] == "pretrain" else "II",
                r["variant"],
                f"{r['batch']} x {r['tokens']}",
                f"{r['trainable_parameters'] / 1e6:.2f}M / {r['parameters'] / 1e6:.1f}M",
                f"{r['step_s']:.3f}",
                f"{r['samples_per_s']:.2f}",
                f"{r['peak_rss_mib'] / 1024:.2f} GiB",
            ]
        )
    print(markdown_table(header, rows))
    for key, note in notes.items():
        print(f"\n{key}: {note}")
    path = write_json(args.json, {"benchmark": "training", "threads": args.threads, "results": results, "notes": notes})
    print(f"\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
