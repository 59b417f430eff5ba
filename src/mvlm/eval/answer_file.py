"""Deprecated location of :mod:`mvlm.eval.records.answer_file`.

The reading and record helpers live apart from the benchmark plugins.

Importing ``mvlm.eval.answer_file`` still works: it gives
:mod:`mvlm.eval.records.answer_file` with a ``DeprecationWarning``.
"""

from mvlm._deprecation import alias_module

alias_module(__name__, "mvlm.eval.records.answer_file")
