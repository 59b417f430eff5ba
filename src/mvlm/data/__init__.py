"""Data sets for training and evaluating MobileVLM-family models.

- :mod:`mvlm.data.synthetic` generates a seeded world of coloured shapes with captions and
  question/answer conversations in LLaVA format; it needs only PIL and the standard library.
- :mod:`mvlm.data.llava`, :mod:`mvlm.data.collator` and :mod:`mvlm.data.grouping` are the training
  pipeline (they need torch, so they are imported on first use of their names).
"""

from __future__ import annotations

from mvlm._lazy import lazy_exports
from mvlm.data.synthetic import (
    SyntheticFiles,
    SyntheticQuestion,
    SyntheticWorld,
    answer_vocabulary,
    generate_dataset,
    load_synthetic_questions,
)

_LAZY = {
    "LlavaDataset": "mvlm.data.llava",
    "ValidationReport": "mvlm.data.llava",
    "read_llava_records": "mvlm.data.llava",
    "DataCollatorForSupervisedDataset": "mvlm.data.collator",
    "TruncatedSample": "mvlm.data.collator",
    "truncate_sample": "mvlm.data.collator",
    "ModalityLengthGroupedSampler": "mvlm.data.grouping",
    "length_grouped_indices": "mvlm.data.grouping",
    "modality_length_grouped_indices": "mvlm.data.grouping",
    "split_to_even_chunks": "mvlm.data.grouping",
}

__all__ = [
    "DataCollatorForSupervisedDataset",
    "LlavaDataset",
    "ModalityLengthGroupedSampler",
    "SyntheticFiles",
    "SyntheticQuestion",
    "SyntheticWorld",
    "TruncatedSample",
    "ValidationReport",
    "answer_vocabulary",
    "generate_dataset",
    "length_grouped_indices",
    "load_synthetic_questions",
    "modality_length_grouped_indices",
    "read_llava_records",
    "split_to_even_chunks",
    "truncate_sample",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
