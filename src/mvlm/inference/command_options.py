"""Command-line options of every command that loads a model to answer: the checkpoint, device, dtype, bits
and the decoding options.

``mvlm infer``, ``mvlm chat`` and ``mvlm eval run`` add them with :func:`add_model_options` and
:func:`add_generation_options` and read them back with :func:`load_model_from_args` and
:func:`generation_options_from_args`, so the options, their help and their checks exist once.
"""

from __future__ import annotations

import argparse
from typing import Any

from mvlm.inference.options import GenerationOptions

__all__ = [
    "add_generation_options",
    "add_model_options",
    "generation_options_from_args",
    "load_model_from_args",
]

_DEVICE_HELP = "cpu, cuda, cuda:N, mps or auto (default: auto = CUDA if available, else CPU)"


def add_model_options(parser: argparse.ArgumentParser, *, device_help: str = _DEVICE_HELP) -> None:
    """``--model``, ``--device``, ``--dtype`` and ``--load-8bit`` / ``--load-4bit``."""
    parser.add_argument(
        "--model",
        required=True,
        metavar="PATH_OR_HUB_ID",
        help="checkpoint folder or hub id, e.g. mtgv/MobileVLM_V2-1.7B (hub ids download unless cached)",
    )
    parser.add_argument("--device", default="auto", help=device_help)
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=("auto", "float32", "float16", "bfloat16"),
        help=(
            "weights and activations dtype (default: auto = float16 on CUDA, as the reference; on CPU bfloat16 "
            "where it has native bf16 (AVX-512 BF16 or AMX), else float32; float32 elsewhere)"
        ),
    )
    bits = parser.add_mutually_exclusive_group()
    bits.add_argument(
        "--load-8bit",
        action="store_true",
        help="8-bit language-model weights: bitsandbytes on CUDA, mvlm's weight-only int8 on CPU",
    )
    bits.add_argument(
        "--load-4bit",
        action="store_true",
        help="4-bit language-model weights: NF4 (bitsandbytes) on CUDA, mvlm's group-wise int4 on CPU",
    )


def add_generation_options(parser: argparse.ArgumentParser) -> None:
    """``--conv-mode``, ``--temperature``, ``--top-p``, ``--num-beams``, ``--max-new-tokens``: the fields of
    :class:`~mvlm.inference.options.GenerationOptions`."""
    defaults = GenerationOptions()
    parser.add_argument(
        "--conv-mode",
        default=defaults.conv_mode,
        metavar="NAME",
        help="conversation template: v1 (default; every released MobileVLM), plain, default, llama_2, "
        "llava_llama_2, or one registered with mvlm.prompting.register_conversation",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=defaults.temperature,
        help="0 decodes greedily (default); above 0 samples with it",
    )
    parser.add_argument(
        "--top-p",
        type=float,
        default=defaults.top_p,
        help="nucleus sampling: keep the most likely tokens up to this mass, in (0, 1]",
    )
    parser.add_argument(
        "--num-beams",
        type=int,
        default=defaults.num_beams,
        help="beam search width (default: 1, none; with beams the answer prints at the end)",
    )
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=defaults.max_new_tokens,
        help=f"most tokens per answer (default: {defaults.max_new_tokens}; fewer if the context length runs out)",
    )


def generation_options_from_args(args: argparse.Namespace) -> GenerationOptions:
    """The :class:`~mvlm.inference.options.GenerationOptions` the parsed options name.

    Raises:
        ConfigError: An invalid option (negative temperature...).
        UnknownNameError: ``--conv-mode`` names no template.
    """
    return GenerationOptions(**{name: getattr(args, name) for name in GenerationOptions.names()})


def load_model_from_args(args: argparse.Namespace, *, device: str | None = None) -> Any:
    """Load ``args.model`` as the options say, with a progress line on stderr (``loading M on cpu (float32)``).

    Args:
        args: Parsed options of :func:`add_model_options`.
        device: A device that replaces ``args.device`` (a launcher's choice, e.g. the rank's GPU).

    Raises:
        ConfigError: An unknown device or dtype.
        CheckpointError: The checkpoint cannot be loaded.
    """
    from mvlm.inference.console import LoadingIndicator
    from mvlm.inference.loading import load_model_for_inference, resolve_device, resolve_dtype

    resolved = resolve_device(args.device if device is None else device)
    dtype = resolve_dtype(args.dtype, resolved)
    bits = ", 8-bit" if args.load_8bit else ", 4-bit" if args.load_4bit else ""
    with LoadingIndicator(f"loading {args.model} on {resolved} ({str(dtype).removeprefix('torch.')}{bits})"):
        return load_model_for_inference(
            args.model, device=resolved, dtype=dtype, load_8bit=args.load_8bit, load_4bit=args.load_4bit
        )
