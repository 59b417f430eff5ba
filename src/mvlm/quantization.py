"""Deprecated location of :mod:`mvlm.inference.quantization` (moved there: it is inference runtime code).

Importing ``mvlm.quantization`` still works: it gives :mod:`mvlm.inference.quantization` with a ``DeprecationWarning``.
"""

from mvlm._deprecation import alias_module

alias_module(__name__, "mvlm.inference.quantization")
