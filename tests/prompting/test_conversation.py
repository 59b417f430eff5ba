"""Conversation templates: rendered text equal to the reference's, character for character; the registry."""

from __future__ import annotations

import pytest

from mvlm.errors import ConfigError, DuplicateNameError, PromptError, UnknownNameError
from mvlm.prompting import (
    CONVERSATIONS,
    Conversation,
    SeparatorStyle,
    build_prompt,
    get_conversation,
    list_conversations,
    register_conversation,
)

V1_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
V0_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
LLAMA_2_SYSTEM = (
    "You are a helpful, respectful and honest assistant. Always answer as helpfully as possible, while being "
    "safe.  Your answers should not include any harmful, unethical, racist, sexist, toxic, dangerous, or illegal "
    "content. Please ensure that your responses are socially unbiased and positive in nature.\n\nIf a question "
    "does not make any sense, or is not factually coherent, explain why instead of answering something not "
    "correct. If you don't know the answer to a question, please don't share false information."
)
LLAVA_LLAMA_2_SYSTEM = (
    "You are a helpful language and vision assistant. You are able to understand the visual content that the "
    "user provides, and assist the user with a variety of tasks using natural language."
)
ENERGY_QUESTION = "What are the key differences between renewable and non-renewable energy sources?"
ENERGY_ANSWER = (
    "Renewable energy sources are those that can be replenished naturally in a relatively short amount of time, "
    "such as solar, wind, hydro, geothermal, and biomass. Non-renewable energy sources, on the other hand, are "
    "finite and will eventually be depleted, such as coal, oil, and natural gas. Here are some key differences "
    "between renewable and non-renewable energy sources:\n"
    "1. Availability: Renewable energy sources are virtually inexhaustible, while non-renewable energy sources "
    "are finite and will eventually run out.\n"
    "2. Environmental impact: Renewable energy sources have a much lower environmental impact than non-renewable "
    "sources, which can lead to air and water pollution, greenhouse gas emissions, and other negative effects.\n"
    "3. Cost: Renewable energy sources can be more expensive to initially set up, but they typically have lower "
    "operational costs than non-renewable sources.\n"
    "4. Reliability: Renewable energy sources are often more reliable and can be used in more remote locations "
    "than non-renewable sources.\n"
    "5. Flexibility: Renewable energy sources are often more flexible and can be adapted to different situations "
    "and needs, while non-renewable sources are more rigid and inflexible.\n"
    "6. Sustainability: Renewable energy sources are more sustainable over the long term, while non-renewable "
    "sources are not, and their depletion can lead to economic and social instability.\n"
)


def _render(name: str, *messages: str | tuple | None) -> str:
    conv = get_conversation(name)
    for i, message in enumerate(messages):
        conv.append_message(conv.roles[i % 2], message)
    return conv.get_prompt()


# ----------------------------------------------------------------------------------------- v1
def test_v1_single_turn_with_image():
    prompt = _render("v1", "<image>\nWho is the author of this book?", None)
    assert prompt == (
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the user's questions. USER: <image>\nWho is the author of this book? "
        "ASSISTANT:"
    )


def test_v1_multi_turn():
    prompt = _render("v1", "<image>\nWhat is it?", "A cat.", "What color?", "Black.", "Sure?", None)
    assert prompt == (
        V1_SYSTEM + " USER: <image>\nWhat is it? ASSISTANT: A cat.</s>USER: What color? ASSISTANT: Black.</s>"
        "USER: Sure? ASSISTANT:"
    )


def test_v1_training_text_ends_with_sep2():
    assert _render("v1", "<image>\nQ", "A") == V1_SYSTEM + " USER: <image>\nQ ASSISTANT: A</s>"


def test_vicuna_v1_is_v1():
    assert _render("vicuna_v1", "Hi", None) == _render("v1", "Hi", None) == V1_SYSTEM + " USER: Hi ASSISTANT:"
    assert CONVERSATIONS.canonical_name("vicuna_v1") == "v1"


def test_empty_and_none_messages_render_as_role_colon():
    assert _render("v1", "Hi", "") == V1_SYSTEM + " USER: Hi ASSISTANT:"
    assert _render("v1", None) == V1_SYSTEM + " USER:"
    assert get_conversation("v1").get_prompt() == V1_SYSTEM + " "


def test_first_message_as_image_tuple_moves_image_to_front():
    prompt = _render("v1", ("What is it? <image>  ", object(), "Pad"), "A dog.", ("More?", None, "Crop"), None)
    assert prompt == V1_SYSTEM + " USER: <image>\nWhat is it? ASSISTANT: A dog.</s>USER: More? ASSISTANT:"


def test_mmtag_version_wraps_the_image():
    conv = get_conversation("v1")
    conv.version = "v1_mmtag"
    conv.append_message("USER", ("<image>\nWhat?", None, "Default"))
    conv.append_message("ASSISTANT", None)
    assert conv.get_prompt() == (
        V1_SYSTEM + " USER: <Image><image></Image> ASSISTANT: Received.</s>USER: What? ASSISTANT:"
    )
    assert len(conv.messages) == 2  # rendering does not change the messages


# ----------------------------------------------------------------------------------------- plain
def test_plain_single_turn():
    assert _render("plain", "<image>\nDescribe the image.", None) == "<image>\nDescribe the image.\n"


def test_plain_training_text():
    # The reference builds stage-1 text by hand as "<image>" + caption + sep.
    assert _render("plain", "<image>", "A cat on a sofa.") == "<image>\nA cat on a sofa.\n"
    assert build_prompt("Describe.", "plain") == "<image>\nDescribe.\n"


# ----------------------------------------------------------------------------------------- default (vicuna v0)
def test_default_carries_two_example_turns():
    conv = get_conversation("default")
    assert conv.offset == 2 and len(conv.messages) == 2
    assert conv.messages[0] == ["Human", ENERGY_QUESTION] and conv.messages[1] == ["Assistant", ENERGY_ANSWER]


def test_default_single_turn():
    prompt = _render("default", "<image>\nWhat is it?", None)
    assert prompt == (
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the human's questions.###Human: What are the key differences between "
        "renewable and non-renewable energy sources?###Assistant: " + ENERGY_ANSWER + "###Human: <image>\n"
        "What is it?###Assistant:"
    )


def test_default_single_turn_fully_literal():
    prompt = _render("default", "Hi", None)
    assert prompt == (
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the human's questions.###Human: What are the key differences between "
        "renewable and non-renewable energy sources?###Assistant: Renewable energy sources are those that can be "
        "replenished naturally in a relatively short amount of time, such as solar, wind, hydro, geothermal, and "
        "biomass. Non-renewable energy sources, on the other hand, are finite and will eventually be depleted, "
        "such as coal, oil, and natural gas. Here are some key differences between renewable and non-renewable "
        "energy sources:\n1. Availability: Renewable energy sources are virtually inexhaustible, while "
        "non-renewable energy sources are finite and will eventually run out.\n2. Environmental impact: Renewable "
        "energy sources have a much lower environmental impact than non-renewable sources, which can lead to air "
        "and water pollution, greenhouse gas emissions, and other negative effects.\n3. Cost: Renewable energy "
        "sources can be more expensive to initially set up, but they typically have lower operational costs than "
        "non-renewable sources.\n4. Reliability: Renewable energy sources are often more reliable and can be used "
        "in more remote locations than non-renewable sources.\n5. Flexibility: Renewable energy sources are often "
        "more flexible and can be adapted to different situations and needs, while non-renewable sources are more "
        "rigid and inflexible.\n6. Sustainability: Renewable energy sources are more sustainable over the long "
        "term, while non-renewable sources are not, and their depletion can lead to economic and social "
        "instability.\n###Human: Hi###Assistant:"
    )


def test_default_multi_turn():
    prompt = _render("vicuna_v0", "Q1", "A1", "Q2", None)
    assert prompt.endswith(ENERGY_ANSWER + "###Human: Q1###Assistant: A1###Human: Q2###Assistant:")
    assert prompt.startswith(V0_SYSTEM + "###Human: ")


# ----------------------------------------------------------------------------------------- llama 2
def test_llama_2_single_turn():
    assert _render("llama_2", "<image>\nWhat is it?", None) == (
        "[INST] <<SYS>>\n" + LLAMA_2_SYSTEM + "\n<</SYS>>\n\n<image>\nWhat is it? [/INST]"
    )


def test_llama_2_system_prompt_is_literal():
    assert get_conversation("llama_2").system == (
        "You are a helpful, respectful and honest assistant. Always answer as helpfully as possible, while being "
        "safe.  Your answers should not include any harmful, unethical, racist, sexist, toxic, dangerous, or "
        "illegal content. Please ensure that your responses are socially unbiased and positive in nature.\n\n"
        "If a question does not make any sense, or is not factually coherent, explain why instead of answering "
        "something not correct. If you don't know the answer to a question, please don't share false information."
    )


def test_llava_llama_2_multi_turn():
    prompt = _render("llava_llama_2", "<image>\nWhat is it?", "A cat.", "What color?", "Black.", "Sure?", None)
    assert prompt == (
        "[INST] <<SYS>>\nYou are a helpful language and vision assistant. You are able to understand the visual "
        "content that the user provides, and assist the user with a variety of tasks using natural language.\n"
        "<</SYS>>\n\n<image>\nWhat is it? [/INST] A cat. </s><s>[INST] What color? [/INST] Black. </s><s>[INST] "
        "Sure? [/INST]"
    )
    assert LLAVA_LLAMA_2_SYSTEM in prompt


def test_llama_2_rejects_an_empty_or_foreign_first_message():
    conv = get_conversation("llama_2")
    conv.append_message("USER", None)
    with pytest.raises(PromptError, match="empty"):
        conv.get_prompt()
    conv = get_conversation("llama_2")
    conv.append_message("ASSISTANT", "Hi")
    with pytest.raises(PromptError, match="user role 'USER'"):
        conv.get_prompt()
    assert get_conversation("llama_2").get_prompt() == ""


# ----------------------------------------------------------------------------------------- other styles
def test_mpt_style():
    conv = Conversation(
        system="<|im_start|>system\nBe nice.",
        roles=("<|im_start|>user\n", "<|im_start|>assistant\n"),
        sep_style=SeparatorStyle.MPT,
        sep="<|im_end|>",
        version="mpt",
    )
    conv.append_message(conv.roles[0], "Hi")
    conv.append_message(conv.roles[1], None)
    assert conv.get_prompt() == (
        "<|im_start|>system\nBe nice.<|im_end|><|im_start|>user\nHi<|im_end|><|im_start|>assistant\n"
    )
    assert conv.stop_string == "<|im_end|>"


def test_stop_strings():
    assert get_conversation("v1").stop_string == "</s>"
    assert get_conversation("plain").stop_string == "\n"
    assert get_conversation("default").stop_string == "###"
    assert get_conversation("llama_2").stop_string == "<s>"  # the reference uses sep for every style but TWO
    assert get_conversation("llava_llama_2").stop_string == "<s>"


def test_fields_of_the_builtin_templates():
    v1 = get_conversation("v1")
    assert (v1.roles, v1.sep_style, v1.sep, v1.sep2, v1.version, v1.offset) == (
        ("USER", "ASSISTANT"),
        SeparatorStyle.TWO,
        " ",
        "</s>",
        "v1",
        0,
    )
    plain = get_conversation("plain")
    assert (plain.system, plain.roles, plain.sep_style, plain.sep, plain.sep2) == (
        "",
        ("", ""),
        SeparatorStyle.PLAIN,
        "\n",
        None,
    )
    v0 = get_conversation("default")
    assert (v0.roles, v0.sep_style, v0.sep, v0.sep2, v0.version) == (
        ("Human", "Assistant"),
        SeparatorStyle.SINGLE,
        "###",
        None,
        "Unknown",
    )
    for name in ("llama_2", "llava_llama_2"):
        conv = get_conversation(name)
        assert (conv.roles, conv.sep_style, conv.sep, conv.sep2, conv.version) == (
            ("USER", "ASSISTANT"),
            SeparatorStyle.LLAMA_2,
            "<s>",
            "</s>",
            "llama_v2",
        )
    assert v1.user_role == "USER" and v1.assistant_role == "ASSISTANT"


# ----------------------------------------------------------------------------------------- copies and registry
def test_get_conversation_returns_independent_copies():
    first = get_conversation("v1")
    first.append_message("USER", "Hi")
    first.system = "changed"
    second = get_conversation("v1")
    assert second.messages == [] and second.system == V1_SYSTEM
    default = get_conversation("default")
    default.messages[1][1] = "changed"
    assert get_conversation("default").messages[1][1] == ENERGY_ANSWER
    again = get_conversation(first)
    assert again is not first and again.messages == first.messages and again.messages is not first.messages


def test_copy_and_update_last_message():
    conv = get_conversation("v1")
    conv.append_message("USER", "Hi")
    conv.append_message("ASSISTANT", None)
    copied = conv.copy()
    conv.update_last_message("Hello.")
    assert conv.get_prompt() == V1_SYSTEM + " USER: Hi ASSISTANT: Hello.</s>"
    assert copied.get_prompt() == V1_SYSTEM + " USER: Hi ASSISTANT:"
    with pytest.raises(PromptError, match="no message"):
        get_conversation("v1").update_last_message("x")


def test_list_conversations():
    assert {"default", "llama_2", "llava_llama_2", "plain", "v1"} <= set(list_conversations())
    assert "vicuna_v1" not in list_conversations()
    assert {"vicuna_v1", "vicuna_v0"} <= set(list_conversations(include_aliases=True))


def test_register_a_custom_template():
    template = Conversation(
        system="Answer briefly.", roles=("Q", "A"), sep_style="TWO", sep="\n", sep2="<END>", version="v1_custom"
    )
    registered = register_conversation("test_brief", template, aliases=("test_brief_alias",))
    try:
        template.system = "mutated after registration"
        assert registered.system == "Answer briefly."
        assert "test_brief" in list_conversations()
        assert _render("test_brief_alias", "<image>\nWhat?", "A cat.", "Color?", None) == (
            "Answer briefly.\nQ: <image>\nWhat?\nA: A cat.<END>Q: Color?\nA:"
        )
        assert get_conversation("test_brief").stop_string == "<END>"
        with pytest.raises(DuplicateNameError):
            register_conversation("test_brief", template)
        register_conversation("test_brief", {"system": "S", "roles": ["Q", "A"]}, overwrite=True)
        assert get_conversation("test_brief").sep_style is SeparatorStyle.SINGLE
        assert "test_brief_alias" not in CONVERSATIONS
    finally:
        CONVERSATIONS.unregister("test_brief")
    assert "test_brief" not in CONVERSATIONS


def test_to_dict_from_dict_round_trip():
    for name in list_conversations():
        conv = get_conversation(name)
        again = Conversation.from_dict(conv.to_dict())
        assert again == conv
    data = get_conversation("v1").to_dict()
    assert data["sep_style"] == "TWO" and data["roles"] == ["USER", "ASSISTANT"]
    conv = get_conversation("v1")
    conv.append_message("USER", ("<image>\nHi", object(), "Pad"))
    assert conv.to_dict()["messages"] == [["USER", "<image>\nHi"]]


def test_unknown_template_suggests_names():
    with pytest.raises(UnknownNameError, match="did you mean 'v1'"):
        get_conversation("v2")
    with pytest.raises(UnknownNameError, match="vicuna_v1"):
        get_conversation("vicuna_v2")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"system": 3, "roles": ("a", "b")}, "system must be a string"),
        ({"system": "", "roles": ("a",)}, "two strings"),
        ({"system": "", "roles": "ab"}, "two strings"),
        ({"system": "", "roles": ("a", "b"), "sep_style": "triple"}, "unknown separator style"),
        ({"system": "", "roles": ("a", "b"), "sep_style": 7}, "unknown separator style"),
        ({"system": "", "roles": ("a", "b"), "sep_style": "TWO"}, "needs sep2"),
        ({"system": "", "roles": ("a", "b"), "sep_style": SeparatorStyle.LLAMA_2, "sep": "<s>"}, "needs sep2"),
        ({"system": "", "roles": ("a", "b"), "sep": None}, "sep must be a string"),
        ({"system": "", "roles": ("a", "b"), "sep2": 5}, "sep2 must be a string or None"),
        ({"system": "", "roles": ("a", "b"), "version": None}, "version must be a string"),
        ({"system": "", "roles": ("a", "b"), "messages": ["hi"]}, r"\[role, message\] pair"),
        ({"system": "", "roles": ("a", "b"), "offset": 1}, "offset"),
        ({"system": "", "roles": ("a", "b"), "offset": True}, "offset"),
    ],
)
def test_invalid_templates(kwargs: dict, match: str):
    with pytest.raises(ConfigError, match=match):
        Conversation(**kwargs)


def test_invalid_registrations():
    with pytest.raises(ConfigError, match="expects a Conversation"):
        register_conversation("test_bad", "not a template")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown conversation template keys"):
        Conversation.from_dict({"system": "", "roles": ["a", "b"], "colour": "red"})
    with pytest.raises(ConfigError, match="needs 'roles'"):
        Conversation.from_dict({"system": ""})
    assert "test_bad" not in CONVERSATIONS


def test_separator_style_parse():
    assert SeparatorStyle.parse("two") is SeparatorStyle.TWO
    assert SeparatorStyle.parse("LLAMA_2") is SeparatorStyle.LLAMA_2
    assert SeparatorStyle.parse(SeparatorStyle.PLAIN) is SeparatorStyle.PLAIN


def test_build_prompt():
    assert build_prompt("Who wrote it?") == V1_SYSTEM + " USER: <image>\nWho wrote it? ASSISTANT:"
    assert build_prompt("Compare <image> and <image>.", num_images=2) == (
        V1_SYSTEM + " USER: Compare <image> and <image>. ASSISTANT:"
    )
    assert build_prompt("Hi", num_images=0) == V1_SYSTEM + " USER: Hi ASSISTANT:"
    assert build_prompt("Two?", num_images=2).endswith("USER: <image>\n<image>\nTwo? ASSISTANT:")
