"""The projector contract, the projector registry, and the factories that build projectors by name.

A projector maps vision-tower features ``[batch, N, in_dim]`` to language-model token embeddings
``[batch, M, out_dim]`` and knows ``M`` for any ``N`` it accepts (:meth:`Projector.num_output_tokens`).
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from torch import Tensor, nn

from mvlm.errors import ConfigError, ShapeError
from mvlm.projectors.grid import Grid, GridLike, infer_grid
from mvlm.registry import Registry, config_field

__all__ = [
    "PROJECTORS",
    "AutoProjector",
    "GridProjector",
    "Projector",
    "ProjectorFactory",
    "create_projector",
    "get_projector_class",
    "list_projectors",
    "register_projector",
]


class Projector(nn.Module, abc.ABC):
    """Base class of every projector: vision features in, language-model tokens out.

    Subclasses take ``(in_dim, out_dim, **options)`` in their constructor, call
    ``super().__init__(in_dim, out_dim)`` first, and implement :meth:`forward` and
    :meth:`num_output_tokens`.

    Args:
        in_dim: Width of the vision features (``mm_hidden_size``, 1024 for CLIP ViT-L).
        out_dim: Width of the language model's embeddings (``hidden_size``, 2048 for MobileLLaMA-1.4B).

    Example:
        >>> import torch
        >>> from mvlm.projectors import create_projector
        >>> ldp = create_projector("ldpnet", in_dim=64, out_dim=32)
        >>> ldp(torch.randn(2, 576, 64)).shape
        torch.Size([2, 144, 32])
        >>> ldp.num_output_tokens(576)
        144
    """

    paper: ClassVar[str] = ""
    """Where the architecture comes from (shown in listings and the docs), e.g. ``"MobileVLM, arXiv 2312.16886"``."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        for label, value in (("in_dim", in_dim), ("out_dim", out_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{type(self).__name__}: {label} must be a positive int, got {value!r}")
        self.in_dim = in_dim
        self.out_dim = out_dim

    @abc.abstractmethod
    def forward(self, features: Tensor, grid: GridLike | None = None) -> Tensor:
        """Project ``features`` ``[batch, N, in_dim]`` to ``[batch, M, out_dim]``.

        Args:
            features: Vision tokens in raster order.
            grid: ``(height, width)`` of the token grid, for spatial projectors when ``N`` is not
                a square number. Projectors that ignore space accept and ignore it.
        """

    @abc.abstractmethod
    def num_output_tokens(self, num_input_tokens: int, grid: GridLike | None = None) -> int:
        """``M``, the number of tokens :meth:`forward` returns for ``num_input_tokens`` inputs.

        Raises:
            ShapeError: The projector cannot take that many tokens (or that grid).
        """

    def check_features(self, features: Tensor) -> None:
        """Raise :class:`~mvlm.errors.ShapeError` unless ``features`` is ``[batch, N, in_dim]`` with N > 0."""
        if features.dim() != 3 or features.shape[-1] != self.in_dim or features.shape[1] == 0:
            raise ShapeError(
                f"{type(self).__name__} expects features of shape [batch, tokens, {self.in_dim}], "
                f"got {list(features.shape)}"
            )

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}"


class GridProjector(Projector):
    """Base class of the projectors that work on the 2-D token grid and map it to a smaller grid.

    Subclasses set :attr:`grid_owner` and implement :meth:`output_grid`; :meth:`num_output_tokens`
    follows, and :meth:`input_grid` checks the features and finds their grid at the top of
    :meth:`forward`. Tokens are in raster order; without a ``grid``, ``N`` must be a square number.
    """

    grid_owner: ClassVar[str] = "this projector"
    """How shape errors name the projector (``"pool projector"``)."""

    @abc.abstractmethod
    def output_grid(self, grid: GridLike) -> Grid:
        """The ``(h, w)`` output grid for an input grid.

        Raises:
            ShapeError: The projector cannot take that grid.
        """

    def input_grid(self, features: Tensor, grid: GridLike | None = None) -> Grid:
        """Check ``features`` ``[batch, N, in_dim]`` and return their ``(h, w)`` grid (``grid``, or ``sqrt(N)``).

        Raises:
            ShapeError: Bad features, or ``N`` does not fit the grid.
        """
        self.check_features(features)
        return infer_grid(features.shape[1], grid, self.grid_owner)

    def num_output_tokens(self, num_input_tokens: int, grid: GridLike | None = None) -> int:
        h, w = self.output_grid(infer_grid(num_input_tokens, grid, self.grid_owner))
        return h * w


ProjectorFactory = Callable[..., Projector]
"""Anything that builds a projector from ``(in_dim, out_dim, **options)``: usually the class itself."""

PROJECTORS: Registry[ProjectorFactory] = Registry("projector")
"""The projector registry. Prefer :func:`register_projector` and :func:`create_projector`."""


def register_projector(
    name: str, *, aliases: tuple[str, ...] | list[str] = ()
) -> Callable[[type[Projector]], type[Projector]]:
    """Class decorator: register a :class:`Projector` subclass under ``name`` (and ``aliases``).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from mvlm.projectors import Projector, create_projector, register_projector, PROJECTORS
        >>> @register_projector("doc_example_linear")
        ... class DocLinear(Projector):
        ...     def __init__(self, in_dim, out_dim):
        ...         super().__init__(in_dim, out_dim)
        ...         self.proj = nn.Linear(in_dim, out_dim)
        ...     def forward(self, features, grid=None):
        ...         return self.proj(features)
        ...     def num_output_tokens(self, num_input_tokens, grid=None):
        ...         return num_input_tokens
        >>> create_projector("doc_example_linear", 8, 4)(torch.zeros(1, 3, 8)).shape
        torch.Size([1, 3, 4])
        >>> _ = PROJECTORS.unregister("doc_example_linear")

    Raises:
        ConfigError: (when decorating) The object is not a :class:`Projector` subclass.
        DuplicateNameError: (when decorating) ``name`` or an alias is taken.
    """
    return PROJECTORS.register_subclass(name, Projector, aliases=aliases, base_name="mvlm.projectors.Projector")


def get_projector_class(name: str) -> ProjectorFactory:
    """The class (or factory) registered as ``name``; raises ``UnknownNameError`` with suggestions."""
    return PROJECTORS.get(name)


def list_projectors() -> list[str]:
    """Names of every registered projector (canonical names, then name families such as ``mlp{N}x_gelu``)."""
    return PROJECTORS.names()


def create_projector(name: str, in_dim: int, out_dim: int, **options: Any) -> Projector:
    """Build the projector registered as ``name``.

    Args:
        name: A registered name or alias (see :func:`list_projectors`).
        in_dim: Width of the vision features.
        out_dim: Width of the language-model embeddings.
        **options: Options of that projector (its constructor's keyword arguments).

    Raises:
        UnknownNameError: No projector has that name.
        ConfigError: An option the projector does not take, or a bad value.
    """
    projector: Projector = PROJECTORS.build(name, in_dim, out_dim, **options)
    return projector


class AutoProjector:
    """Builds the projector a MobileVLM-style config names.

    Reads ``mm_projector_type`` (default ``"linear"``, as the reference), ``mm_hidden_size``
    (in_dim), ``hidden_size`` (out_dim) and the optional ``mm_projector_options`` mapping of extra
    constructor options.
    """

    @staticmethod
    def from_config(config: Mapping[str, Any] | Any) -> Projector:
        """Build a projector from a config object or a mapping of its fields.

        Raises:
            ConfigError: A required field is missing.
        """
        field = functools.partial(config_field, config, needed_by="a projector")
        name = field("mm_projector_type", None) or "linear"
        options = dict(field("mm_projector_options", None) or {})
        return create_projector(name, field("mm_hidden_size"), field("hidden_size"), **options)
