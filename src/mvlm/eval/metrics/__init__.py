"""The official scoring rules of the six MobileVLM benchmarks, as pure functions.

One module per benchmark, each reproducing the LLaVA-1.5 eval kit's script (parsing rules and
quirks included; every module's docstring says exactly what it does):

* :mod:`~mvlm.eval.metrics.gqa` -- answer clean-up and exact match, per question type;
* :mod:`~mvlm.eval.metrics.mmbench` -- option-letter extraction, single pass and circular;
* :mod:`~mvlm.eval.metrics.mme` -- yes/no parsing, acc and acc+, perception and cognition;
* :mod:`~mvlm.eval.metrics.pope` -- yes/no parsing, accuracy / precision / recall / F1 / yes-ratio;
* :mod:`~mvlm.eval.metrics.sqa` -- letter parsing, overall and IMG accuracy;
* :mod:`~mvlm.eval.metrics.textvqa` -- EvalAI normalisation and VQA soft accuracy;
* :mod:`~mvlm.eval.metrics.summary` -- the README table and its average.

The functions take aligned columns (one entry per question) of predictions and ground truth and
return small frozen dataclasses; every rate is a percentage in ``[0, 100]``. Reading the
benchmark files and pairing answers with questions is the benchmarks' job, not this package's.
Nothing here imports torch.
"""

from mvlm.eval.metrics.gqa import GQAResult, clean_gqa_prediction, score_gqa
from mvlm.eval.metrics.mmbench import (
    MMBENCH_MATCHERS,
    MMBenchResult,
    circular_rounds,
    extract_option_letter,
    llava_option_letter,
    score_mmbench,
    vlmevalkit_option_letter,
)
from mvlm.eval.metrics.mme import (
    MME_COGNITION,
    MME_PERCEPTION,
    MMEReport,
    MMESubtaskScore,
    mme_question_candidates,
    parse_mme_answer,
    score_mme,
)
from mvlm.eval.metrics.pope import PopeMetrics, PopeReport, parse_pope_answer, pope_metrics, score_pope
from mvlm.eval.metrics.sqa import SQA_FAILED, SQA_OPTIONS, SQAResult, parse_sqa_answer, score_sqa, sqa_choice_index
from mvlm.eval.metrics.summary import SUMMARY_COLUMNS, HasHeadline, SummaryRow, markdown_table, summary_row
from mvlm.eval.metrics.tally import Tally, percent
from mvlm.eval.metrics.textvqa import (
    TextVQAResult,
    normalize_vqa_answer,
    score_textvqa,
    textvqa_question_from_prompt,
    vqa_answer_scores,
    vqa_soft_score,
)

__all__ = [
    "MMBENCH_MATCHERS",
    "MME_COGNITION",
    "MME_PERCEPTION",
    "SQA_FAILED",
    "SQA_OPTIONS",
    "SUMMARY_COLUMNS",
    "GQAResult",
    "HasHeadline",
    "MMBenchResult",
    "MMEReport",
    "MMESubtaskScore",
    "PopeMetrics",
    "PopeReport",
    "SQAResult",
    "SummaryRow",
    "Tally",
    "TextVQAResult",
    "circular_rounds",
    "clean_gqa_prediction",
    "extract_option_letter",
    "llava_option_letter",
    "markdown_table",
    "mme_question_candidates",
    "normalize_vqa_answer",
    "parse_mme_answer",
    "parse_pope_answer",
    "parse_sqa_answer",
    "percent",
    "pope_metrics",
    "score_gqa",
    "score_mmbench",
    "score_mme",
    "score_pope",
    "score_sqa",
    "score_textvqa",
    "sqa_choice_index",
    "summary_row",
    "textvqa_question_from_prompt",
    "vlmevalkit_option_letter",
    "vqa_answer_scores",
    "vqa_soft_score",
]
