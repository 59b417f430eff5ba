"""The evaluation runner: ask a benchmark's questions with a model, append the answers, score them.

:func:`run_benchmark` does for one benchmark what MobileVLM's ``scripts/benchmark/*.sh`` do:

1. read the questions (:meth:`Benchmark.load <mvlm.eval.benchmarks.Benchmark.load>`; a malformed line
   or a missing image is reported with its file and line, not asked);
2. keep chunk ``chunk_idx`` of ``num_chunks`` (:func:`~mvlm.eval.sharding.get_chunk`, the reference's
   ``split_list``);
3. skip the questions the answer file already answers (a rerun resumes; a half-written last line
   from a crash is repaired first, see :func:`~mvlm.eval.records.answer_file.repair_answer_file`);
4. answer the rest greedily (temperature 0, one beam, the reference's ``max_new_tokens`` per
   benchmark) in batches of questions with the same cap, through :func:`mvlm.inference.chat` with the
   benchmark's template, showing a progress bar with an ETA, and append each batch's records (the
   reference's format) to the answer file as soon as they are generated;
5. when every chunk is done, merge the chunk files (:func:`~mvlm.eval.sharding.merge_chunks`), score
   them and write ``<output>/<benchmark>/metrics.json`` and the README table ``<output>/results.md``
   (:mod:`mvlm.eval.results`).

Example::

    from mvlm.eval import run_benchmark
    from mvlm.inference import load_model_for_inference

    model = load_model_for_inference("mtgv/MobileVLM_V2-1.7B")
    result = run_benchmark(model, "pope", "data/benchmark_data", "results/")
    print(result.describe())        # the headline, how many questions were scored, the problems

This module imports neither torch nor PIL at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mvlm.errors import ConfigError, DataError
from mvlm.eval.asking import answer_batch, batch_questions, check_prompts, eval_mode, image_padding
from mvlm.eval.benchmarks import Benchmark, get_benchmark, list_benchmarks
from mvlm.eval.records import PROBLEM_KINDS, AnswerWriter, Problem, load_answers, repair_answer_file
from mvlm.eval.results import METRICS_FILE, describe_report, write_report, write_summary
from mvlm.eval.sharding import (
    ANSWERS_FILE,
    benchmark_output_dir,
    chunk_answers_path,
    chunk_done_path,
    get_chunk,
    merge_chunks,
    write_json_atomic,
)

if TYPE_CHECKING:  # pragma: no cover
    from mvlm.model import MobileVLM

__all__ = ["README_ORDER", "RUN_PROBLEM_KINDS", "RunResult", "find_benchmarks", "run_benchmark", "run_benchmarks"]

README_ORDER: tuple[str, ...] = ("gqa", "sqa", "textvqa", "pope", "mme", "mmbench")
"""The benchmarks in the README table's column order (``all`` runs them in this order, then the others)."""

RUN_PROBLEM_KINDS: dict[str, str] = {
    "not_asked": "a question the model could not be asked (its prompt is too long for the context, or malformed)",
}
"""Problem kinds only the runner reports (besides :data:`~mvlm.eval.records.problems.PROBLEM_KINDS`)."""

OnBatch = Callable[[int, int], None]
"""Called after each batch is written with ``(questions done in this chunk, questions in this chunk)``."""


@dataclass
class RunResult:
    """What :func:`run_benchmark` did.

    Attributes:
        benchmark: The benchmark's name.
        answers_file: The file this process appended to (``answers.jsonl``, or its chunk's file).
        num_chunks: How many chunks the questions were split into.
        chunk_idx: This process's chunk.
        questions: The questions of this chunk.
        answered_before: Of those, how many an earlier run had answered (resumed).
        answered: How many this run answered.
        problems: This process's problems: reading the questions, repairing the answer file, asking.
        report: The final report (:meth:`Benchmark.score <mvlm.eval.benchmarks.Benchmark.score>` plus a
            ``run`` section and the runner's problems), or ``None`` while other chunks are unfinished.
        metrics_file: Where the report was written (``None`` with it).
    """

    benchmark: str
    answers_file: Path
    num_chunks: int
    chunk_idx: int
    questions: int
    answered_before: int
    answered: int
    problems: list[Problem] = field(default_factory=list)
    report: dict[str, Any] | None = None
    metrics_file: Path | None = None

    @property
    def complete(self) -> bool:
        """Whether the benchmark was merged and scored (all chunks done)."""
        return self.report is not None

    def describe(self) -> str:
        """A few lines for a terminal: the score and problems, or where this chunk stands."""
        if self.report is not None:
            return describe_report(self.report)
        return (
            f"{self.benchmark}: chunk {self.chunk_idx} of {self.num_chunks} done ({self.questions} questions, "
            f"{self.answered} answered now, {self.answered_before} before); the last chunk to finish merges and scores"
        )


# --------------------------------------------------------------------------------------------- pieces
def find_benchmarks(data_dir: str | Path) -> list[Benchmark]:
    """The registered benchmarks whose files are under ``data_dir`` (a ``benchmark_data`` root).

    Args:
        data_dir: The root holding ``gqa/``, ``pope/``... (or one benchmark's folder).

    Returns:
        The benchmarks found, in :data:`README_ORDER` then by name.

    Raises:
        DataError: None was found (the message says what was looked for).
    """
    names = [*README_ORDER, *(name for name in list_benchmarks() if name not in README_ORDER)]
    found: list[Benchmark] = []
    looked: list[str] = []
    for name in names:
        try:
            bench = get_benchmark(name)
        except ConfigError:
            continue  # a plugin that cannot be built without options is not found automatically
        looked.append(f"{bench.folder or '.'}/{bench.question_file}")
        try:
            bench.resolve_data_dir(data_dir)
        except DataError:
            continue
        found.append(bench)
    if not found:
        raise DataError(
            f"no benchmark found under {data_dir}: looked for {', '.join(looked)}; point --data-dir at the "
            "benchmark_data root laid out as the MobileVLM README shows (see the Evaluation docs page)"
        )
    return found


def _default_model_id(model: MobileVLM) -> str:
    from mvlm.inference import model_name_from_path

    source = getattr(model, "name_or_path", None) or getattr(model.config, "_name_or_path", None)
    return model_name_from_path(source) if source else "mobilevlm"


def _answered_keys(bench: Benchmark, path: Path, model_id: str, problems: list[Problem]) -> set[str]:
    """Keys the answer file already answers; its bad lines become problems; another model's answers are refused."""
    if not path.is_file():
        return set()
    loaded = load_answers(path)
    others = sorted({str(r.model_id) for r in loaded.records if r.model_id != model_id})
    if others:
        raise ConfigError(
            f"{path} holds answers of model {', '.join(others)}, not {model_id!r}; resuming would mix models. Use "
            "another output folder, the same model_id, or overwrite=True (mvlm eval --overwrite) to start over"
        )
    for problem in loaded.problems:
        message = f"{problem.message}; the line stays in the file and its question is asked again"
        problems.append(Problem(problem.kind, message, problem.file, problem.line))
    return bench.answered_keys(loaded.records)


def _finish_report(
    report: dict[str, Any], extra: Sequence[Problem], asked: set[str] | None, run: dict[str, Any]
) -> dict[str, Any]:
    """Add the runner's problems (once each), drop the questions beyond ``limit``, recount, attach ``run``."""
    problems = list(report["problems"])
    seen = {(p["kind"], p["file"], p["line"], p["key"]) for p in problems}
    for problem in extra:
        data = problem.to_dict()
        key = (data["kind"], data["file"], data["line"], data["key"])
        if key not in seen:
            seen.add(key)
            problems.append(data)
    counts = dict(report["counts"])
    if asked is not None:
        kept = [p for p in problems if not (p["kind"] == "missing_answer" and p["key"] not in asked)]
        counts["beyond_limit"] = len(problems) - len(kept)
        problems = kept
    for kind in [*PROBLEM_KINDS, *RUN_PROBLEM_KINDS]:
        counts[kind] = sum(1 for p in problems if p["kind"] == kind)
    return {**report, "counts": counts, "problems": problems, "run": run}


def _check_run_options(batch_size: Any, limit: Any, max_new_tokens: Any) -> None:
    def positive(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    if not positive(batch_size):
        raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if limit is not None and not (positive(limit) or limit == 0):
        raise ConfigError(f"limit must be None or an integer >= 0, got {limit!r}")
    if max_new_tokens is not None and not positive(max_new_tokens):
        raise ConfigError(f"max_new_tokens must be None (the reference's) or an integer >= 1, got {max_new_tokens!r}")


# --------------------------------------------------------------------------------------------- runs
def run_benchmark(
    model: MobileVLM,
    benchmark: str | Benchmark,
    data_dir: str | Path,
    output_dir: str | Path,
    *,
    batch_size: int = 8,
    num_chunks: int = 1,
    chunk_idx: int = 0,
    model_id: str | None = None,
    limit: int | None = None,
    max_new_tokens: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    tokenizer: Any = None,
    on_batch: OnBatch | None = None,
) -> RunResult:
    """Answer a benchmark's questions with ``model``, appending to ``<output_dir>/<benchmark>/``, and score them.

    Rerunning the same call resumes: answered questions are skipped, so a run stopped at any point
    (error, Ctrl-C, killed job) ends with every question answered exactly once.

    Args:
        model: A MobileVLM (e.g. from :func:`~mvlm.inference.load_model_for_inference`); it is put in
            eval mode for the run (and back in training mode after, if it was).
        benchmark: A registered name (``"pope"``) or a :class:`~mvlm.eval.benchmarks.Benchmark`
            (``get_benchmark("mmbench", circular=True)``).
        data_dir: The benchmark's folder, or the ``benchmark_data`` root holding it.
        output_dir: The output folder (see :mod:`mvlm.eval.results` for the layout).
        batch_size: Questions generated together (left-padded; the same answers as one at a time).
        num_chunks: Split the questions into this many chunks (:func:`~mvlm.eval.sharding.split_list`),
            one per process; each writes ``chunks/<num_chunks>_<chunk_idx>.jsonl``.
        chunk_idx: The chunk this process answers.
        model_id: The ``model_id`` of the records (default: the checkpoint folder's name, as the reference).
        limit: Ask only the first ``limit`` questions (a quick check; the numbers are not comparable).
        max_new_tokens: A generation cap for every question instead of the reference's (128, or 1024
            for MMBench and ScienceQA); for quick checks only.
        overwrite: Delete this process's earlier answers (and the merged answers and report) first.
        progress: Show a progress bar with the rate and ETA (on stderr).
        tokenizer: A tokenizer instead of ``model.tokenizer``.
        on_batch: Called after each batch is on disk with ``(done, total)`` for this chunk.

    Returns:
        What was done; :attr:`RunResult.report` holds the metrics once every chunk is finished.

    Raises:
        ConfigError: A bad option, or an answer file of another ``model_id`` to resume.
        DataError: The benchmark's files are missing or unreadable.
        UnknownNameError: No benchmark has that name.
    """
    _check_run_options(batch_size, limit, max_new_tokens)
    bench = benchmark if isinstance(benchmark, Benchmark) else get_benchmark(benchmark)
    model_id = model_id or _default_model_id(model)
    questions = bench.load(data_dir)
    asked = list(questions) if limit is None else list(questions)[:limit]
    chunk = get_chunk(asked, num_chunks, chunk_idx)
    chunked = num_chunks > 1
    bench_dir = benchmark_output_dir(output_dir, bench.name)
    path = chunk_answers_path(output_dir, bench.name, num_chunks, chunk_idx) if chunked else bench_dir / ANSWERS_FILE
    marker = chunk_done_path(output_dir, bench.name, num_chunks, chunk_idx)
    if overwrite:
        for stale in {path, marker, bench_dir / ANSWERS_FILE, bench_dir / METRICS_FILE}:
            stale.unlink(missing_ok=True)
    marker.unlink(missing_ok=True)

    seen_at_load = [p for p in questions.problems if p.kind == "missing_image"]  # score() does not check images
    problems: list[Problem] = []  # this chunk's own: the answer file's and the asking's
    repaired = repair_answer_file(path)
    if repaired is not None:
        problems.append(repaired)
    done = _answered_keys(bench, path, model_id, problems)
    todo = [q for q in chunk if q.key not in done]
    check_prompts(bench, todo)
    answered = 0
    label = bench.name if not chunked else f"{bench.name} [{chunk_idx + 1}/{num_chunks}]"
    from tqdm import tqdm

    finished = len(chunk) - len(todo)
    bar = tqdm(total=len(chunk), initial=finished, desc=label, unit="q", disable=not progress, dynamic_ncols=True)
    with bar, image_padding(model, bench.pad_images), eval_mode(model), AnswerWriter(path) as writer:
        for batch in batch_questions(todo, batch_size, max_new_tokens):
            cap = max_new_tokens if max_new_tokens is not None else batch[0].max_new_tokens
            pairs, batch_problems = answer_batch(model, bench, batch, cap, tokenizer)
            answered += writer.write(bench.make_record(q, text, model_id=model_id) for q, text in pairs)
            problems.extend(batch_problems)
            finished += len(batch)
            bar.update(len(batch))
            if on_batch is not None:
                on_batch(finished, len(chunk))

    result = RunResult(
        bench.name, path, num_chunks, chunk_idx, len(chunk), len(chunk) - len(todo), answered, seen_at_load + problems
    )
    run = {
        "model_id": model_id,
        "batch_size": batch_size,
        "num_chunks": num_chunks,
        "limit": limit,
        "max_new_tokens": max_new_tokens,
        "reference_max_new_tokens": bench.max_new_tokens,
        "temperature": 0.0,
        "conv_mode": bench.template,
        "questions_asked": len(asked),
    }
    extra = list(seen_at_load)
    if chunked:
        chunk_problems = [p.to_dict() for p in problems]
        state = {**run, "benchmark": bench.name, "chunk_idx": chunk_idx, "questions": len(chunk)}
        write_json_atomic(marker, {**state, "problems": chunk_problems})
        merged = merge_chunks(output_dir, bench.name, num_chunks, require_all=False)
        if merged is None:
            return result
        answers: Path = merged.path
        extra.extend(Problem(**p) for m in merged.markers for p in m.get("problems", []))
        extra.extend(merged.problems)
    else:
        answers = path
        extra.extend(problems)
    report = bench.score(answers, questions.data_dir)
    asked_keys = None if limit is None else {q.key for q in asked}
    result.report = _finish_report(report, extra, asked_keys, run)
    result.metrics_file = write_report(output_dir, result.report)
    write_summary(output_dir, model_id)
    return result


def run_benchmarks(
    model: MobileVLM,
    benchmarks: str | Sequence[str | Benchmark],
    data_dir: str | Path,
    output_dir: str | Path,
    **options: Any,
) -> list[RunResult]:
    """:func:`run_benchmark` for several benchmarks, one after the other, into one output folder (one table).

    Args:
        model: The model.
        benchmarks: ``"all"`` (every benchmark found under ``data_dir``, see :func:`find_benchmarks`),
            one name, or a list of names / :class:`~mvlm.eval.benchmarks.Benchmark` objects.
        data_dir: The ``benchmark_data`` root.
        output_dir: The output folder; ``results.md`` there gets one column per benchmark.
        **options: Passed to :func:`run_benchmark` (``batch_size``, ``num_chunks``, ``chunk_idx``...).

    Returns:
        One result per benchmark, in order.
    """
    if isinstance(benchmarks, str):
        selected: Sequence[str | Benchmark] = find_benchmarks(data_dir) if benchmarks == "all" else [benchmarks]
    else:
        selected = benchmarks
    return [run_benchmark(model, bench, data_dir, output_dir, **options) for bench in selected]
