"""The Perceiver resampler: fixed query count, position embeddings, option errors."""

from __future__ import annotations

import pytest
import torch

from mvlm.errors import ConfigError, ShapeError
from mvlm.projectors import create_projector
from mvlm.projectors.resampler import sincos_2d_position_embedding


def test_output_count_is_the_query_count_for_any_input():
    projector = create_projector("resampler", 16, 32, num_queries=7, num_heads=2, pos_embed=False)
    for tokens in (1, 5, 576):
        assert projector(torch.randn(2, tokens, 16)).shape == (2, 7, 32)
        assert projector.num_output_tokens(tokens) == 7


def test_position_embeddings_make_token_order_matter():
    torch.manual_seed(0)
    features = torch.randn(1, 16, 8)
    permuted = features[:, torch.randperm(16)]
    with_pos = create_projector("resampler", 8, 8, num_queries=3, num_heads=2, pos_embed=True).eval()
    without = create_projector("resampler", 8, 8, num_queries=3, num_heads=2, pos_embed=False).eval()
    with torch.no_grad():
        # attention over a set is permutation invariant; position embeddings break that symmetry
        torch.testing.assert_close(without(features), without(permuted), rtol=1e-4, atol=1e-5)
        assert not torch.allclose(with_pos(features), with_pos(permuted), atol=1e-4)


def test_sincos_table():
    table = sincos_2d_position_embedding((2, 3), 8)
    assert table.shape == (6, 8)
    # token (row 1, col 2) = index 5: first quarter sin(row * freq), third quarter sin(col * freq)
    freqs = 1.0 / 10000 ** (torch.arange(2) / 2)
    torch.testing.assert_close(table[5, :2], torch.sin(1 * freqs))
    torch.testing.assert_close(table[5, 4:6], torch.sin(2 * freqs))
    torch.testing.assert_close(table[5, 6:], torch.cos(2 * freqs))


def test_errors():
    with pytest.raises(ConfigError, match="must divide"):
        create_projector("resampler", 8, 8, num_heads=3, pos_embed=False)
    with pytest.raises(ConfigError, match="divisible by 4"):
        create_projector("resampler", 6, 8, num_heads=1)
    with pytest.raises(ConfigError, match="num_queries"):
        create_projector("resampler", 8, 8, num_queries=0)
    with pytest.raises(ShapeError, match="not a square number"):
        create_projector("resampler", 8, 8, num_heads=2).num_output_tokens(10)
