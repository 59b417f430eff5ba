"""The ``mvlm`` command: a thin front end over the library's modules.

Each sub-command is a small function that parses its options and delegates; heavy imports happen
inside the function that needs them, so ``mvlm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from typing import Any, cast

from mvlm._version import __version__
from mvlm.command_runner import run_command

__all__ = ["build_parser", "main", "run_command"]


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


def _add_inference_options(parser: argparse.ArgumentParser, *, prompt: bool) -> None:
    """The model, image and decoding options shared by ``mvlm infer`` (with ``--prompt``) and ``mvlm chat``."""
    from mvlm.inference.command_options import add_generation_options, add_model_options

    add_model_options(parser)
    parser.add_argument(
        "--image",
        action="append",
        metavar="IMG",
        help="image file; repeat for several images (one <image> tag each in the prompt, else they go in front); "
        "leave out for a text-only conversation",
    )
    if prompt:
        parser.add_argument("--prompt", required=True, metavar="TEXT", help="the question or instruction")
        parser.add_argument(
            "--backend",
            choices=("transformers", "llama.cpp"),
            default="transformers",
            help="decoder: transformers (PyTorch, default) or llama.cpp (images still encoded by PyTorch; the "
            "language model is exported to GGUF once, into ~/.cache/mvlm; needs mvlm[llamacpp])",
        )
        parser.add_argument(
            "--quant", default="f16", help="GGUF type of the language model for --backend llama.cpp (default: f16)"
        )
    add_generation_options(parser)
    parser.add_argument("--seed", type=int, default=None, help="random seed, for repeatable sampling")


def _load_inference_model(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    """Check the cheap things first (options, images), then load the model with a progress line."""
    from mvlm.inference.command_options import generation_options_from_args, load_model_from_args
    from mvlm.vision import load_image

    args.generation = generation_options_from_args(args)
    images = [load_image(path) for path in args.image or []]
    model = load_model_from_args(args)
    if args.seed is not None:
        import torch

        torch.manual_seed(args.seed)
    return model, images


def _infer_command(args: argparse.Namespace) -> int:
    """Answer one prompt, printing the answer as it is generated."""
    from mvlm.inference import chat
    from mvlm.inference.console import print_answer

    model, images = _load_inference_model(args)
    answer = chat(
        model,
        images,
        args.prompt,
        **args.generation.as_kwargs(),
        stream=args.generation.num_beams == 1,
        **({"backend": "llama.cpp", "quant": args.quant, "seed": args.seed} if args.backend == "llama.cpp" else {}),
    )
    print_answer(cast("str | Iterator[str]", answer))
    return 0


def _chat_command(args: argparse.Namespace) -> int:
    """A multi-turn conversation on stdin/stdout."""
    from mvlm.inference import ChatSession
    from mvlm.inference.console import run_chat_loop

    model, images = _load_inference_model(args)
    session = ChatSession(model, images, **args.generation.as_kwargs())
    print("type a message and press Enter; 'exit' or end of input (Ctrl-D) ends, '/reset' starts over", file=sys.stderr)
    try:
        return run_chat_loop(session)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


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

    infer = commands.add_parser(
        "infer",
        help="answer one prompt about an image with a MobileVLM checkpoint",
        description="Load a MobileVLM checkpoint and answer --prompt about --image, printing the answer as it is "
        "generated. The prompt goes into the conversation template as the reference does (the image in front "
        "unless the prompt has an <image> tag); decoding is greedy unless --temperature is above 0.",
    )
    _add_inference_options(infer, prompt=True)
    infer.set_defaults(handler=_infer_command)

    chat = commands.add_parser(
        "chat",
        help="talk with a MobileVLM checkpoint about an image, turn by turn, in the terminal",
        description="Load a MobileVLM checkpoint and hold a multi-turn conversation about --image (optional) on "
        "standard input and output: each line is a message, each answer prints as it is generated and joins the "
        "history. Type 'exit' or 'quit' (or end the input) to stop and '/reset' to forget the earlier turns.",
    )
    _add_inference_options(chat, prompt=False)
    chat.set_defaults(handler=_chat_command)
    from mvlm.demo import add_demo_command
    from mvlm.eval.cli import add_eval_commands
    from mvlm.export.cli import add_export_commands
    from mvlm.serve.command import add_serve_command
    from mvlm.train.cli import add_train_commands
    from mvlm.train_lm.cli import add_lm_training_commands

    add_train_commands(commands)
    add_eval_commands(commands)
    from mvlm.inference.verify import add_verify_options

    add_export_commands(commands, after_gguf=_verify_after_export, after_gguf_options=add_verify_options)
    _add_verify_command(commands)
    add_lm_training_commands(commands)
    add_demo_command(commands)
    add_serve_command(commands)
    return parser


def _verify_after_export(args: argparse.Namespace, model: Any, files: Any) -> int:
    from mvlm.inference.verify import verify_after_export

    return verify_after_export(args, model, files)


def _verify_command(args: argparse.Namespace) -> int:
    """Compare language-model GGUF files with the checkpoint they were exported from."""
    import torch

    from mvlm.inference.command_options import load_model_from_args
    from mvlm.inference.verify import verify_files

    model = load_model_from_args(args)
    torch.manual_seed(0)
    return verify_files(args, model, args.against)


def _add_verify_command(commands: Any) -> None:
    from mvlm.inference.command_options import add_model_options
    from mvlm.inference.verify import add_verify_options

    verify = commands.add_parser(
        "verify",
        help="check that an exported GGUF answers as the PyTorch model does (needs llama-cpp-python)",
        description="Run the checkpoint (PyTorch) and each --against language-model GGUF (llama.cpp) on the same "
        "prompts and images: PyTorch answers greedily, both score that answer token by token. Prints token "
        "agreement, the first divergence with PyTorch's top-2 margin there, and the relative logit error; exits 1 "
        "when a file is beyond the limits. The PyTorch reference runs in float32 unless --dtype says otherwise.",
    )
    add_model_options(verify)
    verify.add_argument(
        "--against",
        action="append",
        required=True,
        metavar="GGUF",
        help="a language-model GGUF written from this checkpoint (ggml-model-<quant>.gguf); repeat for several",
    )
    verify.add_argument("--threads", type=int, default=None, help="llama.cpp's CPU threads (default: all)")
    add_verify_options(verify)
    verify.set_defaults(handler=_verify_command, dtype="float32")  # the reference: float32 unless asked


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mvlm`` command; returns the process exit status."""
    return run_command(build_parser(), argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
