"""`mvlm serve`'s HTTP API, end to end: a uvicorn server on 127.0.0.1 and the official `openai` client.

Each test asks about its own image: the server keeps conversations by image, and a test's cache
counts must not depend on the others.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
openai = pytest.importorskip("openai")

from serve_testdata import MODEL_NAME, NEW, RunningServer, data_url, png_bytes  # noqa: E402

from mvlm.prompting import get_conversation  # noqa: E402
from mvlm.serve import ServeConfig, create_app  # noqa: E402

QUESTION = "What is in the image?"
LIMITS = {"max_body_bytes": 200_000, "max_image_pixels": 100 * 100}


@pytest.fixture(scope="module")
def server(model: Any) -> Iterator[RunningServer]:
    # a long batch window, so that the concurrent requests of one test surely meet in a batch
    config = ServeConfig(model_name=MODEL_NAME, max_batch_size=4, batch_wait_s=0.5, cache_size=8, **LIMITS)
    with RunningServer(create_app(model, config)) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Any:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0, timeout=120)


def user(text: str, *image_urls: str) -> dict[str, Any]:
    """A user message: the text part, then one image part per URL."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in image_urls]
    return {"role": "user", "content": parts}


def ask(client: Any, messages: list[dict[str, Any]], **options: Any) -> str:
    response = client.chat.completions.create(
        **{"model": MODEL_NAME, "messages": messages, "max_tokens": NEW, **options}
    )
    assert response.object == "chat.completion" and response.model == MODEL_NAME
    assert response.choices[0].message.role == "assistant"
    return response.choices[0].message.content


def post(server: RunningServer, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    """POST raw bytes; the status and the JSON answer (errors included)."""
    request = urllib.request.Request(f"{server.url}{path}", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_health_and_models(server, client):
    with urllib.request.urlopen(f"{server.url}/health", timeout=30) as answer:
        assert json.loads(answer.read()) == {"status": "ok"}
    assert [card.id for card in client.models.list()] == [MODEL_NAME]
    assert client.models.retrieve(MODEL_NAME).owned_by == "mvlm"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_answer_equals_chat_for_data_and_file_urls(model, images, client, tmp_path):
    expected = model.chat(images[0], QUESTION, max_new_tokens=NEW)
    assert ask(client, [user(QUESTION, data_url(images[0]))]) == expected
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes(images[0]))
    assert ask(client, [user(QUESTION, path.as_uri())]) == expected
    # a plain string content is a text-only question
    assert ask(client, [{"role": "user", "content": "Hello?"}]) == model.chat(None, "Hello?", max_new_tokens=NEW)


def test_streamed_pieces_join_to_the_answer(model, images, client):
    expected = model.chat(images[1], "Describe the picture.", max_new_tokens=NEW)
    chunks = list(
        client.chat.completions.create(
            model=MODEL_NAME, messages=[user("Describe the picture.", data_url(images[1]))], max_tokens=NEW, stream=True
        )
    )
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    pieces = [chunk.choices[0].delta.content or "" for chunk in chunks]
    assert len([piece for piece in pieces if piece]) > 1
    assert "".join(pieces) == expected


def test_concurrent_requests_are_batched_and_equal_one_at_a_time(model, images, server, client):
    questions = ["What is in the image?", "Is there a dog?", "Describe it in detail.", "What color is it?"]
    expected = [model.chat(images[2 + i], q, max_new_tokens=NEW) for i, q in enumerate(questions)]
    worker = server.app.state.worker
    before = len(worker.batch_sizes)
    answers: list[Any] = [None] * 4
    start = threading.Barrier(4)

    def run(index: int) -> None:
        start.wait(timeout=30)
        try:
            answers[index] = ask(client, [user(questions[index], data_url(images[2 + index]))])
        except Exception as error:  # reported by the assertion below
            answers[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answers == expected
    sizes = list(worker.batch_sizes)[before:]
    assert sum(sizes) == 4 and max(sizes) > 1, sizes


def test_follow_up_turn_reuses_the_encoded_image(model, images, client, monkeypatch):
    calls = []
    encode = model.encode_images
    monkeypatch.setattr(model, "encode_images", lambda pixels: calls.append(len(pixels)) or encode(pixels))
    url = data_url(images[6])
    first = ask(client, [user(QUESTION, url)])
    assert calls == [1]
    second = ask(
        client, [user(QUESTION, url), {"role": "assistant", "content": first}, user("Is there a dog?")]
    )  # the client sends the image again; the server finds its encoding
    assert calls == [1]
    monkeypatch.undo()
    assert first == model.chat(images[6], QUESTION, max_new_tokens=NEW)
    assert second == model.chat(images[6], "Is there a dog?", history=[(QUESTION, first)], max_new_tokens=NEW)


def test_system_message_replaces_the_templates_system_prompt(model, images, client):
    from dataclasses import replace

    system = "You answer in one word."
    template = replace(get_conversation("v1"), system=system)
    expected = model.chat(images[8], QUESTION, conv_mode=template, max_new_tokens=NEW)
    assert ask(client, [{"role": "system", "content": system}, user(QUESTION, data_url(images[8]))]) == expected


def test_bad_requests_get_clear_errors_and_the_server_goes_on(model, images, server, client):
    good = data_url(images[7])

    def error_of(kind: type[Exception], messages: list[dict[str, Any]], **options: Any) -> str:
        with pytest.raises(kind) as caught:
            ask(client, messages, **options)
        body = caught.value.body  # type: ignore[attr-defined]
        assert set(body) >= {"message", "type", "param", "code"}, body
        return body["message"]

    assert "base64" in error_of(openai.BadRequestError, [user(QUESTION, "data:image/png;base64,@@not base64@@")])
    assert "not an image" in error_of(openai.BadRequestError, [user(QUESTION, "data:image/png;base64,aGVsbG8=")])
    assert "does not fetch" in error_of(openai.BadRequestError, [user(QUESTION, "https://example.com/cat.png")])
    assert "no such file" in error_of(openai.BadRequestError, [user(QUESTION, "file:///no/such/image.png")])
    big = images[7].resize((200, 200))
    assert "pixels" in error_of(openai.BadRequestError, [user(QUESTION, data_url(big))])
    assert "context length" in error_of(openai.BadRequestError, [user("word " * 600, good)])
    assert "2 images" in error_of(openai.BadRequestError, [user("Compare <image> with this.", good, good)])
    assert "does not exist" in error_of(openai.NotFoundError, [user(QUESTION, good)], model="gpt-4o")
    assert "n must be 1" in error_of(openai.BadRequestError, [user(QUESTION, good)], n=2)
    assert "end with a user" in error_of(openai.BadRequestError, [{"role": "assistant", "content": "Hi."}])
    assert "temperature" in error_of(openai.BadRequestError, [user(QUESTION, good)], temperature=-1)
    with pytest.raises(openai.APIStatusError) as caught:
        ask(client, [user("x" * 300_000, good)])
    assert caught.value.status_code == 413
    with pytest.raises(openai.BadRequestError):  # a streamed request fails before the stream starts
        client.chat.completions.create(
            model=MODEL_NAME, messages=[user(QUESTION, "data:image/png;base64,!!")], max_tokens=NEW, stream=True
        )
    status, body = post(server, "/v1/chat/completions", b"{not json")
    assert status == 400 and "not valid JSON" in body["error"]["message"]
    status, body = post(server, "/v1/nowhere", b"{}")
    assert status == 404 and body["error"]["type"] == "invalid_request_error"
    # after all that, the server still answers
    assert ask(client, [user(QUESTION, good)]) == model.chat(images[7], QUESTION, max_new_tokens=NEW)


def test_a_failure_inside_the_server_is_a_500_and_the_server_goes_on(model, images, server, client, monkeypatch):
    def broken(pixels: Any) -> Any:
        raise RuntimeError("the tower broke")

    monkeypatch.setattr(model, "encode_images", broken)
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client, [user(QUESTION, data_url(images[9]))])
    assert "the tower broke" in caught.value.body["message"]  # type: ignore[index]
    monkeypatch.setattr(server.app.state.conversations, "state_for", broken)
    with pytest.raises(openai.InternalServerError):
        ask(client, [user(QUESTION, data_url(images[9]))])
    monkeypatch.undo()
    assert ask(client, [user(QUESTION, data_url(images[9]))]) == model.chat(images[9], QUESTION, max_new_tokens=NEW)


def test_several_images_in_one_message(model, images, client):
    """Two image parts: with no tags both go in front, in order; with tags they go where the tags are."""
    first, second = images[8], images[9]
    expected = model.chat([first, second], "Which one is brighter?", max_new_tokens=NEW)
    assert ask(client, [user("Which one is brighter?", data_url(first), data_url(second))]) == expected
    tagged = "Compare <image> with <image>."
    assert ask(client, [user(tagged, data_url(first), data_url(second))]) == model.chat(
        [first, second], tagged, max_new_tokens=NEW
    )
    swapped = model.chat([second, first], tagged, max_new_tokens=NEW)
    assert ask(client, [user(tagged, data_url(second), data_url(first))]) == swapped
