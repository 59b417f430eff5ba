"""Property tests over every built-in projector: shapes, token counts, batch independence, dtypes, gradients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mvlm.projectors import Projector, create_projector, list_projectors

dims = st.integers(min_value=1, max_value=24)
sides = st.integers(min_value=1, max_value=9)


@dataclass
class Case:
    name: str
    in_dim: int
    out_dim: int
    options: dict[str, Any]
    grid: tuple[int, int]
    batch: int
    pass_grid: bool


def _grid_and_flag(draw: st.DrawFn, min_side: int = 1, multiple: int = 1) -> tuple[tuple[int, int], bool]:
    h = draw(st.integers(min_value=max(1, min_side // multiple), max_value=max(1, 9 // multiple))) * multiple
    w = draw(st.integers(min_value=max(1, min_side // multiple), max_value=max(1, 9 // multiple))) * multiple
    pass_grid = h != w or draw(st.booleans())
    return (h, w), pass_grid


def _ldpnet(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, int], bool, int | None]:
    grid, flag = _grid_and_flag(draw)
    return "ldpnet", {"stride": draw(st.integers(1, 3))}, grid, flag, None


def _ldpnetv2(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, int], bool, int | None]:
    grid, flag = _grid_and_flag(draw)
    if draw(st.booleans()):
        options: dict[str, Any] = {"output_grid": (draw(st.integers(1, grid[0])), draw(st.integers(1, grid[1])))}
    else:
        options = {"output_grid": None, "downsample": draw(st.integers(1, 3))}
    return "ldpnetv2", options, grid, flag, None


def _tokenwise(name: str) -> Callable[[st.DrawFn], tuple[str, dict[str, Any], tuple[int, int], bool, int | None]]:
    def build(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, int], bool, int | None]:
        grid, flag = _grid_and_flag(draw)
        concrete = f"mlp{draw(st.integers(1, 3))}x_gelu" if name == "mlp{N}x_gelu" else name
        return concrete, {}, grid, flag and draw(st.booleans()), None

    return build


def _identity(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, int], bool, int | None]:
    grid, flag = _grid_and_flag(draw)
    return "identity", {}, grid, flag, -1  # out_dim = in_dim


def _pixel_shuffle(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, int], bool, int | None]:
    scale = draw(st.integers(1, 3))
    grid, flag = _grid_and_flag(draw, multiple=scale)
    return "pixel_shuffle", {"scale": scale, "mlp_depth": draw(st.integers(1, 2))}, grid, flag, None


def _pooled(name: str) -> Callable[[st.DrawFn], tuple[str, dict[str, Any], tuple[int, int], bool, int | None]]:
    def build(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, int], bool, int | None]:
        grid, flag = _grid_and_flag(draw)
        options: dict[str, Any] = {"output_grid": (draw(st.integers(1, grid[0])), draw(st.integers(1, grid[1])))}
        if name == "cabstractor":
            options |= {"depth": draw(st.integers(1, 2)), "hidden_dim": draw(st.integers(1, 12))}
        return name, options, grid, flag, None

    return build


def _resampler(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, int], bool, int | None]:
    grid, flag = _grid_and_flag(draw)
    heads = draw(st.integers(1, 3))
    options = {
        "num_queries": draw(st.integers(1, 6)),
        "depth": draw(st.integers(1, 2)),
        "num_heads": heads,
        "hidden_dim": 4 * heads * draw(st.integers(1, 2)),
        "pos_embed": draw(st.booleans()),
    }
    return "resampler", options, grid, flag, None


CASE_BUILDERS = {
    "ldpnet": _ldpnet,
    "ldpnetv2": _ldpnetv2,
    "linear": _tokenwise("linear"),
    "mlp{N}x_gelu": _tokenwise("mlp{N}x_gelu"),
    "identity": _identity,
    "pixel_shuffle": _pixel_shuffle,
    "pool": _pooled("pool"),
    "cabstractor": _pooled("cabstractor"),
    "resampler": _resampler,
}


def test_every_built_in_projector_is_covered():
    assert set(list_projectors()) == set(CASE_BUILDERS)


@st.composite
def cases(draw: st.DrawFn, family: str) -> Case:
    name, options, grid, pass_grid, out_override = CASE_BUILDERS[family](draw)
    in_dim = draw(dims)
    out_dim = in_dim if out_override == -1 else draw(dims)
    return Case(name, in_dim, out_dim, options, grid, draw(st.integers(1, 3)), pass_grid)


def _build(case: Case) -> tuple[Projector, torch.Tensor, tuple[int, int] | None]:
    projector = create_projector(case.name, case.in_dim, case.out_dim, **case.options)
    features = torch.randn(case.batch, case.grid[0] * case.grid[1], case.in_dim)
    grid = case.grid if case.pass_grid or case.grid[0] != case.grid[1] else None
    return projector, features, grid


PROPERTY_SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("family", sorted(CASE_BUILDERS))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_output_shape_matches_num_output_tokens(family, data):
    case = data.draw(cases(family))
    projector, features, grid = _build(case)
    out = projector(features, grid=grid)
    expected_tokens = projector.num_output_tokens(features.shape[1], grid=grid)
    assert out.shape == (case.batch, expected_tokens, case.out_dim)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("family", sorted(CASE_BUILDERS))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_batch_elements_are_independent(family, data):
    case = data.draw(cases(family))
    projector, features, grid = _build(case)
    projector.eval()
    with torch.no_grad():
        together = projector(features, grid=grid)
        alone = torch.cat([projector(features[i : i + 1], grid=grid) for i in range(case.batch)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("family", sorted(CASE_BUILDERS))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_bfloat16_runs_and_tracks_float32(family, data):
    case = data.draw(cases(family))
    # Channel LayerNorms over a handful of channels amplify rounding without bound (two nearly equal
    # channels normalise to +-1), so compare precisions at widths where the comparison means something.
    case.in_dim, case.out_dim = case.in_dim + 16, (case.in_dim + 16 if family == "identity" else case.out_dim + 16)
    if family == "cabstractor":
        case.options["hidden_dim"] += 16
    if family == "resampler":
        case.options["hidden_dim"] += 16 * case.options["num_heads"]
    projector, features, grid = _build(case)
    with torch.no_grad():
        reference = projector(features, grid=grid)
        low = projector.to(torch.bfloat16)(features.to(torch.bfloat16), grid=grid)
    assert low.dtype == torch.bfloat16 and low.shape == reference.shape
    relative_error = (low.float() - reference).norm() / (reference.norm() + 1e-6)
    assert relative_error.item() <= 0.05


@pytest.mark.parametrize("family", sorted(CASE_BUILDERS))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_gradients_reach_every_parameter(family, data):
    case = data.draw(cases(family))
    projector, features, grid = _build(case)
    features.requires_grad_(True)
    out = projector(features, grid=grid)
    (out * torch.randn_like(out)).sum().backward()
    assert features.grad is not None and torch.isfinite(features.grad).all()
    for name, parameter in projector.named_parameters():
        assert parameter.grad is not None, f"{case.name}: no gradient reached {name}"
        assert torch.isfinite(parameter.grad).all()
