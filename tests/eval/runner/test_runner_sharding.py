"""Sharding: the reference's split_list chunks, chunk files merged in order, torchrun ranks as chunks."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from runner_testdata import records_without_ids

from mvlm.errors import ConfigError, DataError
from mvlm.eval.benchmarks import get_benchmark
from mvlm.eval.runner import run_benchmark
from mvlm.eval.sharding import (
    chunk_answers_path,
    chunk_done_path,
    distributed_context,
    get_chunk,
    merge_chunks,
    split_list,
)

NEW = 8


# ------------------------------------------------------------------------------------------ split_list
@given(st.lists(st.integers(), max_size=40), st.integers(min_value=1, max_value=12))
def test_chunks_are_the_references(items, num_chunks):
    size = math.ceil(len(items) / num_chunks)  # the reference: [lst[i:i+size] for i in range(0, len(lst), size)]
    expected = [items[i : i + size] for i in range(0, len(items), size)] if size else []
    assert split_list(items, num_chunks) == expected
    chunks = [get_chunk(items, num_chunks, k) for k in range(num_chunks)]
    assert [x for chunk in chunks for x in chunk] == items  # concatenated in chunk order: everything, once
    assert chunks[: len(expected)] == expected and all(not c for c in chunks[len(expected) :])


def test_chunk_examples_and_errors():
    assert split_list(list(range(10)), 8) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]  # 5 chunks, as the reference
    assert get_chunk(list(range(10)), 8, 7) == []
    assert get_chunk([], 3, 0) == []
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError):
            split_list([1], bad)
    for bad in (-1, 3, True):
        with pytest.raises(ConfigError):
            get_chunk([1, 2], 3, bad)


def test_torchrun_environment():
    assert distributed_context({}) is None
    assert distributed_context({"WORLD_SIZE": "1", "RANK": "0"}) is None
    context = distributed_context({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"})
    assert (context.rank, context.world_size, context.local_rank) == (2, 4, 0)
    assert distributed_context({"WORLD_SIZE": "2", "RANK": "1"}).local_rank == 1
    for env in ({"WORLD_SIZE": "x"}, {"WORLD_SIZE": "2", "RANK": "2"}):
        with pytest.raises(ConfigError):
            distributed_context(env)


# ------------------------------------------------------------------------------------------ chunked runs
@pytest.fixture(scope="module")
def unchunked(model, bench_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("unchunked")
    return {
        name: run_benchmark(model, name, bench_root, out, max_new_tokens=NEW, progress=False) for name in ("gqa", "mme")
    }


@pytest.mark.parametrize("name", ["gqa", "mme"])
def test_chunks_in_any_order_merge_into_the_unchunked_run(model, bench_root, tmp_path, unchunked, name):
    results = {}
    for index in (2, 0, 1):  # finishing order: the last one merges and scores
        results[index] = run_benchmark(
            model, name, bench_root, tmp_path, num_chunks=3, chunk_idx=index, max_new_tokens=NEW, progress=False
        )
    assert results[2].report is None and results[0].report is None and results[1].complete
    assert "the last chunk to finish merges" in results[2].describe()
    assert results[2].answers_file == chunk_answers_path(tmp_path, name, 3, 2)
    assert results[2].answers_file == tmp_path / name / "chunks" / "3_2.jsonl"
    merged = tmp_path / name / "answers.jsonl"
    expected = unchunked[name]
    assert records_without_ids(merged) == records_without_ids(expected.answers_file)
    assert results[1].report["metrics"] == expected.report["metrics"]
    keys = ("questions", "answers", "scored", "missing_image", "missing_answer", "no_ground_truth")
    assert {k: results[1].report["counts"][k] for k in keys} == {k: expected.report["counts"][k] for k in keys}
    assert results[1].report["run"]["num_chunks"] == 3
    marker = json.loads(chunk_done_path(tmp_path, name, 3, 0).read_text())
    assert marker["chunk_idx"] == 0 and marker["questions"] == results[0].questions
    assert sum(r.questions for r in results.values()) == len(get_benchmark(name).load(bench_root))


def test_more_chunks_than_questions(model, bench_root, tmp_path):
    """textvqa has 3 questions: with 5 chunks, chunks 3 and 4 are empty (the reference would fail on them)."""
    for index in range(5):
        result = run_benchmark(
            model, "textvqa", bench_root, tmp_path, num_chunks=5, chunk_idx=index, max_new_tokens=2, progress=False
        )
        assert result.questions == (1 if index < 3 else 0)
    assert result.complete and result.report["counts"]["scored"] == 3


def test_merge_refuses_unfinished_or_mismatched_chunks(model, bench_root, tmp_path):
    run_benchmark(model, "pope", bench_root, tmp_path, num_chunks=2, chunk_idx=0, max_new_tokens=2, progress=False)
    with pytest.raises(DataError, match="chunk\\(s\\) 1 of 2 are not finished"):
        merge_chunks(tmp_path, "pope", 2)
    assert merge_chunks(tmp_path, "pope", 2, require_all=False) is None
    with pytest.raises(DataError, match="different max_new_tokens"):  # chunk 0 had another cap: no merge
        run_benchmark(model, "pope", bench_root, tmp_path, num_chunks=2, chunk_idx=1, max_new_tokens=3, progress=False)
    assert chunk_done_path(tmp_path, "pope", 2, 1).is_file()  # chunk 1 itself is done; its answers are kept
    with pytest.raises(DataError, match="different max_new_tokens"):
        merge_chunks(tmp_path, "pope", 2)
    run_benchmark(
        model, "pope", bench_root, tmp_path, num_chunks=2, chunk_idx=0, max_new_tokens=3, overwrite=True, progress=False
    )
    merged = merge_chunks(tmp_path, "pope", 2)
    assert merged.records == 6 and not merged.problems


def test_merge_reports_bad_chunk_lines(model, bench_root, tmp_path):
    for index in (0, 1):
        run_benchmark(
            model, "pope", bench_root, tmp_path, num_chunks=2, chunk_idx=index, max_new_tokens=2, progress=False
        )
    chunk = chunk_answers_path(tmp_path, "pope", 2, 1)
    chunk.write_text(chunk.read_text() + "not json\n")
    merged = merge_chunks(tmp_path, "pope", 2)
    assert merged.records == 6
    assert [(p.kind, p.file, p.line) for p in merged.problems] == [("malformed_answer", str(chunk), 4)]
    chunk_done_path(tmp_path, "pope", 2, 0).write_text("[]")
    with pytest.raises(DataError, match="not a chunk marker"):
        merge_chunks(tmp_path, "pope", 2)


# ------------------------------------------------------------------------------------------ command line
def eval_argv(checkpoint, bench_root, out, *more):
    paths = ["--model", str(checkpoint), "--data-dir", str(bench_root), "--output", str(out)]
    return ["eval", *paths, "--benchmark", "pope", "--max-new-tokens", str(NEW), "--no-progress", *more]


def test_command_line_chunks(mvlm_main, checkpoint, bench_root, tmp_path, capsys):
    assert mvlm_main(eval_argv(checkpoint, bench_root, tmp_path, "--num-chunks", "2", "--chunk-idx", "1")) == 0
    first = capsys.readouterr()
    assert "pope: chunk 1 of 2 done" in first.err and first.out == ""
    assert mvlm_main(eval_argv(checkpoint, bench_root, tmp_path, "--num-chunks", "2", "--chunk-idx", "0")) == 0
    second = capsys.readouterr()
    assert "scored 5 of 6 questions" in second.err and "| POPE |" in second.out
    assert mvlm_main(eval_argv(checkpoint, bench_root, tmp_path, "--num-chunks", "2", "--chunk-idx", "2")) == 1
    assert "--chunk-idx must be in 0..1" in capsys.readouterr().err


def test_torchrun_ranks_are_chunks(mvlm_main, checkpoint, bench_root, tmp_path, monkeypatch, capsys):
    """Under torchrun (RANK / WORLD_SIZE set) each rank answers its chunk; the last to finish merges."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    for rank in ("1", "0"):
        monkeypatch.setenv("RANK", rank)
        assert mvlm_main(eval_argv(checkpoint, bench_root, tmp_path)) == 0
    assert sorted(p.name for p in (tmp_path / "pope" / "chunks").iterdir()) == [
        "2_0.done.json",
        "2_0.jsonl",
        "2_1.done.json",
        "2_1.jsonl",
    ]
    report = json.loads((tmp_path / "pope" / "metrics.json").read_text())
    assert report["run"]["num_chunks"] == 2 and report["counts"]["answers"] == 6
    capsys.readouterr()
    assert mvlm_main(eval_argv(checkpoint, bench_root, tmp_path, "--num-chunks", "2")) == 1
    assert "the ranks are the chunks" in capsys.readouterr().err


@pytest.mark.slow
def test_real_torchrun(checkpoint, bench_root, tmp_path):
    """Two processes started by torchrun (CPU, no process group needed) write one merged, scored result."""
    script = tmp_path / "mvlm_with_eval.py"
    script.write_text(
        "import argparse, sys\n"
        "import mvlm.cli\n"
        "from mvlm.eval.cli import add_eval_commands\n"
        "build = mvlm.cli.build_parser\n"
        "def build_with_eval():\n"
        "    parser = build()\n"
        "    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))\n"
        "    if 'eval' not in commands.choices:\n"
        "        add_eval_commands(commands)\n"
        "    return parser\n"
        "mvlm.cli.build_parser = build_with_eval\n"
        "sys.exit(mvlm.cli.main())\n"
    )
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29517"]
    result = subprocess.run(
        [*command, str(script), *eval_argv(checkpoint, bench_root, out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "pope" / "metrics.json").read_text())
    assert report["run"]["num_chunks"] == 2 and report["counts"]["scored"] == 5
    assert len((out / "pope" / "answers.jsonl").read_text().splitlines()) == 6


def test_stdout_is_only_the_table(mvlm_main, checkpoint, bench_root, tmp_path):
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        assert mvlm_main(eval_argv(checkpoint, bench_root, tmp_path)) == 0
    assert stdout.getvalue() == (tmp_path / "results.md").read_text()
    assert Path(tmp_path / "metrics.json").is_file()
