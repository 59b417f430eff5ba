"""LDPv2 (ldpnetv2): published key names, parameter counts, numerics, and down-sampling options."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mvlm.errors import ConfigError, ShapeError
from mvlm.projectors import LDPv2Projector, create_projector

PUBLISHED_LDPV2_KEYS = [
    "mlp.mlp.0.weight",
    "mlp.mlp.0.bias",
    "mlp.mlp.2.weight",
    "mlp.mlp.2.bias",
    "peg.peg.0.weight",
    "peg.peg.0.bias",
]


def test_state_dict_keys_are_the_published_6():
    assert list(create_projector("ldpnetv2", 32, 16).state_dict()) == PUBLISHED_LDPV2_KEYS


@pytest.mark.parametrize(("hidden", "params"), [(2048, 6_316_032), (2560, 9_205_760), (4096, 21_020_672)])
def test_published_parameter_counts(hidden, params):
    with torch.device("meta"):
        projector = create_projector("ldpnetv2", 1024, hidden)
    assert sum(p.numel() for p in projector.parameters()) == params
    assert tuple(projector.state_dict()["peg.peg.0.weight"].shape) == (hidden, 1, 3, 3)


def test_numerics_equal_the_published_formula():
    """f0 = PW2(GELU(PW1(x))); f1 = AdaptiveAvgPool(12x12)(f0); out = f1 + DW(f1)."""
    torch.manual_seed(0)
    projector = create_projector("ldpnetv2", 24, 32).eval()
    sd = projector.state_dict()
    x = torch.randn(2, 576, 24)
    with torch.no_grad():
        f0 = nn.functional.linear(x, sd["mlp.mlp.0.weight"], sd["mlp.mlp.0.bias"])
        f0 = nn.functional.linear(nn.functional.gelu(f0), sd["mlp.mlp.2.weight"], sd["mlp.mlp.2.bias"])
        f0 = f0.permute(0, 2, 1).reshape(2, 32, 24, 24)
        f1 = nn.AdaptiveAvgPool2d((12, 12))(f0)
        expected = f1 + nn.functional.conv2d(f1, sd["peg.peg.0.weight"], sd["peg.peg.0.bias"], padding=1, groups=32)
        expected = expected.flatten(2).transpose(1, 2)
        got = projector(x)
    assert got.shape == (2, 144, 32)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    # on a 24x24 grid, the adaptive pool to 12x12 is exactly a 2x2 average pool with stride 2
    torch.testing.assert_close(nn.AdaptiveAvgPool2d((12, 12))(f0), nn.functional.avg_pool2d(f0, 2), rtol=0, atol=1e-6)


def test_fixed_output_grid_ignores_the_input_size():
    projector = create_projector("ldpnetv2", 8, 8)
    assert projector.num_output_tokens(576) == 144
    assert projector.num_output_tokens(16 * 16) == 144  # 16x16 -> 12x12, like the reference
    assert projector(torch.randn(1, 20 * 30, 8), grid=(20, 30)).shape == (1, 144, 8)
    assert create_projector("ldpnetv2", 8, 8, output_grid=(6, 4)).num_output_tokens(576) == 24


def test_downsample_factor_mode():
    projector = create_projector("ldpnetv2", 8, 8, output_grid=None, downsample=3)
    assert projector.num_output_tokens(576) == 64
    assert projector(torch.randn(2, 7 * 5, 8), grid=(7, 5)).shape == (2, 3 * 2, 8)


def test_clear_errors():
    with pytest.raises(ConfigError, match="exactly one of output_grid"):
        LDPv2Projector(8, 8, downsample=2)
    with pytest.raises(ConfigError, match="exactly one of output_grid"):
        LDPv2Projector(8, 8, output_grid=None)
    with pytest.raises(ShapeError, match="larger than the input grid 8x8"):
        create_projector("ldpnetv2", 8, 8).num_output_tokens(64)
    with pytest.raises(ShapeError, match="not a square number"):
        create_projector("ldpnetv2", 8, 8)(torch.randn(1, 577, 8))
