"""OpenAI request JSON -> prompt, history, images and options: the parsing rules and their errors (no model)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mvlm.errors import RequestError
from mvlm.inference import GenerationOptions
from mvlm.serve import ServeConfig, parse_chat_request
from mvlm.serve.conversations import ConversationCache

DEFAULTS = GenerationOptions(max_new_tokens=32)
PNG = b"\x89PNG fake bytes"
URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def parse(messages: Any, **fields: Any):
    body = {"model": "m", "messages": messages, **fields}
    return parse_chat_request(body, model_name="m", defaults=DEFAULTS, max_images=2, max_bytes=1000)


def image(url: str = URL) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def test_images_go_in_front_of_their_message_and_turns_pair_up():
    request = parse(
        [
            {"role": "user", "content": [{"type": "text", "text": "What is it?"}, image()]},
            {"role": "assistant", "content": "A cat."},
            {"role": "user", "content": "And now?"},
            {"role": "user", "content": [image(), {"type": "text", "text": "This one?"}]},
        ]
    )
    assert request.history == (("<image>\nWhat is it?", "A cat."),)
    assert request.prompt == "<image>\nAnd now?\nThis one?"
    assert request.images == (PNG, PNG)
    assert request.options == DEFAULTS and request.system is None and not request.stream


def test_tags_written_by_the_user_stay_where_they_are():
    request = parse([{"role": "user", "content": [{"type": "text", "text": "Is <image> a cat?"}, image()]}])
    assert request.prompt == "Is <image> a cat?"


def test_options_system_message_and_batch_key():
    request = parse(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        temperature=0.5,
        top_p=0.9,
        max_tokens=7,
        seed=3,
        stream=True,
    )
    assert (request.options.temperature, request.options.top_p, request.options.max_new_tokens) == (0.5, 0.9, 7)
    assert request.options.conv_mode.system == "Be brief." and request.system == "Be brief."
    assert request.seed == 3 and request.stream and request.batch_key is None
    greedy = parse([{"role": "user", "content": "Hi"}], max_completion_tokens=5)
    assert greedy.batch_key == (5, None) and greedy.options.max_new_tokens == 5
    assert (
        parse([{"role": "user", "content": "Hi"}]).images_key
        != parse([{"role": "user", "content": [image()]}]).images_key
    )


@pytest.mark.parametrize(
    ("messages", "fields", "status", "match"),
    [
        ([], {}, 400, "non-empty list"),
        ([{"role": "assistant", "content": "Hi"}], {}, 400, "start and end with a user"),
        ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}], {}, 400, "end with a user"),
        ([{"role": "tool", "content": "x"}], {}, 400, "role system, user or assistant"),
        ([{"role": "user", "content": "Hi"}, {"role": "system", "content": "x"}], {}, 400, "must come before"),
        ([{"role": "user", "content": 5}], {}, 400, "string or a list"),
        ([{"role": "user", "content": [{"type": "audio"}]}], {}, 400, r"content\[0\]: expected a text part"),
        ([{"role": "user", "content": [image("data:image/png;base64,%%%")]}], {}, 400, "base64 payload is invalid"),
        ([{"role": "user", "content": [image("data:image/png,raw")]}], {}, 400, "must be base64"),
        ([{"role": "user", "content": [image("http://example.com/a.png")]}], {}, 400, "does not fetch remote"),
        ([{"role": "user", "content": [image("ftp://example.com/a.png")]}], {}, 400, "unsupported image URL"),
        ([{"role": "user", "content": [image("file://host/a.png")]}], {}, 400, "local file"),
        ([{"role": "user", "content": [image()] * 3}], {}, 400, "at most 2"),
        ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": [image()]}], {}, 400, "assistant"),
        ([{"role": "user", "content": "Hi"}], {"model": "other"}, 404, "does not exist"),
        ([{"role": "user", "content": "Hi"}], {"n": 2}, 400, "n must be 1"),
        ([{"role": "user", "content": "Hi"}], {"stop": ["x"]}, 400, "stop is not supported"),
        ([{"role": "user", "content": "Hi"}], {"temperature": "hot"}, 400, "temperature must be"),
        ([{"role": "user", "content": "Hi"}], {"max_tokens": 0}, 400, "max_new_tokens must be"),
        ([{"role": "user", "content": "Hi"}], {"stream": "yes"}, 400, "stream must be bool"),
    ],
)
def test_bad_requests(messages, fields, status, match):
    with pytest.raises(RequestError, match=match) as caught:
        parse(messages, **fields)
    assert caught.value.status == status


def test_file_urls_are_read_and_bounded(tmp_path):
    path = tmp_path / "a b.png"
    path.write_bytes(PNG)
    assert parse([{"role": "user", "content": [image(path.as_uri())]}]).images == (PNG,)
    path.write_bytes(PNG * 100)
    with pytest.raises(RequestError, match="larger than 1000 bytes"):
        parse([{"role": "user", "content": [image(path.as_uri())]}])
    with pytest.raises(RequestError, match="does not read file:// URLs"):
        parse_chat_request(
            {"model": "m", "messages": [{"role": "user", "content": [image(path.as_uri())]}]},
            model_name="m",
            defaults=DEFAULTS,
            max_images=1,
            max_bytes=10,
            allow_files=False,
        )


def test_conversation_cache_keeps_the_most_recent():
    cache = ConversationCache(2)
    loads = []

    def load(name: str):
        return lambda: loads.append(name) or (name,)

    first = cache.state_for("a", load("a"))
    assert cache.state_for("a", load("a")) is first and loads == ["a"]
    cache.state_for("b", load("b"))
    cache.state_for("a", load("a"))  # "a" is now the most recent: "b" goes next
    cache.state_for("c", load("c"))
    assert len(cache) == 2 and cache.state_for("a", load("a")) is first
    cache.state_for("b", load("b"))
    assert loads == ["a", "b", "c", "b"]
    assert ConversationCache(0).state_for("a", load("a")) is not ConversationCache(0).state_for("a", load("a"))


def test_config_checks():
    with pytest.raises(ValueError, match="max_batch_size"):
        ServeConfig(model_name="m", max_batch_size=0)
    with pytest.raises(ValueError, match="batch_wait_s"):
        ServeConfig(model_name="m", batch_wait_s=-1)
    with pytest.raises(ValueError, match="model_name"):
        ServeConfig(model_name="")
