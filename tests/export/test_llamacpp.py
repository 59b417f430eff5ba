"""The exported GGUF files in llama.cpp (llama-cpp-python): loading, tokens, logits, greedy decoding, the mmproj.

Measured numbers are printed (run with ``-s``) and attached to the test report (``record_property``);
the tolerances asserted here are the ones ``docs/deploy.rst`` states.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.llamacpp, pytest.mark.usefixtures("llama_cpp")]  # skipped without llama-cpp-python

PROMPTS = [
    "A chat between a curious user and an artificial intelligence assistant. USER: What is in the image? ASSISTANT:",
    "Who is the author of this book?\nAnswer the question using a single word or phrase.",
]
STEPS = 12
# Largest allowed |logit difference| at the first step, relative to the largest |logit| (PyTorch, float32).
LOGIT_TOLERANCE = {"f32": 1e-5, "f16": 5e-3, "q8_0": 5e-2}


@pytest.fixture(scope="module")
def exported(load_model: Any, tmp_path_factory: pytest.TempPathFactory, llama_cpp: Any) -> Any:
    """``exported(kind, quant)``: the GGUF files of a tiny checkpoint (written once per module)."""
    from mvlm.export import export_gguf

    root = tmp_path_factory.mktemp("gguf")
    cache: dict[tuple[str, str], Any] = {}

    def get(kind: str, quant: str) -> Any:
        if (kind, quant) not in cache:
            cache[kind, quant] = export_gguf(load_model(kind), root / f"{kind}-{quant}", quant=quant, threads=1)
        return cache[kind, quant]

    return get


@pytest.fixture(scope="module")
def llama(exported: Any) -> Any:
    """``llama(kind, quant)``: a :class:`LlamaCppModel` on the exported language model (cached).

    For the f32 file the KV cache and attention stay f32 (llama.cpp's CPU flash attention rounds to f16).
    """
    from mvlm.inference.llamacpp import LlamaCppModel

    cache: dict[tuple[str, str], Any] = {}

    def get(kind: str, quant: str) -> Any:
        if (kind, quant) not in cache:
            path = exported(kind, quant).language_model
            exact = {"kv_cache_type": "f32", "flash_attention": False} if quant == "f32" else {}
            cache[kind, quant] = LlamaCppModel(path, context_length=256, threads=1, **exact)
        return cache[kind, quant]

    yield get
    for model in cache.values():
        model.close()


def torch_greedy(model: Any, ids: list[int], steps: int) -> tuple[np.ndarray, list[int]]:
    """PyTorch's first-step logits ``[vocab]`` and ``steps`` greedy tokens (EOS not treated specially)."""
    tokens = torch.tensor([ids])
    generated: list[int] = []
    first = None
    with torch.no_grad():
        for _ in range(steps):
            logits = model(input_ids=tokens).logits[0, -1]
            first = logits.numpy() if first is None else first
            generated.append(int(logits.argmax()))
            tokens = torch.cat([tokens, torch.tensor([[generated[-1]]])], dim=1)
    return first, generated


def llamacpp_greedy(lm: Any, ids: list[int], steps: int) -> tuple[np.ndarray, list[int]]:
    lm.reset()
    logits = lm.feed_tokens(ids)
    first, generated = logits, []
    for _ in range(steps):
        generated.append(int(np.argmax(logits)))
        logits = lm.feed_tokens([generated[-1]])
    return first, generated


def test_both_files_load(exported: Any, llama: Any, load_model: Any) -> None:
    from mvlm.inference.llamacpp import encode_image_with_mmproj

    for kind in ("v1", "v2"):
        lm = llama(kind, "f16")
        assert (lm.n_vocab, lm.n_embd) == (400, 64)
        assert lm.eos_token_id == 2 and lm.is_end_of_generation(2)
        embeddings = encode_image_with_mmproj(lm, exported(kind, "f16").mmproj, np.zeros((336, 336, 3), np.uint8))
        assert embeddings.shape == (144, 64)


def test_llamacpp_tokenizes_as_mvlm(llama: Any, load_model: Any) -> None:
    tokenizer = load_model("v2").tokenizer
    lm = llama("v2", "f16")
    for text in [*PROMPTS, "Hello world", "the cat\n\n 42 trees", "ASSISTANT: A cat sitting on a red sofa.</s>"]:
        assert lm.tokenize(text, add_bos=True, parse_special=True) == tokenizer(text).input_ids, text
    assert lm.tokenize("a\nb", add_bos=False) == tokenizer("a\nb").input_ids[1:]


@pytest.mark.parametrize("kind", ["v1", "v2"])
@pytest.mark.parametrize("quant", ["f32", "f16", "q8_0"])
def test_text_logits_and_greedy_tokens(
    llama: Any, load_model: Any, kind: str, quant: str, record_property: Any
) -> None:
    model = load_model(kind)
    lm = llama(kind, quant)
    worst = 0.0
    for prompt in PROMPTS:
        ids = model.tokenizer(prompt).input_ids
        expected_logits, expected_tokens = torch_greedy(model, ids, STEPS)
        got_logits, got_tokens = llamacpp_greedy(lm, ids, STEPS)
        scale = float(np.abs(expected_logits).max())
        difference = float(np.abs(got_logits - expected_logits).max())
        worst = max(worst, difference / scale)
        assert difference <= LOGIT_TOLERANCE[quant] * scale, (prompt, difference, scale)
        if quant in ("f32", "f16"):
            assert got_tokens == expected_tokens, prompt
        else:
            assert got_tokens[0] == expected_tokens[0], prompt
    record_property("relative_logit_difference", worst)
    print(f"\n{kind} {quant}: first-step logits differ by at most {worst:.2e} of the largest logit")


def test_k_quant_through_llamacpp_quantizer(exported: Any, llama: Any, load_model: Any) -> None:
    import gguf

    files = exported("v2", "q4_k_s")
    assert files.language_model.name == "ggml-model-q4_k_s.gguf"
    assert not [p for p in files.language_model.parent.iterdir() if p.name.startswith(".")]  # f32 source removed
    reader = gguf.GGUFReader(files.language_model)
    assert reader.fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_Q4_K_S
    model = load_model("v2")
    ids = model.tokenizer(PROMPTS[0]).input_ids
    expected, _ = torch_greedy(model, ids, 1)
    got, _ = llamacpp_greedy(llama("v2", "q4_k_s"), ids, 1)
    assert np.corrcoef(expected, got)[0, 1] > 0.95


# ----------------------------------------------------------------------------- llama.cpp's own CLIP (mmproj)
def square_image(seed: int = 0) -> np.ndarray:
    """A 336x336 RGB image (already square and at the tower's size: no padding or resizing on either side)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
    return np.kron(blocks, np.ones((28, 28, 1), dtype=np.uint8))


@contextlib.contextmanager
def llamacpp_clip_ordering(model: Any) -> Iterator[Any]:
    """A copy of ``model`` whose CLIP embeddings are ordered as llama.cpp 0.3.36 orders them (issue 25814).

    llama.cpp appends the class embedding after the patches and adds position embeddings 0..576 in that
    order, then takes rows 1..576 (patches 1..575 and the class token) as the 576 patch features; the
    tower drops row 0 the same way. The projector's GELU becomes the tanh approximation ggml uses.
    """
    twin = copy.deepcopy(model)
    embeddings = twin.vision_tower.vision_model.embeddings

    def forward(pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False) -> torch.Tensor:
        patches = embeddings.patch_embedding(pixel_values.to(embeddings.patch_embedding.weight.dtype))
        patches = patches.flatten(2).transpose(1, 2)
        cls = embeddings.class_embedding.expand(patches.shape[0], 1, -1)
        return torch.cat([patches, cls], dim=1) + embeddings.position_embedding(embeddings.position_ids)

    embeddings.forward = forward
    for module in twin.mm_projector.modules():
        if isinstance(module, torch.nn.GELU):
            module.approximate = "tanh"
    yield twin


def torch_image_embeddings(model: Any, image: np.ndarray) -> np.ndarray:
    from PIL import Image

    pixels = model.image_processor([Image.fromarray(image)])
    with torch.no_grad():
        return model.encode_images(pixels.float())[0].numpy()


@pytest.mark.parametrize("kind", ["v1", "v2", "mlp"])
def test_mmproj_image_embeddings(exported: Any, llama: Any, load_model: Any, kind: str, record_property: Any) -> None:
    """llama.cpp's mmproj gives 144 embeddings of the LM width; they equal mvlm's computed with llama.cpp's
    CLS ordering (so the file is right), and differ from mvlm's true ones by the CLS-order bug (measured)."""
    from mvlm.inference.llamacpp import encode_image_with_mmproj

    model = load_model(kind)
    image = square_image()
    got = encode_image_with_mmproj(llama(kind, "f16"), exported(kind, "f16").mmproj, image)
    expected_count = 576 if kind == "mlp" else 144
    assert got.shape == (expected_count, model.config.hidden_size)
    reference = torch_image_embeddings(model, image)
    with llamacpp_clip_ordering(model) as twin:
        as_llamacpp = torch_image_embeddings(twin, image)
    scale = float(np.abs(reference).max())
    export_error = float(np.abs(got - as_llamacpp).max()) / scale
    bug_error = float(np.abs(got - reference).max()) / scale
    cosine = float((got * reference).sum() / np.linalg.norm(got) / np.linalg.norm(reference))
    record_property("relative_difference_same_ordering", export_error)
    record_property("relative_difference_reference", bug_error)
    print(
        f"\n{kind}: llama.cpp mmproj vs mvlm with llama.cpp's CLS ordering: {export_error:.2e}; "
        f"vs mvlm's true embeddings: {bug_error:.2e} (cosine {cosine:.4f})"
    )
    assert export_error < 2e-2
    assert bug_error > 10 * export_error  # llama.cpp issue 25814 is still there in 0.3.36; see docs/deploy.rst


def test_mmproj_load_error_is_reported(llama: Any, tmp_path: Path) -> None:
    from mvlm.errors import MvlmError
    from mvlm.inference.llamacpp import encode_image_with_mmproj

    broken = tmp_path / "mmproj.gguf"
    broken.write_bytes(b"GGUF broken")
    with pytest.raises(MvlmError, match="could not load the mmproj"):
        encode_image_with_mmproj(llama("v2", "f16"), broken, square_image())
