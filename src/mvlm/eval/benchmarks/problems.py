"""Deprecated location of :mod:`mvlm.eval.records.problems`.

The reading and record helpers live apart from the benchmark plugins.

Importing ``mvlm.eval.benchmarks.problems`` still works: it gives
:mod:`mvlm.eval.records.problems` with a ``DeprecationWarning``.
"""

from mvlm._deprecation import alias_module

alias_module(__name__, "mvlm.eval.records.problems")
