"""Deprecated location of :mod:`mvlm.inference.cpu_kernels` (moved there: it is inference runtime code).

Importing ``mvlm.cpu_kernels`` still works: it gives :mod:`mvlm.inference.cpu_kernels` with a ``DeprecationWarning``.
"""

from mvlm._deprecation import alias_module

alias_module(__name__, "mvlm.inference.cpu_kernels")
