"""Evaluation on the six MobileVLM benchmarks (GQA, MMBench, MME, POPE, ScienceQA-IMG, TextVQA).

:mod:`mvlm.eval.metrics` holds the official scoring rules as pure functions over text and numbers;
:mod:`mvlm.eval.benchmarks` reads the eval-kit files, builds the reference prompts and scores answer
records. Neither imports torch, so both can be used (and tested) without a model.
:mod:`mvlm.eval.runner` asks the questions with a model (resumable, batched, sharded) and writes the
answers and the README table; its names here (``run_benchmark``, ``run_benchmarks``...) load lazily.
"""

from __future__ import annotations

from mvlm._lazy import lazy_exports
from mvlm.eval.benchmarks import BENCHMARKS, get_benchmark, list_benchmarks

_LAZY_EXPORTS: dict[str, str] = {
    "RunResult": "mvlm.eval.runner",
    "find_benchmarks": "mvlm.eval.runner",
    "run_benchmark": "mvlm.eval.runner",
    "run_benchmarks": "mvlm.eval.runner",
    "get_chunk": "mvlm.eval.sharding",
    "merge_chunks": "mvlm.eval.sharding",
    "split_list": "mvlm.eval.sharding",
    "write_summary": "mvlm.eval.results",
}

__all__ = ["BENCHMARKS", "get_benchmark", "list_benchmarks", *_LAZY_EXPORTS]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)
