"""Projectors: vision features ``[batch, N, in_dim]`` -> language-model tokens ``[batch, M, out_dim]``.

Importing this package registers every built-in projector; it needs only torch.

Example:
    >>> import torch
    >>> from mvlm.projectors import create_projector
    >>> ldp = create_projector("ldpnet", in_dim=1024, out_dim=64)
    >>> ldp(torch.randn(2, 576, 1024)).shape
    torch.Size([2, 144, 64])
"""

from mvlm.projectors.base import (
    PROJECTORS,
    AutoProjector,
    Projector,
    ProjectorFactory,
    create_projector,
    get_projector_class,
    list_projectors,
    register_projector,
)
from mvlm.projectors.cabstractor import CAbstractorProjector
from mvlm.projectors.catalogue import ProjectorSummary, summarize_projectors
from mvlm.projectors.grid import Grid, GridLike, infer_grid, map_to_tokens, to_grid, tokens_to_map
from mvlm.projectors.ldp import LDPBlock, LDPProjector
from mvlm.projectors.ldpv2 import LDPv2Projector
from mvlm.projectors.mlp import IdentityProjector, LinearProjector, MLPProjector
from mvlm.projectors.resampler import PerceiverResamplerProjector
from mvlm.projectors.spatial import PixelShuffleProjector, PoolProjector

__all__ = [
    "PROJECTORS",
    "AutoProjector",
    "CAbstractorProjector",
    "Grid",
    "GridLike",
    "IdentityProjector",
    "LDPBlock",
    "LDPProjector",
    "LDPv2Projector",
    "LinearProjector",
    "MLPProjector",
    "PerceiverResamplerProjector",
    "PixelShuffleProjector",
    "PoolProjector",
    "Projector",
    "ProjectorFactory",
    "ProjectorSummary",
    "create_projector",
    "get_projector_class",
    "infer_grid",
    "list_projectors",
    "map_to_tokens",
    "register_projector",
    "summarize_projectors",
    "to_grid",
    "tokens_to_map",
]
