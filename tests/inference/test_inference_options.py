"""GenerationOptions: one checked type for the decoding options of chat, sessions, backends and the CLI."""

from __future__ import annotations

import dataclasses

import pytest

from mvlm.errors import ConfigError, UnknownNameError
from mvlm.inference import ChatSession, GenerationOptions, check_generation_options


def test_defaults_and_names():
    options = GenerationOptions()
    assert options.as_kwargs() == {
        "conv_mode": "v1",
        "temperature": 0.0,
        "top_p": None,
        "num_beams": 1,
        "max_new_tokens": 512,
    }
    assert options.greedy and options.stop_string == "</s>"
    assert GenerationOptions.names() == tuple(options.as_kwargs())
    assert GenerationOptions(conv_mode="default").stop_string == "###"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"num_beams": 0}, "num_beams"),
        ({"max_new_tokens": 2.0}, "max_new_tokens"),
    ],
)
def test_bad_options_are_config_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        GenerationOptions(**changes)
    with pytest.raises(ConfigError, match=message):
        check_generation_options(**{"temperature": 0.0, "top_p": None, "num_beams": 1, "max_new_tokens": 8, **changes})


def test_unknown_template():
    with pytest.raises(UnknownNameError):
        GenerationOptions(conv_mode="no-such-template")


def test_split_keeps_generate_keywords_apart_and_layers_over_a_base():
    base = GenerationOptions(temperature=0.5, max_new_tokens=9)
    options, rest = GenerationOptions.split({"max_new_tokens": 4, "top_k": 3, "repetition_penalty": 1.1}, base)
    assert (options.temperature, options.max_new_tokens) == (0.5, 4)
    assert rest == {"top_k": 3, "repetition_penalty": 1.1}
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.temperature = 1.0  # type: ignore[misc]


def test_a_session_keeps_its_options_and_a_turn_overrides_them(model):
    session = ChatSession(model, None, max_new_tokens=3, top_k=2)
    assert session.generation.max_new_tokens == 3 and session.generate_kwargs == {"top_k": 2}
    assert session.options["max_new_tokens"] == 3 and session.options["top_k"] == 2
    with pytest.raises(ConfigError, match="temperature"):
        ChatSession(model, None, temperature=-1)
    assert session.ask("Hello", remember=False, max_new_tokens=1) == model.chat(None, "Hello", max_new_tokens=1)
    assert session.ask("Hello", remember=False) == model.chat(None, "Hello", max_new_tokens=3, top_k=2)
