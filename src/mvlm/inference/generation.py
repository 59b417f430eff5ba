"""``chat``: ask a MobileVLM about images, one prompt or a batch, whole answers or streamed pieces.

Generation runs through transformers' ``generate`` on spliced embeddings
(``generate(inputs_embeds=..., attention_mask=...)``): each image is encoded once before the first
step, the KV cache carries everything after it, and ``generate`` returns only the new tokens.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from mvlm.errors import ConfigError
from mvlm.inference.inputs import ChatRequest, PreparedBatch, make_requests, prepare_batch
from mvlm.inference.options import GenerationOptions
from mvlm.inference.text import StreamingText, finish_text

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

    from mvlm.inference.prefix_cache import PrefixCache
    from mvlm.model import MobileVLM
    from mvlm.prompting import Conversation

__all__ = ["chat", "check_generation_options", "generate_answers", "generation_options"]

_RESERVED_KWARGS = ("inputs_embeds", "input_ids", "attention_mask", "streamer", "num_return_sequences", "cache")


def chat(
    model: MobileVLM,
    images: Any,
    prompts: str | Sequence[str],
    *,
    conv_mode: str | Conversation = "v1",
    temperature: float = 0.0,
    top_p: float | None = None,
    num_beams: int = 1,
    max_new_tokens: int = 512,
    stream: bool = False,
    history: Sequence[tuple[str, str]] | Sequence[Sequence[tuple[str, str]] | None] | None = None,
    tokenizer: Any = None,
    fast_decode: bool | None = None,
    backend: str = "transformers",
    **generate_kwargs: Any,
) -> str | list[str] | Iterator[str]:
    """Answer ``prompts`` about ``images`` with ``model``.

    Each prompt is written into the ``conv_mode`` template as the reference does (a prompt without an
    ``<image>`` tag gets ``"<image>\\n"`` in front, once per image), tokenized, expanded and
    answered. Decoding is greedy by default; the answer ends at EOS or at the template's stop
    string, which is cut off, and is stripped of surrounding whitespace.

    Args:
        model: A :class:`~mvlm.model.modeling.MobileVLMForCausalLM` (its ``tokenizer`` is used unless one is
            given), used as it is: ``from_pretrained`` returns it in eval mode; after training call ``model.eval()``.
        images: For one prompt: ``None`` (text only), one image, or a list of images for that prompt.
            For a list of prompts: ``None``, one image shared by all (encoded once), or one entry
            per prompt (``None``, an image, or a list of images). An image is a path, bytes, a
            ``PIL.Image`` or an array.
        prompts: One prompt (returns a string) or a list of prompts (generated as one left-padded
            batch; returns a list of strings, the same as asking one at a time with greedy decoding).
        conv_mode: The conversation template (a registered name or a
            :class:`~mvlm.prompting.conversation.Conversation`); ``"v1"`` for every released MobileVLM.
        temperature: 0 decodes greedily; above 0 samples with this temperature (seed with
            ``torch.manual_seed`` for repeatable samples).
        top_p: Nucleus sampling threshold (only when sampling).
        num_beams: Beam search with this many beams (1: none).
        max_new_tokens: The most tokens to generate; lowered to what the model's context length
            leaves after the prompt.
        stream: Return an iterator over pieces of the answer as they are generated (one prompt
            only, ``num_beams=1``); the pieces joined equal the answer ``stream=False`` gives.
        history: Earlier turns as ``(user message, answer)`` pairs (one prompt), or one such list
            (or ``None``) per prompt. The images belong to the first user message.
        tokenizer: A tokenizer to use instead of ``model.tokenizer``.
        fast_decode: Decode with a static KV cache and a compiled step
            (:mod:`mvlm.inference.fast_decode`; the first call compiles). ``None``: as chosen at
            loading (``load_model_for_inference(fast_decode=...)``), else off.
        backend: ``"transformers"`` (PyTorch, default) or a registered decode backend
            (:mod:`mvlm.inference.backends`): ``"llama.cpp"`` encodes the images with PyTorch and
            decodes with llama.cpp, exporting the language model to GGUF once into a cache (needs
            ``mvlm[llamacpp]``; options ``quant`` (default ``"f16"``), ``cache_dir``, ``threads``,
            ``seed``; see :func:`mvlm.inference.llamacpp_backend.chat`). ``fast_decode`` applies to
            ``"transformers"`` only.
        **generate_kwargs: More options for transformers' ``generate`` (``top_k``,
            ``repetition_penalty``, ``no_repeat_ngram_size``...).

    Returns:
        The answer, the list of answers, or (``stream=True``) an iterator of text pieces.

    Raises:
        PromptError: More ``<image>`` tags than images or the reverse, a prompt too long for the
            model's context length, malformed prompts or history.
        ImageError: An image cannot be read.
        ConfigError: An invalid option (negative temperature, streaming a batch...).

    Example:
        >>> model.chat("photo.jpg", "What is in the image?")  # doctest: +SKIP
        'A cat sitting on a red sofa.'
    """
    options = GenerationOptions(
        conv_mode=conv_mode, temperature=temperature, top_p=top_p, num_beams=num_beams, max_new_tokens=max_new_tokens
    )
    if backend != "transformers":
        from mvlm.inference.backends import get_decode_backend

        return get_decode_backend(backend)(
            model,
            images,
            prompts,
            history=history,
            stream=stream,
            tokenizer=tokenizer,
            **options.as_kwargs(),
            **generate_kwargs,
        )
    requests, batched = make_requests(images, prompts, history)
    return generate_answers(
        model,
        requests,
        batched=batched,
        options=options,
        stream=stream,
        tokenizer=tokenizer,
        fast_decode=fast_decode,
        **generate_kwargs,
    )


def check_generation_options(temperature: Any, top_p: Any, num_beams: Any, max_new_tokens: Any) -> None:
    """Raise :class:`~mvlm.errors.ConfigError` unless the decoding options are valid (see :func:`chat`).

    The checks are :class:`~mvlm.inference.options.GenerationOptions`'; build one to keep the options.
    """
    GenerationOptions(temperature=temperature, top_p=top_p, num_beams=num_beams, max_new_tokens=max_new_tokens)


def generation_options(
    model: MobileVLM,
    tokenizer: Any,
    stop_string: str | None,
    *,
    temperature: float,
    top_p: float | None,
    num_beams: int,
    max_new_tokens: int,
    **generate_kwargs: Any,
) -> dict[str, Any]:
    """The keyword arguments ``chat`` passes to ``generate`` (EOS ids, stop criteria, decoding mode)."""
    from transformers import StoppingCriteriaList

    from mvlm.inference.decoding import StopOnString, stop_token_ids

    reserved = sorted(set(generate_kwargs) & set(_RESERVED_KWARGS))
    if reserved:
        raise ConfigError(f"chat sets {', '.join(reserved)} itself; do not pass them")
    eos = model.generation_config.eos_token_id
    eos_ids = {eos} if isinstance(eos, int) else set(eos or [])
    if tokenizer.eos_token_id is not None:
        eos_ids.add(tokenizer.eos_token_id)
    special_stop = stop_token_ids(tokenizer, stop_string)
    eos_ids.update(special_stop)
    criteria = StoppingCriteriaList()
    if stop_string and not special_stop:
        criteria.append(StopOnString(tokenizer, stop_string))
    options: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "num_beams": num_beams,
        "do_sample": temperature > 0,
        "use_cache": True,
        "eos_token_id": sorted(eos_ids),
        "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        "stopping_criteria": criteria,
    }
    if temperature > 0:
        options["temperature"] = float(temperature)
        if top_p is not None:
            options["top_p"] = float(top_p)
    options.update(generate_kwargs)
    return options


def generate_answers(
    model: MobileVLM,
    requests: Sequence[ChatRequest],
    *,
    batched: bool,
    options: GenerationOptions | None = None,
    stream: bool = False,
    tokenizer: Any = None,
    image_cache: dict[tuple[str, Any], Tensor] | None = None,
    fast_decode: bool | None = None,
    prefix_cache: PrefixCache | None = None,
    **generate_kwargs: Any,
) -> str | list[str] | Iterator[str]:
    """:func:`chat` on already normalised :class:`~mvlm.inference.inputs.ChatRequest` s.

    ``options`` are the decoding options (:class:`~mvlm.inference.options.GenerationOptions`); option
    names among ``generate_kwargs`` (``temperature=...``) override them, the rest go to ``generate``.
    ``image_cache`` keeps encoded images between calls (see
    :class:`~mvlm.inference.session.ChatSession`); ``prefix_cache`` keeps the KV cache of the last
    prompt so that a prompt starting the same way prefills only the rest (one prompt, ``num_beams=1``,
    not with ``fast_decode``; ignored otherwise). Everything that can fail on bad input (options,
    template, tags, length, images) fails here, before any generation, also when ``stream=True``.
    """
    import torch

    decoding, generate_kwargs = GenerationOptions.split(generate_kwargs, base=options)
    if stream and len(requests) != 1:
        raise ConfigError("stream=True takes one prompt; call chat once per prompt, or stream=False for a batch")
    if stream and decoding.num_beams > 1:
        raise ConfigError("stream=True needs num_beams=1 (beam search picks the answer only at the end)")
    stop_string = decoding.stop_string
    tokenizer = model.tokenizer if tokenizer is None else tokenizer
    batch = prepare_batch(model, requests, tokenizer=tokenizer, conv_mode=decoding.conv_mode, image_cache=image_cache)
    room = model.config.context_length - batch.length
    options = generation_options(
        model,
        tokenizer,
        stop_string,
        temperature=decoding.temperature,
        top_p=decoding.top_p,
        num_beams=decoding.num_beams,
        max_new_tokens=min(decoding.max_new_tokens, room),
        **generate_kwargs,
    )
    if fast_decode is None:
        fast_decode = bool(getattr(model.generation_config, "mvlm_fast_decode", False))
    if fast_decode:
        from mvlm.inference.fast_decode import fast_decode_options

        options.update(fast_decode_options(model, batch.length, options["max_new_tokens"]))
    elif prefix_cache is not None and len(requests) == 1 and decoding.num_beams == 1:
        options["cache"] = prefix_cache.cache_for(model, batch.inputs_embeds)
    if stream:
        return _stream(model, batch, options, tokenizer, stop_string)
    from mvlm.inference.decoding import decode_new_tokens

    with torch.no_grad():
        new_tokens = model.generate(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask, **options)
    answers = [finish_text(decode_new_tokens(tokenizer, row), stop_string) for row in new_tokens.tolist()]
    return answers if batched else answers[0]


class _QueueStreamer:
    """transformers' streamer interface: hands each step's new token ids to a queue (skips the prompt)."""

    def __init__(self, tokens: queue.Queue[Any]) -> None:
        self.tokens = tokens
        self.seen_prompt = False

    def put(self, value: Tensor) -> None:
        if not self.seen_prompt:  # generate first puts the prompt ids (empty: we pass embeddings)
            self.seen_prompt = True
            return
        self.tokens.put(value.reshape(-1).tolist())

    def end(self) -> None:
        pass  # the worker thread signals the end itself, also when generate fails


def _stream(
    model: MobileVLM, batch: PreparedBatch, options: dict[str, Any], tokenizer: Any, stop_string: str | None
) -> Iterator[str]:
    """Run ``generate`` in a thread and yield the answer piece by piece (see :class:`StreamingText`)."""
    from mvlm.inference.decoding import StopOnEvent, decode_new_tokens, trailing_byte_pieces

    tokens: queue.Queue[Any] = queue.Queue()
    cancel = threading.Event()
    options = {**options, "stopping_criteria": [*options["stopping_criteria"], StopOnEvent(cancel)]}
    done = object()

    def work() -> None:
        try:
            model.generate(
                inputs_embeds=batch.inputs_embeds,
                attention_mask=batch.attention_mask,
                streamer=_QueueStreamer(tokens),
                **options,
            )
        except BaseException as error:  # handed to the consumer, raised there
            tokens.put(error)
        finally:
            tokens.put(done)

    text = StreamingText(
        lambda ids: decode_new_tokens(tokenizer, ids),
        stop_string,
        unstable_tail=lambda ids: trailing_byte_pieces(tokenizer, ids),
    )
    worker = threading.Thread(target=work, name="mvlm-generate", daemon=True)
    worker.start()
    try:
        while (item := tokens.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            piece = text.push(item)
            if piece:
                yield piece
            if text.stopped:
                cancel.set()
        rest = text.finish()
        if rest:
            yield rest
    finally:
        cancel.set()
        worker.join()
