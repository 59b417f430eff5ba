"""Honeybee's C-Abstractor: structure, token count, errors."""

from __future__ import annotations

import pytest
import torch

from mvlm.errors import ConfigError, ShapeError
from mvlm.projectors import CAbstractorProjector, create_projector
from mvlm.projectors.cabstractor import ResNetBottleneck


def test_structure_and_output():
    projector = create_projector("c-abstractor", 16, 24, output_grid=4, depth=2, hidden_dim=12)
    assert isinstance(projector, CAbstractorProjector)
    assert len(projector.stage1) == 2 and len(projector.stage2) == 2
    assert projector(torch.randn(3, 64, 16)).shape == (3, 16, 24)
    assert projector.num_output_tokens(576) == 16


def test_bottleneck_shortcut_projects_only_when_widths_differ():
    assert isinstance(ResNetBottleneck(8, 8).shortcut, torch.nn.Identity)
    assert not isinstance(ResNetBottleneck(8, 4).shortcut, torch.nn.Identity)
    assert ResNetBottleneck(8, 4)(torch.randn(2, 8, 5, 5)).shape == (2, 4, 5, 5)


def test_errors():
    with pytest.raises(ShapeError, match="larger than the input grid"):
        create_projector("cabstractor", 8, 8, output_grid=12).num_output_tokens(100)
    with pytest.raises(ConfigError, match="depth"):
        create_projector("cabstractor", 8, 8, depth=0)
