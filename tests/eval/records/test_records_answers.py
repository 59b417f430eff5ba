"""Answer records: made in the reference's key order, written as one line, read back with bad lines located."""

from __future__ import annotations

import json

import pytest
from helpers.benchfiles import write_lines

from mvlm.errors import DataError
from mvlm.eval.records import (
    AnswerRecord,
    Question,
    answer_line,
    load_answers,
    make_answer_record,
    new_answer_id,
    read_answers,
)


def test_answer_records(tmp_path):
    question = Question(
        benchmark="gqa", key="7", question_id="7", text="Q?", record_prompt="Q?", image=None, max_new_tokens=128
    )
    record = make_answer_record(question, "A", model_id="tiny")
    assert list(record) == ["question_id", "prompt", "text", "answer_id", "model_id", "metadata"]
    assert len(record["answer_id"]) == 22 and new_answer_id() != new_answer_id()
    line = answer_line(record)
    assert line.endswith("\n") and json.loads(line) == record
    path = write_lines(
        tmp_path / "answers.jsonl",
        [
            record,
            {"question_id": True, "prompt": "p", "text": "t"},  # line 2: a boolean id
            {"question_id": "1", "prompt": "p", "text": 3},  # line 3: text not a string
            "",
            '{"question_id": "2", "prompt": "p", "text": "trunc',  # line 5: an interrupted write
        ],
    )
    loaded = load_answers(path)
    assert [r.question_id for r in loaded.records] == ["7"]
    assert loaded.records[0].where == f"{path}:1"
    assert [(p.kind, p.line) for p in loaded.problems] == [
        ("malformed_answer", 2),
        ("malformed_answer", 3),
        ("malformed_answer", 5),
    ]
    with pytest.raises(DataError, match=r"answers\.jsonl:2: .*question_id.*\(and 2 more bad line\(s\)\)"):
        read_answers(path)
    good = write_lines(tmp_path / "good.jsonl", [record])
    assert read_answers(good) == [AnswerRecord(**{**record, "file": str(good), "line": 1})]
