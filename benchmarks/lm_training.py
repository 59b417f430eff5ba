"""Pre-training step throughput of MobileLLaMA shapes: tokens per second and peak memory.

One step is what :func:`mvlm.train_lm.pretrain` does per micro-batch and optimizer step: a packed
batch of ``batch x seq_len`` token ids (collated by ``PackedBatchCollator``, labels = ids), forward,
backward, gradient clipping at 1.0, an optimizer step and ``zero_grad``, in fp32 (the CPU default;
``--dtypes bfloat16`` adds bf16 autocast). Models are built by ``mvlm.language.create_language_model``
from the presets, with random weights:

- ``mobilellama-1.4b``: the published shape (2048 wide, 24 layers, 32000 tokens, ~1.36 B parameters);
- ``tiny``: the same architecture at 64 wide and 2 layers (the test suite's convergence model).

AdamW in fp32 needs about 16 bytes per parameter (weights, gradients, two moments: ~22 GB for the
1.4B shape). When the machine has less memory available the benchmark uses plain SGD for that shape
instead (8 bytes per parameter) and says so in the ``optimizer`` column: the forward and backward
passes, which dominate, are the same. Peak RSS is the process's high-water mark after each shape
(the shapes run from small to large, so each row's figure is its own).

    python benchmarks/lm_training.py --threads 1      # tiny + mobilellama-1.4b, seq 64, batch 1, 3 timed steps
    python benchmarks/lm_training.py --quick         # 1.4B width with 2 layers, seq 64: a smoke run
    python benchmarks/lm_training.py --seq-len 256 --steps 5 --gradient-checkpointing
"""

from __future__ import annotations

import argparse
import gc
import resource
from pathlib import Path
from typing import Any

import torch
from timing import RESULTS_DIR, markdown_table, time_call, write_json

from mvlm.language import create_language_model
from mvlm.train_lm import PackedBatchCollator

DTYPES = {"float32": None, "bfloat16": torch.bfloat16}
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}
TINY.update(num_key_value_heads=4, vocab_size=400)


def available_memory_bytes() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` (Linux), else ``None``."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_rss_gib() -> float:
    """The process's peak resident set size so far, in GiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def choose_optimizer(parameters: int, wanted: str) -> tuple[str, str]:
    """``(optimizer, note)``: AdamW unless the machine cannot hold its state, then SGD."""
    if wanted != "auto":
        return wanted, ""
    available = available_memory_bytes()
    needed = 16 * parameters * 1.15
    if available is not None and needed > available:
        return "sgd", f"AdamW needs ~{needed / 2**30:.0f} GiB, {available / 2**30:.0f} GiB available"
    return "adamw", ""


def make_optimizer(name: str, model: torch.nn.Module) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    return torch.optim.SGD(model.parameters(), lr=1e-3)


def measure(
    shape: str,
    overrides: dict[str, Any],
    *,
    seq_len: int,
    batch: int,
    steps: int,
    dtype_name: str,
    optimizer_name: str,
    gradient_checkpointing: bool,
) -> dict[str, Any]:
    torch.manual_seed(0)
    model = create_language_model("mobilellama-1.4b", **overrides, use_cache=False)
    model.train()
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    parameters = sum(p.numel() for p in model.parameters())
    optimizer_name, note = choose_optimizer(parameters, optimizer_name)
    optimizer = make_optimizer(optimizer_name, model)
    vocab = model.config.vocab_size
    collate = PackedBatchCollator()
    batches = [collate([{"input_ids": torch.randint(3, vocab, (seq_len,))} for _ in range(batch)]) for _ in range(4)]
    counter = {"i": 0}
    dtype = DTYPES[dtype_name]

    def step() -> None:
        inputs = batches[counter["i"] % len(batches)]
        counter["i"] += 1
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    timing = time_call(step, warmup=1, repeats=steps)
    tokens = batch * seq_len
    row = {
        "shape": shape,
        "layers": model.config.num_hidden_layers,
        "hidden": model.config.hidden_size,
        "parameters": parameters,
        "dtype": dtype_name,
        "optimizer": optimizer_name + (f" ({note})" if note else ""),
        "gradient_checkpointing": gradient_checkpointing,
        "batch": batch,
        "seq_len": seq_len,
        "tokens_per_step": tokens,
        "median_s": round(timing.median_s, 4),
        "min_s": round(timing.min_s, 4),
        "max_s": round(timing.max_s, 4),
        "runs": timing.runs,
        "tokens_per_second": round(tokens / timing.median_s, 1),
        "model_gflops_per_second": round(6 * parameters * tokens / timing.median_s / 1e9, 1),
        "peak_rss_gib": round(peak_rss_gib(), 2),
    }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1.4B width with 2 layers, seq 64, 2 timed steps")
    parser.add_argument(
        "--shapes", nargs="+", default=["tiny", "mobilellama-1.4b"], choices=["tiny", "mobilellama-1.4b"]
    )
    parser.add_argument("--seq-len", type=int, default=None, help="tokens per sequence (default 64)")
    parser.add_argument("--batch", type=int, default=1, help="sequences per step (default 1)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per shape (default 3; quick: 2)")
    parser.add_argument("--dtypes", nargs="+", default=["float32"], choices=list(DTYPES))
    parser.add_argument(
        "--optimizer", default="auto", choices=["auto", "adamw", "sgd"], help="default: AdamW if it fits"
    )
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "lm_training.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    seq_len = args.seq_len or 64
    steps = args.steps or (2 if args.quick else 3)
    shapes = {"tiny": TINY, "mobilellama-1.4b": {"num_hidden_layers": 2} if args.quick else {}}
    rows = []
    for shape in sorted(args.shapes, key=lambda s: s != "tiny"):  # small first: each peak RSS is its own
        for dtype_name in args.dtypes:
            label = f"{shape} (2 layers)" if shape != "tiny" and args.quick else shape
            print(f"  {label} {dtype_name} ...", flush=True)
            gc.collect()
            rows.append(
                measure(
                    label,
                    shapes[shape],
                    seq_len=seq_len,
                    batch=args.batch,
                    steps=steps,
                    dtype_name=dtype_name,
                    optimizer_name=args.optimizer,
                    gradient_checkpointing=args.gradient_checkpointing,
                )
            )
    header = ["shape", "parameters", "dtype", "optimizer", "batch x seq", "step (s)", "tokens/s", "GFLOP/s", "peak RSS"]
    table = [
        [
            r["shape"],
            f"{r['parameters'] / 1e6:,.1f} M",
            r["dtype"],
            r["optimizer"],
            f"{r['batch']} x {r['seq_len']}",
            f"{r['median_s']:.3f}",
            f"{r['tokens_per_second']:,.1f}",
            f"{r['model_gflops_per_second']:,.1f}",
            f"{r['peak_rss_gib']:.2f} GiB",
        ]
        for r in rows
    ]
    print()
    print(markdown_table(header, table))
    path = write_json(
        args.json,
        {"benchmark": "lm_training", "threads": torch.get_num_threads(), "quick": args.quick, "results": rows},
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
