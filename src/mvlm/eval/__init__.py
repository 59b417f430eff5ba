"""Evaluation on the six MobileVLM benchmarks (GQA, MMBench, MME, POPE, ScienceQA-IMG, TextVQA).

:mod:`mvlm.eval.metrics` holds the official scoring rules as pure functions over text and numbers;
:mod:`mvlm.eval.records` holds what every benchmark shares (questions, answer records, located problems)
and reads and writes their files; :mod:`mvlm.eval.benchmarks` holds the benchmark plugins, which read
the eval-kit files, build the reference prompts and score answer records. None of them imports torch,
so all can be used (and tested) without a model. Imports point one way: the plugins use the records
and the metrics, the records use neither, and the metrics use nothing else of :mod:`mvlm.eval`.
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
