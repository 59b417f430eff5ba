"""OpenAI chat-completion requests -> what ``chat`` takes: the new prompt, the earlier turns, the images, the options.

A request is plain JSON (already parsed); everything wrong with it is a
:class:`~mvlm.errors.RequestError` naming the field, before any image is decoded or the model runs.

* ``messages``: an optional leading ``system`` (or ``developer``) message, then ``user`` and
  ``assistant`` messages ending with a ``user`` one. Consecutive messages of one role are joined with
  a newline. The system message replaces the template's system prompt.
* ``content``: a string, or a list of ``{"type": "text", "text": ...}`` and
  ``{"type": "image_url", "image_url": {"url": ...}}`` parts. The URL is a ``data:`` URL
  (``data:image/png;base64,...``) or a ``file://`` URL of a file on the server's machine; the server
  does not fetch ``http(s)`` URLs.
* Image placement: when no message has an ``<image>`` tag, each message's images go in front of its
  text (``"<image>\\n" * k + text``, what ``chat`` does for the first message); tags written in the
  text stay where they are and must match the images in number.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlparse

from mvlm.errors import ConfigError, RequestError
from mvlm.inference.options import GenerationOptions
from mvlm.prompting import DEFAULT_IMAGE_TOKEN, get_conversation

__all__ = ["ChatCompletionRequest", "parse_chat_request", "read_image_url", "unknown_model_error"]

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@dataclass(frozen=True)
class ChatCompletionRequest:
    """One parsed ``/v1/chat/completions`` request.

    Attributes:
        prompt: The last user message (image tags in it where its images go).
        history: Earlier ``(user, assistant)`` turns.
        images: The encoded bytes of every image, in tag order (not decoded yet).
        options: The decoding options: the server's defaults with the request's overrides; a system
            message is in ``options.conv_mode`` (a template with that system prompt).
        system: The system message, if the request has one.
        stream: Answer as server-sent events.
        seed: A seed for sampling (``torch.manual_seed`` before the answer), if given.
    """

    prompt: str
    history: tuple[tuple[str, str], ...]
    images: tuple[bytes, ...]
    options: GenerationOptions
    system: str | None = None
    stream: bool = False
    seed: int | None = None

    @property
    def images_key(self) -> str:
        """A digest of the images' bytes: the same images give the same key (the conversation cache's key)."""
        digest = hashlib.sha256()
        for data in self.images:
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
        return digest.hexdigest()

    @property
    def batch_key(self) -> tuple[Any, ...] | None:
        """Requests with equal keys can be answered in one batch; ``None``: answer alone (streamed or sampled)."""
        if self.stream or not self.options.greedy or self.options.num_beams != 1:
            return None
        return (self.options.max_new_tokens, self.system)


def _fail(message: str, param: str | None = "messages", code: str | None = None, status: int = 400) -> RequestError:
    return RequestError(message, status=status, param=param, code=code)


def unknown_model_error(model: str, served: str) -> RequestError:
    """The 404 for a request that names a model other than the one served."""
    return _fail(
        f"the model '{model}' does not exist; this server serves '{served}'",
        param="model",
        code="model_not_found",
        status=404,
    )


def read_image_url(url: Any, where: str, *, max_bytes: int, allow_files: bool = True) -> bytes:
    """The encoded bytes an ``image_url`` names: a base64 ``data:`` URL, or a ``file://`` URL of a local file.

    Args:
        url: The URL.
        where: Where it is in the request, for messages (``messages[0].content[1]``).
        max_bytes: The largest image file to read.
        allow_files: Accept ``file://`` URLs.

    Raises:
        RequestError: Any other scheme (``http(s)`` included: the server does not fetch), invalid
            base64, a missing or too large file.
    """
    if not isinstance(url, str) or not url:
        raise _fail(f"{where}: image_url.url must be a non-empty string", code="invalid_image_url")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "data":
        header, _, payload = url.partition(",")
        if not header.endswith(";base64"):
            raise _fail(f"{where}: a data URL must be base64 (data:image/png;base64,...)", code="invalid_image_url")
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise _fail(f"{where}: the data URL's base64 payload is invalid", code="invalid_image") from None
    if scheme == "file":
        if not allow_files:
            raise _fail(f"{where}: this server does not read file:// URLs; send the image as a data URL")
        parsed = urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise _fail(f"{where}: a file:// URL must name a local file (file:///path), got host {parsed.netloc!r}")
        path = unquote(parsed.path)
        if not os.path.isfile(path):
            raise _fail(f"{where}: no such file on the server: {path}", code="invalid_image")
        if os.path.getsize(path) > max_bytes:
            raise _fail(f"{where}: {path} is larger than {max_bytes} bytes", code="image_too_large")
        with open(path, "rb") as handle:
            return handle.read()
    if scheme in ("http", "https"):
        raise _fail(
            f"{where}: the server does not fetch remote images; send the image as a data URL "
            "(data:image/png;base64,...) or, for a file on the server, a file:// URL",
            code="invalid_image_url",
        )
    raise _fail(f"{where}: unsupported image URL; use a data: or file:// URL", code="invalid_image_url")


def _content(message: dict[str, Any], where: str, *, max_bytes: int, allow_files: bool) -> tuple[str, list[bytes]]:
    """The text and the image bytes of one message's ``content``."""
    content = message.get("content")
    if content is None and message.get("role") == "assistant":
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise _fail(f"{where}.content must be a string or a list of content parts")
    texts, images = [], []
    for index, part in enumerate(content):
        at = f"{where}.content[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url":
            image_url = part.get("image_url")
            url = image_url.get("url") if isinstance(image_url, dict) else image_url
            images.append(read_image_url(url, at, max_bytes=max_bytes, allow_files=allow_files))
        else:
            raise _fail(f"{at}: expected a text part or an image_url part, got {part!r:.80}")
    return "\n".join(texts), images


def _turns(
    messages: Any, *, max_bytes: int, allow_files: bool
) -> tuple[str | None, list[list[str]], list[list[bytes]]]:
    """``(system, [[role, text], ...], images per message)`` with same-role neighbours joined."""
    if not isinstance(messages, list) or not messages:
        raise _fail("messages must be a non-empty list of messages")
    system: list[str] = []
    turns: list[list[str]] = []
    images: list[list[bytes]] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        role = _ROLES.get(str(message.get("role"))) if isinstance(message, dict) else None
        if role is None:
            raise _fail(f"{where}: expected a message with role system, user or assistant, got {message!r:.80}")
        text, found = _content(message, where, max_bytes=max_bytes, allow_files=allow_files)
        if role == "system":
            if turns:
                raise _fail(f"{where}: a system message must come before the user and assistant messages")
            if found:
                raise _fail(f"{where}: a system message cannot hold images")
            system.append(text)
            continue
        if role == "assistant" and found:
            raise _fail(f"{where}: an assistant message cannot hold images; put them in a user message")
        if turns and turns[-1][0] == role:
            turns[-1][1] += "\n" + text
            images[-1].extend(found)
        else:
            turns.append([role, text])
            images.append(found)
    if not turns or turns[0][0] != "user" or turns[-1][0] != "user":
        raise _fail("the conversation must start and end with a user message (after any system message)")
    return ("\n".join(system) if system else None), turns, images


def _option(body: dict[str, Any], name: str, kinds: tuple[type, ...]) -> Any:
    value = body.get(name)
    if value is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
        names = " or ".join(kind.__name__ for kind in kinds)
        raise _fail(f"{name} must be {names}, got {value!r}", param=name)
    return value


def _options(body: dict[str, Any], defaults: GenerationOptions, system: str | None) -> GenerationOptions:
    overrides: dict[str, Any] = {}
    for name, option in (("temperature", "temperature"), ("top_p", "top_p")):
        value = _option(body, name, (int, float))
        if value is not None:
            overrides[option] = float(value)
    for name in ("max_completion_tokens", "max_tokens"):
        value = _option(body, name, (int,))
        if value is not None:
            overrides["max_new_tokens"] = value
            break
    if system is not None:
        overrides["conv_mode"] = replace(get_conversation(defaults.conv_mode), system=system)
    try:
        return replace(defaults, **overrides)
    except ConfigError as error:
        raise _fail(str(error), param=None) from None


def parse_chat_request(
    body: Any,
    *,
    model_name: str,
    defaults: GenerationOptions,
    max_images: int,
    max_bytes: int,
    allow_files: bool = True,
) -> ChatCompletionRequest:
    """Check a ``/v1/chat/completions`` body and turn it into a :class:`ChatCompletionRequest`.

    Args:
        body: The parsed JSON body.
        model_name: The served model's id; another ``model`` is a 404.
        defaults: The server's decoding options.
        max_images: The most images in the conversation.
        max_bytes: The largest image file (``file://`` URLs).
        allow_files: Accept ``file://`` URLs.

    Raises:
        RequestError: A malformed body, an unknown model (status 404), an unsupported option, an
            unreadable image URL.
    """
    if not isinstance(body, dict):
        raise _fail("the request body must be a JSON object", param=None)
    model = body.get("model")
    if not isinstance(model, str):
        raise _fail("model must be a string: the served model's id (see /v1/models)", param="model")
    if model != model_name:
        raise unknown_model_error(model, model_name)
    if _option(body, "n", (int,)) not in (None, 1):
        raise _fail("n must be 1: the server answers with one choice", param="n")
    for name in ("stop", "tools", "functions", "response_format", "logprobs"):
        if body.get(name) not in (None, False):
            raise _fail(f"{name} is not supported by this server; leave it out", param=name)
    stream = _option(body, "stream", (bool,))
    seed = _option(body, "seed", (int,))
    system, turns, per_message = _turns(body.get("messages"), max_bytes=max_bytes, allow_files=allow_files)
    images = tuple(data for found in per_message for data in found)
    if len(images) > max_images:
        raise _fail(f"the conversation has {len(images)} images; this server takes at most {max_images}")
    if not any(DEFAULT_IMAGE_TOKEN in text for _, text in turns):
        for turn, found in zip(turns, per_message, strict=True):
            turn[1] = f"{DEFAULT_IMAGE_TOKEN}\n" * len(found) + turn[1]
    texts = [text for _, text in turns]
    history = tuple((texts[i], texts[i + 1]) for i in range(0, len(texts) - 1, 2))
    return ChatCompletionRequest(
        prompt=texts[-1],
        history=history,
        images=images,
        options=_options(body, defaults, system),
        system=system,
        stream=bool(stream),
        seed=seed,
    )
