"""LDP, the Lightweight Downsample Projector of MobileVLM v1 (``mm_projector_type: ldpnet``).

Architecture (arXiv 2312.16886, and the published checkpoints)::

    [B, N, in] -> mlp: Identity, Linear(in, H), GELU (exact), Linear(H, H)      -> [B, N, H]
               -> as a [B, H, h, w] map
               -> mb_block: Identity,
                            InvertedResidual(H, stride 1)   (with residual)
                            InvertedResidual(H, stride 2)   (no residual; halves the grid)
               -> [B, ceil(h/2) * ceil(w/2), H]                                  576 -> 144

The ``Identity`` slots carry no weights but shift the indices; they are kept so that the 24
published tensors (``model.mlp.1.weight``, ``model.mb_block.1.block.0.0.weight``, ...) load with
``strict=True``.
"""

from __future__ import annotations

from torch import Tensor, nn

from mvlm.errors import ConfigError
from mvlm.projectors.base import GridProjector, register_projector
from mvlm.projectors.grid import Grid, GridLike, map_to_tokens, to_grid, tokens_to_map
from mvlm.projectors.mobilenet_blocks import InvertedResidual

__all__ = ["LDPBlock", "LDPProjector"]


class LDPBlock(nn.Module):
    """The body of LDP: the token-wise ``mlp`` then the spatial ``mb_block``.

    Args:
        in_dim: Vision feature width.
        out_dim: Language-model width ``H``.
        stride: Stride of the second inverted-residual block (2 in MobileVLM: 4x fewer tokens).
    """

    def __init__(self, in_dim: int, out_dim: int, stride: int = 2) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Identity(), nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))
        self.mb_block = nn.Sequential(
            nn.Identity(),
            InvertedResidual(out_dim, stride=1),
            InvertedResidual(out_dim, stride=stride),
        )

    def forward(self, features: Tensor, grid: tuple[int, int]) -> Tensor:
        tokens = self.mlp(features)
        return map_to_tokens(self.mb_block(tokens_to_map(tokens, grid)))


@register_projector("ldpnet", aliases=("ldp", "ldpv1"))
class LDPProjector(GridProjector):
    """MobileVLM v1's Lightweight Downsample Projector (LDP).

    Args:
        in_dim: Vision feature width (1024 for CLIP ViT-L/14).
        out_dim: Language-model width (2048 for MobileLLaMA-1.4B, 2560 for 2.7B).
        stride: Stride of the down-sampling block; each grid side ``s`` becomes ``ceil(s / stride)``.
            2 (the published value) turns 24x24 = 576 tokens into 12x12 = 144.

    The published weights live under the ``model`` attribute, as in the checkpoints
    (``model.mm_projector.model.mlp.1.weight`` ...). Parameters at 1024 -> 2048: 18,936,832.
    """

    paper = "MobileVLM, arXiv 2312.16886"
    grid_owner = "LDP (ldpnet)"

    def __init__(self, in_dim: int, out_dim: int, stride: int = 2) -> None:
        super().__init__(in_dim, out_dim)
        if not isinstance(stride, int) or isinstance(stride, bool) or stride < 1:
            raise ConfigError(f"LDPProjector: stride must be a positive int, got {stride!r}")
        self.stride = stride
        self.model = LDPBlock(in_dim, out_dim, stride=stride)

    def forward(self, features: Tensor, grid: GridLike | None = None) -> Tensor:
        """``[batch, h*w, in_dim]`` -> ``[batch, ceil(h/stride) * ceil(w/stride), out_dim]``."""
        return self.model(features, self.input_grid(features, grid))

    def output_grid(self, grid: GridLike) -> Grid:
        """The ``(h, w)`` grid of the output tokens for an input grid ``(h, w)`` (or a square side)."""
        h, w = to_grid(grid)
        block = self.model.mb_block[2]
        return (block.output_size(h), block.output_size(w))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, stride={self.stride}"
