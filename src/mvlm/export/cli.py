"""The ``mvlm export`` command: ``mvlm export gguf`` (llama.cpp) and ``mvlm export onnx`` (vision part).

``mvlm.cli`` adds it with one line, ``add_export_commands(commands, after_gguf=...)``; nothing heavy is
imported until a sub-command runs. ``after_gguf`` (given by ``mvlm.cli``: the export check of
:mod:`mvlm.inference.verify`) runs after ``export gguf --verify`` wrote the files; export itself only writes.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import Any

AfterExport = Callable[[argparse.Namespace, Any, Any], int]
"""``(parsed options, the model, the written GGUFFiles) -> exit status``."""

__all__ = ["add_export_commands"]


def _load_model(name_or_path: str) -> Any:
    from mvlm.model import MobileVLM

    # The tower's weights are the checkpoint's own copy, never a separate CLIP download.
    return MobileVLM.from_pretrained(name_or_path, vision_weights="checkpoint")


def _gguf_command(args: argparse.Namespace, after: AfterExport | None = None) -> int:
    from mvlm.export.gguf import export_gguf

    model = _load_model(args.model)
    files = export_gguf(
        model,
        args.output,
        quant=args.quant,
        mmproj_storage=args.mmproj_type,
        tokenizer_model=args.tokenizer_model,
        threads=args.threads,
    )
    print(f"language model ({files.quant}): {files.language_model}")
    print(f"mmproj (CLIP + {files.projector_type} projector): {files.mmproj}")
    if after is not None and getattr(args, "verify", False):
        return after(args, model, files)
    return 0


def _onnx_command(args: argparse.Namespace) -> int:
    from mvlm.export.onnx import export_vision_onnx

    model = _load_model(args.model)
    path = export_vision_onnx(model, args.output, check=not args.no_check)
    print(f"vision tower + projector: {path}")
    return 0


def add_export_commands(
    commands: Any,
    *,
    after_gguf: AfterExport | None = None,
    after_gguf_options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """Add ``export gguf`` and ``export onnx`` to the ``mvlm`` command's sub-parsers.

    Args:
        commands: The object ``argparse.ArgumentParser.add_subparsers`` returned.
        after_gguf: Run after ``export gguf --verify`` wrote the files (adds ``--verify``); its return
            value is the exit status.
        after_gguf_options: Adds the options ``after_gguf`` reads to the ``export gguf`` parser.
    """
    from mvlm.export.gguf_llm import LANGUAGE_MODEL_STORAGES
    from mvlm.export.gguf_quantize import LLAMACPP_QUANTS

    export = commands.add_parser(
        "export",
        help="write a model for on-device runtimes (llama.cpp GGUF, ONNX)",
        description="Write a MobileVLM checkpoint in the formats on-device runtimes load.",
    )
    formats = export.add_subparsers(dest="export_format", metavar="FORMAT", required=True)

    gguf = formats.add_parser(
        "gguf",
        help="llama.cpp: ggml-model-<quant>.gguf + mmproj-model-f16.gguf",
        description="Write the language model as a llama-architecture GGUF (with its SentencePiece vocabulary) "
        "and the vision tower (the checkpoint's own weights) + projector as a CLIP mmproj GGUF, the two files "
        "llama.cpp's multimodal tools load. f32/f16/bf16/q8_0 are written by mvlm; the other types are made by "
        "llama.cpp's quantizer (needs llama-cpp-python).",
    )
    gguf.add_argument("--model", required=True, help="checkpoint folder or hub id (e.g. mtgv/MobileVLM_V2-1.7B)")
    gguf.add_argument("--output", required=True, help="output folder")
    gguf.add_argument(
        "--quant",
        default="q4_k_s",
        choices=[*LANGUAGE_MODEL_STORAGES, *LLAMACPP_QUANTS],
        metavar="QUANT",
        help="language-model type: f32, f16, bf16, q8_0 (mvlm) or q4_k_s, q4_k_m, q5_k_m, q6_k, q4_0... "
        "(llama.cpp's quantizer) (default: %(default)s)",
    )
    gguf.add_argument("--mmproj-type", choices=("f16", "f32"), default="f16", help="mmproj storage (default: f16)")
    gguf.add_argument(
        "--tokenizer-model", default=None, help="SentencePiece tokenizer.model (default: the checkpoint's)"
    )
    gguf.add_argument("--threads", type=int, default=None, help="threads for llama.cpp's quantizer (default: all)")
    if after_gguf is not None:
        gguf.add_argument(
            "--verify",
            action="store_true",
            help="then run the written language model in llama.cpp beside the PyTorch model on the same prompts "
            "and report token agreement, first divergence and relative logit error; exit 1 beyond the limits "
            "(needs llama-cpp-python)",
        )
        if after_gguf_options is not None:
            after_gguf_options(gguf)
    gguf.set_defaults(handler=functools.partial(_gguf_command, after=after_gguf))

    onnx = formats.add_parser(
        "onnx",
        help="ONNX: vision tower + projector (pixels -> image embeddings)",
        description="Export the vision tower and projector with torch.export to ONNX "
        "([1, 3, S, S] pixels -> [1, M, hidden] image embeddings), checked with ONNX Runtime when installed.",
    )
    onnx.add_argument("--model", required=True, help="checkpoint folder or hub id")
    onnx.add_argument("--output", required=True, help="the .onnx file to write")
    onnx.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime comparison with PyTorch")
    onnx.set_defaults(handler=_onnx_command)
