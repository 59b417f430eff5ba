"""chat: greedy answers, batching with left padding, images encoded once, streaming, stop strings, options."""

from __future__ import annotations

import threading

import pytest
import torch
from inference_testdata import QUESTIONS

from mvlm.errors import ConfigError, ImageError, PromptError
from mvlm.inference import ChatSession, chat, make_requests, prepare_batch, render_prompt
from mvlm.inference.decoding import decode_new_tokens
from mvlm.prompting import CONVERSATIONS, build_prompt, encode_prompt, register_conversation

NEW = 12  # new tokens per answer: enough to tell answers apart, cheap on the tiny model


def count_calls(module: torch.nn.Module) -> tuple[list[int], torch.utils.hooks.RemovableHandle]:
    """Batch sizes of every forward call of ``module``."""
    calls: list[int] = []
    handle = module.register_forward_hook(lambda _m, args, _out: calls.append(int(args[0].shape[0])))
    return calls, handle


# ------------------------------------------------------------------------------------------ greedy
def test_greedy_answer_equals_the_models_own_generate_on_expanded_ids(model, images):
    """The same answer as the model's placeholder path: generate(input_ids with -200, pixel_values)."""
    ids = encode_prompt(
        build_prompt(QUESTIONS[0]), model.tokenizer, num_image_tokens=model.num_image_tokens, num_images=1
    ).input_ids
    pixels = model.image_processor(images[0])
    with torch.no_grad():
        out = model.generate(
            input_ids=torch.tensor([ids]), pixel_values=pixels, max_new_tokens=NEW, do_sample=False, pad_token_id=0
        )
    expected = decode_new_tokens(model.tokenizer, out[0, len(ids) :].tolist()).strip()
    assert chat(model, images[0], QUESTIONS[0], max_new_tokens=NEW) == expected
    assert model.chat(images[0], QUESTIONS[0], max_new_tokens=NEW) == expected  # the method delegates


def test_answers_depend_on_the_prompt_and_the_image(model, images):
    """Guards the other tests: with a model that ignored its input they would prove nothing."""
    by_prompt = {model.chat(images[0], q, max_new_tokens=NEW) for q in QUESTIONS}
    by_image = {model.chat(image, QUESTIONS[0], max_new_tokens=NEW) for image in images}
    assert len(by_prompt) >= 3 and len(by_image) >= 3


def test_prompt_without_tag_gets_the_image_in_front_as_the_reference(model, images):
    tagged = model.chat(images[1], "<image>\n" + QUESTIONS[1], max_new_tokens=NEW)
    assert model.chat(images[1], QUESTIONS[1], max_new_tokens=NEW) == tagged
    (request,), _ = make_requests(images[1], QUESTIONS[1])
    assert render_prompt(request).endswith(f"USER: <image>\n{QUESTIONS[1]} ASSISTANT:")


def test_text_only_prompts(model):
    answer = model.chat(None, "Hello there, who are you?", max_new_tokens=NEW)
    assert isinstance(answer, str) and answer
    (request,), _ = make_requests(None, "Hi")
    assert "<image>" not in render_prompt(request)


# ------------------------------------------------------------------------------------------ batching
def test_batched_greedy_equals_one_at_a_time(model, images):
    one_by_one = [model.chat(image, q, max_new_tokens=NEW) for image, q in zip(images, QUESTIONS, strict=True)]
    batched = model.chat(images, QUESTIONS, max_new_tokens=NEW)
    assert batched == one_by_one
    assert len(set(batched)) >= 3


def test_left_padding_and_positions(model, images):
    requests, _ = make_requests(images[:2], QUESTIONS[:2])
    batch = prepare_batch(model, requests, tokenizer=model.tokenizer)
    short, long = sorted(batch.lengths)
    assert batch.length == long > short
    row = batch.lengths.index(short)
    assert batch.attention_mask[row, : long - short].sum() == 0 and batch.attention_mask[row, long - short :].all()


def test_mixed_batch_text_only_and_two_images(model, images):
    prompts = ["Hello there.", "Compare <image> with <image>.", QUESTIONS[2]]
    entries = [None, [images[0], images[1]], images[2]]
    expected = [model.chat(entry, p, max_new_tokens=NEW) for entry, p in zip(entries, prompts, strict=True)]
    assert model.chat(entries, prompts, max_new_tokens=NEW) == expected


def test_one_image_shared_by_a_batch_is_encoded_once(model, images):
    expected = [model.chat(images[3], q, max_new_tokens=NEW) for q in QUESTIONS[:3]]
    calls, handle = count_calls(model.vision_tower)
    try:
        assert model.chat(images[3], QUESTIONS[:3], max_new_tokens=NEW) == expected
    finally:
        handle.remove()
    assert calls == [1]


def test_each_image_is_encoded_once_not_per_step(model, images, image_file):
    calls, handle = count_calls(model.vision_tower)
    try:
        # four prompts, five image slots, four distinct images (the file twice): one tower call of 4
        model.chat(
            [images[0], image_file, [images[1], images[2]], image_file],
            ["a", "b", "c <image> <image>", "d"],
            max_new_tokens=NEW,
        )
        assert calls == [4]
        pieces = model.chat(images[0], "Describe it.", max_new_tokens=NEW, stream=True)
        assert calls == [4, 1]  # encoded before the first step, once
        assert "".join(pieces)
        assert calls == [4, 1]
    finally:
        handle.remove()


# ------------------------------------------------------------------------------------------ streaming
@pytest.mark.parametrize("index", range(4))
def test_streaming_joins_to_the_non_streamed_answer(model, images, index):
    answer = model.chat(images[index], QUESTIONS[index], max_new_tokens=24)
    pieces = list(model.chat(images[index], QUESTIONS[index], max_new_tokens=24, stream=True))
    assert "".join(pieces) == answer
    assert len(pieces) > 1


def test_streaming_validates_before_it_starts(model, images):
    with pytest.raises(PromptError, match=r"2 '<image>' tag"):
        model.chat(images[0], "<image> <image>", stream=True)  # raised by the call, not by the first next()
    with pytest.raises(ConfigError, match="one prompt"):
        model.chat(images[:2], QUESTIONS[:2], stream=True)
    with pytest.raises(ConfigError, match="num_beams=1"):
        model.chat(images[0], "Hi", stream=True, num_beams=2)


def test_closing_a_stream_early_stops_generation(model, images):
    before = threading.active_count()
    pieces = model.chat(images[0], QUESTIONS[0], max_new_tokens=400, stream=True)
    next(pieces)
    pieces.close()  # joins the generation thread, which the cancel event stops at its next step
    assert threading.active_count() == before


# ------------------------------------------------------------------------------------------ stop strings
@pytest.fixture
def stop_template():
    """A v1-like template whose stop string (set per test) is text, not a special token."""
    names = []

    def register(stop: str) -> str:
        name = f"stop_test_{len(names)}"
        register_conversation(
            name,
            {"system": "A chat.", "roles": ["USER", "ASSISTANT"], "sep_style": "TWO", "sep": " ", "sep2": stop},
        )
        names.append(name)
        return name

    yield register
    for name in names:
        CONVERSATIONS.unregister(name)


def test_text_stop_string_ends_the_answer_and_is_cut(model, images, stop_template):
    free_mode = stop_template("@@never@@")
    free = model.chat(images[1], QUESTIONS[1], conv_mode=free_mode, max_new_tokens=24)
    # three characters from the middle of the free answer, across token boundaries
    start = next(i for i in range(3, len(free) - 3) if free[i : i + 3].isprintable() and " " not in free[i : i + 3])
    stop = free[start : start + 3]
    conv_mode = stop_template(stop)
    (request,), _ = make_requests(images[1], QUESTIONS[1])
    assert render_prompt(request, conv_mode) == render_prompt(request, free_mode)  # sep2 is not in a 1-turn prompt
    answer = model.chat(images[1], QUESTIONS[1], conv_mode=conv_mode, max_new_tokens=24)
    assert answer == free[: free.index(stop)].strip()
    assert "".join(model.chat(images[1], QUESTIONS[1], conv_mode=conv_mode, max_new_tokens=24, stream=True)) == answer
    steps, handle = count_calls(model.lm_head)
    try:
        model.chat(images[1], QUESTIONS[1], conv_mode=conv_mode, max_new_tokens=24)
    finally:
        handle.remove()
    assert len(steps) < 24  # generation stopped at the stop string, not at max_new_tokens


def test_special_stop_strings_are_eos_ids(model):
    from mvlm.inference.generation import generation_options

    v1 = generation_options(model, model.tokenizer, "</s>", temperature=0, top_p=None, num_beams=1, max_new_tokens=5)
    assert v1["eos_token_id"] == [2] and not v1["stopping_criteria"] and v1["do_sample"] is False
    llama_2 = generation_options(
        model, model.tokenizer, "<s>", temperature=0, top_p=None, num_beams=1, max_new_tokens=5
    )
    assert llama_2["eos_token_id"] == [1, 2]
    plain = generation_options(model, model.tokenizer, "\n", temperature=0.5, top_p=0.9, num_beams=1, max_new_tokens=5)
    assert len(plain["stopping_criteria"]) == 1 and plain["temperature"] == 0.5 and plain["top_p"] == 0.9


# ------------------------------------------------------------------------------------------ sampling and beams
def test_sampling_is_seeded_and_top_p_tiny_is_greedy(model, images):
    greedy = model.chat(images[0], QUESTIONS[0], max_new_tokens=NEW)
    torch.manual_seed(0)
    first = model.chat(images[0], QUESTIONS[0], max_new_tokens=NEW, temperature=1.5)
    torch.manual_seed(0)
    assert model.chat(images[0], QUESTIONS[0], max_new_tokens=NEW, temperature=1.5) == first
    assert model.chat(images[0], QUESTIONS[0], max_new_tokens=NEW, temperature=1.5, top_p=1e-6) == greedy


def test_beam_search(model, images):
    single = model.chat(images[0], QUESTIONS[0], max_new_tokens=NEW, num_beams=3)
    assert isinstance(single, str) and single
    assert model.chat(images[:2], QUESTIONS[:2], max_new_tokens=NEW, num_beams=3)[0] == single


def test_max_new_tokens_is_capped_by_the_context_length(model, images):
    calls, handle = count_calls(model.lm_head)
    try:
        model.chat(images[0], QUESTIONS[0], max_new_tokens=100_000, temperature=0)
    finally:
        handle.remove()
    (request,), _ = make_requests(images[0], QUESTIONS[0])
    prompt_length = prepare_batch(model, [request], tokenizer=model.tokenizer).length
    assert len(calls) <= model.config.context_length - prompt_length


# ------------------------------------------------------------------------------------------ multi-turn
def test_history_and_chat_session(model, images):
    session = ChatSession(model, images[0], max_new_tokens=NEW)
    calls, handle = count_calls(model.vision_tower)
    try:
        first = session.ask(QUESTIONS[0])
        second = "".join(session.ask(QUESTIONS[2], stream=True))
    finally:
        handle.remove()
    assert calls == [1]  # the session's image is encoded on the first turn only
    assert first == model.chat(images[0], QUESTIONS[0], max_new_tokens=NEW)
    assert second == model.chat(images[0], QUESTIONS[2], history=[(QUESTIONS[0], first)], max_new_tokens=NEW)
    assert session.history == [(QUESTIONS[0], first), (QUESTIONS[2], second)]
    (request,), _ = make_requests(images[0], QUESTIONS[2], history=[(QUESTIONS[0], first)])
    assert render_prompt(request).split("questions. ")[1] == (
        f"USER: <image>\n{QUESTIONS[0]} ASSISTANT: {first}</s>USER: {QUESTIONS[2]} ASSISTANT:"
    )
    session.reset()
    assert session.history == [] and session.ask(QUESTIONS[0]) == first
    # in a batch, one history (or None) per prompt
    batched = model.chat(images[:2], [QUESTIONS[2]] * 2, history=[[(QUESTIONS[0], first)], None], max_new_tokens=NEW)
    assert batched == [second, model.chat(images[1], QUESTIONS[2], max_new_tokens=NEW)]


def test_bfloat16_model_with_int8_kernel(checkpoint, images):
    """The checkpoint's own dtype (bf16) on CPU, also quantized (PyTorch's int8 kernel for bf16 activations)."""
    from mvlm import MobileVLM
    from mvlm.inference.quantization import quantize_int8

    bf16 = MobileVLM.from_pretrained(checkpoint, dtype=torch.bfloat16).eval()
    for candidate in (bf16, quantize_int8(bf16)):
        answer = candidate.chat(images[0], QUESTIONS[0], max_new_tokens=NEW)
        assert isinstance(answer, str) and answer
        assert "".join(candidate.chat(images[0], QUESTIONS[0], max_new_tokens=NEW, stream=True)) == answer


# ------------------------------------------------------------------------------------------ bad input
def test_prompt_errors(model, images):
    with pytest.raises(PromptError, match=r"2 '<image>' tag.*1 image was given"):
        model.chat(images[0], "<image> and <image>?")
    with pytest.raises(PromptError, match=r"1 '<image>' tag.*2 images were given"):
        model.chat(images[:2], "Only <image> here?")
    with pytest.raises(PromptError, match=r"1 '<image>' tag.*0 images"):
        model.chat(None, "<image> what is it?")
    with pytest.raises(PromptError, match="context length is 512"):
        model.chat(images[0], "Describe it in detail. " * 80)
    with pytest.raises(PromptError, match="3 image entries for 2 prompts"):
        model.chat(images[:3], QUESTIONS[:2])
    with pytest.raises(PromptError, match="history"):
        model.chat(images[0], "Hi", history=["not a pair"])
    with pytest.raises(PromptError, match="prompt 1 must be a string"):
        model.chat(None, ["ok", 3])
    with pytest.raises(PromptError, match="empty list"):
        model.chat(None, [])


def test_option_and_image_errors(model, images, tmp_path):
    for options, match in [
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"num_beams": 0}, "num_beams"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"streamer": object()}, "streamer"),
    ]:
        with pytest.raises(ConfigError, match=match):
            model.chat(images[0], "Hi", **options)
    with pytest.raises(ImageError, match="file not found"):
        model.chat(tmp_path / "missing.jpg", "Hi")


def test_unknown_backend_is_a_config_error(model):
    with pytest.raises(ConfigError, match="decode backend"):
        model.chat(None, "hello", backend="no-such-runtime")


def test_registered_backend_receives_the_call(model):
    from mvlm.inference.backends import DECODE_BACKENDS, register_decode_backend

    calls = []

    @register_decode_backend("test-echo")
    def echo(model_, images, prompts, **options):
        calls.append((images, prompts, options["max_new_tokens"]))
        return "echo"

    try:
        assert model.chat(None, "hello", backend="test-echo", max_new_tokens=7) == "echo"
        assert calls == [(None, "hello", 7)]
    finally:
        DECODE_BACKENDS.unregister("test-echo")
