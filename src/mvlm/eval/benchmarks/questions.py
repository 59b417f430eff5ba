"""The old path of :mod:`mvlm.eval.records.questions`, kept so that existing imports keep working."""

from mvlm.eval.records.questions import ImageRef, Question, QuestionSet

__all__ = ["ImageRef", "Question", "QuestionSet"]
