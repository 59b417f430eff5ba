"""Deprecated location of :mod:`mvlm.inference.llamacpp_backend` (the llama.cpp runtime is inference code).

Importing ``mvlm.export.llamacpp_backend`` still works: it gives :mod:`mvlm.inference.llamacpp_backend`
with a ``DeprecationWarning``.
"""

from mvlm._deprecation import alias_module

alias_module(__name__, "mvlm.inference.llamacpp_backend")
