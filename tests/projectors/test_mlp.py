"""linear, mlp{N}x_gelu and identity: LLaVA key layouts and behaviour."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mvlm.errors import ConfigError, UnknownNameError
from mvlm.projectors import MLPProjector, create_projector, get_projector_class


def test_linear_has_the_keys_of_a_plain_linear_layer_and_the_same_output():
    torch.manual_seed(0)
    projector = create_projector("linear", 12, 6)
    assert list(projector.state_dict()) == ["weight", "bias"]
    reference = nn.Linear(12, 6)
    reference.load_state_dict(projector.state_dict(), strict=True)
    x = torch.randn(2, 5, 12)
    torch.testing.assert_close(projector(x), reference(x))


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_mlp_family_keys_follow_llava(depth):
    projector = create_projector(f"mlp{depth}x_gelu", 12, 6)
    assert isinstance(projector, MLPProjector) and projector.depth == depth
    expected = [f"{2 * i}.{kind}" for i in range(depth) for kind in ("weight", "bias")]
    assert list(projector.state_dict()) == expected
    reference = nn.Sequential(nn.Linear(12, 6), *[m for _ in range(depth - 1) for m in (nn.GELU(), nn.Linear(6, 6))])
    reference.load_state_dict(projector.state_dict(), strict=True)
    x = torch.randn(3, 4, 12)
    torch.testing.assert_close(projector(x), reference(x))


def test_mlp_family_names():
    with pytest.raises(UnknownNameError):
        get_projector_class("mlp0x_gelu")
    with pytest.raises(UnknownNameError, match="mlp2x_gelu"):
        get_projector_class("mlp2x_relu")


def test_identity():
    x = torch.randn(2, 3, 8)
    assert create_projector("identity", 8, 8)(x) is x
    with pytest.raises(ConfigError, match="in_dim == out_dim"):
        create_projector("identity", 8, 16)
