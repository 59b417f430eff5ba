"""Benchmark plugins: the LLaVA-1.5 eval-kit files of each MobileVLM benchmark, read, asked and scored.

One module per benchmark, each registered in :data:`BENCHMARKS`:

* :mod:`~mvlm.eval.benchmarks.gqa` (``gqa``), :mod:`~mvlm.eval.benchmarks.mme` (``mme``),
  :mod:`~mvlm.eval.benchmarks.pope` (``pope``), :mod:`~mvlm.eval.benchmarks.textvqa` (``textvqa``):
  question jsonl + images, asked as ``model_vqa_loader.py`` asks (128 new tokens);
* :mod:`~mvlm.eval.benchmarks.mmbench` (``mmbench``): TSV with base64 images, single pass or circular
  (1024 new tokens);
* :mod:`~mvlm.eval.benchmarks.sqa` (``sqa``): ScienceQA test, text-only problems asked without an
  image (1024 new tokens);
* :mod:`~mvlm.eval.benchmarks.synthetic` (``synthetic``): the held-out split of the synthetic world.

How a runner drives one (the runner itself is not here)::

    bench = get_benchmark("textvqa")
    questions = bench.load(data_dir)              # QuestionSet; questions.problems lists what was skipped
    for q in questions:
        prompt = bench.prompt(q)                  # the v1 conversation, "<image>\\n" + q.text in the user turn
        # q.image: ImageRef (path or base64) or None; q.max_new_tokens; bench.pad_images
        record = bench.make_record(q, generated_text, model_id="MobileVLM-1.7B")
        out.write(answer_line(record))            # reference jsonl format; bench.record_key(...) == q.key
    report = bench.score("answers.jsonl", data_dir)   # {"metrics", "headline", "counts", "problems", ...}

The plugins' shared types and file handling (:class:`Question`, :class:`ImageRef`, answer records,
:class:`Problem`, the line-by-line readers) live in :mod:`mvlm.eval.records`; the names this package
has always offered (``Question``, ``load_answers``...) are re-exported from there.

Importing this package loads no torch (and no PIL: images are decoded only by :meth:`ImageRef.open`).
"""

from mvlm.eval.benchmarks import gqa as _gqa  # noqa: F401  (registers the built-in benchmarks)
from mvlm.eval.benchmarks import mmbench as _mmbench  # noqa: F401
from mvlm.eval.benchmarks import mme as _mme  # noqa: F401
from mvlm.eval.benchmarks import pope as _pope  # noqa: F401
from mvlm.eval.benchmarks import sqa as _sqa  # noqa: F401
from mvlm.eval.benchmarks import synthetic as _synthetic  # noqa: F401
from mvlm.eval.benchmarks import textvqa as _textvqa  # noqa: F401
from mvlm.eval.benchmarks.base import (
    BENCHMARKS,
    Benchmark,
    ScoredPart,
    get_benchmark,
    list_benchmarks,
    register_benchmark,
    tally_to_dict,
)
from mvlm.eval.benchmarks.gqa import GQABenchmark
from mvlm.eval.benchmarks.llava_jsonl import LlavaJsonlBenchmark
from mvlm.eval.benchmarks.mmbench import MMBenchBenchmark, is_missing_cell
from mvlm.eval.benchmarks.mme import MMEBenchmark
from mvlm.eval.benchmarks.pope import PopeBenchmark
from mvlm.eval.benchmarks.sqa import SQA_INSTRUCTION, ScienceQABenchmark
from mvlm.eval.benchmarks.synthetic import SyntheticBenchmark, normalize_synthetic_answer, score_synthetic
from mvlm.eval.benchmarks.textvqa import TextVQABenchmark
from mvlm.eval.records import (
    PROBLEM_KINDS,
    AnswerFile,
    AnswerRecord,
    ImageRef,
    Problem,
    Question,
    QuestionSet,
    answer_line,
    load_answers,
    make_answer_record,
    new_answer_id,
    parse_answer_record,
    read_answers,
)

__all__ = [
    "BENCHMARKS",
    "PROBLEM_KINDS",
    "SQA_INSTRUCTION",
    "AnswerFile",
    "AnswerRecord",
    "Benchmark",
    "GQABenchmark",
    "ImageRef",
    "LlavaJsonlBenchmark",
    "MMBenchBenchmark",
    "MMEBenchmark",
    "PopeBenchmark",
    "Problem",
    "Question",
    "QuestionSet",
    "ScienceQABenchmark",
    "ScoredPart",
    "SyntheticBenchmark",
    "TextVQABenchmark",
    "answer_line",
    "get_benchmark",
    "is_missing_cell",
    "list_benchmarks",
    "load_answers",
    "make_answer_record",
    "new_answer_id",
    "normalize_synthetic_answer",
    "parse_answer_record",
    "read_answers",
    "register_benchmark",
    "score_synthetic",
    "tally_to_dict",
]
