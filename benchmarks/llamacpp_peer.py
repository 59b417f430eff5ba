"""llama.cpp beside mvlm in the suite: the same random language model exported to GGUF, timed and checked.

The published tokenizer cannot be downloaded, so the random model gets a stand-in with the published
shape: a 32000-piece LLaMA-convention SentencePiece model trained by :func:`mvlm.language.train_llama_tokenizer`
on generated text (seeded; cached). ``mvlm.export`` then writes the language model as f16, q8_0, q4_0
and q4_K_S GGUF files, and llama.cpp (through ``mvlm.inference.llamacpp``, llama-cpp-python's C API)
runs the suite's prompt with the same layout (text ids, the image's embeddings from mvlm's tower and
projector, text ids), the same number of threads:

* prefill of the whole prompt, decode tokens/s (greedy, one token per ``llama_decode``);
* accuracy against the float32 PyTorch model on the same weights: the prompt, then float32's own
  greedy answer fed token by token (teacher forcing); relative logit error and greedy agreement at
  the answer positions.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

QUANTS = ("f16", "q8_0", "q4_0", "q4_k_s")
"""The GGUF types compared: f16 (bf16/float32's counterpart), q8_0 (int8's), q4_0 and q4_K_S (int4's)."""

_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + [v + c for v in "aeiou" for c in "bdgklmnrst"]


def stand_in_tokenizer(folder: Path, vocab_size: int = 32000, sentences: int = 60000, seed: int = 0) -> Path:
    """A LLaMA-convention SentencePiece tokenizer of exactly ``vocab_size`` pieces (trained once, then reused).

    Returns:
        The ``tokenizer.model`` file.

    Raises:
        RuntimeError: The generated corpus gave fewer pieces than ``vocab_size``.
    """
    import sentencepiece

    from mvlm.language import train_llama_tokenizer

    model_file = folder / "tokenizer.model"
    if not model_file.is_file():
        rng = np.random.default_rng(seed)

        def word() -> str:
            return "".join(_SYLLABLES[i] for i in rng.integers(0, len(_SYLLABLES), rng.integers(1, 5)))

        texts = [" ".join(word() for _ in range(rng.integers(5, 20))).capitalize() + "." for _ in range(sentences)]
        train_llama_tokenizer(folder, texts, vocab_size)
    pieces = sentencepiece.SentencePieceProcessor(model_file=str(model_file)).get_piece_size()
    if pieces != vocab_size:
        raise RuntimeError(f"the stand-in tokenizer has {pieces} pieces, not {vocab_size}; train on more sentences")
    return model_file


def export_files(model: Any, tokenizer_model: Path, folder: Path, threads: int) -> dict[str, Path]:
    """The language model of ``model`` as one GGUF per type of :data:`QUANTS` (written once, then reused)."""
    from mvlm.export.gguf import export_language_model

    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for quant in QUANTS:
        path = folder / f"ggml-model-{quant}.gguf"
        if not path.is_file():
            export_language_model(model, path, quant=quant, tokenizer_model=tokenizer_model, threads=threads)
        files[quant] = path
    return files


def _feed_prompt(runtime: Any, ids: list[int], image_token: int, image_embeds: np.ndarray) -> np.ndarray:
    """Text runs as ids, the image's positions as embeddings, as ``llava-cli`` feeds them; returns the logits."""
    start = ids.index(image_token)
    stop = start + image_embeds.shape[0]
    runtime.feed_tokens(ids[:start])
    runtime.feed_embeddings(image_embeds)
    return runtime.feed_tokens(ids[stop:])


def time_runtime(
    path: Path, ids: list[int], image_token: int, image_embeds: np.ndarray, tokens: int, threads: int, repeats: int
) -> dict[str, Any]:
    """Prefill seconds and greedy decode tokens/s of one GGUF (median, min, max of ``repeats`` after a warm-up)."""
    from mvlm.inference.llamacpp import LlamaCppModel

    prefill: list[float] = []
    decode: list[float] = []
    with LlamaCppModel(path, threads=threads, context_length=len(ids) + tokens + 8) as runtime:
        for round_index in range(repeats + 1):
            runtime.reset()
            started = time.perf_counter()
            logits = _feed_prompt(runtime, ids, image_token, image_embeds)
            prefilled = time.perf_counter()
            for _ in range(tokens):
                logits = runtime.feed_tokens([int(np.argmax(logits))])
            finished = time.perf_counter()
            if round_index:  # the first round warms caches and thread pools
                prefill.append(prefilled - started)
                decode.append(tokens / (finished - prefilled))
    return {
        "prefill_s": _spread(prefill),
        "decode_tps": _spread(decode),
    }


def _spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": ordered[len(ordered) // 2], "min": ordered[0], "max": ordered[-1], "n": len(ordered)}


def reference_answer(model: Any, embeds: torch.Tensor, steps: int) -> tuple[list[int], torch.Tensor]:
    """float32's greedy answer and its logits at the answer positions ``[steps, vocab]`` (teacher forcing)."""
    with torch.no_grad():
        answer = model.generate(inputs_embeds=embeds, max_new_tokens=steps, min_new_tokens=steps, do_sample=False)
        full = torch.cat([embeds, model.get_input_embeddings()(answer)], dim=1)
        logits = model(inputs_embeds=full).logits[0, embeds.shape[1] - 1 : -1].float()
    return answer[0].tolist(), logits


def compare_logits(logits: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """Relative logit error and greedy agreement of ``logits`` against ``reference`` (both ``[steps, vocab]``)."""
    relative = ((logits - reference).norm() / reference.norm()).item()
    agreement = (logits.argmax(-1) == reference.argmax(-1)).float().mean().item()
    return {"relative_logit_error": relative, "greedy_agreement": agreement}


def runtime_accuracy(
    path: Path,
    ids: list[int],
    image_token: int,
    image_embeds: np.ndarray,
    answer: list[int],
    reference: torch.Tensor,
    threads: int,
) -> dict[str, float]:
    """llama.cpp's logits along float32's answer (teacher forcing) against float32's, at the answer positions."""
    from mvlm.inference.llamacpp import LlamaCppModel

    rows = []
    with LlamaCppModel(path, threads=threads, context_length=len(ids) + len(answer) + 8) as runtime:
        logits = _feed_prompt(runtime, ids, image_token, image_embeds)
        for token_id in answer:
            rows.append(logits)
            logits = runtime.feed_tokens([token_id])
    return compare_logits(torch.from_numpy(np.stack(rows)[: len(answer)]).float(), reference)
