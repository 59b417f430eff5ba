"""llama.cpp as a decode backend: images encoded by PyTorch, the language model run by llama.cpp.

The image goes through mvlm's own tower and projector (exact, and fast in bf16), so llama.cpp's CLIP
graph and its open bugs (see :mod:`mvlm.export.gguf_mmproj`) are not involved. The prompt is rendered,
tokenized and expanded exactly as :func:`mvlm.inference.chat` does; the expanded positions are then fed
to llama.cpp run by run, as llama.cpp's ``llava-cli`` does: the text before the image as token ids
(with BOS), the image's ``M`` embeddings as one embedding batch, the text after it as token ids
(without BOS). llama.cpp then decodes, greedily by default.

The language model is exported once per checkpoint and type into a cache folder
(``$MVLM_CACHE/llamacpp/<name>-<fingerprint>/ggml-model-<quant>.gguf``, ``MVLM_CACHE`` defaulting to
``~/.cache/mvlm``); the fingerprint covers the config, the tokenizer and a sample of every weight.

Example:
    >>> from mvlm.inference.llamacpp_backend import chat
    >>> chat(model, "photo.jpg", "What is in the image?", quant="q4_k_s")  # doctest: +SKIP
    'A cat sitting on a red sofa.'
"""

from __future__ import annotations

import hashlib
import os
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mvlm.errors import ConfigError, PromptError
from mvlm.export.gguf import QUANT_TYPES, export_language_model
from mvlm.export.gguf_vocab import find_tokenizer_model
from mvlm.inference.llamacpp import LlamaCppModel

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from mvlm.model import MobileVLM
    from mvlm.prompting import Conversation

__all__ = ["LlamaCppBackend", "chat", "checkpoint_fingerprint", "default_cache_dir"]

_SAMPLES_PER_TENSOR = 4096


def default_cache_dir() -> Path:
    """Where exported language models are kept: ``$MVLM_CACHE/llamacpp`` (``~/.cache/mvlm/llamacpp``)."""
    root = os.environ.get("MVLM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "mvlm")
    return Path(root) / "llamacpp"


def checkpoint_fingerprint(model: Any, tokenizer_model: str | Path | None = None) -> str:
    """A short hash of what the language-model GGUF is made of: config, tokenizer, and a sample of every weight.

    Every language-model tensor contributes its name, shape, dtype and up to 4096 evenly spaced
    values, so a fine-tuned or merged model saved into the same folder gets a new cache entry,
    without hashing gigabytes.
    """
    import torch

    digest = hashlib.sha256(model.config.to_json_string(use_diff=False).encode())
    digest.update(Path(find_tokenizer_model(model, tokenizer_model)).read_bytes())
    for key, tensor in model.state_dict().items():
        if key.startswith(("model.vision_tower.", "model.mm_projector.")):
            continue
        flat = tensor.detach().reshape(-1)
        step = max(1, flat.numel() // _SAMPLES_PER_TENSOR)
        sample = flat[::step].to(device="cpu", dtype=torch.float32).numpy()
        digest.update(f"{key}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(sample.tobytes())
    return digest.hexdigest()[:16]


def _cached_language_model(
    model: Any, quant: str, cache_dir: str | Path | None, tokenizer_model: str | Path | None
) -> Path:
    source = getattr(model, "_checkpoint_source", None) or "model"
    name = Path(str(source).rstrip("/")).name or "model"
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"{name}-{checkpoint_fingerprint(model, tokenizer_model)}" / f"ggml-model-{quant}.gguf"
    if not path.is_file():
        export_language_model(model, path, quant=quant, tokenizer_model=tokenizer_model)
    return path


def _sample(logits: np.ndarray, temperature: float, top_p: float | None, rng: np.random.Generator) -> int:
    import numpy as np

    if temperature <= 0:
        return int(np.argmax(logits))
    scaled = (logits - logits.max()) / temperature
    probs = np.exp(scaled.astype(np.float64))
    probs /= probs.sum()
    if top_p is not None and top_p < 1:
        order = np.argsort(-probs)
        keep = order[: int(np.searchsorted(np.cumsum(probs[order]), top_p)) + 1]
        mask = np.zeros_like(probs)
        mask[keep] = probs[keep]
        probs = mask / mask.sum()
    return int(rng.choice(len(probs), p=probs))


class LlamaCppBackend:
    """A MobileVLM answering with llama.cpp's language model and PyTorch's tower and projector.

    Args:
        model: A :class:`~mvlm.MobileVLM` with a LLaMA-style language model.
        quant: The language model's GGUF type (any of :data:`mvlm.export.QUANT_TYPES`; the llama.cpp
            types need llama-cpp-python, which the backend needs anyway).
        cache_dir: Where exported files are kept (default :func:`default_cache_dir`).
        context_length: llama.cpp's context (default: the model's context length).
            With ``quant="f32"`` the KV cache and attention stay in f32 (exact); otherwise llama.cpp's
            defaults apply (f16 cache, flash attention).
        threads: CPU threads for llama.cpp (default: all cores).
        tokenizer_model: The SentencePiece ``tokenizer.model`` (default: the checkpoint's).
        verbose: Let llama.cpp print its log.
        gguf_path: An existing language-model GGUF of this model to run instead of exporting one
            (``quant`` is then read from its name, e.g. ``ggml-model-q8_0.gguf``).

    Raises:
        ConfigError: Unknown ``quant``, a language model llama.cpp cannot hold, or no file at ``gguf_path``.
        MissingDependencyError: llama-cpp-python or gguf is not installed.
    """

    def __init__(
        self,
        model: MobileVLM,
        *,
        quant: str = "f16",
        cache_dir: str | Path | None = None,
        context_length: int | None = None,
        threads: int | None = None,
        tokenizer_model: str | Path | None = None,
        verbose: bool = False,
        gguf_path: str | Path | None = None,
    ) -> None:
        self.model = model
        if gguf_path is not None:
            from mvlm.inference.verify import quant_of

            self.path = Path(gguf_path)
            if not self.path.is_file():
                raise ConfigError(f"no language-model GGUF at {self.path}")
            self.quant = quant_of(self.path)
        else:
            if quant not in QUANT_TYPES:
                raise ConfigError(f"quant must be one of {sorted(QUANT_TYPES)}, got {quant!r}")
            self.quant = quant
            self.path = _cached_language_model(model, quant, cache_dir, tokenizer_model)
        quant = self.quant
        self.context_length = context_length or model.config.context_length
        self.language_model = LlamaCppModel(
            self.path,
            context_length=self.context_length,
            threads=threads,
            kv_cache_type="f32" if quant == "f32" else "f16",
            flash_attention=False if quant == "f32" else None,
            verbose=verbose,
        )

    # ----------------------------------------------------------------------------- one prompt
    def _feed_prompt(self, request: Any, tokenizer: Any, conv_mode: str | Conversation, cache: dict) -> tuple[Any, int]:
        """Render, tokenize and expand as ``chat`` does, then feed llama.cpp run by run; returns (logits, length)."""
        from mvlm.inference.inputs import encode_images, render_prompt
        from mvlm.prompting import encode_prompt

        prompt = render_prompt(request, conv_mode)
        expanded = encode_prompt(
            prompt,
            tokenizer,
            num_image_tokens=self.model.num_image_tokens,
            num_images=len(request.images),
            context_length=self.context_length,
            reserve_tokens=1,
        )
        features = encode_images(self.model, [request], cache)
        if features is None and expanded.num_images:  # pragma: no cover - encode_prompt checked the count
            raise PromptError("the prompt has image positions but no image was encoded")
        lm = self.language_model
        lm.reset()
        logits = None
        ids, mask, per_image = expanded.input_ids, expanded.image_mask, self.model.num_image_tokens
        start, image = 0, 0
        while start < len(ids):
            if mask[start]:  # one image: M consecutive positions
                logits = lm.feed_embeddings(features[image].detach().float().cpu().numpy())  # type: ignore[index]
                start, image = start + per_image, image + 1
                continue
            end = start
            while end < len(ids) and not mask[end]:
                end += 1
            logits = lm.feed_tokens(ids[start:end])
            start = end
        return logits, len(ids)

    def generate(
        self,
        request: Any,
        *,
        tokenizer: Any,
        seed: int | None = None,
        image_cache: dict | None = None,
        **options: Any,
    ) -> Iterator[int]:
        """Feed one :class:`~mvlm.inference.ChatRequest` and yield the new token ids, up to EOS or the stop string.

        Stops at the tokenizer's / generation config's EOS, at the template's stop string when it is one
        special token, after ``max_new_tokens`` or when the context is full. (A stop string made of
        ordinary text is cut by the caller, as ``chat`` does.) ``options`` are the decoding options
        (:class:`~mvlm.inference.options.GenerationOptions`: ``conv_mode``, ``temperature``, ``top_p``,
        ``max_new_tokens``).
        """
        import numpy as np

        from mvlm.inference.decoding import stop_token_ids
        from mvlm.inference.options import GenerationOptions

        decoding = GenerationOptions(**options)
        stop_ids = set(stop_token_ids(tokenizer, decoding.stop_string))
        eos = self.model.generation_config.eos_token_id
        stop_ids.update([eos] if isinstance(eos, int) else list(eos or []))
        if tokenizer.eos_token_id is not None:
            stop_ids.add(tokenizer.eos_token_id)
        cache = {} if image_cache is None else image_cache
        logits, length = self._feed_prompt(request, tokenizer, decoding.conv_mode, cache)
        rng = np.random.default_rng(seed)
        for _ in range(min(decoding.max_new_tokens, self.context_length - length)):
            token_id = _sample(logits, decoding.temperature, decoding.top_p, rng)
            if token_id in stop_ids:
                return
            yield token_id
            if self.language_model.n_past >= self.context_length:
                return
            logits = self.language_model.feed_tokens([token_id])

    # ----------------------------------------------------------------------------- chat
    def chat(
        self,
        images: Any,
        prompts: str | Sequence[str],
        *,
        stream: bool = False,
        history: Any = None,
        tokenizer: Any = None,
        seed: int | None = None,
        **options: Any,
    ) -> str | list[str] | Iterator[str]:
        """Answer ``prompts`` about ``images``: :func:`mvlm.inference.chat`'s arguments, decoded by llama.cpp.

        A list of prompts is answered one after the other (llama.cpp runs one sequence here). Greedy
        answers equal :func:`mvlm.inference.chat`'s when the GGUF is ``f32`` or ``f16`` (up to ties
        between near-equal logits); quantized types trade a little accuracy for speed.

        Args:
            images: As :func:`mvlm.inference.chat`.
            prompts: One prompt (returns a string) or a list (returns a list).
            stream: Return an iterator of text pieces (one prompt only).
            history: Earlier ``(user, answer)`` turns, as :func:`mvlm.inference.chat`.
            tokenizer: Instead of ``model.tokenizer``.
            seed: Seed of the sampler (``temperature > 0``).
            **options: The decoding options (:class:`~mvlm.inference.options.GenerationOptions`:
                ``conv_mode``, ``temperature``, ``top_p``, ``max_new_tokens``; ``num_beams`` must be 1).

        Raises:
            ConfigError: ``num_beams > 1``, streaming a batch, an option this backend does not take, or
                invalid options.
            PromptError: Tags and images differ, or the prompt does not fit the context.
        """
        from mvlm.inference.decoding import decode_new_tokens
        from mvlm.inference.inputs import make_requests
        from mvlm.inference.options import GenerationOptions
        from mvlm.inference.text import finish_text

        decoding, unknown = GenerationOptions.split(options)
        if unknown:
            raise ConfigError(
                f"the llama.cpp backend takes no option(s) {', '.join(sorted(unknown))}; it takes "
                f"{', '.join(GenerationOptions.names())}, stream, history, tokenizer and seed"
            )
        if decoding.num_beams != 1:
            raise ConfigError("the llama.cpp backend decodes greedily or by sampling; num_beams must be 1")
        requests, batched = make_requests(images, prompts, history)
        if stream and batched:
            raise ConfigError("stream=True takes one prompt; call chat once per prompt")
        tokenizer = self.model.tokenizer if tokenizer is None else tokenizer
        stop_string = decoding.stop_string
        generate_options = {"tokenizer": tokenizer, "seed": seed, "image_cache": {}, **decoding.as_kwargs()}
        if stream:
            return self._stream(requests[0], generate_options, tokenizer, stop_string)
        answers = []
        for request in requests:
            ids: list[int] = []
            for token_id in self.generate(request, **generate_options):
                ids.append(token_id)
                if stop_string and stop_string in decode_new_tokens(tokenizer, ids):
                    break
            answers.append(finish_text(decode_new_tokens(tokenizer, ids), stop_string))
        return answers if batched else answers[0]

    def _stream(self, request: Any, options: dict[str, Any], tokenizer: Any, stop_string: str | None) -> Iterator[str]:
        from mvlm.inference.decoding import decode_new_tokens, trailing_byte_pieces
        from mvlm.inference.text import StreamingText

        text = StreamingText(
            lambda ids: decode_new_tokens(tokenizer, ids),
            stop_string,
            unstable_tail=lambda ids: trailing_byte_pieces(tokenizer, ids),
        )
        for token_id in self.generate(request, **options):
            piece = text.push([token_id])
            if piece:
                yield piece
            if text.stopped:
                return
        rest = text.finish()
        if rest:
            yield rest

    def close(self) -> None:
        """Free llama.cpp's model and context."""
        self.language_model.close()


_BACKENDS: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], LlamaCppBackend]] = weakref.WeakKeyDictionary()


def chat(
    model: MobileVLM,
    images: Any,
    prompts: str | Sequence[str],
    *,
    quant: str = "f16",
    cache_dir: str | Path | None = None,
    threads: int | None = None,
    **options: Any,
) -> str | list[str] | Iterator[str]:
    """:func:`mvlm.inference.chat` with llama.cpp decoding: what ``model.chat(..., backend="llama.cpp")`` runs.

    The backend (the exported GGUF loaded in llama.cpp) is created on the first call for a model and
    type, and kept for the model's lifetime.

    Args:
        model: The :class:`~mvlm.MobileVLM`.
        images: As :func:`mvlm.inference.chat`.
        prompts: As :func:`mvlm.inference.chat`.
        quant: The language model's GGUF type (default ``f16``: same greedy answers as PyTorch).
        cache_dir: Where exported files are kept.
        threads: llama.cpp's CPU threads.
        **options: :meth:`LlamaCppBackend.chat`'s options (``conv_mode``, ``temperature``,
            ``max_new_tokens``, ``stream``, ``history``, ``seed``...).

    Raises:
        PromptError: As :func:`mvlm.inference.chat`.
        MissingDependencyError: llama-cpp-python or gguf is not installed.
    """
    if quant not in QUANT_TYPES:
        raise ConfigError(f"quant must be one of {sorted(QUANT_TYPES)}, got {quant!r}")
    key = (quant, None if cache_dir is None else str(cache_dir), threads)
    backends = _BACKENDS.setdefault(model, {})
    if key not in backends:
        backends[key] = LlamaCppBackend(model, quant=quant, cache_dir=cache_dir, threads=threads)
    return backends[key].chat(images, prompts, **options)
