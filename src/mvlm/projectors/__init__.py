"""Projectors: vision features ``[batch, N, in_dim]`` -> language-model tokens ``[batch, M, out_dim]``.

Importing this package registers every built-in projector; it needs only torch.

Example:
    >>> from mvlm.projectors import create_projector, list_projectors
    >>> "ldpnetv2" in list_projectors()
    True
    >>> [create_projector(name, 1024, 64).num_output_tokens(576) for name in ("ldpnet", "mlp2x_gelu")]
    [144, 576]
"""

from mvlm.projectors.base import (
    PROJECTORS,
    AutoProjector,
    GridProjector,
    Projector,
    ProjectorFactory,
    create_projector,
    get_projector_class,
    list_projectors,
    register_projector,
)
from mvlm.projectors.cabstractor import CAbstractorProjector
from mvlm.projectors.catalogue import ProjectorSummary, summarize_projectors
from mvlm.projectors.grid import (
    Grid,
    GridLike,
    check_pooled_grid,
    infer_grid,
    map_to_tokens,
    to_grid,
    tokens_to_map,
)
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
    "GridProjector",
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
    "check_pooled_grid",
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
