"""The synthetic benchmark over a held-out split written by mvlm.data.synthetic."""

from __future__ import annotations

import json

import pytest
from helpers.benchfiles import problems_of, v1

from mvlm.data.synthetic import generate_dataset
from mvlm.errors import ConfigError
from mvlm.eval.benchmarks import get_benchmark, normalize_synthetic_answer, score_synthetic


def test_score_function_by_hand():
    overall, per_family = score_synthetic(
        [" Red. ", "TOP LEFT", "3", "yes"], ["red", "top left", "2", "no"], ["color", "position", "count", "exists"]
    )
    assert (overall.correct, overall.total) == (2, 4)
    assert per_family["count"].correct == 0
    assert normalize_synthetic_answer("Large..") == "large"


def test_end_to_end(tmp_path):
    generate_dataset(tmp_path, 4, split="test", stage="eval", seed=0)
    lines = (tmp_path / "test.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    bench = get_benchmark("synthetic")
    questions = bench.load(tmp_path)
    assert len(questions) == 4
    first = questions[0]
    assert first.question_id == rows[0]["question_id"]
    assert bench.prompt(first) == v1("<image>\n" + rows[0]["text"])
    assert first.image.path == tmp_path / rows[0]["image"]
    assert first.max_new_tokens == 16
    assert first.image.open().size[0] > 0
    # Two right (one in capitals with a trailing period), one wrong, one unanswered.
    records = [
        bench.make_record(questions[0], rows[0]["answer"].upper() + ".", model_id="tiny"),
        bench.make_record(questions[1], rows[1]["answer"], model_id="tiny"),
        bench.make_record(questions[2], "certainly not " + rows[2]["answer"], model_id="tiny"),
    ]
    report = bench.score(records, tmp_path)
    assert (report["metrics"]["correct"], report["metrics"]["total"]) == (2, 3)
    assert report["headline"] == pytest.approx(200 / 3)
    assert problems_of(report, "missing_answer") == [("test.jsonl", 4)]
    assert report["summary_column"] is None


def test_split_option(tmp_path):
    with pytest.raises(ConfigError, match="split"):
        get_benchmark("synthetic", split="holdout")
    generate_dataset(tmp_path, 2, split="val", stage="eval", seed=1)
    assert len(get_benchmark("synthetic", split="val").load(tmp_path)) == 2
