"""``inference_once(args)``: the reference's ``scripts/inference.py`` entry point, on any device.

The reference reads an argument object with ``model_path``, ``image_file``, ``prompt``,
``conv_mode``, ``temperature``, ``top_p``, ``num_beams``, ``max_new_tokens``, ``load_8bit`` and
``load_4bit``, answers once, and prints ``🚀 {model_name}: {answer}``. This does the same with the
same object, and also returns the answer; it runs on the CPU when there is no GPU (the reference
hard-codes CUDA).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from mvlm.errors import ConfigError

__all__ = ["REFERENCE_DEFAULTS", "inference_once", "model_name_from_path"]

REFERENCE_DEFAULTS: dict[str, Any] = {
    "model_path": "mtgv/MobileVLM-1.7B",
    "image_file": None,
    "prompt": None,
    "conv_mode": "v1",
    "temperature": 0.2,
    "top_p": None,
    "num_beams": 1,
    "max_new_tokens": 512,
    "load_8bit": False,
    "load_4bit": False,
    "device": None,
    "dtype": None,
}
"""The reference command line's defaults, used for attributes the argument object lacks (``device``
and ``dtype`` are mvlm's additions: ``None`` picks CUDA/float16 or CPU/float32)."""


def model_name_from_path(model_path: str | os.PathLike[str]) -> str:
    """The name the reference prints: the last path part (``parent_checkpoint-N`` for a ``checkpoint-N`` folder).

    Example:
        >>> model_name_from_path("mtgv/MobileVLM-1.7B"), model_name_from_path("runs/ft/checkpoint-500/")
        ('MobileVLM-1.7B', 'ft_checkpoint-500')
    """
    parts = os.fspath(model_path).strip("/").split("/")
    if parts[-1].startswith("checkpoint-") and len(parts) > 1:
        return f"{parts[-2]}_{parts[-1]}"
    return parts[-1]


def _read_args(args: Any) -> dict[str, Any]:
    if isinstance(args, Mapping):
        return {key: args.get(key, default) for key, default in REFERENCE_DEFAULTS.items()}
    return {key: getattr(args, key, default) for key, default in REFERENCE_DEFAULTS.items()}


def inference_once(args: Any, *, model: Any = None) -> str:
    """Answer ``args.prompt`` about ``args.image_file`` once, as the reference's ``inference_once``.

    Args:
        args: Any object (``argparse.Namespace``, ``types.SimpleNamespace``, the reference's
            ``type('Args', (), {...})()``) or mapping with the reference's attributes; missing ones
            take the reference command line's defaults (:data:`REFERENCE_DEFAULTS`). Optional
            ``device`` / ``dtype`` attributes choose where and how to run. ``image_file`` may be
            ``None`` for a text-only question.
        model: An already loaded model to use instead of loading ``args.model_path``.

    Returns:
        The answer (also printed as ``🚀 {model_name}: {answer}``).

    Raises:
        ConfigError: ``args`` has no prompt, or an invalid option.
        PromptError: The prompt does not fit the image or the context length.
        CheckpointError: The model cannot be loaded.

    Example:
        >>> from types import SimpleNamespace
        >>> args = SimpleNamespace(model_path="mtgv/MobileVLM-1.7B", image_file="assets/samples/demo.jpg",
        ...     prompt="Who is the author of this book?\\nAnswer the question using a single word or phrase.",
        ...     conv_mode="v1", temperature=0, top_p=None, num_beams=1, max_new_tokens=512,
        ...     load_8bit=False, load_4bit=False)
        >>> inference_once(args)  # doctest: +SKIP
        🚀 MobileVLM-1.7B: Susan Wise Bauer
        'Susan Wise Bauer'
    """
    from mvlm.inference.generation import chat
    from mvlm.inference.loading import load_model_for_inference

    options = _read_args(args)
    if not isinstance(options["prompt"], str):
        raise ConfigError(f"inference_once needs args.prompt (a string), got {options['prompt']!r}")
    if model is None:
        model = load_model_for_inference(
            options["model_path"],
            device=options["device"],
            dtype=options["dtype"],
            load_8bit=bool(options["load_8bit"]),
            load_4bit=bool(options["load_4bit"]),
        )
    answer = chat(
        model,
        options["image_file"],
        options["prompt"],
        conv_mode=options["conv_mode"],
        temperature=options["temperature"],
        top_p=options["top_p"],
        num_beams=options["num_beams"],
        max_new_tokens=options["max_new_tokens"],
    )
    print(f"🚀 {model_name_from_path(options['model_path'])}: {answer}")
    return str(answer)
