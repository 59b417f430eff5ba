"""The ``mvlm`` command: a thin front end over the library's modules.

Each sub-command is a small function that parses its options and delegates; heavy imports happen
inside the function that needs them, so ``mvlm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from mvlm import __version__
from mvlm.errors import MvlmError

__all__ = ["build_parser", "main"]


def _projectors_command(args: argparse.Namespace) -> int:
    """List every registered projector and run each once on random vision features."""
    import torch

    from mvlm.projectors import create_projector, summarize_projectors

    torch.manual_seed(0)
    features = torch.randn(1, args.tokens, args.in_dim)
    header = (
        "projector",
        f"params ({args.in_dim}->{args.out_dim})",
        f"tokens out of {args.tokens}",
        "output shape",
        "from",
    )
    rows = []
    for summary in summarize_projectors(args.in_dim, args.out_dim, args.tokens):
        if summary.parameters is None:
            rows.append((summary.name, "-", "-", "-", f"not at these sizes: {summary.note.split(';')[0]}"))
            continue
        with torch.inference_mode():
            tokens = create_projector(summary.name, args.in_dim, args.out_dim).eval()(features)
        rows.append(
            (
                summary.name,
                f"{summary.parameters:,}",
                str(summary.output_tokens),
                str(list(tokens.shape)),
                summary.paper,
            )
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _synth_data_command(args: argparse.Namespace) -> int:
    """Write a synthetic shapes data set (images + LLaVA records or evaluation questions)."""
    from mvlm.data.synthetic import SyntheticWorld, generate_dataset

    world = SyntheticWorld(args.seed, args.image_size, args.max_shapes, max_turns=args.max_turns)
    files = generate_dataset(args.out, args.samples, split=args.split, stage=args.stage, world=world)
    print(f"wrote {files.num_records} records ({files.num_images} images) to {files.data_file}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mvlm`` command, with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="mvlm", description="Build, train, evaluate and ship MobileVLM-family vision-language models."
    )
    parser.add_argument("--version", action="version", version=f"mvlm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    projectors = commands.add_parser(
        "projectors",
        help="list the registered projectors and run each on random features",
        description="List every registered projector with its parameter count and output token count, "
        "running each once on random vision features of MobileVLM's shape.",
    )
    projectors.add_argument("--in-dim", type=int, default=1024, help="vision feature width (default: 1024, CLIP ViT-L)")
    projectors.add_argument(
        "--out-dim", type=int, default=2048, help="language-model width (default: 2048, MobileLLaMA-1.4B)"
    )
    projectors.add_argument("--tokens", type=int, default=576, help="number of vision tokens (default: 576 = 24x24)")
    projectors.set_defaults(handler=_projectors_command)

    synth = commands.add_parser(
        "synth-data",
        help="write a seeded synthetic shapes data set in LLaVA format",
        description="Write images of coloured shapes with captions (--stage pretrain), question/answer "
        "conversations (--stage finetune) or held-out questions (--stage eval) into --out.",
    )
    synth.add_argument("--out", required=True, help="output folder (also the image folder for training)")
    synth.add_argument("--samples", type=int, required=True, help="number of records (eval: questions)")
    synth.add_argument("--split", choices=("train", "val", "test"), default="train", help="(default: train)")
    synth.add_argument(
        "--stage", choices=("pretrain", "finetune", "eval"), default="finetune", help="(default: %(default)s)"
    )
    synth.add_argument("--seed", type=int, default=0, help="base seed (default: 0)")
    synth.add_argument("--image-size", type=int, default=64, help="image side in pixels (default: 64)")
    synth.add_argument("--max-shapes", type=int, default=3, help="most shapes per image, 1-9 (default: 3)")
    synth.add_argument("--max-turns", type=int, default=3, help="most Q/A turns per finetune record (default: 3)")
    synth.set_defaults(handler=_synth_data_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mvlm`` command; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except MvlmError as error:
        print(f"mvlm {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
