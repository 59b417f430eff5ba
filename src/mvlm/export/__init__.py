"""On-device export: GGUF for llama.cpp (language model + CLIP mmproj) and ONNX.

Export reads a model and nothing else: every function here takes a loaded :class:`~mvlm.MobileVLM`.
The optional packages are imported by the functions that need them: ``gguf`` (``mvlm[export]``) for
the GGUF writers, ``llama-cpp-python`` (``mvlm[llamacpp]``) for k-quants, ``onnx`` / ``onnxruntime``
for the ONNX export.

* :func:`export_gguf` -- ``ggml-model-<quant>.gguf`` + ``mmproj-model-f16.gguf``;
* :func:`write_language_model_gguf`, :func:`write_mmproj_gguf` -- each file on its own;
* :func:`export_vision_onnx` -- the vision tower + projector as ONNX.

Running the exported files is inference: the llama.cpp runtime (:class:`~mvlm.inference.llamacpp.LlamaCppModel`)
and decode backend (:func:`mvlm.inference.llamacpp_backend.chat`) live in :mod:`mvlm.inference` and use
the writers here; ``mvlm.export.LlamaCppBackend`` / ``mvlm.export.chat`` still resolve there, with a
``DeprecationWarning``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mvlm._lazy import lazy_exports

_LAZY_EXPORTS: dict[str, str] = {
    "QUANT_TYPES": "mvlm.export.gguf",
    "GGUFFiles": "mvlm.export.gguf",
    "export_gguf": "mvlm.export.gguf",
    "write_language_model_gguf": "mvlm.export.gguf_llm",
    "write_mmproj_gguf": "mvlm.export.gguf_mmproj",
    "llamacpp_projector_type": "mvlm.export.gguf_mmproj",
    "quantize_gguf": "mvlm.export.gguf_quantize",
    "export_vision_onnx": "mvlm.export.onnx",
}

__all__ = [
    "QUANT_TYPES",
    "GGUFFiles",
    "export_gguf",
    "export_vision_onnx",
    "llamacpp_projector_type",
    "quantize_gguf",
    "write_language_model_gguf",
    "write_mmproj_gguf",
]

if TYPE_CHECKING:  # pragma: no cover
    from mvlm.export.gguf import QUANT_TYPES, GGUFFiles, export_gguf
    from mvlm.export.gguf_llm import write_language_model_gguf
    from mvlm.export.gguf_mmproj import llamacpp_projector_type, write_mmproj_gguf
    from mvlm.export.gguf_quantize import quantize_gguf
    from mvlm.export.onnx import export_vision_onnx

_MOVED = {"LlamaCppBackend": "mvlm.inference.llamacpp_backend", "chat": "mvlm.inference.llamacpp_backend"}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS, moved=_MOVED)
