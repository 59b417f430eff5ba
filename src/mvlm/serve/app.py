"""``create_app``: the OpenAI-compatible HTTP API (FastAPI) in front of a :class:`~mvlm.serve.worker.BatchingWorker`.

Routes: ``POST /v1/chat/completions`` (whole answers, or server-sent events with ``"stream": true``),
``GET /v1/models``, ``GET /v1/models/{id}``, ``GET /health`` and ``GET /``: the browser demo
(:func:`web_page`: choose an image, ask, the answer streams in; ``mvlm web``). Every error is OpenAI's JSON shape,
``{"error": {"message", "type", "param", "code"}}``: 400 for a malformed request, a bad image or a
too-long prompt, 404 for an unknown model or route, 413 for a body over the limit, 500 for a failure
of the server itself (logged; the server goes on).

FastAPI and uvicorn are the ``mvlm[serve]`` extra; they are imported when an app is built.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations (``Request``),
# and those are names local to create_app, which postponed annotations could not resolve.
import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mvlm.errors import ImageError, MissingDependencyError, MvlmError, PromptError, RequestError
from mvlm.serve.config import ServeConfig
from mvlm.serve.conversations import ConversationCache
from mvlm.serve.messages import ChatCompletionRequest, parse_chat_request, unknown_model_error
from mvlm.serve.worker import BatchingWorker, Job

if TYPE_CHECKING:  # pragma: no cover
    from fastapi import FastAPI, Request

    from mvlm.model import MobileVLM

__all__ = ["create_app", "error_payload", "web_page"]


def web_page() -> str:
    """The browser demo's page (``mvlm/serve/web/index.html``): one HTML file with its script, no CDN.

    It asks ``/v1/models`` for the model's id, reads the chosen image as a data URL and posts the
    question to ``/v1/chat/completions`` with ``"stream": true``, appending each streamed piece to the
    answer; an error's message (OpenAI's error JSON) shows in the status line.
    """
    from importlib.resources import files

    return files("mvlm.serve").joinpath("web", "index.html").read_text(encoding="utf-8")


def error_payload(error: BaseException) -> tuple[int, dict[str, Any]]:
    """The HTTP status and OpenAI-style error body for ``error``.

    Example:
        >>> status, body = error_payload(RequestError("model must be a string", param="model"))
        >>> status, body["error"]["type"], body["error"]["param"]
        (400, 'invalid_request_error', 'model')
    """
    status, kind, param, code = 500, "server_error", None, None
    if isinstance(error, RequestError):
        status, kind, param, code = error.status, "invalid_request_error", error.param, error.code
    elif isinstance(error, ImageError):
        status, kind, param, code = 400, "invalid_request_error", "messages", "invalid_image"
    elif isinstance(error, PromptError):
        status, kind, param, code = 400, "invalid_request_error", "messages", "invalid_prompt"
    elif isinstance(error, MvlmError):
        status, kind = 400, "invalid_request_error"
    message = str(error) if status < 500 else f"the server failed to answer: {type(error).__name__}: {error}"
    return status, {"error": {"message": message, "type": kind, "param": param, "code": code}}


async def _read_json(request: "Request", limit: int) -> Any:
    """The request's JSON body, read no further than ``limit`` bytes."""
    too_large = RequestError(
        f"the request body is larger than this server's limit of {limit} bytes; send smaller images",
        status=413,
        code="request_too_large",
    )
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise too_large if declared.isdigit() else RequestError("invalid Content-Length header")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise too_large
    try:
        return json.loads(body)
    except ValueError as error:
        raise RequestError(f"the request body is not valid JSON ({error})") from None


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _chunk(completion_id: str, model_name: str, delta: dict[str, Any], finish_reason: str | None) -> str:
    chunk = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model_name,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
    return f"data: {json.dumps(chunk)}\n\n"


def create_app(model: "MobileVLM", config: ServeConfig) -> "FastAPI":
    """The FastAPI application serving ``model`` as ``config.model_name``.

    The worker thread starts and stops with the application (its lifespan); ``app.state.worker``
    is the :class:`~mvlm.serve.worker.BatchingWorker` and ``app.state.conversations`` the
    :class:`~mvlm.serve.conversations.ConversationCache`.

    Raises:
        MissingDependencyError: FastAPI is not installed (``pip install "mvlm[serve]"``).

    Example:
        >>> app = create_app(model, ServeConfig(model_name="MobileVLM_V2-1.7B"))  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    try:
        from fastapi import FastAPI, Request
        from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
        from starlette.concurrency import run_in_threadpool
        from starlette.exceptions import HTTPException
    except ImportError:
        raise MissingDependencyError.for_package("fastapi", "mvlm serve", "serve") from None
    from mvlm.vision import load_image

    worker = BatchingWorker(model, max_batch_size=config.max_batch_size, batch_wait_s=config.batch_wait_s)
    conversations = ConversationCache(config.cache_size)
    created = int(time.time())
    model_card = {"id": config.model_name, "object": "model", "created": created, "owned_by": "mvlm"}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        worker.start()
        try:
            yield
        finally:
            await run_in_threadpool(worker.stop)

    app = FastAPI(title="mvlm", summary="An OpenAI-compatible MobileVLM server", lifespan=lifespan)
    app.state.worker = worker
    app.state.conversations = conversations

    def error_response(error: BaseException) -> JSONResponse:
        status, body = error_payload(error)
        return JSONResponse(body, status_code=status)

    @app.exception_handler(MvlmError)
    async def on_mvlm_error(_: Request, error: MvlmError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(Exception)
    async def on_failure(_: Request, error: Exception) -> JSONResponse:  # logged by the server as well
        return error_response(error)

    @app.exception_handler(HTTPException)
    async def on_http_error(_: Request, error: HTTPException) -> JSONResponse:
        status, body = error_payload(RequestError(str(error.detail), status=error.status_code, param=None))
        return JSONResponse(body, status_code=status, headers=getattr(error, "headers", None))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    page = web_page()

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card]}

    @app.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str) -> dict[str, Any]:
        if model_id != config.model_name:
            raise unknown_model_error(model_id, config.model_name)
        return model_card

    def prepare(body: Any) -> tuple[ChatCompletionRequest, Any]:
        """Parse the request and find (or decode and keep) its conversation's images: in a thread."""
        parsed = parse_chat_request(
            body,
            model_name=config.model_name,
            defaults=config.generation,
            max_images=config.max_images,
            max_bytes=config.max_body_bytes,
            allow_files=config.allow_file_urls,
        )

        def decode() -> tuple[Any, ...]:
            return tuple(
                load_image(data, max_pixels=config.max_image_pixels, name=f"image {index + 1} of the conversation")
                for index, data in enumerate(parsed.images)
            )

        return parsed, conversations.state_for(parsed.images_key, decode)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> JSONResponse | StreamingResponse:
        parsed, state = await run_in_threadpool(prepare, await _read_json(request, config.max_body_bytes))
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        job = Job(parsed, state, lambda kind, value: loop.call_soon_threadsafe(events.put_nowait, (kind, value)))
        worker.submit(job)
        try:
            kind, value = await events.get()
        except asyncio.CancelledError:
            job.cancelled.set()
            raise
        if kind == "error":
            job.cancelled.set()
            return error_response(value)
        completion_id = _completion_id()
        if kind == "answer":
            message = {"role": "assistant", "content": value}
            choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": config.model_name,
                    "choices": [choice],
                }
            )

        async def stream() -> AsyncIterator[str]:
            try:
                yield _chunk(completion_id, config.model_name, {"role": "assistant", "content": ""}, None)
                while True:
                    kind, value = await events.get()
                    if kind == "piece":
                        yield _chunk(completion_id, config.model_name, {"content": value}, None)
                    elif kind == "end":
                        yield _chunk(completion_id, config.model_name, {}, "stop")
                        break
                    else:
                        yield f"data: {json.dumps(error_payload(value)[1])}\n\n"
                        break
                yield "data: [DONE]\n\n"
            finally:
                job.cancelled.set()

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return app
