"""Evaluation results on disk: each benchmark's ``metrics.json``, and the README table over all of them.

Layout of an output folder (``mvlm eval --output DIR``)::

    DIR/
      results.md              the README table (GQA, SQA-IMG, TextVQA, POPE, MME-P, MMBench, Avg)
      metrics.json            the same row as JSON, and each benchmark's headline and counts
      <benchmark>/
        answers.jsonl         the answer records, in the reference's format
        metrics.json          the benchmark's full report (metrics, counts, every problem located)
        chunks/               sharded runs only: <K>_<i>.jsonl and <K>_<i>.done.json

:func:`write_summary` rebuilds the two top files from every ``<benchmark>/metrics.json`` present, so
benchmarks evaluated one at a time into the same folder end up in one table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mvlm.errors import DataError
from mvlm.eval.metrics.summary import SUMMARY_COLUMNS, markdown_table, summary_row
from mvlm.eval.sharding import benchmark_output_dir, write_json_atomic, write_text_atomic

__all__ = ["METRICS_FILE", "RESULTS_FILE", "describe_report", "write_report", "write_summary"]

METRICS_FILE = "metrics.json"
"""A benchmark's report (and, at the top of the output folder, the summary)."""

RESULTS_FILE = "results.md"
"""The markdown table at the top of the output folder."""

_COLUMN_ARGUMENT = {
    "GQA": "gqa",
    "SQA-IMG": "sqa_img",
    "TextVQA": "textvqa",
    "POPE": "pope",
    "MME-P": "mme_perception",
    "MMBench": "mmbench",
}


def write_report(output_dir: str | Path, report: Mapping[str, Any]) -> Path:
    """Write a benchmark report (see :meth:`~mvlm.eval.benchmarks.Benchmark.score`) as ``<benchmark>/metrics.json``.

    Returns:
        The file written.
    """
    return write_json_atomic(benchmark_output_dir(output_dir, report["benchmark"]) / METRICS_FILE, dict(report))


def describe_report(report: Mapping[str, Any], *, max_problems: int = 5) -> str:
    """A few lines for a terminal: the headline, how many questions were scored, and the problems.

    Args:
        report: A benchmark report.
        max_problems: How many problems to show with their file and line (all are in ``metrics.json``).

    Example:
        >>> print(describe_report({"benchmark": "pope", "headline": 85.25, "summary_column": "POPE",
        ...     "counts": {"questions": 4, "scored": 3, "missing_answer": 1},
        ...     "problems": [{"kind": "missing_answer", "file": "q.jsonl", "line": 4, "message": "no answer"}]}))
        pope: POPE 85.25; scored 3 of 4 questions; problems: missing_answer 1
          q.jsonl:4: missing_answer: no answer
    """
    counts = report.get("counts", {})
    headline = report.get("headline")
    label = report.get("summary_column") or "headline"
    shown = "no headline" if headline is None else f"{label} {headline:.2f}"
    kinds = {k: v for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool) and v}
    kinds = {k: v for k, v in kinds.items() if k not in ("questions", "answers", "scored", "beyond_limit")}
    text = f"{report['benchmark']}: {shown}; scored {counts.get('scored', 0)} of {counts.get('questions', 0)} questions"
    if counts.get("beyond_limit"):
        text += f" ({counts['beyond_limit']} beyond --limit not asked)"
    text += "; problems: " + (", ".join(f"{k} {v}" for k, v in kinds.items()) or "none")
    problems = report.get("problems", [])
    for problem in problems[:max_problems]:
        where = problem.get("file") or "<unknown>"
        if problem.get("line") is not None:
            where += f":{problem['line']}"
        text += f"\n  {where}: {problem['kind']}: {problem['message']}"
    if 0 < max_problems < len(problems):
        text += f"\n  ... and {len(problems) - max_problems} more (all listed in {METRICS_FILE})"
    return text


def _read_reports(output_dir: Path) -> dict[str, dict[str, Any]]:
    reports: dict[str, dict[str, Any]] = {}
    for path in sorted(output_dir.glob(f"*/{METRICS_FILE}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(f"cannot read {path} ({error}); rerun that benchmark or delete the file") from None
        if isinstance(data, dict) and isinstance(data.get("benchmark"), str):
            reports[path.parent.name] = data
    return reports


def _table_order(item: tuple[str, Mapping[str, Any]]) -> tuple[int, str]:
    column = item[1].get("summary_column")
    return (SUMMARY_COLUMNS.index(column) if column in SUMMARY_COLUMNS else len(SUMMARY_COLUMNS), item[0])


def _model_name(reports: Mapping[str, Mapping[str, Any]]) -> str:
    names: list[str] = []
    for report in reports.values():
        name = (report.get("run") or {}).get("model_id") or report.get("model_id")
        if isinstance(name, str) and name not in names:
            names.append(name)
    return " + ".join(names) if names else "model"


def write_summary(output_dir: str | Path, model_id: str | None = None) -> tuple[Path, Path]:
    """Rebuild ``results.md`` and the top ``metrics.json`` from the benchmark reports under ``output_dir``.

    Args:
        output_dir: The evaluation output folder.
        model_id: The row's name (default: the ``model_id`` the reports record).

    Returns:
        ``(metrics.json, results.md)`` paths.

    Raises:
        DataError: A benchmark's ``metrics.json`` cannot be read.
    """
    root = Path(output_dir)
    reports = _read_reports(root)
    name = model_id or _model_name(reports)
    columns: dict[str, float | None] = {}
    for report in reports.values():
        column = report.get("summary_column")
        if column in _COLUMN_ARGUMENT:
            columns[_COLUMN_ARGUMENT[column]] = report.get("headline")
    row = summary_row(**columns)
    lines = [f"# Evaluation of {name}", "", markdown_table({name: row}).rstrip("\n"), ""]
    benchmarks: dict[str, Any] = {}
    for folder, report in sorted(reports.items(), key=_table_order):
        counts = report.get("counts", {})
        benchmarks[folder] = {
            "headline": report.get("headline"),
            "summary_column": report.get("summary_column"),
            "scored": counts.get("scored"),
            "questions": counts.get("questions"),
            "complete": counts.get("complete"),
            "metrics_file": f"{folder}/{METRICS_FILE}",
        }
        lines.append(f"- {describe_report(report, max_problems=0)}")
    if reports:
        lines.append("")
        lines.append(f"Each benchmark's metrics and every problem (file and line) are in <benchmark>/{METRICS_FILE}.")
    metrics_path = write_json_atomic(
        root / METRICS_FILE, {"model": name, "summary": row.as_dict(), "benchmarks": benchmarks}
    )
    results_path = write_text_atomic(root / RESULTS_FILE, "\n".join(lines) + "\n")
    return metrics_path, results_path
