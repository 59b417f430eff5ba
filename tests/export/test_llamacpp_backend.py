"""llama.cpp as a decode backend: PyTorch encodes the image, llama.cpp decodes; answers equal the PyTorch path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = [pytest.mark.llamacpp, pytest.mark.usefixtures("llama_cpp")]  # skipped without llama-cpp-python

QUESTIONS = ["What is in the image?", "Is there a dog in the photo? Answer yes or no."]


def image() -> Any:
    from PIL import Image

    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 256, size=(200, 300, 3), dtype=np.uint8))  # not square: padded


@pytest.fixture(scope="module")
def backend(load_model: Any, tmp_path_factory: pytest.TempPathFactory, llama_cpp: Any) -> Any:
    """``backend(kind, quant)``: a :class:`LlamaCppBackend` with its own cache folder (cached per module)."""
    from mvlm.inference.llamacpp_backend import LlamaCppBackend

    cache_dir = tmp_path_factory.mktemp("llamacpp-cache")
    made: dict[tuple[str, str], Any] = {}

    def get(kind: str, quant: str) -> Any:
        if (kind, quant) not in made:
            made[kind, quant] = LlamaCppBackend(load_model(kind), quant=quant, cache_dir=cache_dir, threads=1)
        return made[kind, quant]

    yield get
    for made_backend in made.values():
        made_backend.close()


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_greedy_answers_equal_pytorch_f32(backend: Any, load_model: Any, kind: str) -> None:
    from mvlm.inference import chat

    model = load_model(kind)
    run = backend(kind, "f32")
    picture = image()
    for question in QUESTIONS:
        expected = chat(model, picture, question, max_new_tokens=24)
        assert run.chat(picture, question, max_new_tokens=24) == expected, question
    assert run.chat(None, QUESTIONS[0], max_new_tokens=24) == chat(model, None, QUESTIONS[0], max_new_tokens=24)
    batch = run.chat([picture, None], QUESTIONS, max_new_tokens=24)
    assert batch == [
        chat(model, picture, QUESTIONS[0], max_new_tokens=24),
        chat(model, None, QUESTIONS[1], max_new_tokens=24),
    ]


def torch_greedy_ids(model: Any, request: Any, steps: int) -> tuple[list[int], list[np.ndarray]]:
    """PyTorch's greedy ids for a request (the chat path's spliced embeddings) and the logits of every step."""
    import torch

    from mvlm.inference.inputs import prepare_batch

    embeds = prepare_batch(model, [request], tokenizer=model.tokenizer).inputs_embeds
    ids: list[int] = []
    logits_per_step = []
    from transformers import DynamicCache

    cache = DynamicCache()
    with torch.no_grad():
        for _ in range(steps):
            logits = model(inputs_embeds=embeds, cache=cache, use_cache=True).logits[0, -1]
            logits_per_step.append(logits.numpy())
            ids.append(int(logits.argmax()))
            embeds = model.get_input_embeddings()(torch.tensor([[ids[-1]]]))
    return ids, logits_per_step


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_greedy_tokens_equal_pytorch_f16_up_to_near_ties(
    backend: Any, load_model: Any, kind: str, record_property: Any
) -> None:
    """f16 weights make llama.cpp round activations to f16 (~1e-3 of the largest logit): greedy ids equal
    PyTorch's until a step where PyTorch's two best logits are that close (a tie); none is allowed earlier."""
    from mvlm.inference.inputs import ChatRequest

    model = load_model(kind)
    run = backend(kind, "f16")
    steps = 24
    for request in [ChatRequest(q, (image(),)) for q in QUESTIONS] + [ChatRequest(QUESTIONS[0])]:
        expected, logits = torch_greedy_ids(model, request, steps)
        got = list(run.generate(request, tokenizer=model.tokenizer, max_new_tokens=steps))
        if len(got) < steps:  # llama.cpp stopped: it chose EOS at the next step
            got.append(model.tokenizer.eos_token_id)
        if got == expected[: len(got)]:
            continue
        step = next(i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b)
        margin = float(logits[step][expected[step]] - logits[step][got[step]])
        scale = float(np.abs(logits[step]).max())
        record_property(f"tie_{request.prompt[:8]}", (step, margin / scale))
        print(f"\n{kind} f16: first different token at step {step}, PyTorch margin {margin / scale:.2e} of the scale")
        assert margin <= 5e-3 * scale, (request.prompt, step, margin, scale)


def test_prompt_is_fed_as_text_image_text(backend: Any, load_model: Any) -> None:
    """BOS once, the image's 144 embeddings at the image position, the rest as text: as many positions as PyTorch."""
    from mvlm.inference.inputs import ChatRequest, render_prompt
    from mvlm.prompting import encode_prompt

    model = load_model("v2")
    run = backend("v2", "f16")
    request = ChatRequest(QUESTIONS[0], (image(),))
    calls: list[tuple[str, int]] = []
    lm = run.language_model
    feed_tokens, feed_embeddings = lm.feed_tokens, lm.feed_embeddings
    lm.feed_tokens = lambda ids: calls.append(("tokens", len(ids))) or feed_tokens(ids)
    lm.feed_embeddings = lambda e: calls.append(("image", e.shape[0])) or feed_embeddings(e)
    try:
        run._feed_prompt(request, model.tokenizer, "v1", {})
    finally:
        del lm.feed_tokens, lm.feed_embeddings
    expanded = encode_prompt(render_prompt(request), model.tokenizer, num_image_tokens=144, num_images=1)
    first_text = expanded.image_mask.index(True)
    assert calls == [("tokens", first_text), ("image", 144), ("tokens", len(expanded) - first_text - 144)]
    assert lm.n_past == len(expanded)


def test_streaming_and_sampling(backend: Any) -> None:
    run = backend("v2", "f16")
    whole = run.chat(image(), QUESTIONS[0], max_new_tokens=24)
    assert "".join(run.chat(image(), QUESTIONS[0], max_new_tokens=24, stream=True)) == whole
    first = run.chat(None, QUESTIONS[0], temperature=0.9, top_p=0.95, seed=5, max_new_tokens=16)
    assert run.chat(None, QUESTIONS[0], temperature=0.9, top_p=0.95, seed=5, max_new_tokens=16) == first


def test_export_is_cached_per_checkpoint_and_quant(load_model: Any, tmp_path: Path) -> None:
    from mvlm.inference.llamacpp_backend import LlamaCppBackend, checkpoint_fingerprint

    model = load_model("v1")
    first = LlamaCppBackend(model, quant="q8_0", cache_dir=tmp_path, threads=1)
    written = first.path.stat().st_mtime_ns
    first.close()
    again = LlamaCppBackend(model, quant="q8_0", cache_dir=tmp_path, threads=1)
    assert again.path == first.path and again.path.stat().st_mtime_ns == written
    again.close()
    assert first.path.parent.name == f"v1-{checkpoint_fingerprint(model)}"
    assert checkpoint_fingerprint(model) != checkpoint_fingerprint(load_model("v2"))


def test_module_chat_keeps_one_backend_per_model(load_model: Any, tmp_path: Path) -> None:
    from mvlm.errors import ConfigError
    from mvlm.inference import llamacpp_backend

    model = load_model("v2")
    answer = llamacpp_backend.chat(model, image(), QUESTIONS[0], cache_dir=tmp_path, threads=1, max_new_tokens=8)
    assert isinstance(answer, str)
    assert len(llamacpp_backend._BACKENDS[model]) == 1
    llamacpp_backend.chat(model, image(), QUESTIONS[0], cache_dir=tmp_path, threads=1, max_new_tokens=8)
    assert len(llamacpp_backend._BACKENDS[model]) == 1
    with pytest.raises(ConfigError, match="num_beams"):
        llamacpp_backend.chat(model, None, "hi", cache_dir=tmp_path, threads=1, num_beams=2)
    with pytest.raises(ConfigError, match="quant must be one of"):
        llamacpp_backend.chat(model, None, "hi", quant="q9")
    for made in llamacpp_backend._BACKENDS.pop(model).values():
        made.close()


def test_model_chat_with_the_llamacpp_backend_equals_pytorch(load_model: Any, tmp_path: Path) -> None:
    """``MobileVLM.chat(..., backend="llama.cpp")`` goes through the decode-backend registry."""
    from mvlm.inference import llamacpp_backend

    model = load_model("v1")
    picture = image()
    expected = model.chat(picture, QUESTIONS[0], max_new_tokens=16)
    got = model.chat(
        picture, QUESTIONS[0], max_new_tokens=16, backend="llama.cpp", quant="f32", cache_dir=tmp_path, threads=1
    )
    assert got == expected
    for made in llamacpp_backend._BACKENDS.pop(model).values():
        made.close()
