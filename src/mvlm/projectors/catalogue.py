"""A summary of every registered projector at given sizes, for listings, docs and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mvlm.errors import ConfigError
from mvlm.projectors.base import Projector, create_projector, list_projectors

__all__ = ["ProjectorSummary", "concrete_projector_name", "summarize_projectors"]


@dataclass(frozen=True)
class ProjectorSummary:
    """One registered projector at given sizes.

    Attributes:
        name: The concrete registered name (``mlp2x_gelu`` stands for the ``mlp{N}x_gelu`` family).
        class_name: The projector class.
        parameters: Parameter count, or ``None`` when it cannot be built at these sizes.
        output_tokens: ``num_output_tokens`` for the input count, or ``None`` likewise.
        paper: Where the architecture comes from.
        note: Why it could not be built, when it could not.
    """

    name: str
    class_name: str
    parameters: int | None
    output_tokens: int | None
    paper: str
    note: str = ""


def concrete_projector_name(listed_name: str) -> str:
    """A buildable name for a listed name: ``mlp{N}x_gelu`` becomes ``mlp2x_gelu``; others are unchanged."""
    return listed_name.replace("{N}", "2")


def summarize_projectors(in_dim: int = 1024, out_dim: int = 2048, num_tokens: int = 576) -> list[ProjectorSummary]:
    """Summarise every registered projector with default options, built on the ``meta`` device (no memory).

    Args:
        in_dim: Vision feature width.
        out_dim: Language-model width.
        num_tokens: Number of vision tokens fed to each projector.
    """
    summaries = []
    for listed in list_projectors():
        name = concrete_projector_name(listed)
        try:
            with torch.device("meta"):
                projector: Projector = create_projector(name, in_dim, out_dim)
        except ConfigError as error:
            summaries.append(ProjectorSummary(name, "", None, None, "", note=str(error)))
            continue
        summaries.append(
            ProjectorSummary(
                name=name,
                class_name=type(projector).__name__,
                parameters=sum(p.numel() for p in projector.parameters()),
                output_tokens=projector.num_output_tokens(num_tokens),
                paper=type(projector).paper,
            )
        )
    return summaries
