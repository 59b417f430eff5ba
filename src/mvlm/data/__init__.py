"""Data sets for training and evaluating MobileVLM-family models.

:mod:`mvlm.data.synthetic` generates a seeded world of coloured shapes with captions and
question/answer conversations in LLaVA format; it needs only PIL and the standard library.
"""

from mvlm.data.synthetic import (
    SyntheticFiles,
    SyntheticQuestion,
    SyntheticWorld,
    answer_vocabulary,
    generate_dataset,
    load_synthetic_questions,
)

__all__ = [
    "SyntheticFiles",
    "SyntheticQuestion",
    "SyntheticWorld",
    "answer_vocabulary",
    "generate_dataset",
    "load_synthetic_questions",
]
