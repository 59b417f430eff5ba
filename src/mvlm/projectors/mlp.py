"""Token-wise projectors of the LLaVA lineage: ``linear``, ``mlp{N}x_gelu`` and ``identity``.

They keep every token (``M = N``) and store their weights under the published LLaVA key names:
``linear`` -> ``weight``, ``bias``; ``mlp2x_gelu`` -> ``0.weight``, ``0.bias``, ``2.weight``,
``2.bias`` (``mlp{N}x_gelu`` continues with ``4.*``, ``6.*``...).
"""

from __future__ import annotations

import functools
import math
import re

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mvlm.errors import ConfigError
from mvlm.projectors.base import PROJECTORS, Projector, ProjectorFactory, register_projector
from mvlm.projectors.grid import GridLike

__all__ = ["IdentityProjector", "LinearProjector", "MLPProjector", "gelu_mlp"]


def gelu_mlp(in_dim: int, out_dim: int, depth: int) -> nn.Sequential:
    """``Linear(in, out)`` followed by ``depth - 1`` times ``[GELU, Linear(out, out)]``.

    Raises:
        ConfigError: ``depth`` is not a positive int.
    """
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ConfigError(f"MLP depth must be a positive int, got {depth!r}")
    layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
    for _ in range(depth - 1):
        layers += [nn.GELU(), nn.Linear(out_dim, out_dim)]
    return nn.Sequential(*layers)


@register_projector("linear")
class LinearProjector(Projector):
    """One linear layer, token-wise (LLaVA-1's projector). Keys ``weight`` ``[out, in]`` and ``bias``."""

    paper = "LLaVA, arXiv 2304.08485"

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(in_dim, out_dim)
        self.weight = nn.Parameter(torch.empty(out_dim, in_dim))
        self.bias = nn.Parameter(torch.empty(out_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise as ``torch.nn.Linear`` does."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(self.in_dim)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, features: Tensor, grid: GridLike | None = None) -> Tensor:
        """``[batch, N, in_dim]`` -> ``[batch, N, out_dim]``."""
        self.check_features(features)
        return F.linear(features, self.weight, self.bias)

    def num_output_tokens(self, num_input_tokens: int, grid: GridLike | None = None) -> int:
        return num_input_tokens


class MLPProjector(Projector):
    """``depth`` linear layers with GELU between them, token-wise (``mlp2x_gelu`` is LLaVA-1.5's).

    Registered as the name family ``mlp{N}x_gelu``: ``create_projector("mlp3x_gelu", ...)`` builds
    ``depth=3``. The layers are this module's own children ``0``, ``1``, ``2``... so the keys are
    the published ``0.weight``, ``2.weight``...

    Args:
        in_dim: Vision feature width.
        out_dim: Language-model width.
        depth: Number of linear layers (>= 1).
    """

    paper = "LLaVA-1.5, arXiv 2310.03744"

    def __init__(self, in_dim: int, out_dim: int, depth: int = 2) -> None:
        super().__init__(in_dim, out_dim)
        self.depth = depth
        for index, layer in enumerate(gelu_mlp(in_dim, out_dim, depth)):
            self.add_module(str(index), layer)

    def forward(self, features: Tensor, grid: GridLike | None = None) -> Tensor:
        """``[batch, N, in_dim]`` -> ``[batch, N, out_dim]``."""
        self.check_features(features)
        x = features
        for layer in self.children():
            x = layer(x)
        return x

    def num_output_tokens(self, num_input_tokens: int, grid: GridLike | None = None) -> int:
        return num_input_tokens

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, depth={self.depth}"


@PROJECTORS.register_pattern(r"mlp([1-9]\d*)x_gelu", display="mlp{N}x_gelu", examples=("mlp2x_gelu", "mlp3x_gelu"))
def _mlp_family(match: re.Match[str]) -> ProjectorFactory:
    return functools.partial(MLPProjector, depth=int(match.group(1)))


@register_projector("identity")
class IdentityProjector(Projector):
    """Passes the features through unchanged; ``in_dim`` must equal ``out_dim``."""

    paper = "LLaVA code base"

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(in_dim, out_dim)
        if in_dim != out_dim:
            raise ConfigError(
                f"the identity projector needs in_dim == out_dim, got {in_dim} and {out_dim}; "
                "use 'linear' or 'mlp2x_gelu' to change the width"
            )

    def forward(self, features: Tensor, grid: GridLike | None = None) -> Tensor:
        """Returns ``features`` ``[batch, N, dim]`` as is."""
        self.check_features(features)
        return features

    def num_output_tokens(self, num_input_tokens: int, grid: GridLike | None = None) -> int:
        return num_input_tokens
