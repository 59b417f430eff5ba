"""A fixture for test modules that run tiny models: one PyTorch thread while the module runs.

Tiny matmuls on a shared machine: one thread avoids OpenMP spin-waits. Import it into a
``conftest.py`` (``from helpers.torch_threads import one_thread``) to use it there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

__all__ = ["one_thread"]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Run the module with ``torch.set_num_threads(1)``, then restore the count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
