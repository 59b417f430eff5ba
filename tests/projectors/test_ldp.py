"""LDP (ldpnet): published key names, parameter counts, and numerics against the reference modules."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from mvlm.errors import ConfigError, ShapeError
from mvlm.projectors import LDPProjector, create_projector
from mvlm.projectors.mobilenet_blocks import make_divisible

PUBLISHED_LDP_KEYS = ["model.mlp.1.weight", "model.mlp.1.bias", "model.mlp.3.weight", "model.mlp.3.bias"] + [
    f"model.mb_block.{b}.block.{suffix}"
    for b in (1, 2)
    for suffix in (
        "0.0.weight",
        "0.1.weight",
        "0.1.bias",
        "1.fc1.weight",
        "1.fc1.bias",
        "1.fc2.weight",
        "1.fc2.bias",
        "2.0.weight",
        "2.1.weight",
        "2.1.bias",
    )
]


def test_state_dict_keys_are_the_published_24():
    ldp = create_projector("ldpnet", 32, 16)
    assert list(ldp.state_dict()) == PUBLISHED_LDP_KEYS
    assert len(PUBLISHED_LDP_KEYS) == 24


@pytest.mark.parametrize(("hidden", "squeeze", "params"), [(2048, 512, 18_936_832), (2560, 640, 28_913_920)])
def test_published_shapes_and_parameter_counts(hidden, squeeze, params):
    with torch.device("meta"):
        ldp = create_projector("ldpnet", 1024, hidden)
    shapes = {k: tuple(v.shape) for k, v in ldp.state_dict().items()}
    assert shapes["model.mlp.1.weight"] == (hidden, 1024)
    assert shapes["model.mlp.3.weight"] == (hidden, hidden)
    assert shapes["model.mb_block.1.block.0.0.weight"] == (hidden, 1, 3, 3)
    assert shapes["model.mb_block.2.block.1.fc1.weight"] == (squeeze, hidden, 1, 1)
    assert shapes["model.mb_block.2.block.1.fc2.weight"] == (hidden, squeeze, 1, 1)
    assert shapes["model.mb_block.2.block.2.0.weight"] == (hidden, hidden, 1, 1)
    assert sum(p.numel() for p in ldp.parameters()) == params


def test_make_divisible_matches_mobilenet_rounding():
    assert make_divisible(2048 // 4) == 512
    assert make_divisible(2560 // 4) == 640
    assert make_divisible(3) == 8  # never below the divisor
    assert make_divisible(20) == 24  # 20 -> 16 would lose more than 10 %, so it rounds up to 24


def _reference_ldp(in_dim: int, hidden: int) -> nn.Module:
    """The reference LDP built from torchvision's and timm's own modules (as MobileVLM's code does)."""
    timm_layers = pytest.importorskip("timm.layers")
    mobilenetv3 = pytest.importorskip("torchvision.models.mobilenetv3")
    norm = functools.partial(timm_layers.LayerNormAct2d, act_layer=None)

    def block(stride: int) -> nn.Module:
        config = mobilenetv3.InvertedResidualConfig(hidden, 3, hidden, hidden, True, "HS", stride, 1, 1)
        return mobilenetv3.InvertedResidual(config, norm)

    body = nn.Module()
    body.mlp = nn.Sequential(nn.Identity(), nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))
    body.mb_block = nn.Sequential(nn.Identity(), block(1), block(2))
    reference = nn.Module()
    reference.model = body
    return reference


def _run_reference(reference: nn.Module, x: torch.Tensor) -> torch.Tensor:
    batch, tokens, _ = x.shape
    side = int(tokens**0.5)
    y = reference.model.mlp(x).permute(0, 2, 1).reshape(batch, -1, side, side)
    return reference.model.mb_block(y).flatten(2).transpose(1, 2)


def test_numerics_equal_the_reference_torchvision_timm_modules():
    torch.manual_seed(0)
    reference = _reference_ldp(48, 64).eval()
    for p in reference.parameters():  # make LayerNorm affine and biases non-trivial
        nn.init.normal_(p, std=0.2)
    ours = create_projector("ldpnet", 48, 64).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)  # same keys, same shapes
    x = torch.randn(3, 576, 48)
    with torch.no_grad():
        expected = _run_reference(reference, x)
        got = ours(x)
    assert got.shape == (3, 144, 64)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_stride_is_configurable_and_non_square_grids_work():
    ldp = create_projector("ldpnet", 8, 16, stride=3)
    x = torch.randn(2, 7 * 10, 8)
    out = ldp(x, grid=(7, 10))
    assert out.shape == (2, 3 * 4, 16)  # ceil(7/3) * ceil(10/3)
    assert ldp.num_output_tokens(70, grid=(7, 10)) == 12
    assert create_projector("ldpnet", 8, 16, stride=1).num_output_tokens(576) == 576


def test_clear_errors():
    ldp = create_projector("ldpnet", 8, 16)
    with pytest.raises(ShapeError, match="not a square number"):
        ldp(torch.randn(1, 575, 8))
    with pytest.raises(ShapeError, match="grid=\\(5, 5\\)"):
        ldp(torch.randn(1, 24, 8), grid=(5, 5))
    with pytest.raises(ShapeError, match=r"\[batch, tokens, 8\]"):
        ldp(torch.randn(1, 16, 9))
    with pytest.raises(ConfigError, match="stride"):
        LDPProjector(8, 16, stride=0)
