"""``cabstractor``: Honeybee's C-Abstractor (arXiv 2312.06742), a locality-preserving projector::

    [B, N, in] -> as a map -> stage 1: ``depth`` ResNet bottleneck blocks (in -> hidden)
               -> adaptive average pool to ``output_grid``
               -> stage 2: ``depth`` bottleneck blocks (hidden -> hidden)
               -> readout: Linear(hidden, out), SiLU, Linear(out, out)       -> [B, h'*w', out]

Blocks use channel LayerNorm, SiLU and squeeze-excitation as Honeybee's RegNet-style stages do.
Unlike Honeybee this version adds no learned position embedding to the input, so it takes any
grid; the convolutions see where each token is.
"""

from __future__ import annotations

from torch import Tensor, nn

from mvlm.errors import ConfigError
from mvlm.projectors.base import GridProjector, register_projector
from mvlm.projectors.grid import Grid, GridLike, check_pooled_grid, map_to_tokens, to_grid, tokens_to_map
from mvlm.projectors.mobilenet_blocks import ChannelLayerNorm2d, SqueezeExcitation

__all__ = ["CAbstractorProjector", "ResNetBottleneck"]


class ResNetBottleneck(nn.Module):
    """1x1 conv -> 3x3 conv -> squeeze-excitation -> 1x1 conv, with a (projected) shortcut.

    Each conv is followed by a channel LayerNorm; SiLU after the first two and after the sum.

    Args:
        in_channels: Input channels.
        out_channels: Output (and bottleneck) channels.
        se_ratio: Squeeze width as a fraction of ``in_channels``.
    """

    def __init__(self, in_channels: int, out_channels: int, se_ratio: float = 0.25) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), ChannelLayerNorm2d(out_channels, eps=1e-6), nn.SiLU()
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            ChannelLayerNorm2d(out_channels, eps=1e-6),
            nn.SiLU(),
        )
        squeeze = max(1, int(in_channels * se_ratio))
        self.se = SqueezeExcitation(out_channels, squeeze, activation=nn.SiLU, gate=nn.Sigmoid)
        self.conv3 = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, 1, bias=False), ChannelLayerNorm2d(out_channels, eps=1e-6)
        )
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), ChannelLayerNorm2d(out_channels, eps=1e-6)
            )
        )
        self.act = nn.SiLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv3(self.se(self.conv2(self.conv1(x)))) + self.shortcut(x))


@register_projector("cabstractor", aliases=("c-abstractor", "c_abstractor"))
class CAbstractorProjector(GridProjector):
    """Honeybee's C-Abstractor: convolution stages around an adaptive pool, then an MLP readout.

    Args:
        in_dim: Vision feature width.
        out_dim: Language-model width.
        output_grid: The pooled grid (int side or ``(h, w)``); 12 gives 144 tokens. Must not be
            larger than the input grid.
        depth: Bottleneck blocks in each of the two stages (3 in Honeybee).
        hidden_dim: Channels of the convolution stages (default: ``in_dim``).
    """

    paper = "Honeybee, arXiv 2312.06742"
    grid_owner = "cabstractor"

    def __init__(
        self, in_dim: int, out_dim: int, output_grid: GridLike = 12, depth: int = 3, hidden_dim: int | None = None
    ) -> None:
        super().__init__(in_dim, out_dim)
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
            raise ConfigError(f"cabstractor: depth must be a positive int, got {depth!r}")
        hidden = in_dim if hidden_dim is None else hidden_dim
        if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
            raise ConfigError(f"cabstractor: hidden_dim must be a positive int, got {hidden_dim!r}")
        self.pooled_grid = to_grid(output_grid, "output_grid")
        self.depth = depth
        self.hidden_dim = hidden
        self.stage1 = nn.Sequential(*(ResNetBottleneck(in_dim if i == 0 else hidden, hidden) for i in range(depth)))
        self.sampler = nn.AdaptiveAvgPool2d(self.pooled_grid)
        self.stage2 = nn.Sequential(*(ResNetBottleneck(hidden, hidden) for _ in range(depth)))
        self.readout = nn.Sequential(nn.Linear(hidden, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def output_grid(self, grid: GridLike) -> Grid:
        """The pooled grid; raises ``ShapeError`` if it is larger than ``grid``."""
        return check_pooled_grid(self.pooled_grid, grid, self.grid_owner)

    def forward(self, features: Tensor, grid: GridLike | None = None) -> Tensor:
        """``[batch, h*w, in_dim]`` -> ``[batch, out_h*out_w, out_dim]``."""
        in_grid = self.input_grid(features, grid)
        self.output_grid(in_grid)
        feature_map = self.stage2(self.sampler(self.stage1(tokens_to_map(features, in_grid))))
        return self.readout(map_to_tokens(feature_map))

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, output_grid={self.pooled_grid}, depth={self.depth}, hidden_dim={self.hidden_dim}"
        )
