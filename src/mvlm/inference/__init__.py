"""Inference on top of the model: chat (one prompt, a batch, streamed, multi-turn) and the reference's entry point.

* :func:`~mvlm.inference.generation.chat` (also :meth:`MobileVLM.chat <mvlm.model.modeling.MobileVLMForCausalLM.chat>`):
  images + prompts -> answers;
* :class:`~mvlm.inference.session.ChatSession`: a multi-turn conversation that encodes its images once;
* :class:`~mvlm.inference.options.GenerationOptions`: the decoding options every entry point shares;
* :func:`~mvlm.inference.reference.inference_once`: the reference's ``scripts/inference.py`` entry point, on CPU or GPU;
* :func:`~mvlm.inference.loading.load_model_for_inference`: device, dtype, bitsandbytes on CUDA,
  weight-only int8 on CPU.

Serving needs no trainer: this package uses the model, prompting and vision only. The model is the
one splice point; this package only renders, tokenizes and expands prompts
(:mod:`mvlm.inference.inputs`) and turns generated ids into text (:mod:`mvlm.inference.text`).

Example:
    >>> from mvlm import MobileVLM
    >>> model = MobileVLM.from_pretrained("mtgv/MobileVLM_V2-1.7B")  # doctest: +SKIP
    >>> model.chat("photo.jpg", "Who is the author of this book?")  # doctest: +SKIP
    'Susan Wise Bauer'
"""

from mvlm.inference.generation import chat, check_generation_options, generate_answers
from mvlm.inference.inputs import ChatRequest, PreparedBatch, make_requests, prepare_batch, render_prompt
from mvlm.inference.loading import load_model_for_inference, resolve_device, resolve_dtype
from mvlm.inference.options import GenerationOptions
from mvlm.inference.reference import REFERENCE_DEFAULTS, inference_once, model_name_from_path
from mvlm.inference.session import ChatSession
from mvlm.inference.text import StreamingText, finish_text

__all__ = [
    "REFERENCE_DEFAULTS",
    "ChatRequest",
    "ChatSession",
    "GenerationOptions",
    "PreparedBatch",
    "StreamingText",
    "chat",
    "check_generation_options",
    "finish_text",
    "generate_answers",
    "inference_once",
    "load_model_for_inference",
    "make_requests",
    "model_name_from_path",
    "prepare_batch",
    "render_prompt",
    "resolve_device",
    "resolve_dtype",
]
