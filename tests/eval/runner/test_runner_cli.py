"""The commands' surface: help for every option, light imports, option parsing, errors before the model loads."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from mvlm.errors import ConfigError, DataError
from mvlm.eval.cli import parse_benchmark_options
from mvlm.eval.runner import find_benchmarks, run_benchmarks

EVAL_OPTIONS = [
    "--model",
    "--model-id",
    "--benchmark",
    "--data-dir",
    "--output",
    "--batch-size",
    "--num-chunks",
    "--chunk-idx",
    "--limit",
    "--max-new-tokens",
    "--device",
    "--dtype",
    "--load-8bit",
    "--load-4bit",
    "--benchmark-option",
    "--overwrite",
    "--no-progress",
]
SCORE_OPTIONS = ["--benchmark", "--answers", "--data-dir", "--output", "--model-id", "--benchmark-option", "--json"]


@pytest.mark.parametrize(("command", "options"), [("eval", EVAL_OPTIONS), ("score", SCORE_OPTIONS)])
def test_help_explains_every_option(mvlm_main, capsys, command, options):
    import mvlm.cli

    commands = next(a for a in mvlm.cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    actions = [a for a in commands.choices[command]._actions if a.dest != "help"]
    assert sorted(a.option_strings[0] for a in actions) == sorted(options)
    assert all(a.help and len(a.help) > 20 for a in actions)  # every option is explained
    with pytest.raises(SystemExit) as stop:
        mvlm_main([command, "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert all(option in text for option in options) and "examples:" in text


def test_mvlm_help_lists_the_commands(mvlm_main, capsys):
    with pytest.raises(SystemExit):
        mvlm_main(["--help"])
    text = capsys.readouterr().out
    assert "eval" in text and "score" in text


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout))


def test_importing_the_eval_package_and_the_commands_loads_no_torch():
    loaded = _loaded_after(
        "import mvlm.eval, mvlm.eval.cli, mvlm.eval.runner, mvlm.eval.asking, mvlm.eval.sharding, mvlm.eval.results"
    )
    assert not {"torch", "transformers", "PIL", "numpy"} & loaded


def test_lazy_exports_of_mvlm_eval():
    import mvlm.eval

    for name in mvlm.eval.__all__:
        assert getattr(mvlm.eval, name) is not None
    assert "run_benchmark" in dir(mvlm.eval)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mvlm.eval.nope  # noqa: B018
    loaded = _loaded_after("import mvlm.eval as e; e.run_benchmark; e.merge_chunks; e.write_summary")
    assert "torch" not in loaded


def test_benchmark_options():
    assert parse_benchmark_options(None, ["pope"]) == {}
    assert parse_benchmark_options(["circular=true", "matcher=llava"], ["mmbench"]) == {
        "mmbench": {"circular": True, "matcher": "llava"}
    }
    assert parse_benchmark_options(["mmbench:circular=true", "synthetic:split=val"], ["gqa", "mmbench"]) == {
        "mmbench": {"circular": True},
        "synthetic": {"split": "val"},
    }
    for bad in (["circular"], ["=1"]):
        with pytest.raises(ConfigError):
            parse_benchmark_options(bad, ["mmbench"])
    with pytest.raises(ConfigError, match="say which one"):
        parse_benchmark_options(["circular=true"], ["gqa", "mmbench"])


def test_errors_come_before_the_model_loads(mvlm_main, bench_root, tmp_path, capsys):
    """A wrong benchmark, data folder or option fails at once, naming the problem (the model path is bogus)."""
    base = ["eval", "--model", str(tmp_path / "no-model"), "--output", str(tmp_path)]
    cases = [
        (["--benchmark", "popee", "--data-dir", str(bench_root)], "pope"),
        (["--benchmark", "pope", "--data-dir", str(tmp_path)], "llava_pope_test.jsonl"),
        (["--benchmark", "all", "--data-dir", str(tmp_path)], "no benchmark found"),
        (["--benchmark", "pope", "--data-dir", str(bench_root), "--benchmark-option", "circular=true"], "circular"),
        (["--benchmark", "gqa", "--data-dir", str(bench_root), "--benchmark-option", "pope:x=1"], "not run here"),
    ]
    for extra, message in cases:
        assert mvlm_main([*base, *extra]) == 1
        err = capsys.readouterr().err
        assert err.startswith("mvlm eval: error:") and message in err


def test_score_errors(mvlm_main, bench_root, tmp_path, capsys):
    argv = ["score", "--benchmark", "pope", "--answers", str(tmp_path / "none.jsonl"), "--data-dir", str(bench_root)]
    assert mvlm_main(argv) == 1
    assert "does not exist" in capsys.readouterr().err


def test_circular_mmbench_through_the_command(mvlm_main, checkpoint, bench_root, tmp_path, capsys):
    argv = ["eval", "--model", str(checkpoint), "--benchmark", "mmbench", "--data-dir", str(bench_root)]
    more = ["--output", str(tmp_path), "--max-new-tokens", "2", "--no-progress", "--benchmark-option", "circular=true"]
    assert mvlm_main([*argv, *more]) == 0
    records = [json.loads(line) for line in (tmp_path / "mmbench" / "answers.jsonl").read_text().splitlines()]
    assert [(r["question_id"], r["round_id"]) for r in records] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1)]
    assert records[1]["options"] == ["dog", "bird", "fish", "cat"]  # rotated left by one
    report = json.loads((tmp_path / "mmbench" / "metrics.json").read_text())
    assert report["metrics"]["circular"] is True


def test_find_benchmarks(bench_root, tmp_path):
    assert [b.name for b in find_benchmarks(bench_root)] == ["gqa", "sqa", "textvqa", "pope", "mme", "mmbench"]
    assert [b.name for b in find_benchmarks(bench_root / "pope")] == ["pope"]
    with pytest.raises(DataError, match=r"gqa/llava_gqa_testdev_balanced\.jsonl"):
        find_benchmarks(tmp_path)


def test_run_benchmarks_into_one_table(model, bench_root, tmp_path):
    results = run_benchmarks(model, ["pope", "textvqa"], bench_root, tmp_path, max_new_tokens=2, progress=False)
    assert [r.benchmark for r in results] == ["pope", "textvqa"]
    table = (tmp_path / "results.md").read_text()
    assert "| - | - | " in table and "Missing for" in table
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["summary"]["POPE"] == results[0].report["headline"]
    assert summary["summary"]["TextVQA"] == results[1].report["headline"]
    assert summary["summary"]["GQA"] is None and summary["summary"]["Avg"] is None
    single = run_benchmarks(model, "pope", bench_root, tmp_path, max_new_tokens=2, progress=False)
    assert single[0].answered == 0  # already answered: resumed, nothing asked


@pytest.mark.parametrize(
    "module_name",
    [
        "mvlm.eval",
        "mvlm.eval.runner",
        "mvlm.eval.sharding",
        "mvlm.eval.records",
        "mvlm.eval.records.answer_file",
        "mvlm.eval.results",
        "mvlm.eval.cli",
    ],
)
def test_every_public_symbol_is_documented(module_name):
    import importlib
    import inspect

    module = importlib.import_module(module_name)
    assert inspect.getdoc(module)
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{module_name}.{name}"
            functions = [obj] if inspect.isfunction(obj) else [m for n, m in vars(obj).items() if inspect.isfunction(m)]
            for function in functions:
                if not function.__name__.startswith("_"):
                    assert inspect.getdoc(function), f"{module_name}.{name}.{function.__name__}"
                    assert "return" in function.__annotations__, f"{module_name}.{name}.{function.__name__}: no hints"
