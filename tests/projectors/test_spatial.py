"""pixel_shuffle and pool: token arithmetic checked against direct computations."""

from __future__ import annotations

import pytest
import torch

from mvlm.errors import ShapeError
from mvlm.projectors import create_projector


def test_pixel_shuffle_concatenates_each_block_row_major():
    projector = create_projector("pixel_shuffle", 2, 3, scale=2, mlp_depth=1)
    # Replace the MLP by an identity read-out of the shuffled width to inspect the layout.
    projector.mlp = torch.nn.Identity()
    grid = (4, 6)
    features = torch.arange(grid[0] * grid[1] * 2, dtype=torch.float32).reshape(1, 24, 2)
    out = projector(features, grid=grid)
    assert out.shape == (1, 2 * 3, 8)
    as_map = features.reshape(4, 6, 2)
    # output token (i, j) holds tokens (2i, 2j), (2i, 2j+1), (2i+1, 2j), (2i+1, 2j+1), each 2 channels wide
    for i in range(2):
        for j in range(3):
            expected = torch.cat([as_map[2 * i + a, 2 * j + b] for a in range(2) for b in range(2)])
            torch.testing.assert_close(out[0, i * 3 + j], expected)


def test_pixel_shuffle_token_count_and_errors():
    projector = create_projector("pixel_shuffle", 8, 16, scale=3)
    assert projector.num_output_tokens(576) == 64
    assert projector(torch.randn(2, 576, 8)).shape == (2, 64, 16)
    with pytest.raises(ShapeError, match="divisible by 3"):
        projector.num_output_tokens(100)


def test_pool_averages_blocks_before_the_mlp():
    projector = create_projector("pool", 4, 4, output_grid=(2, 3), mlp_depth=1)
    projector.mlp = torch.nn.Identity()
    features = torch.randn(1, 4 * 6, 4)
    out = projector(features, grid=(4, 6))
    expected = features.reshape(2, 2, 3, 2, 4).mean(dim=(1, 3)).reshape(1, 6, 4)
    torch.testing.assert_close(out, expected)


def test_pool_refuses_to_upsample():
    with pytest.raises(ShapeError, match="larger than the input grid 8x8"):
        create_projector("pool", 4, 4, output_grid=12)(torch.randn(1, 64, 4))
