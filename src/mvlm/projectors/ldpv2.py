"""LDPv2, the projector of MobileVLM V2 (``mm_projector_type: ldpnetv2``).

Architecture (arXiv 2402.03766, and the published checkpoints)::

    [B, N, in] -> mlp.mlp: Linear(in, H), GELU (exact), Linear(H, H)    token-wise "pointwise convs"
               -> as a [B, H, h, w] map
               -> dwn: AdaptiveAvgPool2d(12, 12)                         24x24 -> 12x12 (= 2x2 avg pool)
               -> peg.peg: depthwise Conv2d(H, H, 3, padding 1, bias); out = peg(x) + x   (PEG)
               -> [B, 144, H]

Keys: ``mlp.mlp.{0,2}.{weight,bias}``, ``peg.peg.0.{weight,bias}``; parameters at 1024 -> 2048:
6,316,032.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from mvlm.errors import ConfigError
from mvlm.projectors.base import GridProjector, register_projector
from mvlm.projectors.grid import Grid, GridLike, check_pooled_grid, map_to_tokens, to_grid, tokens_to_map

__all__ = ["FeatureIRLayer", "LDPv2Projector", "PosInjectLayer", "TokenDownLayer"]


class FeatureIRLayer(nn.Module):
    """Token-wise MLP ``Linear(in, H) -> GELU -> Linear(H, H)`` held as ``.mlp``."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x)


class TokenDownLayer(nn.Module):
    """Adaptive average pooling of a ``[B, C, h, w]`` map to a given grid (no parameters).

    For a 24x24 map pooled to 12x12 this is exactly a 2x2 average pool with stride 2.
    """

    def forward(self, x: Tensor, output_grid: Grid) -> Tensor:
        return F.adaptive_avg_pool2d(x, output_grid)


class PosInjectLayer(nn.Module):
    """Positional encoding generator: ``x + depthwise_conv3x3(x)``, the conv held as ``.peg``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.peg = nn.Sequential(nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=True, groups=channels))

    def forward(self, x: Tensor) -> Tensor:
        return self.peg(x) + x


@register_projector("ldpnetv2", aliases=("ldpv2",))
class LDPv2Projector(GridProjector):
    """MobileVLM V2's projector: MLP, average-pool down-sampling, positional conv with residual.

    Args:
        in_dim: Vision feature width.
        out_dim: Language-model width.
        output_grid: The pooled grid, an int side or ``(h, w)``; 12 (the published value) gives
            144 tokens whatever the input grid, like the reference's ``AdaptiveAvgPool2d((12, 12))``.
            Set it to ``None`` to use ``downsample`` instead.
        downsample: Pool by this factor instead of to a fixed grid: each side ``s`` becomes
            ``ceil(s / downsample)``. Only with ``output_grid=None``.

    Raises:
        ConfigError: Both or neither of ``output_grid`` and ``downsample`` are given.
    """

    paper = "MobileVLM V2, arXiv 2402.03766"
    grid_owner = "LDPv2 (ldpnetv2)"

    def __init__(
        self, in_dim: int, out_dim: int, output_grid: GridLike | None = 12, downsample: int | None = None
    ) -> None:
        super().__init__(in_dim, out_dim)
        if (output_grid is None) == (downsample is None):
            raise ConfigError(
                "LDPv2Projector: give exactly one of output_grid (a fixed pooled grid, 12 as published) "
                f"and downsample (a factor; set output_grid=None to use it); got output_grid={output_grid!r}, "
                f"downsample={downsample!r}"
            )
        if downsample is not None and (
            not isinstance(downsample, int) or isinstance(downsample, bool) or downsample < 1
        ):
            raise ConfigError(f"LDPv2Projector: downsample must be a positive int, got {downsample!r}")
        self.fixed_grid: Grid | None = None if output_grid is None else to_grid(output_grid, "output_grid")
        self.downsample = downsample
        self.mlp = FeatureIRLayer(in_dim, out_dim)
        self.dwn = TokenDownLayer()
        self.peg = PosInjectLayer(out_dim)

    def output_grid(self, grid: GridLike) -> Grid:
        """The pooled ``(h, w)`` for an input grid; raises ``ShapeError`` if pooling would up-sample."""
        h, w = to_grid(grid)
        if self.fixed_grid is None:
            factor = self.downsample or 1
            return (-(-h // factor), -(-w // factor))
        hint = "use a smaller output_grid, or output_grid=None with downsample=N"
        return check_pooled_grid(self.fixed_grid, (h, w), self.grid_owner, hint)

    def forward(self, features: Tensor, grid: GridLike | None = None) -> Tensor:
        """``[batch, h*w, in_dim]`` -> ``[batch, out_h * out_w, out_dim]``."""
        in_grid = self.input_grid(features, grid)
        pooled_grid = self.output_grid(in_grid)
        feature_map = tokens_to_map(self.mlp(features), in_grid)
        return map_to_tokens(self.peg(self.dwn(feature_map, pooled_grid)))

    def extra_repr(self) -> str:
        size = f"output_grid={self.fixed_grid}" if self.fixed_grid else f"downsample={self.downsample}"
        return f"{super().extra_repr()}, {size}"
