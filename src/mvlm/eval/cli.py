"""The ``mvlm eval`` and ``mvlm score`` sub-commands (wired into :mod:`mvlm.cli` by :func:`add_eval_commands`).

``mvlm eval`` loads a checkpoint and runs one benchmark, or every one found under a
``benchmark_data`` root, through :func:`~mvlm.eval.runner.run_benchmark`; ``mvlm score`` scores an
existing answer file without a model. Importing this module loads neither torch nor transformers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from mvlm.errors import ConfigError

__all__ = ["add_eval_commands", "parse_benchmark_options"]

_EVAL_EXAMPLES = """\
examples:
  mvlm eval --model mtgv/MobileVLM_V2-1.7B --benchmark pope --data-dir data/benchmark_data --output results/
  mvlm eval --model mtgv/MobileVLM_V2-1.7B --benchmark all --data-dir data/benchmark_data --output results/
  mvlm eval ... --benchmark gqa --num-chunks 8 --chunk-idx 3     # one of 8 processes (any order, any machine)
  torchrun --nproc-per-node 8 -m mvlm eval ... --benchmark gqa   # the same, rank = chunk index

Rerun the same command to resume an interrupted run: answered questions are skipped. With chunks,
the last chunk to finish merges <output>/<benchmark>/chunks/ into answers.jsonl and scores it.
Outputs: <output>/<benchmark>/answers.jsonl and metrics.json, <output>/results.md (README table) and
<output>/metrics.json.
"""

_SCORE_EXAMPLES = """\
examples:
  mvlm score --benchmark textvqa --answers results/textvqa/answers.jsonl --data-dir data/benchmark_data
  mvlm score --benchmark mme --answers answers.jsonl --data-dir data/benchmark_data/mme --output results/
"""


def parse_benchmark_options(items: Sequence[str] | None, benchmarks: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``KEY=VALUE`` / ``NAME:KEY=VALUE`` strings -> options per benchmark name.

    A value is read as JSON when it parses (``true``, ``3``) and as a string otherwise. Without
    ``NAME:``, the option goes to the one selected benchmark.

    Args:
        items: The ``--benchmark-option`` values.
        benchmarks: The selected benchmark names.

    Raises:
        ConfigError: A malformed item, or an unprefixed one with several benchmarks selected.

    Example:
        >>> parse_benchmark_options(["circular=true", "matcher=llava"], ["mmbench"])
        {'mmbench': {'circular': True, 'matcher': 'llava'}}
    """
    options: dict[str, dict[str, Any]] = {}
    for item in items or []:
        key, equals, raw = item.partition("=")
        if not equals or not key.strip():
            raise ConfigError(f"--benchmark-option {item!r}: expected KEY=VALUE or BENCHMARK:KEY=VALUE")
        name, colon, key = key.rpartition(":")
        if not colon:
            if len(benchmarks) != 1:
                raise ConfigError(
                    f"--benchmark-option {item!r}: with several benchmarks, say which one: BENCHMARK:{item}"
                )
            name = benchmarks[0]
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options.setdefault(name.strip(), {})[key.strip()] = value
    return options


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    from mvlm.inference.command_options import add_model_options

    add_model_options(
        parser,
        device_help="cpu, cuda, cuda:N, mps or auto (default: auto = CUDA if available, else CPU; under torchrun, "
        "auto = the GPU of LOCAL_RANK)",
    )
    parser.add_argument(
        "--model-id",
        metavar="NAME",
        help="model_id written into every answer record and used as the table row (default: the checkpoint "
        "folder's name, as the reference; a checkpoint-N folder is <parent>_checkpoint-N)",
    )


def _add_benchmark_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--benchmark-option",
        action="append",
        metavar="[NAME:]KEY=VALUE",
        help="an option of the benchmark plugin, value read as JSON if it parses: circular=true (MMBench circular "
        "evaluation), matcher=vlmevalkit or matcher=llava (MMBench letter matching; default: MMBench's own evaluator), "
        "split=val (synthetic); repeat for several; "
        "with --benchmark all prefix the benchmark: mmbench:circular=true",
    )


def add_eval_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``eval`` and ``score`` to the ``mvlm`` command's sub-parsers.

    Args:
        commands: The object ``argparse.ArgumentParser.add_subparsers`` returned; each command sets
            ``handler`` (a function of the parsed arguments returning the exit status).
    """
    from mvlm.eval.benchmarks import list_benchmarks

    names = ", ".join(list_benchmarks())
    run = commands.add_parser(
        "eval",
        help="evaluate a checkpoint on GQA, ScienceQA-IMG, TextVQA, POPE, MME, MMBench (or all) as the reference",
        description="Answer a benchmark's questions with a MobileVLM checkpoint exactly as MobileVLM's evaluation "
        "scripts do (v1 template, greedy decoding, the reference's max_new_tokens), appending the answer records "
        "to <output>/<benchmark>/answers.jsonl as they are generated, then score them with the official rules "
        "and write metrics.json and the README table results.md. Bad input (a malformed line, a missing image, "
        "a question without ground truth) is reported with its file and line and counted.",
        epilog=_EVAL_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_model_options(run)
    run.add_argument(
        "--benchmark",
        required=True,
        metavar="NAME|all",
        help=f"the benchmark ({names}), or all: every benchmark found under --data-dir, one table",
    )
    run.add_argument(
        "--data-dir",
        required=True,
        metavar="DIR",
        help="the benchmark_data root laid out as the MobileVLM README shows (or one benchmark's folder)",
    )
    run.add_argument(
        "--output", required=True, metavar="DIR", help="output folder: <DIR>/<benchmark>/answers.jsonl, results.md..."
    )
    run.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="questions generated together, left-padded (default: 8; the answers equal one-at-a-time answers)",
    )
    run.add_argument(
        "--num-chunks",
        type=int,
        default=None,
        help="split the questions into this many chunks of ceil(n/K), one per process, as the reference's "
        "--num-chunks (default: 1, or WORLD_SIZE under torchrun)",
    )
    run.add_argument(
        "--chunk-idx",
        type=int,
        default=None,
        help="the chunk this process answers, 0..K-1 (default: 0, or RANK under torchrun)",
    )
    run.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="ask only the first N questions of each benchmark (a quick check; numbers not comparable)",
    )
    run.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        metavar="N",
        help="cap every answer at N tokens instead of the reference's 128 (1024 for MMBench and ScienceQA); "
        "for quick checks only",
    )
    _add_benchmark_option(run)
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="start over: delete this run's earlier answers (and the merged answers and metrics) instead of "
        "resuming from them",
    )
    run.add_argument("--no-progress", action="store_true", help="do not show the progress bar (rate and ETA)")
    run.set_defaults(handler=_eval_command)

    score = commands.add_parser(
        "score",
        help="score an answer file (no model): the official metrics, counts and problems",
        description="Score an answer file in the reference's JSON Lines format against a benchmark's ground truth "
        "with the official rules, and print the headline, how many questions were scored and every problem "
        "(file and line). Needs the benchmark's files but not its images, and no model.",
        epilog=_SCORE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    score.add_argument("--benchmark", required=True, metavar="NAME", help=f"the benchmark ({names})")
    score.add_argument("--answers", required=True, metavar="FILE", help="the answer records (.jsonl)")
    score.add_argument(
        "--data-dir", required=True, metavar="DIR", help="the benchmark's folder or the benchmark_data root"
    )
    score.add_argument(
        "--output",
        metavar="DIR",
        help="also write <DIR>/<benchmark>/metrics.json and rebuild <DIR>/results.md and <DIR>/metrics.json",
    )
    score.add_argument("--model-id", metavar="NAME", help="the table row's name (default: the records' model_id)")
    _add_benchmark_option(score)
    score.add_argument("--json", action="store_true", help="print the whole report as JSON instead of a summary")
    score.set_defaults(handler=_score_command)


def _chunking(args: argparse.Namespace) -> tuple[int, int, Any]:
    """``(num_chunks, chunk_idx, torchrun context)`` from the options or the torchrun environment."""
    from mvlm.eval.sharding import distributed_context

    context = distributed_context()
    if context is not None:
        if args.num_chunks is not None or args.chunk_idx is not None:
            raise ConfigError(
                f"running under torchrun (WORLD_SIZE={context.world_size}): the ranks are the chunks; "
                "drop --num-chunks / --chunk-idx, or run without torchrun"
            )
        return context.world_size, context.rank, context
    num_chunks = 1 if args.num_chunks is None else args.num_chunks
    chunk_idx = 0 if args.chunk_idx is None else args.chunk_idx
    if num_chunks < 1 or not 0 <= chunk_idx < num_chunks:
        raise ConfigError(f"--chunk-idx must be in 0..{num_chunks - 1} with --num-chunks {num_chunks}, got {chunk_idx}")
    return num_chunks, chunk_idx, None


def _eval_command(args: argparse.Namespace) -> int:
    """Load the model once and run the selected benchmarks into one output folder."""
    from mvlm.eval.benchmarks import get_benchmark
    from mvlm.eval.results import RESULTS_FILE
    from mvlm.eval.runner import find_benchmarks, run_benchmark

    num_chunks, chunk_idx, context = _chunking(args)
    found = find_benchmarks(args.data_dir) if args.benchmark == "all" else None
    names = [args.benchmark] if found is None else [bench.name for bench in found]
    options = parse_benchmark_options(args.benchmark_option, names)
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ConfigError(f"--benchmark-option names {', '.join(unknown)}, which is not run here ({', '.join(names)})")
    benches = [get_benchmark(name, **options.get(name, {})) for name in names]
    for bench in benches:  # cheap checks before the model loads
        bench.resolve_data_dir(args.data_dir)
    model, model_id = _load_model(args, context)
    show = not args.no_progress and (context is None or context.rank == 0)
    scored = False
    for bench in benches:
        result = run_benchmark(
            model,
            bench,
            args.data_dir,
            args.output,
            batch_size=args.batch_size,
            num_chunks=num_chunks,
            chunk_idx=chunk_idx,
            model_id=model_id,
            limit=args.limit,
            max_new_tokens=args.max_new_tokens,
            overwrite=args.overwrite,
            progress=show,
        )
        print(result.describe(), file=sys.stderr)
        if result.metrics_file is not None:
            print(f"  -> {result.metrics_file}", file=sys.stderr)
        scored = scored or result.complete
    if scored:
        from pathlib import Path

        print((Path(args.output) / RESULTS_FILE).read_text(encoding="utf-8"), end="")
    return 0


def _load_model(args: argparse.Namespace, context: Any) -> tuple[Any, str]:
    from mvlm.inference import model_name_from_path
    from mvlm.inference.command_options import load_model_from_args

    device = args.device
    if device == "auto" and context is not None:
        import torch

        if torch.cuda.is_available():
            device = f"cuda:{context.local_rank}"
    return load_model_from_args(args, device=device), args.model_id or model_name_from_path(args.model)


def _score_command(args: argparse.Namespace) -> int:
    """Score an answer file and print (and optionally write) the report."""
    from mvlm.eval.benchmarks import get_benchmark
    from mvlm.eval.records import load_answers
    from mvlm.eval.results import RESULTS_FILE, describe_report, write_report, write_summary

    options = parse_benchmark_options(args.benchmark_option, [args.benchmark])
    bench = get_benchmark(args.benchmark, **options.get(args.benchmark, {}))
    report = bench.score(args.answers, args.data_dir)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(describe_report(report, max_problems=20))
    if args.output:
        path = write_report(args.output, report)
        records = load_answers(args.answers).records
        _, table = write_summary(args.output, args.model_id or (records[0].model_id if records else None))
        print(f"wrote {path} and {table.parent / RESULTS_FILE}", file=sys.stderr)
    return 0
