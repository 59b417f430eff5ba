"""Training labels, token by token: expected masks written out from what each token is."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

from mvlm.errors import DataError, PromptError
from mvlm.prompting import (
    IGNORE_INDEX,
    IMAGE_TOKEN_INDEX,
    Conversation,
    TokenizationMismatchWarning,
    build_training_sample,
    get_conversation,
    label_masking_style,
    mask_targets_llama_2,
    mask_targets_plain,
    mask_targets_v1,
)

BOS, EOS = 1, 2
M = IGNORE_INDEX
V1_SYSTEM = get_conversation("v1").system
LLAVA_SYSTEM = get_conversation("llava_llama_2").system


@pytest.fixture(params=["slow", "fast"])
def ref_tokenizer(request: pytest.FixtureRequest) -> Any:
    """The tokenizers that behave as the reference's (SentencePiece, and fast with legacy=True)."""
    return request.getfixturevalue(f"{request.param}_tokenizer")


def human(text: str) -> dict[str, str]:
    return {"from": "human", "value": text}


def gpt(text: str) -> dict[str, str]:
    return {"from": "gpt", "value": text}


def test_v1_one_round(ref_tokenizer: Any, sp_model: Any):
    turns = [human("What is in the image?\n<image>"), gpt("A cat.")]
    sample = build_training_sample(turns, ref_tokenizer)
    assert sample.text == V1_SYSTEM + " USER: <image>\nWhat is in the image? ASSISTANT: A cat.</s>"
    # Everything up to and including "ASSISTANT:" is prompt; " A cat." and </s> are learned.
    prompt = [BOS, *sp_model.encode(V1_SYSTEM + " USER: "), IMAGE_TOKEN_INDEX]
    prompt += sp_model.encode("\nWhat is in the image? ASSISTANT:")
    answer = sp_model.encode("A cat.")
    assert sp_model.encode("A cat.", out_type=str) == ["▁A", "▁c", "at", "."]
    assert sample.input_ids == [*prompt, *answer, EOS]
    assert sample.labels == [M] * len(prompt) + [*answer, EOS]
    assert not sample.mismatch


def test_v1_two_rounds(ref_tokenizer: Any, sp_model: Any):
    turns = [human("<image>\nWhat is in the image?"), gpt("A cat."), human("What color is the car?"), gpt("Blue.")]
    sample = build_training_sample(turns, ref_tokenizer)
    assert sample.text == (
        V1_SYSTEM + " USER: <image>\nWhat is in the image? ASSISTANT: A cat.</s>USER: What color is the car? "
        "ASSISTANT: Blue.</s>"
    )
    round1 = [BOS, *sp_model.encode(V1_SYSTEM + " USER: "), IMAGE_TOKEN_INDEX]
    round1 += sp_model.encode("\nWhat is in the image? ASSISTANT:")
    answer1 = sp_model.encode("A cat.")
    round2 = sp_model.encode("USER: What color is the car? ASSISTANT:")  # "▁" "U" "S" ... after </s>
    answer2 = sp_model.encode("Blue.")
    assert sp_model.encode("Blue.", out_type=str)[0] == "▁"  # no "▁B" piece: the lone ▁ belongs to the answer
    assert sample.input_ids == [*round1, *answer1, EOS, *round2, *answer2, EOS]
    assert sample.labels == [M] * len(round1) + [*answer1, EOS] + [M] * len(round2) + [*answer2, EOS]
    assert not sample.mismatch


def test_v1_text_only(ref_tokenizer: Any, sp_model: Any):
    turns = [human("Is there a dog in the photo?"), gpt("Yes, there is.")]
    sample = build_training_sample(turns, ref_tokenizer, has_image=False)
    prompt = [BOS, *sp_model.encode(V1_SYSTEM + " USER: Is there a dog in the photo? ASSISTANT:")]
    answer = sp_model.encode("Yes, there is.")
    assert sample.input_ids == [*prompt, *answer, EOS]
    assert sample.labels == [M] * len(prompt) + [*answer, EOS]
    assert IMAGE_TOKEN_INDEX not in sample.input_ids


def test_v1_from_rendered_text_matches_the_turns(ref_tokenizer: Any):
    conv = get_conversation("v1")
    conv.append_message("USER", "<image>\nWhat is in the image?")
    conv.append_message("ASSISTANT", "A cat.")
    direct = mask_targets_v1(conv.get_prompt(), ref_tokenizer)
    via_turns = build_training_sample([human("<image>\nWhat is in the image?"), gpt("A cat.")], ref_tokenizer)
    assert direct == via_turns


def test_v1_leading_gpt_turn_is_skipped(ref_tokenizer: Any):
    turns = [gpt("ignored"), human("<image>\nWhat is in the image?"), gpt("A cat.")]
    assert build_training_sample(turns, ref_tokenizer) == build_training_sample(turns[1:], ref_tokenizer)


def test_plain(ref_tokenizer: Any, sp_model: Any):
    turns = [human("Render a clear and concise summary of the photo.\n<image>"), gpt("A cat on a red sofa.")]
    sample = build_training_sample(turns, ref_tokenizer, template="plain")
    assert sample.text == "<image>A cat on a red sofa.\n"  # the instruction is dropped, as the reference
    caption = sp_model.encode("A cat on a red sofa.\n")
    assert caption[-1] == 13  # the newline byte ends the caption and is learned
    assert sample.input_ids == [BOS, IMAGE_TOKEN_INDEX, *caption]
    assert sample.labels == [M, M, *caption]
    assert mask_targets_plain("<image>A cat on a red sofa.\n", ref_tokenizer) == sample


def test_llava_llama_2_two_rounds(ref_tokenizer: Any, sp_model: Any):
    turns = [human("<image>\nWhat is it?"), gpt("A cat."), human("Is it red?"), gpt("No.")]
    sample = build_training_sample(turns, ref_tokenizer, template="llava_llama_2")
    head = "[INST] <<SYS>>\n" + LLAVA_SYSTEM + "\n<</SYS>>\n\n"
    assert sample.text == head + "<image>\nWhat is it? [/INST] A cat. </s><s>[INST] Is it red? [/INST] No. </s>"
    round1 = [BOS, *sp_model.encode(head), IMAGE_TOKEN_INDEX, *sp_model.encode("\nWhat is it? [/INST]")]
    answer1 = sp_model.encode("A cat. ")
    round2 = [BOS, *sp_model.encode("[INST] Is it red? [/INST]")]  # the literal "<s>" is the BOS id
    answer2 = sp_model.encode("No. ")
    assert sample.input_ids == [*round1, *answer1, EOS, *round2, *answer2, EOS]
    assert sample.labels == [M] * len(round1) + [*answer1, EOS] + [M] * len(round2) + [*answer2, EOS]
    assert mask_targets_llama_2(sample.text, ref_tokenizer) == sample


def test_transformers_5_default_tokenizer_mismatches_on_multi_round(auto_tokenizer: Any):
    """legacy=False drops the ▁ after </s>: the round count is off, so the sample is masked and reported."""
    turns = [human("<image>\nWhat is in the image?"), gpt("A cat."), human("What color is the car?"), gpt("Blue.")]
    with pytest.warns(TokenizationMismatchWarning, match="tokenization mismatch: the rounds count"):
        sample = build_training_sample(turns, auto_tokenizer)
    assert sample.mismatch and set(sample.labels) == {IGNORE_INDEX}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = build_training_sample(turns, auto_tokenizer, warn=False)
    assert quiet == sample
    single = build_training_sample(turns[:2], auto_tokenizer)  # one round: nothing after </s>
    assert not single.mismatch


def test_mismatch_from_a_separator_inside_a_message(ref_tokenizer: Any):
    turns = [human("<image>\nHi"), gpt("Yes.</s>More."), human("Why?"), gpt("Because.")]
    with pytest.warns(TokenizationMismatchWarning):
        sample = build_training_sample(turns, ref_tokenizer)
    assert sample.mismatch and set(sample.labels) == {IGNORE_INDEX}


def test_model_max_length_truncates_text_only_and_skips_the_check(ref_tokenizer: Any):
    turns = [human("Is there a dog in the photo?"), gpt("Yes, there is.")]
    sample = build_training_sample(turns, ref_tokenizer, has_image=False, model_max_length=10)
    assert len(sample.input_ids) == 10 and set(sample.labels) == {IGNORE_INDEX} and not sample.mismatch
    full = build_training_sample(turns, ref_tokenizer, has_image=False, model_max_length=2048)
    assert full == build_training_sample(turns, ref_tokenizer, has_image=False)


def test_pad_id_defaults_to_unk_and_can_be_given(ref_tokenizer: Any):
    turns = [human("<image>\nWhat is in the image?"), gpt("A cat.")]
    assert ref_tokenizer.pad_token_id is None  # counted against unk (0), as the reference trains with pad = unk
    sample = build_training_sample(turns, ref_tokenizer)
    a_token = sample.input_ids[3]
    with pytest.warns(TokenizationMismatchWarning):
        odd = build_training_sample(turns, ref_tokenizer, pad_token_id=a_token)
    assert odd.mismatch


def test_as_tensors(ref_tokenizer: Any):
    tensors = build_training_sample([human("<image>\nHi"), gpt("A cat.")], ref_tokenizer).as_tensors()
    assert tensors["input_ids"].dtype == torch.long and tensors["labels"].shape == tensors["input_ids"].shape


def test_label_masking_style():
    assert label_masking_style("v1") == "v1"
    assert label_masking_style("vicuna_v1") == "v1"
    assert label_masking_style("plain") == "plain"
    assert label_masking_style("llama_2") == "llama_2"
    assert label_masking_style("llava_llama_2") == "llama_2"
    custom = Conversation(system="S", roles=("Q", "A"), sep_style="TWO", sep=" ", sep2="</s>", version="v1_mine")
    assert label_masking_style(custom) == "v1"
    with pytest.raises(PromptError, match="template 'default' has no label masking"):
        label_masking_style("default")
    with pytest.raises(PromptError, match="version 'other'"):
        label_masking_style(Conversation(system="", roles=("a", "b"), sep_style="TWO", sep2="x", version="other"))


@pytest.mark.parametrize(
    ("turns", "template", "match"),
    [
        ([["human", "hi"]], "v1", "mapping with 'from' and 'value'"),
        ([{"from": "user", "value": "hi"}], "v1", "'human' or 'gpt'"),
        ([{"from": "human", "value": 3}], "v1", "must be a string"),
        ([human("a"), human("b")], "v1", "turn 1 should come from 'ASSISTANT'"),
        ([human("<image>"), gpt("a"), human("b")], "plain", "exactly 2 turns"),
        ([human("no image"), gpt("a")], "plain", "must contain '<image>'"),
    ],
)
def test_bad_turns(turns: list, template: str, match: str, slow_tokenizer: Any):
    with pytest.raises(DataError, match=match):
        build_training_sample(turns, slow_tokenizer, template=template)


def test_template_without_masking(slow_tokenizer: Any):
    with pytest.raises(PromptError, match="no label masking"):
        build_training_sample([human("hi"), gpt("yo")], slow_tokenizer, template="default")
    no_sep2 = Conversation(system="", roles=("a", "b"))
    with pytest.raises(PromptError, match="needs a template with sep2"):
        mask_targets_v1("a: x b: y", slow_tokenizer, template=no_sep2)
