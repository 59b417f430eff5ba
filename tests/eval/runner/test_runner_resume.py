"""Resuming: a run stopped after k batches, its last line half-written, ends like an uninterrupted run."""

from __future__ import annotations

import json

import pytest
from runner_testdata import records_without_ids

from mvlm.errors import ConfigError
from mvlm.eval.benchmarks import get_benchmark
from mvlm.eval.records import AnswerWriter, repair_answer_file
from mvlm.eval.runner import run_benchmark

NEW = 8


def run(model, name, root, out, **options):
    """run_benchmark with the settings of these tests (batches of 2, short answers, no progress bar)."""
    settings = {"batch_size": 2, "max_new_tokens": NEW, "progress": False, **options}
    return run_benchmark(model, name, root, out, **settings)


class Stop(Exception):
    """Stands for a crash, Ctrl-C or a killed job."""


def stop_after(batches: int):
    seen = []

    def hook(done: int, total: int) -> None:
        seen.append((done, total))
        if len(seen) == batches:
            raise Stop

    return hook


@pytest.fixture(scope="module")
def uninterrupted(model, bench_root, tmp_path_factory):
    """Uninterrupted runs (batch size 2) of the benchmarks the resume tests interrupt."""
    out = tmp_path_factory.mktemp("uninterrupted")
    return {name: run(model, name, bench_root, out) for name in ("pope", "mme", "mmbench", "textvqa")}


def cut_last_line(path, keep: int) -> str:
    """Leave only the first ``keep`` characters of the last line (no newline): a write cut short."""
    lines = path.read_text().splitlines(keepends=True)
    cut = lines[-1][:keep]
    path.write_text("".join(lines[:-1]) + cut)
    return cut


@pytest.mark.parametrize("name", ["pope", "mme", "mmbench", "textvqa"])
def test_stopped_run_with_a_half_written_line_resumes_like_one_run(model, bench_root, tmp_path, name, uninterrupted):
    with pytest.raises(Stop):
        run(model, name, bench_root, tmp_path, on_batch=stop_after(1))
    answers = tmp_path / name / "answers.jsonl"
    assert len(answers.read_text().splitlines()) == 2  # the first batch was on disk when the run stopped
    assert not (tmp_path / name / "metrics.json").exists()
    cut_last_line(answers, 25)

    result = run(model, name, bench_root, tmp_path)
    expected = uninterrupted[name]
    assert result.answered_before == 1 and result.answered == expected.answered - 1
    assert records_without_ids(answers) == records_without_ids(expected.answers_file)  # same order, no duplicate
    assert result.report["metrics"] == expected.report["metrics"]
    assert result.report["counts"]["scored"] == expected.report["counts"]["scored"]
    half = [p for p in result.report["problems"] if p["kind"] == "malformed_answer"]
    assert [(p["file"], p["line"]) for p in half] == [(str(answers), 2)]
    assert "half-written last line" in half[0]["message"]
    assert get_benchmark(name).score(answers, bench_root)["counts"]["malformed_answer"] == 0  # the file is clean


def test_a_rerun_of_a_finished_run_asks_nothing(model, bench_root, tmp_path):
    first = run_benchmark(model, "pope", bench_root, tmp_path, max_new_tokens=NEW, progress=False)
    before = first.answers_file.read_text()
    again = run_benchmark(model, "pope", bench_root, tmp_path, max_new_tokens=NEW, progress=False)
    assert (again.answered, again.answered_before) == (0, 6)
    assert again.answers_file.read_text() == before
    assert again.report["metrics"] == first.report["metrics"]


def test_stop_in_several_places(model, bench_root, tmp_path, uninterrupted):
    """Stopped after 1 batch, then after 1 more, then finished: still every answer exactly once."""
    for _ in range(2):
        with pytest.raises(Stop):
            run(model, "pope", bench_root, tmp_path, on_batch=stop_after(1))
    result = run(model, "pope", bench_root, tmp_path)
    assert result.answered_before == 4 and result.answered == 2
    assert records_without_ids(result.answers_file) == records_without_ids(uninterrupted["pope"].answers_file)


def test_a_garbled_complete_line_is_reported_and_its_question_asked_again(model, bench_root, tmp_path, uninterrupted):
    with pytest.raises(Stop):
        run(model, "pope", bench_root, tmp_path, on_batch=stop_after(2))
    answers = tmp_path / "pope" / "answers.jsonl"
    lines = answers.read_text().splitlines(keepends=True)
    lines[1] = '{"question_id": 2, "prompt": \n'  # line 2 garbled, with its newline
    answers.write_text("".join(lines))
    result = run(model, "pope", bench_root, tmp_path)
    assert result.answered == 3  # question 2 again, and 5, 6
    bad = [(p["line"], p["kind"]) for p in result.report["problems"] if p["file"] == str(answers)]
    assert (2, "malformed_answer") in bad
    assert result.report["counts"]["malformed_answer"] == 1  # reported once (runner and scorer agree)
    assert result.report["metrics"] == uninterrupted["pope"].report["metrics"]


def test_limit_then_the_rest(model, bench_root, tmp_path, uninterrupted):
    part = run(model, "pope", bench_root, tmp_path, limit=3)
    assert part.answered == 3 and part.questions == 3
    counts = part.report["counts"]
    assert counts["beyond_limit"] == 3 and counts["missing_answer"] == 0 and counts["scored"] == 3
    assert part.report["run"]["limit"] == 3 and part.report["run"]["questions_asked"] == 3
    rest = run(model, "pope", bench_root, tmp_path)
    assert (rest.answered_before, rest.answered) == (3, 3)
    assert records_without_ids(rest.answers_file) == records_without_ids(uninterrupted["pope"].answers_file)


def test_answers_of_another_model_are_not_resumed(model, bench_root, tmp_path):
    run_benchmark(model, "pope", bench_root, tmp_path, limit=2, max_new_tokens=2, model_id="first", progress=False)
    with pytest.raises(ConfigError, match="model first, not 'second'"):
        run_benchmark(model, "pope", bench_root, tmp_path, max_new_tokens=2, model_id="second", progress=False)
    result = run_benchmark(
        model, "pope", bench_root, tmp_path, max_new_tokens=2, model_id="second", overwrite=True, progress=False
    )
    assert result.answered_before == 0 and result.answered == 6
    assert {json.loads(line)["model_id"] for line in result.answers_file.read_text().splitlines()} == {"second"}


# ------------------------------------------------------------------------------------------- the repair alone
def record(qid: int) -> str:
    return json.dumps({"question_id": qid, "prompt": "p", "text": "yes", "answer_id": "a", "model_id": "m"})


def test_repair_cuts_a_partial_line(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_text(record(1) + "\n" + record(2)[:-9])
    problem = repair_answer_file(path)
    assert (problem.kind, problem.file, problem.line) == ("malformed_answer", str(path), 2)
    assert path.read_text() == record(1) + "\n"
    assert repair_answer_file(path) is None  # now whole


def test_repair_keeps_a_whole_record_without_its_newline(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_text(record(1) + "\n" + record(2))
    assert repair_answer_file(path) is None
    assert path.read_text() == record(1) + "\n" + record(2) + "\n"


@pytest.mark.parametrize("tail", ["   ", "{", '{"question_id": 3}', "\x00\x00\x00"])
def test_repair_cuts_anything_that_is_not_a_record(tmp_path, tail):
    path = tmp_path / "answers.jsonl"
    path.write_text(record(1) + "\n" + tail)
    assert repair_answer_file(path).line == 2
    assert path.read_text() == record(1) + "\n"


def test_repair_of_missing_empty_and_whole_files(tmp_path):
    assert repair_answer_file(tmp_path / "none.jsonl") is None
    (tmp_path / "empty.jsonl").write_text("")
    assert repair_answer_file(tmp_path / "empty.jsonl") is None
    (tmp_path / "cut.jsonl").write_bytes(b'{"question_id": 1, "pr')  # the very first line cut short
    assert repair_answer_file(tmp_path / "cut.jsonl").line == 1
    assert (tmp_path / "cut.jsonl").read_bytes() == b""


def test_answer_writer_appends_whole_batches(tmp_path):
    path = tmp_path / "sub" / "answers.jsonl"
    with AnswerWriter(path) as writer:
        assert writer.write([{"question_id": 1, "prompt": "p", "text": "a"}]) == 1
        assert writer.write([]) == 0
    with AnswerWriter(path, sync=False) as writer:
        writer.write([{"question_id": 2, "prompt": "p", "text": "b"}, {"question_id": 3, "prompt": "p", "text": "c"}])
    assert [json.loads(line)["question_id"] for line in path.read_text().splitlines()] == [1, 2, 3]
    with pytest.raises(RuntimeError):
        AnswerWriter(path).write([])
