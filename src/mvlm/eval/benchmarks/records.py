"""The old path of :mod:`mvlm.eval.records.answers`, kept so that existing imports keep working."""

from mvlm.eval.records.answers import (
    AnswerFile,
    AnswerRecord,
    answer_line,
    load_answers,
    make_answer_record,
    new_answer_id,
    parse_answer_record,
    read_answers,
)

__all__ = [
    "AnswerFile",
    "AnswerRecord",
    "answer_line",
    "load_answers",
    "make_answer_record",
    "new_answer_id",
    "parse_answer_record",
    "read_answers",
]
