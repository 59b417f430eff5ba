"""Token grids: vision features as a sequence ``[B, N, C]`` and as a 2-D map ``[B, C, h, w]``.

Vision towers emit patch tokens in raster order (row by row). Spatial projectors view them as an
``h x w`` map; when ``N`` is a square number and no grid is given, ``h = w = sqrt(N)`` as in the
reference implementation.
"""

from __future__ import annotations

import math

from torch import Tensor

from mvlm.errors import ConfigError, ShapeError

__all__ = ["Grid", "GridLike", "check_pooled_grid", "infer_grid", "map_to_tokens", "to_grid", "tokens_to_map"]

Grid = tuple[int, int]
"""A token grid as ``(height, width)``."""

GridLike = int | tuple[int, int]
"""A grid given as one side (a square) or as ``(height, width)``."""


def to_grid(value: GridLike, what: str = "grid") -> Grid:
    """Normalise ``value`` (an int side or an ``(h, w)`` pair) to a ``(h, w)`` tuple of positive ints.

    Raises:
        ConfigError: ``value`` is not a positive int or a pair of positive ints.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be an int or a (height, width) pair, got {value!r}")
    if isinstance(value, int):
        pair: tuple[object, ...] = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        pair = tuple(value)
    else:
        raise ConfigError(f"{what} must be an int or a (height, width) pair, got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ConfigError(f"{what} must hold positive ints, got {value!r}")
    return (int(pair[0]), int(pair[1]))  # type: ignore[call-overload]


def infer_grid(num_tokens: int, grid: GridLike | None = None, who: str = "this projector") -> Grid:
    """The ``(h, w)`` grid of ``num_tokens`` tokens: ``grid`` if given, else the square root.

    Args:
        num_tokens: ``N``, the number of input tokens.
        grid: An explicit grid; must satisfy ``h * w == N``.
        who: The component asking, for the error message.

    Raises:
        ShapeError: ``N`` is not a square number and no grid was given, or ``h * w != N``.
    """
    if grid is None:
        side = math.isqrt(num_tokens) if num_tokens > 0 else 0
        if num_tokens <= 0 or side * side != num_tokens:
            raise ShapeError(
                f"{who} arranges tokens on a 2-D grid, but {num_tokens} tokens is not a square number; "
                f"pass grid=(height, width) with height * width == {num_tokens}"
            )
        return (side, side)
    h, w = to_grid(grid)
    if h * w != num_tokens:
        raise ShapeError(f"{who} was given grid={grid!r} ({h * w} cells) for {num_tokens} tokens; they must match")
    return (h, w)


def check_pooled_grid(
    pooled: Grid, grid: GridLike, who: str = "this projector", hint: str = "use a smaller output_grid"
) -> Grid:
    """``pooled``, the fixed grid a projector pools to, once checked to fit in the input ``grid``.

    Args:
        pooled: The ``(h, w)`` the projector pools to.
        grid: The input grid.
        who: The component asking, for the error message.
        hint: What to do instead, for the error message.

    Raises:
        ShapeError: ``pooled`` is larger than ``grid`` on a side (pooling would up-sample).
    """
    h, w = to_grid(grid)
    if pooled[0] > h or pooled[1] > w:
        raise ShapeError(f"{who} pools to {pooled[0]}x{pooled[1]}, larger than the input grid {h}x{w}; {hint}")
    return pooled


def tokens_to_map(tokens: Tensor, grid: Grid) -> Tensor:
    """``[B, h*w, C]`` (raster order) -> ``[B, C, h, w]``."""
    batch, _, channels = tokens.shape
    return tokens.transpose(1, 2).reshape(batch, channels, grid[0], grid[1])


def map_to_tokens(feature_map: Tensor) -> Tensor:
    """``[B, C, h, w]`` -> ``[B, h*w, C]`` (raster order)."""
    return feature_map.flatten(2).transpose(1, 2)
