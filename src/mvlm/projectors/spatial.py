"""Down-sampling projectors that trade tokens for width or average them away.

- ``pixel_shuffle``: space-to-depth then an MLP (SmolVLM / Idefics3): every ``r x r`` block of
  tokens becomes one token ``r*r`` times as wide, so ``N -> N / r^2``.
- ``pool``: adaptive average pooling of the token grid to a fixed grid, then an MLP.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from mvlm.errors import ConfigError, ShapeError
from mvlm.projectors.base import GridProjector, register_projector
from mvlm.projectors.grid import Grid, GridLike, check_pooled_grid, map_to_tokens, to_grid, tokens_to_map
from mvlm.projectors.mlp import gelu_mlp

__all__ = ["PixelShuffleProjector", "PoolProjector"]


def _positive_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{what} must be a positive int, got {value!r}")
    return value


@register_projector("pixel_shuffle", aliases=("pixelshuffle", "space_to_depth"))
class PixelShuffleProjector(GridProjector):
    """Space-to-depth (pixel unshuffle) of the token grid, then an MLP (SmolVLM, Idefics3).

    Each ``scale x scale`` block of neighbouring tokens is concatenated channel-wise (row-major
    within the block) into one token of width ``in_dim * scale**2``, then projected.

    Args:
        in_dim: Vision feature width.
        out_dim: Language-model width.
        scale: Block side ``r``; the grid sides must be divisible by it. ``N -> N / r^2``.
        mlp_depth: Linear layers after the shuffle (1 = a single linear layer as in Idefics3,
            2 = ``Linear, GELU, Linear``).
    """

    paper = "Idefics3, arXiv 2408.12637; SmolVLM, arXiv 2504.05299"
    grid_owner = "pixel_shuffle"

    def __init__(self, in_dim: int, out_dim: int, scale: int = 2, mlp_depth: int = 2) -> None:
        super().__init__(in_dim, out_dim)
        self.scale = _positive_int(scale, "PixelShuffleProjector: scale")
        self.mlp = gelu_mlp(in_dim * self.scale**2, out_dim, mlp_depth)

    def output_grid(self, grid: GridLike) -> Grid:
        """The ``(h / scale, w / scale)`` grid; raises ``ShapeError`` if a side is not divisible."""
        h, w = to_grid(grid)
        if h % self.scale or w % self.scale:
            raise ShapeError(
                f"pixel_shuffle with scale={self.scale} needs grid sides divisible by {self.scale}, "
                f"got a {h}x{w} grid; pick a scale that divides both sides"
            )
        return (h // self.scale, w // self.scale)

    def forward(self, features: Tensor, grid: GridLike | None = None) -> Tensor:
        """``[batch, h*w, in_dim]`` -> ``[batch, (h/r)*(w/r), out_dim]``."""
        h, w = self.input_grid(features, grid)
        out_h, out_w = self.output_grid((h, w))
        r, batch, channels = self.scale, features.shape[0], self.in_dim
        blocks = features.reshape(batch, out_h, r, out_w, r, channels).permute(0, 1, 3, 2, 4, 5)
        return self.mlp(blocks.reshape(batch, out_h * out_w, r * r * channels))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scale={self.scale}"


@register_projector("pool", aliases=("avgpool", "avg_pool"))
class PoolProjector(GridProjector):
    """Adaptive average pooling of the token grid to ``output_grid``, then a GELU MLP.

    Args:
        in_dim: Vision feature width.
        out_dim: Language-model width.
        output_grid: The pooled grid (int side or ``(h, w)``); 12 gives 144 tokens like LDP.
            It must not be larger than the input grid.
        mlp_depth: Linear layers of the MLP applied after pooling.
    """

    paper = "adaptive average pooling (e.g. LLaVA-OneVision, arXiv 2408.03326)"
    grid_owner = "pool projector"

    def __init__(self, in_dim: int, out_dim: int, output_grid: GridLike = 12, mlp_depth: int = 2) -> None:
        super().__init__(in_dim, out_dim)
        self.pooled_grid = to_grid(output_grid, "output_grid")
        self.mlp = gelu_mlp(in_dim, out_dim, mlp_depth)

    def output_grid(self, grid: GridLike) -> Grid:
        """The pooled grid; raises ``ShapeError`` if it is larger than ``grid``."""
        return check_pooled_grid(self.pooled_grid, grid, self.grid_owner)

    def forward(self, features: Tensor, grid: GridLike | None = None) -> Tensor:
        """``[batch, h*w, in_dim]`` -> ``[batch, out_h*out_w, out_dim]``."""
        in_grid = self.input_grid(features, grid)
        pooled = F.adaptive_avg_pool2d(tokens_to_map(features, in_grid), self.output_grid(in_grid))
        return self.mlp(map_to_tokens(pooled))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, output_grid={self.pooled_grid}"
