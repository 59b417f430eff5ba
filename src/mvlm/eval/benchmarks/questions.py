"""Deprecated location of :mod:`mvlm.eval.records.questions` (the reading and record helpers live apart from the plugins).

Importing ``mvlm.eval.benchmarks.questions`` still works: it gives :mod:`mvlm.eval.records.questions` with a ``DeprecationWarning``.
"""

from mvlm._deprecation import alias_module

alias_module(__name__, "mvlm.eval.records.questions")
