"""The projector contract, factory and AutoProjector."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from mvlm.errors import ConfigError, DuplicateNameError, ShapeError, UnknownNameError
from mvlm.projectors import (
    PROJECTORS,
    AutoProjector,
    GridProjector,
    LDPProjector,
    LDPv2Projector,
    Projector,
    check_pooled_grid,
    create_projector,
    list_projectors,
    register_projector,
)


class _Halver(Projector):
    """Keeps every second token."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True) -> None:
        super().__init__(in_dim, out_dim)
        self.proj = nn.Linear(in_dim, out_dim, bias=bias)

    def forward(self, features, grid=None):
        self.check_features(features)
        return self.proj(features[:, ::2])

    def num_output_tokens(self, num_input_tokens, grid=None):
        return (num_input_tokens + 1) // 2


@pytest.fixture
def halver():
    register_projector("test_halver", aliases=("test_half",))(_Halver)
    yield _Halver
    PROJECTORS.unregister("test_halver")


def test_user_projector_is_built_by_name_and_alias(halver):
    assert "test_halver" in list_projectors()
    projector = create_projector("test_half", 4, 6, bias=False)
    assert isinstance(projector, halver) and projector.proj.bias is None
    assert projector(torch.randn(2, 5, 4)).shape == (2, 3, 6)
    config = {"mm_projector_type": "test_halver", "mm_hidden_size": 4, "hidden_size": 6}
    assert isinstance(AutoProjector.from_config(config), halver)


def test_registering_a_taken_name_raises(halver):
    with pytest.raises(DuplicateNameError, match="already registered"):
        register_projector("test_halver")(_Halver)
    with pytest.raises(DuplicateNameError, match="ldpnet"):
        register_projector("ldp")(_Halver)
    with pytest.raises(DuplicateNameError, match="mlp\\{N\\}x_gelu"):
        register_projector("mlp7x_gelu")(_Halver)


def test_only_projector_subclasses_can_register():
    with pytest.raises(ConfigError, match=r"subclass of mvlm\.projectors\.Projector"):
        register_projector("test_not_a_projector")(nn.Linear)
    assert "test_not_a_projector" not in PROJECTORS


def test_unknown_options_name_the_accepted_ones():
    with pytest.raises(ConfigError, match="accepts: stride"):
        create_projector("ldpnet", 8, 8, strides=2)
    with pytest.raises(ConfigError, match="no options"):
        create_projector("linear", 8, 8, depth=2)


def test_unknown_name_lists_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean 'ldpnetv2'"):
        create_projector("ldpnetv3", 8, 8)


def test_dimensions_are_validated():
    with pytest.raises(ConfigError, match="in_dim must be a positive int"):
        create_projector("ldpnet", 0, 8)
    with pytest.raises(ConfigError, match="out_dim must be a positive int"):
        create_projector("linear", 8, 2.5)


@pytest.mark.parametrize(
    ("projector_type", "cls"), [("ldpnet", LDPProjector), ("ldpnetv2", LDPv2Projector), (None, type(None))]
)
def test_auto_projector_reads_published_config_fields(projector_type, cls):
    class Config:
        mm_hidden_size = 16
        hidden_size = 8

    config = Config()
    config.mm_projector_type = projector_type  # type: ignore[attr-defined]
    projector = AutoProjector.from_config(config)
    if projector_type is None:  # the reference's default when the field is absent or null
        assert type(projector).__name__ == "LinearProjector"
    else:
        assert isinstance(projector, cls)
    assert (projector.in_dim, projector.out_dim) == (16, 8)


def test_auto_projector_options_and_missing_fields():
    config = {
        "mm_projector_type": "ldpnetv2",
        "mm_hidden_size": 8,
        "hidden_size": 8,
        "mm_projector_options": {"output_grid": 6},
    }
    assert AutoProjector.from_config(config).num_output_tokens(576) == 36
    with pytest.raises(ConfigError, match="'mm_hidden_size'"):
        AutoProjector.from_config({"mm_projector_type": "ldpnet", "hidden_size": 8})


def test_check_pooled_grid_refuses_up_sampling():
    assert check_pooled_grid((12, 12), 24) == (12, 12)
    assert check_pooled_grid((2, 3), (2, 5), "me") == (2, 3)
    with pytest.raises(ShapeError, match="me pools to 3x3, larger than the input grid 2x5; use a smaller output_grid"):
        check_pooled_grid((3, 3), (2, 5), "me")


def test_grid_projectors_share_the_grid_contract():
    for name in ("ldpnet", "ldpnetv2", "pool", "pixel_shuffle", "cabstractor"):
        projector = create_projector(name, 8, 8)
        assert isinstance(projector, GridProjector)
        assert projector.num_output_tokens(24 * 24) == projector.output_grid(24)[0] * projector.output_grid(24)[1]
        with pytest.raises(ShapeError, match=re.escape(f"{projector.grid_owner} arranges tokens on a 2-D grid")):
            projector.num_output_tokens(24 * 24 + 1)
