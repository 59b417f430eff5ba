"""The old path of :mod:`mvlm.eval.records.answer_file`, kept so that existing imports keep working."""

from mvlm.eval.records.answer_file import AnswerWriter, repair_answer_file

__all__ = ["AnswerWriter", "repair_answer_file"]
