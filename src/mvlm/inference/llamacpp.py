"""A small driver for llama.cpp through llama-cpp-python's C API: one sequence, tokens or embeddings in, logits out.

llama-cpp-python's high-level ``Llama`` class takes token ids only; MobileVLM needs to put 144 image
embeddings at the image position, which the C API allows (a ``llama_batch`` carries either token ids or
embedding vectors). :class:`LlamaCppModel` keeps one sequence and its KV cache::

    lm = LlamaCppModel("out/ggml-model-f16.gguf")
    lm.feed_tokens([1, 319, 13566, 29901])        # text before the image, with BOS
    lm.feed_embeddings(image_embeddings)           # [144, hidden] float32
    logits = lm.feed_tokens(ids_after_image)       # [vocab]: the next-token logits

:func:`encode_image_with_mmproj` runs llama.cpp's own CLIP (the mmproj file) on an image, for checks;
its results are affected by llama.cpp's CLS-order bug (see :mod:`mvlm.export.gguf_mmproj`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mvlm.errors import ConfigError, MvlmError, ShapeError
from mvlm.export.gguf_quantize import import_llama_cpp

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["LlamaCppModel", "encode_image_with_mmproj"]

_KV_TYPES = {"f32": "GGML_TYPE_F32", "f16": "GGML_TYPE_F16", "q8_0": "GGML_TYPE_Q8_0"}


def _quiet(verbose: bool, *, mtmd: Any = None) -> None:
    """Route llama.cpp's (and mtmd's) log through llama-cpp-python's logger: errors only unless ``verbose``."""
    try:
        from llama_cpp._logger import llama_log_callback, set_verbose
    except ImportError:  # pragma: no cover - logger layout of other llama-cpp-python versions
        return
    set_verbose(verbose)
    if mtmd is not None:
        mtmd.mtmd_log_set(llama_log_callback, ctypes.c_void_p(0))
        mtmd.mtmd_helper_log_set(llama_log_callback, ctypes.c_void_p(0))


class LlamaCppModel:
    """A llama.cpp language model (a GGUF file) with one sequence and its KV cache.

    Args:
        path: The language-model GGUF file.
        context_length: Positions in the KV cache (default: the model's training context).
        threads: CPU threads (default: all cores).
        batch_size: Most positions decoded in one call (longer inputs are split).
        kv_cache_type: Storage of the KV cache: ``f16`` (llama.cpp's default), ``f32`` (exact, for
            ``f32`` files), ``q8_0``.
        flash_attention: ``None`` lets llama.cpp decide (it enables flash attention on CPU, which
            rounds queries and keys to f16: about 1e-3 of the largest logit); ``False`` keeps attention
            in f32 (with an ``f32`` file and cache, llama.cpp then matches PyTorch to ~1e-6).
        verbose: Let llama.cpp print its log.

    Raises:
        MissingDependencyError: llama-cpp-python is not installed.
        MvlmError: llama.cpp could not load the file or create a context.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        context_length: int | None = None,
        threads: int | None = None,
        batch_size: int = 512,
        kv_cache_type: str = "f16",
        flash_attention: bool | None = None,
        verbose: bool = False,
    ) -> None:
        if kv_cache_type not in _KV_TYPES:
            raise ConfigError(f"kv_cache_type must be one of {sorted(_KV_TYPES)}, got {kv_cache_type!r}")
        self._llama = import_llama_cpp()
        _quiet(verbose)
        lib = self._llama
        lib.llama_backend_init()
        self.path = Path(path)
        model_params = lib.llama_model_default_params()
        model_params.n_gpu_layers = 0
        self.model = lib.llama_model_load_from_file(str(self.path).encode(), model_params)
        if not self.model:
            raise MvlmError(f"llama.cpp could not load the language model {self.path}")
        self.vocab = lib.llama_model_get_vocab(self.model)
        self.n_vocab = int(lib.llama_vocab_n_tokens(self.vocab))
        self.n_embd = int(lib.llama_model_n_embd(self.model))
        self.threads = threads or os.cpu_count() or 1
        self.batch_size = batch_size
        context_params = lib.llama_context_default_params()
        context_params.n_ctx = context_length or int(lib.llama_model_n_ctx_train(self.model))
        context_params.n_batch = batch_size
        context_params.n_ubatch = batch_size
        context_params.n_threads = self.threads
        context_params.n_threads_batch = self.threads
        context_params.type_k = context_params.type_v = getattr(lib, _KV_TYPES[kv_cache_type])
        if flash_attention is not None:
            context_params.flash_attn_type = (
                lib.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attention else lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
            )
        self.ctx = lib.llama_init_from_model(self.model, context_params)
        if not self.ctx:
            lib.llama_model_free(self.model)
            self.model = None
            raise MvlmError(f"llama.cpp could not create a context for {self.path}")
        self.context_length = int(lib.llama_n_ctx(self.ctx))
        self.eos_token_id = int(lib.llama_vocab_eos(self.vocab))
        self.n_past = 0

    # ----------------------------------------------------------------------------- tokens
    def tokenize(self, text: str, *, add_bos: bool = True, parse_special: bool = False) -> list[int]:
        """llama.cpp's own tokenization of ``text``; ``parse_special`` reads ``</s>`` in the text as the special id."""
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buffer = (self._llama.llama_token * capacity)()
        count = self._llama.llama_tokenize(self.vocab, data, len(data), buffer, capacity, add_bos, parse_special)
        if count < 0:
            raise MvlmError(f"llama.cpp's tokenizer needed {-count} ids for {len(data)} bytes")
        return list(buffer[:count])

    def is_end_of_generation(self, token_id: int) -> bool:
        """Whether llama.cpp treats ``token_id`` as an end of generation (EOS, EOT...)."""
        return bool(self._llama.llama_vocab_is_eog(self.vocab, token_id))

    # ----------------------------------------------------------------------------- decoding
    def reset(self) -> None:
        """Forget the sequence (clears the KV cache)."""
        self._llama.llama_memory_clear(self._llama.llama_get_memory(self.ctx), True)
        self.n_past = 0

    def _check_room(self, count: int) -> None:
        if self.n_past + count > self.context_length:
            raise ShapeError(
                f"{self.n_past} positions are used and {count} more do not fit llama.cpp's context of "
                f"{self.context_length}; shorten the prompt or raise context_length"
            )

    def _decode(self, batch: Any, count: int) -> None:
        status = self._llama.llama_decode(self.ctx, batch)
        if status != 0:
            raise MvlmError(f"llama.cpp could not decode {count} positions (llama_decode returned {status})")
        self.n_past += count

    def _fill_positions(self, batch: Any, count: int) -> None:
        batch.n_tokens = count
        for i in range(count):
            batch.pos[i] = self.n_past + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = i == count - 1

    def last_logits(self) -> np.ndarray:
        """The next-token logits after the last position fed: ``[vocab]`` float32 (a copy)."""
        import numpy as np

        pointer = self._llama.llama_get_logits_ith(self.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()

    def feed_tokens(self, ids: Sequence[int]) -> np.ndarray:
        """Decode token ids at the next positions; returns the next-token logits ``[vocab]``."""
        ids = [int(i) for i in ids]
        if not ids:
            raise ShapeError("feed_tokens needs at least one id")
        self._check_room(len(ids))
        lib = self._llama
        for start in range(0, len(ids), self.batch_size):
            chunk = ids[start : start + self.batch_size]
            batch = lib.llama_batch_init(len(chunk), 0, 1)
            try:
                for i, token_id in enumerate(chunk):
                    batch.token[i] = token_id
                self._fill_positions(batch, len(chunk))
                self._decode(batch, len(chunk))
            finally:
                lib.llama_batch_free(batch)
        return self.last_logits()

    def feed_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """Decode input embeddings ``[positions, hidden]`` at the next positions; returns the logits ``[vocab]``.

        Raises:
            ShapeError: The width is not the model's hidden size.
        """
        import numpy as np

        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.n_embd:
            raise ShapeError(f"embeddings must be [positions, {self.n_embd}], got {list(embeddings.shape)}")
        self._check_room(embeddings.shape[0])
        lib = self._llama
        for start in range(0, embeddings.shape[0], self.batch_size):
            chunk = np.ascontiguousarray(embeddings[start : start + self.batch_size])
            batch = lib.llama_batch_init(chunk.shape[0], self.n_embd, 1)
            try:
                ctypes.memmove(batch.embd, chunk.ctypes.data, chunk.nbytes)
                self._fill_positions(batch, chunk.shape[0])
                self._decode(batch, chunk.shape[0])
            finally:
                lib.llama_batch_free(batch)
        return self.last_logits()

    # ----------------------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Free the context and the model (also done when the object is garbage-collected)."""
        if getattr(self, "ctx", None):
            self._llama.llama_free(self.ctx)
            self.ctx = None
        if getattr(self, "model", None):
            self._llama.llama_model_free(self.model)
            self.model = None

    def __enter__(self) -> LlamaCppModel:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown may have unloaded llama_cpp
            self.close()


def encode_image_with_mmproj(
    language_model: LlamaCppModel,
    mmproj: str | Path,
    image: np.ndarray,
    *,
    threads: int | None = None,
    verbose: bool = False,
) -> np.ndarray:
    """Encode an RGB image with llama.cpp's own CLIP + projector (the mmproj file).

    llama.cpp resizes before it pads (MobileVLM pads to a square first): give it the image already
    padded to a square and resized to the tower's size (336x336), as ``uint8``.

    Args:
        language_model: The language model the projector feeds (mtmd checks the widths match).
        mmproj: The mmproj GGUF file.
        image: ``[height, width, 3]`` ``uint8`` RGB.
        threads: CPU threads (default: the language model's).
        verbose: Let mtmd print its log.

    Returns:
        The image embeddings ``[tokens, hidden]`` (144 for LDP / LDPv2) as float32.

    Raises:
        MvlmError: mtmd could not load the mmproj or encode the image.
    """
    import numpy as np

    import_llama_cpp()
    from llama_cpp import mtmd_cpp as mtmd

    _quiet(verbose, mtmd=mtmd)
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ShapeError(f"image must be [height, width, 3] uint8 RGB, got {list(image.shape)}")
    params = mtmd.mtmd_context_params_default()
    params.use_gpu = False
    params.print_timings = False
    params.n_threads = threads or language_model.threads
    params.warmup = False
    ctx = mtmd.mtmd_init_from_file(str(mmproj).encode(), language_model.model, params)
    if not ctx:
        raise MvlmError(f"llama.cpp (mtmd) could not load the mmproj {mmproj}")
    pixels = image.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
    bitmap = mtmd.mtmd_bitmap_init(image.shape[1], image.shape[0], pixels)
    chunks = mtmd.mtmd_input_chunks_init()
    try:
        text = mtmd.mtmd_input_text()
        text.text = mtmd.mtmd_default_marker()
        text.text_len = len(text.text)
        text.add_special = False
        text.parse_special = True
        bitmaps = (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap)
        if mtmd.mtmd_tokenize(ctx, chunks, ctypes.byref(text), bitmaps, 1) != 0:
            raise MvlmError("llama.cpp (mtmd) could not tokenize the image")
        for index in range(mtmd.mtmd_input_chunks_size(chunks)):
            chunk = mtmd.mtmd_input_chunks_get(chunks, index)
            if mtmd.mtmd_input_chunk_get_type(chunk) != mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                continue
            count = int(mtmd.mtmd_input_chunk_get_n_tokens(chunk))
            if mtmd.mtmd_encode_chunk(ctx, chunk) != 0:
                raise MvlmError("llama.cpp (mtmd) could not encode the image")
            output = mtmd.mtmd_get_output_embd(ctx)
            return np.ctypeslib.as_array(output, shape=(count * language_model.n_embd,)).reshape(count, -1).copy()
        raise MvlmError("llama.cpp (mtmd) produced no image chunk")
    finally:
        mtmd.mtmd_input_chunks_free(chunks)
        mtmd.mtmd_bitmap_free(bitmap)
        mtmd.mtmd_free(ctx)
