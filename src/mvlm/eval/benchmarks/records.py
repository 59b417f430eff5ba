"""Deprecated location of :mod:`mvlm.eval.records.answers`.

The reading and record helpers live apart from the benchmark plugins.

Importing ``mvlm.eval.benchmarks.records`` still works: it gives
:mod:`mvlm.eval.records.answers` with a ``DeprecationWarning``.
"""

from mvlm._deprecation import alias_module

alias_module(__name__, "mvlm.eval.records.answers")
