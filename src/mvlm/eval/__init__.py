"""Evaluation on the six MobileVLM benchmarks (GQA, MMBench, MME, POPE, ScienceQA-IMG, TextVQA).

:mod:`mvlm.eval.metrics` holds the official scoring rules as pure functions over text and numbers;
:mod:`mvlm.eval.benchmarks` reads the eval-kit files, builds the reference prompts and scores answer
records. Neither imports torch, so both can be used (and tested) without a model.
"""

from mvlm.eval.benchmarks import BENCHMARKS, get_benchmark, list_benchmarks

__all__ = ["BENCHMARKS", "get_benchmark", "list_benchmarks"]
