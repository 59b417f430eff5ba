"""Tokenization with images: ids equal to raw SentencePiece chunk by chunk (as the reference), expansion."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from mvlm.errors import ConfigError, DataError, PromptError
from mvlm.prompting import (
    IGNORE_INDEX,
    IMAGE_TOKEN_INDEX,
    build_prompt,
    check_context_length,
    count_image_ids,
    encode_prompt,
    expand_image_tokens,
    get_conversation,
    tokenize_text,
    tokenize_with_images,
)

BOS = 1
NEWLINE_BYTE = 13  # <0x0A>: bytes follow <unk>, <s>, </s>, as in LLaMA


def reference_ids(prompt: str, sp: Any) -> list[int]:
    """What the reference's tokenizer_image_token gives, built from raw SentencePiece per chunk."""
    ids = [BOS]
    for i, chunk in enumerate(prompt.split("<image>")):
        if i:
            ids.append(IMAGE_TOKEN_INDEX)
        ids.extend(sp.encode(chunk))
    return ids


def chat_prompt(*messages: str | None, template: str = "v1") -> str:
    conv = get_conversation(template)
    for i, message in enumerate(messages):
        conv.append_message(conv.roles[i % 2], message)
    return conv.get_prompt()


def test_the_tiny_tokenizer_has_the_llama_layout(sp_model: Any, slow_tokenizer: Any, fast_tokenizer: Any):
    assert [sp_model.id_to_piece(i) for i in range(3)] == ["<unk>", "<s>", "</s>"]
    assert sp_model.id_to_piece(NEWLINE_BYTE) == "<0x0A>"
    assert sp_model.encode("\n", out_type=str) == ["▁", "<0x0A>"]
    for tok in (slow_tokenizer, fast_tokenizer):
        assert (tok.bos_token_id, tok.eos_token_id, tok.unk_token_id) == (1, 2, 0)


def test_v1_prompt_with_image_matches_sentencepiece_chunk_by_chunk(tokenizer: Any, sp_model: Any):
    prompt = build_prompt("What is in the image?")
    ids = tokenize_with_images(prompt, tokenizer)
    assert ids == reference_ids(prompt, sp_model)
    before, after = prompt.split("<image>")
    assert ids == [BOS, *sp_model.encode(before), IMAGE_TOKEN_INDEX, *sp_model.encode(after)]
    assert ids.count(BOS) == 1 and ids[0] == BOS  # BOS once, at the start
    at = ids.index(IMAGE_TOKEN_INDEX)
    space = sp_model.piece_to_id("▁")
    assert ids[at - 1] == space  # the chunk ending in "USER: " ends with a ▁ piece
    assert ids[at + 1 : at + 3] == [space, NEWLINE_BYTE]  # the chunk after the image: ▁ then <0x0A>


def test_prompt_without_image_is_plain_tokenization(tokenizer: Any, sp_model: Any):
    prompt = build_prompt("Hello there.", num_images=0)
    ids = tokenize_with_images(prompt, tokenizer)
    assert ids == tokenize_text(tokenizer, prompt) == [BOS, *sp_model.encode(prompt)]
    assert IMAGE_TOKEN_INDEX not in ids


@pytest.mark.parametrize(
    "prompt",
    [
        "<image>",
        "<image>\nDescribe.",
        "Compare <image>\nwith <image>.",
        "<image><image>\nTwo images.",
        "Look: <image>",
        "no image at all",
        "",
    ],
)
def test_image_positions_and_empty_chunks(prompt: str, tokenizer: Any, sp_model: Any):
    ids = tokenize_with_images(prompt, tokenizer)
    assert ids == reference_ids(prompt, sp_model)
    assert count_image_ids(ids) == prompt.count("<image>")


def test_image_alone_is_bos_and_image_id(tokenizer: Any):
    assert tokenize_with_images("<image>", tokenizer) == [BOS, IMAGE_TOKEN_INDEX]


@pytest.mark.parametrize(
    "prompt",
    [
        chat_prompt("<image>\nWhat is it?", None),
        chat_prompt("<image>\nWhat is it?", "A cat.", "What color is the car?", "Blue.", "Is there a dog?", None),
        chat_prompt("<image>\nDescribe the picture in detail.", None, template="plain"),
        chat_prompt("<image>\nWho is the author?", "A.", "Yes?", None, template="llava_llama_2"),
        chat_prompt("<image>\nQ", None, template="default"),
    ],
)
def test_slow_and_fast_tokenizers_give_the_same_ids(prompt: str, slow_tokenizer: Any, fast_tokenizer: Any):
    slow = tokenize_with_images(prompt, slow_tokenizer)
    assert slow == tokenize_with_images(prompt, fast_tokenizer)
    assert slow[0] == BOS and slow.count(IMAGE_TOKEN_INDEX) == 1


def test_transformers_5_default_loading_differs_after_special_tokens(
    slow_tokenizer: Any, fast_tokenizer: Any, auto_tokenizer: Any, sp_model: Any
):
    """AutoTokenizer in transformers 5 loads legacy=False: no ▁ after "</s>", unlike the reference."""
    assert auto_tokenizer.legacy is False
    single = build_prompt("What is it?")
    assert tokenize_with_images(single, auto_tokenizer) == tokenize_with_images(single, slow_tokenizer)
    history = chat_prompt("<image>\nWhat is it?", "A cat.", "Is it red?", None)
    slow = tokenize_with_images(history, slow_tokenizer)
    assert slow == tokenize_with_images(history, fast_tokenizer)
    after_eos = slow[slow.index(2) + 1 :]
    assert after_eos[: len(sp_model.encode("USER:"))] == sp_model.encode("USER:")  # "▁", "U", ...
    assert tokenize_with_images(history, auto_tokenizer) != slow


def test_fast_tokenizer_drops_sentencepiece_double_space_at_chunk_start(
    slow_tokenizer: Any, fast_tokenizer: Any, sp_model: Any
):
    """A chunk starting with a space: SentencePiece adds its dummy prefix anyway ("▁▁"); fast ones do not."""
    prompt = "USER: <image> What is it?"
    assert tokenize_with_images(prompt, slow_tokenizer) == reference_ids(prompt, sp_model)
    assert sp_model.encode(" What", out_type=str)[0] == "▁"
    assert tokenize_with_images(prompt, fast_tokenizer) != reference_ids(prompt, sp_model)


def test_return_tensors(slow_tokenizer: Any):
    ids = tokenize_with_images("<image>\nHi", slow_tokenizer, return_tensors="pt")
    assert isinstance(ids, torch.Tensor) and ids.dtype == torch.long and ids.dim() == 1
    assert ids.tolist() == tokenize_with_images("<image>\nHi", slow_tokenizer)
    with pytest.raises(ConfigError, match="return_tensors"):
        tokenize_with_images("Hi", slow_tokenizer, return_tensors="np")


def test_custom_image_token_index(slow_tokenizer: Any):
    ids = tokenize_with_images("a <image> b", slow_tokenizer, image_token_index=32000)
    assert 32000 in ids and IMAGE_TOKEN_INDEX not in ids


class CharTokenizer:
    """A tokenizer without BOS: one id per character."""

    bos_token_id = None

    def __call__(self, text: str) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) for c in text]}


class ObjectTokenizer:
    """Returns an object with .input_ids and adds BOS 7."""

    bos_token_id = 7

    def __call__(self, text: str) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(input_ids=[7, *[ord(c) for c in text]])


def test_tokenizers_without_bos_keep_every_chunk_whole():
    assert tokenize_with_images("ab<image>c", CharTokenizer()) == [97, 98, IMAGE_TOKEN_INDEX, 99]
    assert tokenize_with_images("ab<image>c", ObjectTokenizer()) == [7, 97, 98, IMAGE_TOKEN_INDEX, 99]
    assert tokenize_with_images("<image>", lambda text: [5, *map(ord, text)]) == [5, IMAGE_TOKEN_INDEX, 5]


def test_bad_inputs_to_tokenize():
    with pytest.raises(PromptError, match="must be a string"):
        tokenize_with_images(["<image>"], CharTokenizer())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="one flat list"):
        tokenize_with_images("x", lambda text: {"input_ids": [[1, 2]]})
    with pytest.raises(ConfigError, match="one flat list"):
        tokenize_with_images("x", lambda text: {"input_ids": "12"})


def test_tokenize_text_accepts_tensors(slow_tokenizer: Any):
    ids = tokenize_text(lambda text: {"input_ids": torch.tensor([1, 2, 3])}, "x")
    assert ids == [1, 2, 3]


# ----------------------------------------------------------------------------------------- expansion
def test_expand_with_one_count():
    out = expand_image_tokens([1, 5, IMAGE_TOKEN_INDEX, 7, IMAGE_TOKEN_INDEX], 3)
    assert out.input_ids == [1, 5, -200, -200, -200, 7, -200, -200, -200]
    assert out.image_mask == [False, False, True, True, True, False, True, True, True]
    assert out.labels is None and out.num_images == 2 and len(out) == 9


def test_expand_with_a_count_per_image_and_a_vocabulary_placeholder():
    out = expand_image_tokens(torch.tensor([1, -200, 9, -200]), [2, 1], placeholder_id=32000)
    assert out.input_ids == [1, 32000, 32000, 9, 32000]
    assert out.image_mask == [False, True, True, False, True]


def test_expand_labels():
    out = expand_image_tokens([1, -200, 8, 9], 2, labels=[IGNORE_INDEX, IGNORE_INDEX, 8, 9])
    assert out.labels == [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 8, 9]
    out = expand_image_tokens([1, -200, 8], 2, labels=[-100, 55, 8])  # image label is dropped either way
    assert out.labels == [-100, IGNORE_INDEX, IGNORE_INDEX, 8]


def test_expand_without_images_is_identity():
    out = expand_image_tokens([1, 2, 3], 144)
    assert out.input_ids == [1, 2, 3] and out.image_mask == [False] * 3 and out.num_images == 0


def test_expanded_as_tensors():
    tensors = expand_image_tokens([1, -200, 4], 2, labels=[-100, -100, 4]).as_tensors()
    assert tensors["input_ids"].tolist() == [1, -200, -200, 4] and tensors["input_ids"].dtype == torch.long
    assert tensors["image_mask"].dtype == torch.bool and tensors["image_mask"].sum().item() == 2
    assert tensors["labels"].tolist() == [-100, -100, -100, 4]
    assert set(expand_image_tokens([1], 2).as_tensors()) == {"input_ids", "image_mask"}


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (([1, -200], 0), {}, ConfigError, "positive int"),
        (([1, -200], True), {}, ConfigError, "positive int"),
        (([1, -200], [2, 0]), {}, ConfigError, "positive int"),
        (([1, -200], [2, 2]), {}, PromptError, "2 image token counts for 1 images"),
        (([1, -200], 2), {"labels": [1]}, DataError, "labels have 1 entries but the ids have 2"),
        (([[1, -200]], 2), {}, ConfigError, "nested"),
        (("1 -200", 2), {}, ConfigError, "flat sequence"),
    ],
)
def test_expand_errors(args: tuple, kwargs: dict, error: type[Exception], match: str):
    with pytest.raises(error, match=match):
        expand_image_tokens(*args, **kwargs)


# ----------------------------------------------------------------------------------------- encode_prompt
def test_encode_prompt(slow_tokenizer: Any):
    prompt = build_prompt("What is it?")
    ids = tokenize_with_images(prompt, slow_tokenizer)
    out = encode_prompt(prompt, slow_tokenizer, num_images=1, num_image_tokens=144, context_length=2048)
    assert len(out) == len(ids) + 143 and sum(out.image_mask) == 144 and out.num_images == 1
    start = ids.index(IMAGE_TOKEN_INDEX)
    assert out.input_ids[:start] == ids[:start] and out.input_ids[start + 144 :] == ids[start + 1 :]
    no_checks = encode_prompt(prompt, slow_tokenizer, num_image_tokens=144)
    assert no_checks == out


def test_encode_prompt_image_count_errors(slow_tokenizer: Any):
    prompt = build_prompt("Compare <image> and <image>.", num_images=2)
    with pytest.raises(PromptError, match=r"2 '<image>' tag\(s\) but 1 image was given"):
        encode_prompt(prompt, slow_tokenizer, num_images=1, num_image_tokens=4)
    with pytest.raises(PromptError, match=r"2 '<image>' tag\(s\) but 3 images were given"):
        encode_prompt(prompt, slow_tokenizer, num_images=3, num_image_tokens=4)
    with pytest.raises(PromptError, match="0 images were given"):
        encode_prompt(prompt, slow_tokenizer, num_images=0, num_image_tokens=4)


def test_encode_prompt_too_long_names_the_context_length(slow_tokenizer: Any):
    prompt = build_prompt("What is it?")
    text_tokens = len(tokenize_with_images(prompt, slow_tokenizer)) - 1
    with pytest.raises(PromptError, match=r"context length is 100") as info:
        encode_prompt(prompt, slow_tokenizer, num_images=1, num_image_tokens=144, context_length=100)
    message = str(info.value)
    assert f"{text_tokens + 144} positions long ({text_tokens} text tokens + 144 image positions)" in message
    fits = text_tokens + 144
    encode_prompt(prompt, slow_tokenizer, num_images=1, num_image_tokens=144, context_length=fits)
    with pytest.raises(PromptError, match="plus 1 reserved for the answer"):
        encode_prompt(prompt, slow_tokenizer, num_image_tokens=144, context_length=fits, reserve_tokens=1)


def test_check_context_length():
    check_context_length(10, 10)
    with pytest.raises(PromptError, match=r"is 11 positions long, but the model's context length is 10"):
        check_context_length(11, 10)
    with pytest.raises(PromptError, match=r"\(3 text tokens \+ 8 image positions\)"):
        check_context_length(11, 10, num_images=2, num_image_tokens=[4, 4])
    with pytest.raises(ConfigError, match="context_length"):
        check_context_length(1, 0)


def test_count_image_ids():
    assert count_image_ids([1, -200, 3, -200]) == 2
    assert count_image_ids(torch.tensor([1, 2])) == 0
    assert count_image_ids([1, 32000], image_token_index=32000) == 1
