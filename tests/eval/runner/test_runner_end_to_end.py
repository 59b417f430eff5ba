"""``mvlm eval --benchmark all`` over a fake benchmark_data tree, then ``mvlm score`` on the same answers.

The tiny model's answers are gibberish, so the numbers are low; what is checked is the shape of
everything written (records in the reference format, counts, located problems, the table) and that
scoring the answers again without a model gives the same metrics.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from runner_testdata import EXPECTED

from helpers.benchfiles import problems_of
from mvlm.eval.benchmarks import get_benchmark

PLAIN_KEYS = ["question_id", "prompt", "text", "answer_id", "model_id", "metadata"]
MMBENCH_KEYS = ["question_id", "round_id", "prompt", "text", "options", "option_char", "answer_id", "model_id"]
ALPHABET = set("23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")


@pytest.fixture(scope="module")
def evaluated(mvlm_main, checkpoint, bench_root, tmp_path_factory):
    """One ``mvlm eval --benchmark all`` run: (output folder, stdout, stderr)."""
    out = tmp_path_factory.mktemp("eval_all")
    stdout, stderr = io.StringIO(), io.StringIO()
    argv = ["eval", "--model", str(checkpoint), "--benchmark", "all", "--data-dir", str(bench_root)]
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = mvlm_main([*argv, "--output", str(out), "--batch-size", "4", "--no-progress"])
    assert status == 0, stderr.getvalue()
    return out, stdout.getvalue(), stderr.getvalue()


def report_of(out: Path, name: str) -> dict:
    return json.loads((out / name / "metrics.json").read_text())


@pytest.mark.parametrize("name", list(EXPECTED))
def test_answer_records_have_the_reference_format(evaluated, checkpoint, bench_root, name):
    out, _, _ = evaluated
    questions = get_benchmark(name).load(bench_root)
    lines = (out / name / "answers.jsonl").read_text().splitlines()
    assert len(lines) == EXPECTED[name]["answers"]
    bench = get_benchmark(name)
    keys = set()
    for line in lines:
        record = json.loads(line)
        assert list(record) == ([*MMBENCH_KEYS, "metadata"] if name == "mmbench" else PLAIN_KEYS)
        assert len(record["answer_id"]) == 22 and set(record["answer_id"]) <= ALPHABET
        assert record["model_id"] == checkpoint.name  # the checkpoint folder's name, as the reference
        assert record["metadata"] == {}
        assert isinstance(record["text"], str)
        key = bench.key_for(record["question_id"], record["prompt"], record.get("round_id"))
        question = questions.get(key)
        assert question is not None and record["prompt"] == question.record_prompt
        if name == "mmbench":
            assert record["round_id"] == 0 and record["options"] == list(question.options)
        keys.add(key)
    assert len(keys) == len(lines)  # no question answered twice


@pytest.mark.parametrize("name", list(EXPECTED))
def test_counts_and_run_settings(evaluated, name):
    out, _, _ = evaluated
    report = report_of(out, name)
    counts = report["counts"]
    assert {k: counts[k] for k in ("questions", "answers", "scored")} == EXPECTED[name]
    run = report["run"]
    assert run["temperature"] == 0.0 and run["conv_mode"] == "v1" and run["max_new_tokens"] is None
    assert run["reference_max_new_tokens"] == (1024 if name in ("sqa", "mmbench") else 128)
    assert run["batch_size"] == 4 and run["num_chunks"] == 1
    for problem in report["problems"]:  # every problem names its kind, file and message
        assert problem["kind"] in counts and problem["file"] and problem["message"]
        assert counts[problem["kind"]] >= 1


def test_bad_input_is_located_and_counted(evaluated):
    out, _, _ = evaluated
    gqa = report_of(out, "gqa")
    assert problems_of(gqa, "malformed_data") == [("llava_gqa_testdev_balanced.jsonl", 3)]
    assert problems_of(gqa, "missing_image") == [("llava_gqa_testdev_balanced.jsonl", 4)]
    assert problems_of(gqa, "missing_answer") == [("llava_gqa_testdev_balanced.jsonl", 4)]
    assert problems_of(gqa, "no_ground_truth") == [("answers.jsonl", 4)]  # question 999, answered 4th
    sqa = report_of(out, "sqa")
    assert [f for f, _ in problems_of(sqa, "missing_image")] == ["llava_test_CQM-A.json"]
    mmbench = report_of(out, "mmbench")  # the base64 decodes, but not to an image: found when asked
    assert problems_of(mmbench, "missing_image") == [("mmbench_dev_en_20231003.tsv", 4)]
    assert "cannot decode image" in next(p for p in mmbench["problems"] if p["kind"] == "missing_image")["message"]
    pope = report_of(out, "pope")
    assert problems_of(pope, "no_ground_truth") == [("answers.jsonl", 5)]
    assert report_of(out, "textvqa")["counts"]["complete"] is True


def test_summary_table_and_terminal_output(evaluated, checkpoint):
    out, stdout, stderr = evaluated
    header = "| Model | GQA | SQA-IMG | TextVQA | POPE | MME-P | MMBench | Avg |"
    results = (out / "results.md").read_text()
    assert header in results and header in stdout  # the table is printed at the end
    row = next(line for line in results.splitlines() if line.startswith(f"| {checkpoint.name} |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[5] == "-" and cells[7] == "-"  # MME-P needs all ten perception subtasks; Avg needs all six
    assert all(c.replace(".", "").isdigit() for c in [*cells[1:5], cells[6]])
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["model"] == checkpoint.name
    assert list(summary["summary"]) == ["GQA", "SQA-IMG", "TextVQA", "POPE", "MME-P", "MMBench", "Avg"]
    assert summary["benchmarks"]["pope"]["scored"] == 5 and summary["benchmarks"]["pope"]["questions"] == 6
    assert "gqa: GQA" in stderr and "scored 3 of 5 questions" in stderr and "malformed_data 1" in stderr


@pytest.mark.parametrize("name", list(EXPECTED))
def test_mvlm_score_gives_the_same_metrics(evaluated, mvlm_main, bench_root, name, capsys):
    out, _, _ = evaluated
    answers = out / name / "answers.jsonl"
    argv = ["score", "--benchmark", name, "--answers", str(answers), "--data-dir", str(bench_root), "--json"]
    assert mvlm_main(argv) == 0
    scored = json.loads(capsys.readouterr().out)
    report = report_of(out, name)
    assert scored["metrics"] == report["metrics"]
    assert scored["headline"] == report["headline"]
    assert scored["counts"]["scored"] == report["counts"]["scored"] == EXPECTED[name]["scored"]
    # and the Python API gives the same again
    assert get_benchmark(name).score(answers, bench_root)["metrics"] == report["metrics"]


def test_mvlm_score_summary_and_output(evaluated, mvlm_main, bench_root, tmp_path, capsys):
    out, _, _ = evaluated
    answers = out / "pope" / "answers.jsonl"
    argv = ["score", "--benchmark", "pope", "--answers", str(answers), "--data-dir", str(bench_root / "pope")]
    assert mvlm_main([*argv, "--output", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("pope: POPE ") and "scored 5 of 6 questions" in printed
    assert "answers.jsonl:5: no_ground_truth" in printed
    assert json.loads((tmp_path / "pope" / "metrics.json").read_text())["metrics"] == report_of(out, "pope")["metrics"]
    assert "| POPE |" in (tmp_path / "results.md").read_text()


def test_synthetic_benchmark_through_the_command(mvlm_main, checkpoint, tmp_path, capsys):
    """The held-out synthetic split, found by --benchmark all under its own folder and scored."""
    from mvlm.data.synthetic import generate_dataset

    generate_dataset(tmp_path / "data" / "synthetic", 5, split="test", stage="eval", seed=3)
    argv = ["eval", "--model", str(checkpoint), "--benchmark", "all", "--data-dir", str(tmp_path / "data")]
    assert mvlm_main([*argv, "--output", str(tmp_path / "out"), "--no-progress"]) == 0
    report = report_of(tmp_path / "out", "synthetic")
    assert report["counts"]["scored"] == 5 and report["run"]["reference_max_new_tokens"] == 16
    assert 0.0 <= report["headline"] <= 100.0 and "per_family" in report["metrics"]
    assert "synthetic: headline" in capsys.readouterr().err
