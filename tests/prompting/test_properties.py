"""Hypothesis properties of image tokenization, expansion and label masking."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mvlm.prompting import (
    IGNORE_INDEX,
    IMAGE_TOKEN_INDEX,
    build_training_sample,
    check_image_count,
    count_image_ids,
    count_image_tokens,
    ensure_image_token,
    expand_image_tokens,
    tokenize_with_images,
)

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text without "<" or ">" cannot spell a special token or the image tag by accident.
TEXT_ALPHABET = st.sampled_from(list("abcdeXYZ ,.?!\n\t0123456789é🙂"))
chunks = st.text(TEXT_ALPHABET, max_size=20)
prompts = st.lists(chunks, min_size=1, max_size=5).map(lambda parts: "<image>".join(parts))
words = st.text(st.sampled_from(list("abcxyzABC,.?0129é")), min_size=1, max_size=8)
sentences = st.lists(words, min_size=1, max_size=5).map(" ".join)


@SETTINGS
@given(prompt=prompts)
def test_one_image_id_per_tag_and_sentencepiece_chunks(prompt: str, slow_tokenizer: Any, sp_model: Any):
    ids = tokenize_with_images(prompt, slow_tokenizer)
    assert count_image_ids(ids) == count_image_tokens(prompt)
    expected = [1]
    for i, chunk in enumerate(prompt.split("<image>")):
        if i:
            expected.append(IMAGE_TOKEN_INDEX)
        expected.extend(sp_model.encode(chunk))
    assert ids == expected
    assert ids.count(1) == 1


@SETTINGS
@given(prompt=prompts)
def test_fast_equals_slow_unless_a_chunk_starts_with_a_space(prompt: str, slow_tokenizer: Any, fast_tokenizer: Any):
    assume(not any(chunk.startswith(" ") for chunk in prompt.split("<image>")))
    assert tokenize_with_images(prompt, fast_tokenizer) == tokenize_with_images(prompt, slow_tokenizer)


@SETTINGS
@given(
    ids=st.lists(st.one_of(st.integers(0, 500), st.just(IMAGE_TOKEN_INDEX)), max_size=30),
    m=st.integers(1, 20),
)
def test_expansion_lengths(ids: list[int], m: int):
    n = ids.count(IMAGE_TOKEN_INDEX)
    labels = [i if i >= 0 else IGNORE_INDEX for i in ids]
    out = expand_image_tokens(ids, m, labels=labels)
    assert len(out.input_ids) == len(ids) + n * (m - 1) == len(out.image_mask) == len(out.labels or [])
    assert sum(out.image_mask) == n * m and out.num_images == n
    assert [i for i, masked in zip(out.input_ids, out.image_mask, strict=True) if not masked] == [
        i for i in ids if i >= 0
    ]
    assert all(i == IMAGE_TOKEN_INDEX for i, masked in zip(out.input_ids, out.image_mask, strict=True) if masked)
    assert all(label == IGNORE_INDEX for label, masked in zip(out.labels or [], out.image_mask, strict=True) if masked)


@SETTINGS
@given(text=st.text(TEXT_ALPHABET, max_size=30), n=st.integers(0, 3))
def test_ensure_image_token_makes_the_count_right(text: str, n: int):
    check_image_count(ensure_image_token(text, n), n)


@SETTINGS
@given(rounds=st.lists(st.tuples(sentences, sentences), min_size=1, max_size=3), has_image=st.booleans())
def test_v1_masks_exactly_the_answers(
    rounds: list[tuple[str, str]], has_image: bool, slow_tokenizer: Any, fast_tokenizer: Any, sp_model: Any
):
    turns = []
    for i, (question, answer) in enumerate(rounds):
        turns.append({"from": "human", "value": ("<image>\n" if i == 0 and has_image else "") + question})
        turns.append({"from": "gpt", "value": answer})
    learned = [token for _, answer in rounds for token in [*sp_model.encode(answer), 2]]
    for tokenizer in (slow_tokenizer, fast_tokenizer):
        sample = build_training_sample(turns, tokenizer, has_image=has_image)
        assert not sample.mismatch
        assert [label for label in sample.labels if label != IGNORE_INDEX] == learned
        assert all(label in (IGNORE_INDEX, token) for label, token in zip(sample.labels, sample.input_ids, strict=True))
        assert count_image_ids(sample.input_ids) == int(has_image)
