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


def lazy_exports(
    package: str, exports: Mapping[str, str], moved: Mapping[str, str] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package`` re-exporting ``exports``.

    Args:
        package: The package's ``__name__``.
        exports: ``{public name: module that defines it}``.
        moved: ``{old name: module that defines it now}`` for names that moved out of ``package``:
            they still resolve, with a ``DeprecationWarning`` naming the new place, and are not
            listed by ``dir()``.

    Returns:
        ``(__getattr__, __dir__)`` to assign in the package's namespace. A resolved name is cached
        in the package's globals, so the import happens once (a moved name warns on every use).
    """
    moved = dict(moved or {})

    def __getattr__(name: str) -> Any:
        if name in moved:
            from mvlm._deprecation import warn_moved

            warn_moved(f"{package}.{name}", f"{moved[name]}.{name}", stacklevel=2)
            return getattr(importlib.import_module(moved[name]), name)
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        value = getattr(importlib.import_module(module_name), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
