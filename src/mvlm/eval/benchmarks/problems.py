"""The old path of :mod:`mvlm.eval.records.problems`, kept so that existing imports keep working."""

from mvlm.eval.records.problems import PROBLEM_KINDS, Problem

__all__ = ["PROBLEM_KINDS", "Problem"]
