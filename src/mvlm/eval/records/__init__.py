"""Benchmark questions and answer records: their types, and reading and writing their files.

What every benchmark plugin (:mod:`mvlm.eval.benchmarks`) and the runner share, with no knowledge of
any one benchmark:

* :mod:`~mvlm.eval.records.problems`: :class:`Problem`, a located problem met while reading, and its
  :data:`PROBLEM_KINDS`;
* :mod:`~mvlm.eval.records.reading`: the eval-kit files read line by line (JSON Lines, JSON arrays,
  TSV), so that each problem names its file and line;
* :mod:`~mvlm.eval.records.questions`: :class:`Question`, :class:`ImageRef` and :class:`QuestionSet`,
  what a benchmark asks;
* :mod:`~mvlm.eval.records.answers`: :class:`AnswerRecord`, the reference's answer-record format,
  made, validated and read;
* :mod:`~mvlm.eval.records.answer_file`: the append-only answer file the runner writes, and its
  repair after a crash.

Imports point one way: the plugins and the runner import these modules, never the reverse. Nothing
here imports torch, and PIL only inside :meth:`ImageRef.open`.
"""

from mvlm.eval.records.answer_file import AnswerWriter, repair_answer_file
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
from mvlm.eval.records.problems import PROBLEM_KINDS, Problem
from mvlm.eval.records.questions import ImageRef, Question, QuestionSet
from mvlm.eval.records.reading import read_json, read_json_array, read_jsonl, read_tsv, require_file

__all__ = [
    "PROBLEM_KINDS",
    "AnswerFile",
    "AnswerRecord",
    "AnswerWriter",
    "ImageRef",
    "Problem",
    "Question",
    "QuestionSet",
    "answer_line",
    "load_answers",
    "make_answer_record",
    "new_answer_id",
    "parse_answer_record",
    "read_answers",
    "read_json",
    "read_json_array",
    "read_jsonl",
    "read_tsv",
    "repair_answer_file",
    "require_file",
]
