"""MobileVLM -> the two GGUF files llama.cpp runs: the language model and the CLIP "mmproj".

One call replaces llama.cpp's four-step conversion (``llava_surgery.py``,
``convert_image_encoder_to_gguf.py``, ``convert_legacy_llama.py --skip-unknown``, ``llama-quantize``)::

    from mvlm import MobileVLM
    from mvlm.export import export_gguf

    model = MobileVLM.from_pretrained("mtgv/MobileVLM_V2-1.7B")
    files = export_gguf(model, "out/", quant="q4_k_s")
    # out/ggml-model-q4_k_s.gguf   out/mmproj-model-f16.gguf

or, from the shell, ``mvlm export gguf --model mtgv/MobileVLM_V2-1.7B --output out/ --quant q4_k_s``.

Which code encodes each type (:data:`QUANT_TYPES`):

* ``f32``, ``f16``: numpy casts, written by mvlm (:mod:`mvlm.export.gguf_llm`);
* ``bf16``, ``q8_0``: the ``gguf`` package's quantizer, written by mvlm;
* ``q4_k_s``, ``q4_k_m``, ``q5_k_s``, ``q5_k_m``, ``q6_k``, ``q3_k_*``, ``q2_k``, ``q4_0``, ``q4_1``,
  ``q5_0``, ``q5_1``: llama.cpp's quantizer (``llama_model_quantize`` through llama-cpp-python) on an
  ``f32`` file mvlm writes first (:mod:`mvlm.export.gguf_quantize`).

The mmproj file is ``f16`` (:mod:`mvlm.export.gguf_mmproj`), as llama.cpp's own converter writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mvlm.errors import ConfigError
from mvlm.export.gguf_llm import LANGUAGE_MODEL_STORAGES, write_language_model_gguf
from mvlm.export.gguf_mmproj import llamacpp_projector_type, write_mmproj_gguf
from mvlm.export.gguf_quantize import LLAMACPP_QUANTS, import_llama_cpp, quantize_gguf
from mvlm.export.gguf_tensors import import_gguf

__all__ = ["QUANT_TYPES", "GGUFFiles", "export_gguf", "export_language_model", "gguf_file_names"]

QUANT_TYPES: dict[str, str] = {
    **dict.fromkeys(LANGUAGE_MODEL_STORAGES, "gguf"),
    **dict.fromkeys(LLAMACPP_QUANTS, "llama.cpp"),
}
"""Every ``quant`` :func:`export_gguf` takes -> who encodes it: ``"gguf"`` (mvlm with the ``gguf`` package)
or ``"llama.cpp"`` (llama.cpp's quantizer, needs llama-cpp-python)."""


@dataclass(frozen=True)
class GGUFFiles:
    """The files of one GGUF export.

    Attributes:
        language_model: The ``llama`` GGUF (``ggml-model-<quant>.gguf``).
        mmproj: The CLIP mmproj GGUF (``mmproj-model-f16.gguf``).
        quant: The language model's quantization type.
        projector_type: llama.cpp's name of the projector (``ldp``, ``ldpv2``, ``mlp``).
    """

    language_model: Path
    mmproj: Path
    quant: str
    projector_type: str


def gguf_file_names(quant: str, mmproj_storage: str = "f16") -> tuple[str, str]:
    """The file names llama.cpp's MobileVLM guide uses: ``ggml-model-<quant>.gguf``, ``mmproj-model-f16.gguf``."""
    return f"ggml-model-{quant}.gguf", f"mmproj-model-{mmproj_storage}.gguf"


def export_language_model(
    model: Any,
    path: str | Path,
    *,
    quant: str = "q4_k_s",
    tokenizer_model: str | Path | None = None,
    threads: int | None = None,
) -> Path:
    """Write the language model alone as a ``llama`` GGUF of type ``quant`` (see :data:`QUANT_TYPES`).

    ``f32`` / ``f16`` / ``bf16`` / ``q8_0`` are written directly; the other types are written as ``f32``
    beside ``path`` first (a hidden file, removed afterwards) and quantized by llama.cpp.

    Raises:
        ConfigError: Unknown ``quant`` or a language model llama.cpp's ``llama`` architecture cannot hold.
        MissingDependencyError: ``gguf`` or (llama.cpp types) llama-cpp-python is not installed.
    """
    if quant not in QUANT_TYPES:
        raise ConfigError(f"quant must be one of {sorted(QUANT_TYPES)}, got {quant!r}")
    path = Path(path)
    if QUANT_TYPES[quant] == "gguf":
        return write_language_model_gguf(model, path, storage=quant, tokenizer_model=tokenizer_model)
    import_llama_cpp()
    source = path.with_name(f".{path.name}.f32-source.gguf")
    try:
        write_language_model_gguf(model, source, storage="f32", tokenizer_model=tokenizer_model)
        return quantize_gguf(source, path, quant, threads=threads)
    finally:
        source.unlink(missing_ok=True)


def export_gguf(
    model: Any,
    output_dir: str | Path,
    *,
    quant: str = "q4_k_s",
    mmproj_storage: str = "f16",
    tokenizer_model: str | Path | None = None,
    threads: int | None = None,
) -> GGUFFiles:
    """Write a MobileVLM as llama.cpp's two GGUF files: the language model and the CLIP mmproj.

    The projector is checked first, so a model llama.cpp cannot run fails before anything is written.
    Each file is written under a temporary name and renamed when complete.

    Args:
        model: A :class:`~mvlm.MobileVLM` (LLaMA-style language model, CLIP tower, ``ldpnet`` /
            ``ldpnetv2`` / ``mlp2x_gelu`` projector).
        output_dir: The folder to write into (created).
        quant: The language model's type, one of :data:`QUANT_TYPES`.
        mmproj_storage: ``f16`` (default) or ``f32``.
        tokenizer_model: The SentencePiece ``tokenizer.model``; found beside the checkpoint by default.
        threads: Threads for llama.cpp's quantizer.

    Returns:
        The :class:`GGUFFiles` written.

    Raises:
        ConfigError: Unknown ``quant``, or a model llama.cpp cannot run (the message names the part).
        MissingDependencyError: ``gguf`` (``mvlm[export]``) or, for llama.cpp types, llama-cpp-python
            (``mvlm[llamacpp]``) is not installed.

    Example:
        >>> files = export_gguf(model, "out", quant="q8_0")  # doctest: +SKIP
        >>> files.language_model.name, files.mmproj.name  # doctest: +SKIP
        ('ggml-model-q8_0.gguf', 'mmproj-model-f16.gguf')
    """
    if quant not in QUANT_TYPES:
        raise ConfigError(f"quant must be one of {sorted(QUANT_TYPES)}, got {quant!r}")
    import_gguf()
    projector_type = llamacpp_projector_type(model)
    if QUANT_TYPES[quant] == "llama.cpp":
        import_llama_cpp()  # fail before writing anything
    output_dir = Path(output_dir)
    lm_name, mmproj_name = gguf_file_names(quant, mmproj_storage)
    language_model = export_language_model(
        model, output_dir / lm_name, quant=quant, tokenizer_model=tokenizer_model, threads=threads
    )
    mmproj = write_mmproj_gguf(model, output_dir / mmproj_name, storage=mmproj_storage)
    return GGUFFiles(language_model, mmproj, quant, projector_type)
