"""Lazy re-exports for package ``__init__`` modules: names resolved from their module on first use.

Keeps ``import mvlm`` (and ``import mvlm.eval``, ``mvlm.export``...) free of torch and transformers
while still offering the public names at the package level.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package`` re-exporting ``exports``.

    Args:
        package: The package's ``__name__``.
        exports: ``{public name: module that defines it}``.

    Returns:
        ``(__getattr__, __dir__)`` to assign in the package's namespace. A resolved name is cached
        in the package's globals, so the import happens once.
    """

    def __getattr__(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        value = getattr(importlib.import_module(module_name), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
