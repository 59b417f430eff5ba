"""The registry and the benchmark contract, the question set a plugin returns, and the import weight."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.benchfiles import write_lines, write_png

from mvlm.errors import ConfigError, DataError, UnknownNameError
from mvlm.eval.benchmarks import (
    BENCHMARKS,
    Benchmark,
    ScoredPart,
    get_benchmark,
    list_benchmarks,
    register_benchmark,
)


def test_import_is_light():
    code = (
        "import sys; import mvlm.eval.benchmarks as b; b.get_benchmark('mmbench'); "
        "print(sorted(n for n in ('torch', 'PIL', 'numpy', 'transformers', 'pandas') if n in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registry():
    assert list_benchmarks() == ["gqa", "mmbench", "mme", "pope", "sqa", "synthetic", "textvqa"]
    assert type(get_benchmark("scienceqa")).__name__ == "ScienceQABenchmark"
    assert get_benchmark("mmb", circular=True).circular is True
    expected = {"gqa": 128, "mme": 128, "pope": 128, "textvqa": 128, "mmbench": 1024, "sqa": 1024}
    assert {name: BENCHMARKS.get(name).max_new_tokens for name in expected} == expected
    assert all(get_benchmark(name).template == "v1" for name in list_benchmarks())
    with pytest.raises(ConfigError, match="does not take the options"):
        get_benchmark("gqa", circular=True)
    with pytest.raises(ConfigError, match="matcher"):
        get_benchmark("mmbench", matcher="gpt")
    with pytest.raises(UnknownNameError, match="did you mean 'pope'"):
        get_benchmark("poep")


def test_register_custom_benchmark(tmp_path):
    @register_benchmark("toy_vqa")
    class ToyBenchmark(Benchmark):
        name = "toy_vqa"
        question_file = "q.txt"

        def _read(self, root):
            lines = (root / self.question_file).read_text().splitlines()
            return [
                self.make_question(question_id=i, text=t, record_prompt=t, image=None, ground_truth="ok", line=i)
                for i, t in enumerate(lines, start=1)
            ], []

        def _score(self, pairs):
            right = sum(record.text == question.ground_truth for question, record in pairs)
            return ScoredPart(metrics={"right": right}, headline=100.0 * right / len(pairs), scored=len(pairs))

    try:
        (tmp_path / "q.txt").write_text("Say ok.\nSay ok again.\n")
        bench = get_benchmark("toy_vqa")
        questions = bench.load(tmp_path)
        assert bench.prompt(questions[0]).endswith("USER: Say ok. ASSISTANT:")  # no image, no tag
        report = bench.score([bench.make_record(questions[0], "ok", model_id="m")], tmp_path)
        assert report["headline"] == 100.0
        assert report["counts"]["missing_answer"] == 1
    finally:
        BENCHMARKS.unregister("toy_vqa")


def test_resolve_data_dir(tmp_path):
    bench = get_benchmark("pope")
    write_lines(tmp_path / "pope" / "llava_pope_test.jsonl", [])
    assert bench.resolve_data_dir(tmp_path) == tmp_path / "pope"
    assert bench.resolve_data_dir(tmp_path / "pope") == tmp_path / "pope"
    with pytest.raises(DataError, match=r"llava_pope_test\.jsonl"):
        bench.resolve_data_dir(tmp_path / "elsewhere")


def test_question_set_is_a_sequence(tmp_path):
    write_png(tmp_path / "val2014" / "x.png")
    write_lines(
        tmp_path / "llava_pope_test.jsonl",
        [{"question_id": 1, "image": "x.png", "text": "Is there a cat in the image?", "category": "random"}],
    )
    questions = get_benchmark("pope").load(Path(tmp_path))
    assert len(questions) == 1 and list(questions) == [questions[0]] and questions[:1] == [questions[0]]
    assert questions.get("1") is questions[0] and questions.get("2") is None
    assert "1 questions" in repr(questions)


MODULES = ["base", "gqa", "llava_jsonl", "mmbench", "mme", "pope", "sqa", "synthetic", "textvqa"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"mvlm.eval.benchmarks.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_answered_keys_for_resuming(tmp_path):
    bench = get_benchmark("textvqa")
    assert bench.answered_keys(tmp_path / "not_yet.jsonl") == set()
    prompt = "what is it?\nReference OCR token: a\nAnswer the question using a single word or phrase."
    path = write_lines(
        tmp_path / "answers.jsonl",
        [
            {"question_id": "img1", "prompt": prompt, "text": "a"},
            {"question_id": "img1", "prompt": "one line", "text": "b"},  # cannot be keyed: answers nothing
            '{"question_id": "img2", "prom',  # interrupted write
        ],
    )
    assert bench.answered_keys(path) == {"img1|what is it?"}
