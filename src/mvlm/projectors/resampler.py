"""``resampler``: a Perceiver resampler (Flamingo) — learned queries cross-attend to the features.

The output token count is the number of queries, whatever the input count. With ``pos_embed``
(default) fixed 2-D sine-cosine position embeddings of the token grid are added to the features
first, so the queries can tell where a feature came from.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mvlm.errors import ConfigError
from mvlm.projectors.base import Projector, register_projector
from mvlm.projectors.grid import Grid, GridLike, infer_grid

__all__ = ["PerceiverResamplerProjector", "sincos_2d_position_embedding"]


def sincos_2d_position_embedding(grid: Grid, dim: int, *, device: torch.device | None = None) -> Tensor:
    """Fixed 2-D sine-cosine position embeddings ``[h*w, dim]`` in raster order.

    Half of the channels encode the row, half the column; each half is ``[sin, cos]`` of the
    coordinate times geometric frequencies ``1 / 10000^(i / (dim/4))``.

    Raises:
        ConfigError: ``dim`` is not divisible by 4.
    """
    if dim % 4:
        raise ConfigError(f"2-D sine-cosine position embeddings need a width divisible by 4, got {dim}")
    quarter = dim // 4
    frequencies = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float32, device=device) / quarter))
    rows = torch.arange(grid[0], dtype=torch.float32, device=device)
    cols = torch.arange(grid[1], dtype=torch.float32, device=device)
    row_angles = torch.outer(rows, frequencies)[:, None, :].expand(grid[0], grid[1], quarter)
    col_angles = torch.outer(cols, frequencies)[None, :, :].expand(grid[0], grid[1], quarter)
    table = torch.cat([row_angles.sin(), row_angles.cos(), col_angles.sin(), col_angles.cos()], dim=-1)
    return table.reshape(grid[0] * grid[1], dim)


class PerceiverAttention(nn.Module):
    """Queries attend to ``[features; queries]`` (Flamingo's Perceiver resampler attention).

    Args:
        dim: Width of features and queries.
        num_heads: Attention heads; must divide ``dim``.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"resampler: num_heads={num_heads} must divide the width {dim}")
        self.num_heads = num_heads
        self.norm_media = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)

    def forward(self, media: Tensor, latents: Tensor) -> Tensor:
        """``media`` ``[B, N, dim]``, ``latents`` ``[B, M, dim]`` -> ``[B, M, dim]``."""
        media, latents = self.norm_media(media), self.norm_latents(latents)
        batch, num_latents, dim = latents.shape
        heads = self.num_heads

        def split(x: Tensor) -> Tensor:
            return x.reshape(batch, x.shape[1], heads, dim // heads).transpose(1, 2)

        keys, values = self.to_kv(torch.cat([media, latents], dim=1)).chunk(2, dim=-1)
        attended = F.scaled_dot_product_attention(split(self.to_q(latents)), split(keys), split(values))
        return self.to_out(attended.transpose(1, 2).reshape(batch, num_latents, dim))


class _FeedForward(nn.Sequential):
    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__(
            nn.LayerNorm(dim), nn.Linear(dim, dim * mult, bias=False), nn.GELU(), nn.Linear(dim * mult, dim, bias=False)
        )


@register_projector("resampler", aliases=("perceiver", "perceiver_resampler"))
class PerceiverResamplerProjector(Projector):
    """A Perceiver resampler: ``num_queries`` learned queries, ``depth`` cross-attention blocks.

    Args:
        in_dim: Vision feature width.
        out_dim: Language-model width.
        num_queries: Output tokens ``M`` (any input count works).
        depth: Number of (attention, feed-forward) blocks.
        num_heads: Attention heads; must divide ``hidden_dim``.
        hidden_dim: Width inside the resampler (default: ``in_dim``, as Flamingo).
        pos_embed: Add 2-D sine-cosine position embeddings of the token grid to the features; then
            the input needs a grid (a square ``N`` or an explicit ``grid``) and ``hidden_dim`` must
            be divisible by 4.
    """

    paper = "Flamingo, arXiv 2204.14198"

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        num_queries: int = 64,
        depth: int = 2,
        num_heads: int = 8,
        hidden_dim: int | None = None,
        pos_embed: bool = True,
    ) -> None:
        super().__init__(in_dim, out_dim)
        for label, value in (("num_queries", num_queries), ("depth", depth), ("num_heads", num_heads)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"resampler: {label} must be a positive int, got {value!r}")
        dim = in_dim if hidden_dim is None else hidden_dim
        if pos_embed and dim % 4:
            raise ConfigError(f"resampler: pos_embed needs hidden_dim divisible by 4, got {dim}")
        self.num_queries = num_queries
        self.hidden_dim = dim
        self.pos_embed = pos_embed
        self.latents = nn.Parameter(torch.randn(num_queries, dim) * 0.02)
        self.input_proj = nn.Linear(in_dim, dim)
        self.layers = nn.ModuleList(
            nn.ModuleList([PerceiverAttention(dim, num_heads), _FeedForward(dim)]) for _ in range(depth)
        )
        self.norm_out = nn.LayerNorm(dim)
        self.output_proj = nn.Linear(dim, out_dim)

    def num_output_tokens(self, num_input_tokens: int, grid: GridLike | None = None) -> int:
        if self.pos_embed:
            infer_grid(num_input_tokens, grid, "resampler (with pos_embed)")
        return self.num_queries

    def forward(self, features: Tensor, grid: GridLike | None = None) -> Tensor:
        """``[batch, N, in_dim]`` -> ``[batch, num_queries, out_dim]``."""
        self.check_features(features)
        media = self.input_proj(features)
        if self.pos_embed:
            in_grid = infer_grid(features.shape[1], grid, "resampler (with pos_embed)")
            media = media + sincos_2d_position_embedding(in_grid, self.hidden_dim, device=media.device).to(media.dtype)
        latents = self.latents.unsqueeze(0).expand(features.shape[0], -1, -1)
        for attention, feed_forward in self.layers:  # type: ignore[misc]
            latents = latents + attention(media, latents)
            latents = latents + feed_forward(latents)
        return self.output_proj(self.norm_out(latents))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, num_queries={self.num_queries}, hidden_dim={self.hidden_dim}"
