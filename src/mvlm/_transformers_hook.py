"""Register MobileVLM with transformers when transformers is imported, without importing it ourselves.

``import mvlm`` must stay light, yet ``transformers.AutoModelForCausalLM.from_pretrained`` should
know ``model_type: mobilevlm`` once mvlm is imported. If transformers is already imported, the
registration runs at once; otherwise a one-shot import hook runs it right after transformers'
package finishes importing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

__all__ = ["install"]


def _register() -> None:
    try:
        from mvlm.model.auto import register_with_transformers

        register_with_transformers()
    except ImportError as error:  # e.g. a transformers release mvlm cannot work with
        warnings.warn(
            f"mvlm could not register MobileVLM with transformers' auto classes ({error}); "
            "use mvlm.MobileVLM.from_pretrained directly",
            RuntimeWarning,
            stacklevel=3,
        )


class _RegisteringLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _register()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _TransformersImportHook(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Any, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "transformers":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


def install() -> None:
    """Register now if transformers is imported, else when it is (once)."""
    if "transformers" in sys.modules:
        _register()
    elif not any(isinstance(finder, _TransformersImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _TransformersImportHook())
