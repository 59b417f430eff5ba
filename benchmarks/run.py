"""The performance suite: every stage of answering about one image, mvlm's paths and the peers, in one run.

    python benchmarks/run.py --model-shape mobilevlm-1.7b            # MobileLLaMA-1.4B + CLIP ViT-L/14-336 + LDP
    python benchmarks/run.py --model-shape mobilevlm-v2-1.7b --threads 2 --repeats 5
    python benchmarks/run.py --model-shape mobilevlm-1.7b --quick    # small language model and tower: a smoke run

Random weights in the published shapes (no download). Fixed threads, one warm-up per variant, then
``--repeats`` runs per variant, the variants of a stage timed alternately (run 1 of each, run 2 of each...)
so that a busy machine's drifting load hits them alike; median / min / max. Stages:

* image preprocessing (one 640x480 photo -> pixels), vision tower, projector: mvlm (pad + resize, tower
  stopped at layer -2, LDP) against transformers' LLaVA (CLIP processor, every layer with hidden states,
  MLP projector);
* prefill and time to first token for one image + a 30-token question, and decode tokens/s, for each
  mvlm path (float32 eager, ``fast_decode`` = static cache + compiled step, int8, int4, with and without
  ``fast_decode``; the prefix cache for a second question) and for LLaVA (``generate`` on
  ``input_ids`` + ``pixel_values``, 576 image tokens);
* the memory-bandwidth floor: a large tensor's sum (GB/s), and for each path the weight bytes one
  decoded token reads divided by it; each path's effective bandwidth is bytes per token x tokens/s;
* accuracy of the quantized paths against float32 on the random model: relative logit error and
  greedy agreement;
* llama.cpp through ``mvlm.export`` when ``llama-cpp-python`` is installed (else reported as absent).

Output: a markdown table on stdout and ``benchmarks/results/suite-<shape>.json``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from suite_models import SHAPES, LayerSets, build_llava_peer, build_mobilevlm, decode_bytes_per_token
from timing import RESULTS_DIR, Timing, markdown_table, write_json

QUESTION_TOKENS = 30
SYSTEM_TOKENS = 35  # v1's system prompt + "USER:"
ANSWER_PREFIX_TOKENS = 5  # " ASSISTANT:"


def peak_rss_gb() -> float:
    """The process's peak resident memory so far (GB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def summarize(samples: list[float]) -> Timing:
    return Timing(statistics.median(samples), min(samples), max(samples), len(samples))


def interleaved(variants: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> dict[str, Timing]:
    """Time the variants alternately: ``warmup`` untimed rounds, then ``repeats`` timed rounds."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_index in range(warmup + repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            if round_index >= warmup:
                samples[name].append(elapsed)
    return {name: summarize(values) for name, values in samples.items()}


def bandwidth(repeats: int) -> dict[str, Any]:
    """Read bandwidth (sum of a 1 GiB float32 tensor) and copy bandwidth (read + write), GB/s, median."""
    data = torch.empty(256 * 1024 * 1024, dtype=torch.float32).normal_()
    target = torch.empty_like(data)
    nbytes = data.numel() * 4
    timings = interleaved({"sum": lambda: data.sum(), "copy": lambda: target.copy_(data)}, repeats=repeats)
    result = {
        "read_gbps": nbytes / timings["sum"].median_s / 1e9,
        "read_gbps_max": nbytes / timings["sum"].min_s / 1e9,
        "copy_gbps": 2 * nbytes / timings["copy"].median_s / 1e9,
        "timings": timings,
    }
    return result


def dtype_probe(repeats: int) -> dict[str, Any]:
    """float32 against bfloat16 on this CPU: a 576x1024x2048 matmul (GFLOP/s) and a 5632x2048 matvec (GB/s)."""
    a, b = torch.randn(576, 1024), torch.randn(2048, 1024)
    w, x = torch.randn(5632, 2048), torch.randn(1, 2048)
    variants = {}
    for dtype in (torch.float32, torch.bfloat16):
        a_, b_, w_, x_ = (t.to(dtype) for t in (a, b, w, x))
        variants[f"matmul {dtype}"] = lambda a_=a_, b_=b_: torch.nn.functional.linear(a_, b_)
        variants[f"matvec {dtype}"] = lambda w_=w_, x_=x_: torch.nn.functional.linear(x_, w_)
    timings = interleaved(variants, repeats=repeats)
    out: dict[str, Any] = {}
    for name, timing in timings.items():
        if name.startswith("matmul"):
            out[name + " GFLOP/s"] = 2 * 576 * 1024 * 2048 / timing.median_s / 1e9
        else:
            size = 2 if "bfloat16" in name else 4
            out[name + " GB/s"] = w.numel() * size / timing.median_s / 1e9
    return out


class TokenClock:
    """A ``generate`` streamer that timestamps each step: time to first token and decode tokens/s."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.stamps: list[float] = []
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate puts the prompt ids first (empty when it is given embeddings)
            self.prompt_seen = True
            return
        self.stamps.append(time.perf_counter())

    def end(self) -> None:
        pass

    @property
    def first_token_s(self) -> float:
        return self.stamps[0] - self.start

    @property
    def decode_tps(self) -> float:
        return (len(self.stamps) - 1) / (self.stamps[-1] - self.stamps[0])


def generation_runs(
    variants: dict[str, Callable[[TokenClock], None]], repeats: int, warmup: int = 1
) -> dict[str, dict[str, Any]]:
    """Run each ``generate`` variant alternately; per variant: first-token time and decode tokens/s samples."""
    first: dict[str, list[float]] = {name: [] for name in variants}
    tps: dict[str, list[float]] = {name: [] for name in variants}
    warm_s: dict[str, float] = {}
    for round_index in range(warmup + repeats):
        for name, run in variants.items():
            gc.collect()
            clock = TokenClock()
            run(clock)
            total = time.perf_counter() - clock.start
            if round_index < warmup:
                warm_s[name] = total
                continue
            first[name].append(clock.first_token_s)
            tps[name].append(clock.decode_tps)
    return {
        name: {
            "first_token": summarize(first[name]),
            "decode_tps": summarize(tps[name]),
            "warmup_s": warm_s.get(name),
        }
        for name in variants
    }


def prompt_ids(model: Any, image_token: int, image_positions: int, seed: int = 0) -> torch.Tensor:
    """``[1, length]`` ids: system prompt, the image's positions, a 30-token question, ``ASSISTANT:`` (random text)."""
    rng = np.random.default_rng(seed)
    vocab = model.config.vocab_size

    def text(n: int) -> list[int]:
        return rng.integers(3, vocab - 1, n).tolist()  # vocab - 1 marks LLaVA's image positions

    ids = [1, *text(SYSTEM_TOKENS), *[image_token] * image_positions, *text(QUESTION_TOKENS), *text(5)]
    return torch.tensor([ids])


PEER_OF = {"float32": "f16", "bfloat16": "f16", "int8": "q8_0", "int4": "q4_0"}
"""Each mvlm weight format's llama.cpp counterpart (f16 for the float paths)."""


class WeightPath:
    """One way of running the language model: a model (float32 or its bf16 copy) with one of its layer sets."""

    def __init__(self, name: str, sets: LayerSets, layers: str, weight_format: str) -> None:
        self.name = name
        self.sets = sets
        self.layers = layers
        self.weight_format = weight_format  # float32, bfloat16, int8, int4

    @property
    def model(self) -> Any:
        return self.sets.model

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.lm_head.parameters()).dtype

    def use(self) -> Any:
        return self.sets.use(self.layers)


def path_accuracy(
    path: WeightPath, embeds: torch.Tensor, answer: list[int], reference_all: torch.Tensor, steps: int
) -> dict[str, Any]:
    """A path's logits along float32's answer (teacher forcing) against float32's, and its own greedy answer."""
    from llamacpp_peer import compare_logits

    model = path.use()
    with torch.no_grad():
        answer_ids = torch.tensor([answer])
        full = torch.cat([embeds, model.get_input_embeddings()(answer_ids)], dim=1)
        logits = model(inputs_embeds=full).logits[0].float()
        free = model.generate(inputs_embeds=embeds, max_new_tokens=steps, min_new_tokens=steps, do_sample=False)
    tail = slice(embeds.shape[1] - 1, -1)
    same_prefix = int((free[0] == answer_ids[0]).int().cumprod(0).sum())
    return {
        "all_positions_relative_logit_error": ((logits - reference_all).norm() / reference_all.norm()).item(),
        **compare_logits(logits[tail], reference_all[tail]),
        "free_running_equal_tokens": f"{same_prefix}/{steps}",
    }


def llamacpp_part(
    model: Any,
    ids: torch.Tensor,
    image_features: torch.Tensor,
    answer: list[int],
    reference: torch.Tensor,
    args: argparse.Namespace,
    threads: int,
) -> dict[str, Any]:
    """llama.cpp on the same weights: export, timing and accuracy per GGUF type (see ``llamacpp_peer``)."""
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("gguf") is None:
        return {"status": "llama-cpp-python or gguf is not installed in this environment: llama.cpp not measured"}
    import llamacpp_peer

    cache = args.cache_dir / f"{args.model_shape}{'-quick' if args.quick else ''}"
    started = time.perf_counter()
    tokenizer_model = llamacpp_peer.stand_in_tokenizer(args.cache_dir / "tokenizer-32000", model.config.vocab_size)
    files = llamacpp_peer.export_files(model, tokenizer_model, cache, threads)
    out: dict[str, Any] = {"status": "measured", "export_s": time.perf_counter() - started, "files": {}}
    prompt = ids[0].tolist()
    image = image_features[0].float().numpy()
    image_token = model.config.image_token_index
    for quant, path in files.items():
        timing = llamacpp_peer.time_runtime(path, prompt, image_token, image, args.decode_tokens, threads, args.repeats)
        accuracy = llamacpp_peer.runtime_accuracy(path, prompt, image_token, image, answer, reference, threads)
        out["files"][quant] = {"bytes": path.stat().st_size, **timing, "accuracy": accuracy}
        print(f"llama.cpp {quant}: {timing['decode_tps']['median']:.2f} tok/s, {accuracy}", flush=True)
    return out


def fmt(t: Timing, scale: float = 1.0, digits: int = 2) -> str:
    return f"{t.median_s * scale:.{digits}f} ({t.min_s * scale:.{digits}f}-{t.max_s * scale:.{digits}f})"


def fmt_rate(t: Timing) -> str:
    return f"{t.median_s:.2f} ({t.min_s:.2f}-{t.max_s:.2f})"


def run(args: argparse.Namespace) -> dict[str, Any]:
    import copy

    from llamacpp_peer import reference_answer
    from timing import capability_line
    from transformers import CLIPImageProcessor

    from mvlm.inference.cpu_kernels import load_cpu_kernels
    from mvlm.inference.fast_decode import fast_decode_options
    from mvlm.inference.loading import default_cpu_dtype
    from mvlm.inference.prefix_cache import PrefixCache
    from mvlm.inference.threads import configure_threads

    threads = configure_threads(args.threads)
    native_bf16 = default_cpu_dtype() == torch.bfloat16
    with_bf16 = native_bf16 if args.bf16 is None else args.bf16
    report: dict[str, Any] = {
        "shape": args.model_shape,
        "quick": args.quick,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "capability_line": capability_line(),
        "threads": threads,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "default_cpu_dtype": str(default_cpu_dtype()),
        "load_average_start": os.getloadavg(),
        "repeats": args.repeats,
        "decode_tokens": args.decode_tokens,
    }
    print(report["capability_line"], flush=True)
    report["bandwidth"] = bandwidth(max(3, args.repeats))
    report["dtype_probe"] = dtype_probe(max(3, args.repeats))
    print(f"dtype probe {report['dtype_probe']}", flush=True)
    read_gbps = report["bandwidth"]["read_gbps"]
    print(f"bandwidth: read {read_gbps:.1f} GB/s, copy {report['bandwidth']['copy_gbps']:.1f} GB/s", flush=True)

    started = time.perf_counter()
    model = build_mobilevlm(args.model_shape, quick=args.quick)
    model16 = copy.deepcopy(model).to(torch.bfloat16) if with_bf16 else None
    report["build_s"] = time.perf_counter() - started
    kernels_started = time.perf_counter()
    report["cpu_kernels"] = load_cpu_kernels() is not None
    report["cpu_kernels_build_s"] = time.perf_counter() - kernels_started
    sets32 = LayerSets(model, ["float32", "int8", "int4"])
    paths = [
        WeightPath("float32", sets32, "float32", "float32"),
        WeightPath("int8", sets32, "int8", "int8"),
        WeightPath("int4", sets32, "int4", "int4"),
    ]
    if model16 is not None:
        sets16 = LayerSets(model16, ["bfloat16", "int8", "int4"], base="bfloat16")
        paths += [
            WeightPath("bfloat16", sets16, "bfloat16", "bfloat16"),
            WeightPath("int8, bf16 activations", sets16, "int8", "int8"),
            WeightPath("int4, bf16 activations", sets16, "int4", "int4"),
        ]
    peer = build_llava_peer(model)
    report["rss_after_build_gb"] = peak_rss_gb()
    bytes_per_token = {path.name: decode_bytes_per_token(path.use()) for path in paths}
    for path in paths:
        if path.layers in ("float32", "bfloat16"):
            path.use()
    report["decode_bytes_per_token"] = bytes_per_token
    print(f"built in {report['build_s']:.0f} s; decode bytes/token {bytes_per_token}", flush=True)

    # ------------------------------------------------------------------ image stages
    rng = np.random.default_rng(0)
    from PIL import Image

    photo = Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
    tower = model.vision_tower
    size = tower.image_size
    clip_processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    pixels = model.image_processor([photo])
    with torch.no_grad():
        features = tower(pixels)
        image_tokens = model.encode_images(pixels)

    def full_tower() -> Any:
        out = tower.vision_tower(pixels, output_hidden_states=True)
        return out.hidden_states[-2][:, 1:]

    stage_variants: dict[str, Callable[[], Any]] = {
        "preprocess mvlm": lambda: model.image_processor([photo]),
        "preprocess llava": lambda: clip_processor(images=photo, return_tensors="pt"),
        "tower mvlm float32 (stops at layer -2)": lambda: tower(pixels),
        "tower full float32 (every layer, hidden states)": full_tower,
        "projector mvlm float32": lambda: model.mm_projector(features),
        "projector llava float32 (mlp2x_gelu)": lambda: peer.model.multi_modal_projector(features),
    }
    if model16 is not None:
        features16 = features.bfloat16()
        stage_variants["tower mvlm bfloat16"] = lambda: model16.vision_tower(pixels)
        stage_variants["projector mvlm bfloat16"] = lambda: model16.mm_projector(features16)
    with torch.no_grad():
        torch.testing.assert_close(full_tower(), features)  # truncation changes nothing
        report["image_stages"] = interleaved(stage_variants, repeats=args.repeats)
    report["image_tokens"] = {"mvlm": int(image_tokens.shape[1]), "llava": int(peer.config.image_seq_length)}
    print("image stages done", flush=True)

    # ------------------------------------------------------------------ prompts
    ids = prompt_ids(model, model.config.image_token_index, model.num_image_tokens)
    peer_ids = prompt_ids(model, peer.config.image_token_id, report["image_tokens"]["llava"])
    embeds_of: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for path in paths:
            if id(path.model) not in embeds_of:
                features_here = path.model.encode_images(pixels)
                embeds_of[id(path.model)] = path.model.embed_inputs(ids, image_features=features_here)[0]
    embeds = embeds_of[id(model)]
    report["prompt_positions"] = {"mvlm": int(ids.shape[1]), "llava": int(peer_ids.shape[1])}
    tokens = args.decode_tokens
    common = {"max_new_tokens": tokens, "min_new_tokens": tokens, "do_sample": False, "pad_token_id": 0}

    # ------------------------------------------------------------------ accuracy against float32
    steps = min(tokens, 16)
    sets32.use("float32")
    answer, reference = reference_answer(model, embeds, steps)
    with torch.no_grad():
        full = torch.cat([embeds, model.get_input_embeddings()(torch.tensor([answer]))], dim=1)
        reference_all = model(inputs_embeds=full).logits[0].float()
    report["accuracy"] = {
        path.name: path_accuracy(path, embeds_of[id(path.model)], answer, reference_all, steps)
        for path in paths
        if path.name != "float32"
    }
    for path in paths:
        if path.layers in ("float32", "bfloat16"):
            path.use()
    print(f"accuracy {report['accuracy']}", flush=True)

    # ------------------------------------------------------------------ llama.cpp on the same weights
    report["llamacpp"] = llamacpp_part(model, ids, image_tokens, answer, reference, args, threads)

    # ------------------------------------------------------------------ prefill (language model only)
    def prefill(path: WeightPath) -> Callable[[], Any]:
        def go() -> Any:
            return path.use()(inputs_embeds=embeds_of[id(path.model)], logits_to_keep=1)

        return go

    def peer_prefill() -> Any:
        sets32.use("float32")
        peer_embeds = model.get_input_embeddings()(peer_ids.masked_fill(peer_ids == peer.config.image_token_id, 0))
        return model.model(inputs_embeds=peer_embeds)

    with torch.no_grad():
        report["prefill"] = interleaved(
            {**{f"mvlm {path.name}": prefill(path) for path in paths}, "llava float32": peer_prefill},
            repeats=args.repeats,
        )
    print("prefill done", flush=True)

    # ------------------------------------------------------------------ time to first token, decode
    def mvlm_generate(path: WeightPath, fast: bool) -> Callable[[TokenClock], None]:
        def go(clock: TokenClock) -> None:
            model_here = path.use()
            pixel_input = model_here.image_processor([photo])  # the whole path from the photo
            features_now = model_here.encode_images(pixel_input)
            embeds_now, _ = model_here.embed_inputs(ids, image_features=features_now)
            options = fast_decode_options(model_here, embeds_now.shape[1], tokens) if fast else {}
            model_here.generate(inputs_embeds=embeds_now, streamer=clock, **common, **options)

        return go

    def peer_generate(clock: TokenClock) -> None:
        sets32.use("float32")
        pixel_input = clip_processor(images=photo, return_tensors="pt")["pixel_values"]
        peer.generate(input_ids=peer_ids, pixel_values=pixel_input, streamer=clock, **common)

    prefix = PrefixCache()
    second_ids = prompt_ids(model, model.config.image_token_index, model.num_image_tokens, seed=1)
    second_ids[:, : SYSTEM_TOKENS + 1] = ids[:, : SYSTEM_TOKENS + 1]  # same system prompt, new question

    def prefix_cached(clock: TokenClock) -> None:
        """A second question about the same image: image features and the prefix's KV cache reused."""
        sets32.use("float32")
        for index, question_ids in enumerate((ids, second_ids)):
            if index == 1:
                clock.start = time.perf_counter()
                clock.stamps.clear()
            embeds_now, _ = model.embed_inputs(question_ids, image_features=image_tokens)
            cache = prefix.cache_for(model, embeds_now)
            model.generate(inputs_embeds=embeds_now, cache=cache, streamer=clock if index else None, **common)

    variants: dict[str, Callable[[TokenClock], None]] = {}
    for path in paths:
        variants[f"mvlm {path.name}"] = mvlm_generate(path, False)
        variants[f"mvlm {path.name} fast_decode"] = mvlm_generate(path, True)
    variants["mvlm float32, 2nd question (prefix cache)"] = prefix_cached
    variants["llava float32 (transformers)"] = peer_generate
    with torch.no_grad():
        torch._dynamo.reset()
        compile_first: dict[str, float] = {}
        for path in paths:
            name = f"mvlm {path.name} fast_decode"
            clock = TokenClock()  # the first call compiles this path's step (each path: its own graph)
            variants[name](clock)
            compile_first[name] = time.perf_counter() - clock.start
            print(f"{name}: first call (compiles) {compile_first[name]:.1f} s", flush=True)
        results = generation_runs(variants, repeats=args.repeats, warmup=0)  # every path already ran once
    for name, first_call in compile_first.items():
        results[name]["first_call_s"] = first_call
    report["generation"] = results
    report["path_formats"] = {path.name: path.weight_format for path in paths}
    report["load_average_end"] = os.getloadavg()
    report["peak_rss_gb"] = peak_rss_gb()
    report["targets"] = targets(report)
    return report


def targets(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets as ratios of this run's figures (each with the figures it compares)."""
    bw = report["bandwidth"]["read_gbps"]
    generation = report["generation"]
    llama = report["llamacpp"].get("files", {})
    out: dict[str, Any] = {"decode_vs_floor": {}, "decode_vs_llamacpp": {}}
    for path, fmt_name in report["path_formats"].items():
        floor = bw / (report["decode_bytes_per_token"][path] / 1e9)
        for suffix in ("", " fast_decode"):
            tps = generation[f"mvlm {path}{suffix}"]["decode_tps"].median_s
            out["decode_vs_floor"][f"{path}{suffix}"] = {"tok_s": tps, "floor_tok_s": floor, "ratio": tps / floor}
            peer = PEER_OF[fmt_name]
            if peer in llama:
                peer_tps = llama[peer]["decode_tps"]["median"]
                out["decode_vs_llamacpp"][f"{path}{suffix}"] = {
                    "peer": peer,
                    "tok_s": tps,
                    "peer_tok_s": peer_tps,
                    "ratio": tps / peer_tps,
                }
    ttft = {name: result["first_token"].median_s for name, result in generation.items() if name.startswith("mvlm")}
    ttft.pop("mvlm float32, 2nd question (prefix cache)", None)
    best = min(ttft, key=ttft.__getitem__)
    llava = generation["llava float32 (transformers)"]["first_token"].median_s
    out["time_to_first_token_vs_llava"] = {
        "mvlm_path": best,
        "mvlm_s": ttft[best],
        "llava_s": llava,
        "ratio": ttft[best] / llava,
    }
    prefill = {name: t.median_s for name, t in report["prefill"].items() if name.startswith("mvlm")}
    best_prefill = min(prefill, key=prefill.__getitem__)
    if llama:
        peer_name = min(llama, key=lambda q: llama[q]["prefill_s"]["median"])
        peer_s = llama[peer_name]["prefill_s"]["median"]
        out["prefill_vs_llamacpp"] = {
            "mvlm_path": best_prefill,
            "mvlm_s": prefill[best_prefill],
            "peer": peer_name,
            "peer_s": peer_s,
            "ratio": prefill[best_prefill] / peer_s,
        }
    return out


def render(report: dict[str, Any]) -> str:
    bw = report["bandwidth"]["read_gbps"]
    lines = [
        f"## {report['shape']}{' (quick)' if report['quick'] else ''}: {report['date']}",
        "",
        report["capability_line"],
        "",
        f"default CPU dtype {report['default_cpu_dtype']}, load average {report['load_average_start'][0]:.2f} at "
        f"start / {report['load_average_end'][0]:.2f} at end; medians of {report['repeats']} runs (min-max); "
        f"memory read bandwidth {bw:.1f} GB/s (copy {report['bandwidth']['copy_gbps']:.1f}); peak RSS "
        f"{report['peak_rss_gb']:.1f} GB.",
        "",
        "float32 vs bfloat16 on this CPU: "
        + ", ".join(f"{name} {value:.1f}" for name, value in report["dtype_probe"].items()),
        "",
        markdown_table(["image stage", "seconds"], [[k, fmt(v)] for k, v in report["image_stages"].items()]),
        "",
    ]
    positions = report["prompt_positions"]
    rows = [
        [name, f"{positions['llava' if 'llava' in name else 'mvlm'] / t.median_s:.1f}", fmt(t)]
        for name, t in report["prefill"].items()
    ]
    for quant, result in report["llamacpp"].get("files", {}).items():
        seconds = result["prefill_s"]
        rows.append(
            [
                f"llama.cpp {quant}",
                f"{positions['mvlm'] / seconds['median']:.1f}",
                f"{seconds['median']:.2f} ({seconds['min']:.2f}-{seconds['max']:.2f})",
            ]
        )
    lines += [markdown_table(["prefill (language model)", "positions/s", "seconds"], rows), ""]
    rows = []
    bytes_map = report["decode_bytes_per_token"]
    formats = report["path_formats"]
    for name, result in report["generation"].items():
        path = next((p for p in sorted(formats, key=len, reverse=True) if name.startswith(f"mvlm {p}")), "float32")
        per_token = bytes_map[path]
        tps = result["decode_tps"].median_s
        first_call = result.get("first_call_s")
        rows.append(
            [
                name,
                fmt(result["first_token"]),
                fmt_rate(result["decode_tps"]),
                f"{per_token / 1e9:.2f}",
                f"{per_token * tps / 1e9:.1f}",
                f"{bw / (per_token / 1e9):.1f}",
                "" if first_call is None else f"{first_call:.0f}",
            ]
        )
    for quant, result in report["llamacpp"].get("files", {}).items():
        rate = result["decode_tps"]
        rows.append(
            [
                f"llama.cpp {quant} ({result['bytes'] / 1e9:.2f} GB file)",
                "",
                f"{rate['median']:.2f} ({rate['min']:.2f}-{rate['max']:.2f})",
                "",
                "",
                "",
                "",
            ]
        )
    header = [
        "path",
        "time to first token, s",
        "decode tok/s",
        "GB read/token",
        "effective GB/s",
        "floor tok/s",
        "first call s (compile)",
    ]
    lines += [markdown_table(header, rows), ""]
    rows = [
        [
            name,
            f"{v['all_positions_relative_logit_error']:.4f}",
            f"{v['relative_logit_error']:.4f}",
            f"{v['greedy_agreement']:.3f}",
            v["free_running_equal_tokens"],
        ]
        for name, v in report["accuracy"].items()
    ]
    rows += [
        [
            f"llama.cpp {quant}",
            "",
            f"{r['accuracy']['relative_logit_error']:.4f}",
            f"{r['accuracy']['greedy_agreement']:.3f}",
            "",
        ]
        for quant, r in report["llamacpp"].get("files", {}).items()
    ]
    lines += [
        markdown_table(
            [
                "vs float32 (same weights)",
                "relative logit error, all positions",
                "relative logit error, answer positions",
                "greedy agreement (forced)",
                "free-run equal",
            ],
            rows,
        ),
        "",
    ]
    goal = report["targets"]
    rows = [
        [f"{name} decode / floor", f"{v['tok_s']:.2f} / {v['floor_tok_s']:.2f}", f"{v['ratio']:.2f}"]
        for name, v in goal["decode_vs_floor"].items()
    ]
    rows += [
        [f"{name} decode / llama.cpp {v['peer']}", f"{v['tok_s']:.2f} / {v['peer_tok_s']:.2f}", f"{v['ratio']:.2f}"]
        for name, v in goal["decode_vs_llamacpp"].items()
    ]
    t = goal["time_to_first_token_vs_llava"]
    rows.append(
        [
            f"time to first token: {t['mvlm_path']} / LLaVA",
            f"{t['mvlm_s']:.2f} / {t['llava_s']:.2f}",
            f"{t['ratio']:.2f}",
        ]
    )
    if "prefill_vs_llamacpp" in goal:
        t = goal["prefill_vs_llamacpp"]
        rows.append(
            [
                f"prefill seconds: {t['mvlm_path']} / llama.cpp {t['peer']}",
                f"{t['mvlm_s']:.2f} / {t['peer_s']:.2f}",
                f"{t['ratio']:.2f}",
            ]
        )
    lines += [
        markdown_table(["target", "figures", "ratio"], rows),
        "",
        f"llama.cpp: {report['llamacpp']['status']}",
        f"image tokens: mvlm {report['image_tokens']['mvlm']}, llava {report['image_tokens']['llava']}; "
        f"prompt positions {report['prompt_positions']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-shape", choices=sorted(SHAPES), default="mobilevlm-1.7b")
    parser.add_argument("--quick", action="store_true", help="small language model and tower (a smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: physical cores)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per variant (default 3, quick 2)")
    parser.add_argument("--decode-tokens", type=int, default=None, help="tokens per answer (default 24, quick 8)")
    parser.add_argument("--json", type=Path, default=None, help="output JSON (default results/suite-<shape>.json)")
    parser.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run the bfloat16 paths (default: where the CPU has native bf16)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("MVLM_CACHE", Path.home() / ".cache" / "mvlm")) / "bench",
        help="where the stand-in tokenizer and the GGUF files of the random model are kept",
    )
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (2 if args.quick else 3)
    args.decode_tokens = args.decode_tokens or (8 if args.quick else 24)
    report = run(args)
    text = render(report)
    print(text)
    suffix = "-quick" if args.quick else ""
    path = args.json or RESULTS_DIR / f"suite-{args.model_shape}{suffix}.json"
    report["markdown"] = text
    write_json(path, report)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
