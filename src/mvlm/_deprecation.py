"""Old import paths kept working after a module or name moved: they warn and hand over the new one.

:func:`alias_module` makes a module file at the old path stand for the module at the new path, so
``import mvlm.quantization`` gives :mod:`mvlm.inference.quantization` itself (the same functions,
the same state) together with a :class:`DeprecationWarning` that names the new path. The import-graph
test recognises such alias modules and does not count them as a dependency of their package.
"""

from __future__ import annotations

import importlib
import sys
import warnings

__all__ = ["alias_module", "warn_moved"]


def _importer_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the code that ran the import (past importlib's frames)."""
    frame = sys._getframe(2)
    level = 2
    while frame is not None and (
        frame.f_code.co_filename.startswith("<frozen importlib") or frame.f_globals.get("__name__") == __name__
    ):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def warn_moved(old: str, new: str, *, stacklevel: int | None = None) -> None:
    """Warn (``DeprecationWarning``) that ``old`` is now ``new``."""
    warnings.warn(
        f"{old} moved to {new}; import it from there (the old path will be removed in a later release)",
        DeprecationWarning,
        stacklevel=_importer_stacklevel() if stacklevel is None else stacklevel,
    )


def alias_module(old: str, new: str) -> None:
    """Make the module being imported as ``old`` stand for the module ``new``, with a warning.

    Call it as the only statement of the old module file: ``alias_module(__name__, "mvlm.inference.x")``.
    """
    warn_moved(old, new)
    sys.modules[old] = importlib.import_module(new)
