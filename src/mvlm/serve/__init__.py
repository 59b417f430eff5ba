"""``mvlm serve``: an OpenAI-compatible HTTP server for a MobileVLM checkpoint (the ``mvlm[serve]`` extra).

* :func:`~mvlm.serve.app.create_app`: the FastAPI application (``/v1/chat/completions``,
  ``/v1/models``, ``/health``);
* :class:`~mvlm.serve.worker.BatchingWorker`: the one thread that runs the model, answering
  concurrent greedy requests in batches;
* :class:`~mvlm.serve.conversations.ConversationCache`: encoded images and prompt KV caches kept
  across the turns of a conversation;
* :func:`~mvlm.serve.messages.parse_chat_request`: OpenAI request JSON -> prompt, history, images, options;
* :class:`~mvlm.serve.config.ServeConfig`: the model name, decoding defaults, batching and limits.

This package uses :mod:`mvlm.inference` (and the parts below it) only; FastAPI and uvicorn are
imported when an application is built or served, so importing it needs neither.

Example:
    >>> from mvlm.inference import load_model_for_inference
    >>> from mvlm.serve import ServeConfig, create_app
    >>> model = load_model_for_inference("mtgv/MobileVLM_V2-1.7B")  # doctest: +SKIP
    >>> app = create_app(model, ServeConfig(model_name="MobileVLM_V2-1.7B"))  # doctest: +SKIP
"""

from mvlm.serve.app import create_app, error_payload
from mvlm.serve.config import ServeConfig
from mvlm.serve.conversations import ConversationCache, ConversationState
from mvlm.serve.messages import ChatCompletionRequest, parse_chat_request, read_image_url
from mvlm.serve.worker import BatchingWorker, Job

__all__ = [
    "BatchingWorker",
    "ChatCompletionRequest",
    "ConversationCache",
    "ConversationState",
    "Job",
    "ServeConfig",
    "create_app",
    "error_payload",
    "parse_chat_request",
    "read_image_url",
]
