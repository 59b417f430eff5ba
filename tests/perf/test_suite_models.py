"""The benchmark suite's models (``benchmarks/suite_models.py``): shapes, shared weights, the LLaVA peer.

No timing: the suite measures; these tests check that what it compares is what it says.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from suite_models import (  # noqa: E402
    LayerSets,
    build_llava_peer,
    build_mobilevlm,
    decode_bytes_per_token,
    language_linears,
)


@pytest.fixture(scope="module")
def quick_model():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield build_mobilevlm("mobilevlm-v2-1.7b", quick=True)
    torch.set_num_threads(threads)


def test_layer_sets_swap_and_shrink_the_bytes_read_per_token(quick_model):
    sets = LayerSets(quick_model, ["float32", "int8", "int4"])
    sizes = {name: decode_bytes_per_token(sets.use(name)) for name in sets.sets}
    assert sizes["int4"] < sizes["int8"] < sizes["float32"]
    layers = [name for name in language_linears(sets.use("int8")) if name != "lm_head"]
    assert layers and all(type(quick_model.get_submodule(n)).__name__ == "Int8Linear" for n in layers)
    sets.use("float32")
    assert type(quick_model.get_submodule(layers[0])) is torch.nn.Linear


def test_llava_peer_shares_the_weights_and_runs_576_image_tokens(quick_model):
    peer = build_llava_peer(quick_model)
    assert peer.model.language_model is quick_model.model and peer.lm_head is quick_model.lm_head
    assert peer.config.image_seq_length == 576  # 336 px, patch 14, CLS dropped
    ids = torch.tensor([[1, 5, 9, 42, 7]])
    with torch.no_grad():
        expected = quick_model(input_ids=ids).logits
        got = peer(input_ids=ids).logits
    torch.testing.assert_close(got, expected)
    image = peer.config.image_token_id
    with_image = torch.tensor([[1, 5, *[image] * 576, 9]])
    pixels = torch.randn(1, 3, 336, 336)
    with torch.no_grad():
        out = peer(input_ids=with_image, pixel_values=pixels).logits
    assert out.shape[:2] == (1, 579)
