"""``BatchingWorker``: one thread owns the model and answers the queued requests, batching what it can.

Micro-batching: the worker takes the oldest waiting job; when it can share a batch (not streamed,
greedy, one beam: :attr:`~mvlm.serve.messages.ChatCompletionRequest.batch_key`), it waits up to
``batch_wait_s`` for more jobs with the same key (the same ``max_tokens`` and system message), up
to ``max_batch_size``, and answers them with one left-padded ``generate`` call (batched greedy
answers equal one-at-a-time answers). Jobs that cannot join wait, in order, for the next round.
Streamed and sampled jobs are answered alone, with the conversation's prefix cache.

A batch that fails on bad input (an :class:`~mvlm.errors.MvlmError`: a too-long prompt, a tag
mismatch) is answered again one job at a time, so each job gets its own answer or error. The worker
reports through each job's ``deliver(kind, value)`` callback: ``("answer", text)``;
``("start", None)``, then ``("piece", text)`` ..., then ``("end", None)`` when streamed; or
``("error", exception)``. No error stops the worker.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from mvlm.errors import MvlmError
from mvlm.inference.generation import generate_answers
from mvlm.inference.inputs import ChatRequest

if TYPE_CHECKING:  # pragma: no cover
    from mvlm.model import MobileVLM
    from mvlm.serve.conversations import ConversationState
    from mvlm.serve.messages import ChatCompletionRequest

__all__ = ["BatchingWorker", "Job"]

logger = logging.getLogger(__name__)


@dataclass
class Job:
    """A request waiting for the worker.

    Attributes:
        request: The parsed request.
        state: Its conversation's images, features and prefix cache.
        deliver: Called from the worker thread with ``(kind, value)`` (see the module's docstring).
        cancelled: Set when the client is gone; the worker skips the job or stops its stream.
    """

    request: ChatCompletionRequest
    state: ConversationState
    deliver: Callable[[str, Any], object]
    cancelled: threading.Event = field(default_factory=threading.Event)

    def chat_request(self) -> ChatRequest:
        """The request as :func:`~mvlm.inference.generation.generate_answers` takes it."""
        return ChatRequest(self.request.prompt, self.state.images, self.request.history)

    def send(self, kind: str, value: Any = None) -> None:
        """Call ``deliver``; a failing callback (the server is closing) only logs."""
        try:
            self.deliver(kind, value)
        except Exception:  # pragma: no cover - the event loop is gone
            logger.warning("could not deliver %s to a request", kind, exc_info=True)


class BatchingWorker:
    """The thread that answers every request with ``model``.

    Args:
        model: The model (used by this worker's thread only).
        max_batch_size: The most jobs answered in one batch.
        batch_wait_s: How long to wait for more jobs to join a batch.

    Attributes:
        batch_sizes: The size of each batch answered, most recent last (the last 1000).
    """

    def __init__(self, model: MobileVLM, *, max_batch_size: int = 8, batch_wait_s: float = 0.01) -> None:
        self.model = model
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_s
        self.batch_sizes: deque[int] = deque(maxlen=1000)
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._held: deque[Job] = deque()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker thread."""
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="mvlm-serve-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the job at hand, fail the waiting ones, and end the thread."""
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def submit(self, job: Job) -> None:
        """Queue ``job``; its answer comes through ``job.deliver``."""
        self._jobs.put(job)

    def _run(self) -> None:
        while not self._stopping:
            job = self._held.popleft() if self._held else self._jobs.get()
            if job is None:
                break
            batch = self._gather(job)
            self._answer([job for job in batch if not job.cancelled.is_set()])
        for job in [*self._held, *_drain(self._jobs)]:
            job.send("error", RuntimeError("the server is shutting down"))

    def _gather(self, first: Job) -> list[Job]:
        """``first`` and the jobs that can share its batch: held ones first, then new ones within the wait."""
        key = first.request.batch_key
        if key is None:
            return [first]
        batch = [first]
        for job in list(self._held):
            if len(batch) < self.max_batch_size and job.request.batch_key == key:
                self._held.remove(job)
                batch.append(job)
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.max_batch_size:
            try:
                waiting = self._jobs.get(timeout=max(deadline - time.monotonic(), 1e-4))
            except queue.Empty:
                break
            if waiting is None:
                self._stopping = True
                break
            (batch if waiting.request.batch_key == key else self._held).append(waiting)
        return batch

    def _answer(self, batch: list[Job]) -> None:
        if len(batch) == 1:
            self._answer_alone(batch[0])
        elif batch:
            self._answer_batch(batch)

    def _answer_batch(self, batch: list[Job]) -> None:
        features: dict[Any, Any] = {}
        for job in batch:
            features.update(job.state.features)
        try:
            answers = generate_answers(
                self.model,
                [job.chat_request() for job in batch],
                batched=True,
                options=batch[0].request.options,
                image_cache=features,
            )
        except MvlmError:  # one bad request fails the whole batch: answer each alone
            for job in batch:
                self._answer_alone(job)
            return
        except Exception as error:
            logger.exception("a batch of %d failed", len(batch))
            for job in batch:
                job.send("error", error)
            return
        self.batch_sizes.append(len(batch))
        for job, answer in zip(batch, answers, strict=True):
            job.state.keep_features(features)
            job.send("answer", answer)

    def _answer_alone(self, job: Job) -> None:
        request = job.request
        try:
            if request.seed is not None:
                import torch

                torch.manual_seed(request.seed)
            result = generate_answers(
                self.model,
                [job.chat_request()],
                batched=False,
                options=request.options,
                stream=request.stream,
                image_cache=job.state.features,
                prefix_cache=job.state.prefix_cache,
            )
            self.batch_sizes.append(1)
            if isinstance(result, str):
                job.send("answer", result)
                return
            pieces = cast("Generator[str, None, None]", result)
            job.send("start")
            try:
                for piece in pieces:
                    if job.cancelled.is_set():
                        break
                    job.send("piece", piece)
            finally:
                pieces.close()  # stops generate when the client is gone
            job.send("end")
        except Exception as error:
            if not isinstance(error, MvlmError):
                logger.exception("a request failed")
            job.send("error", error)


def _drain(jobs: queue.Queue[Job | None]) -> list[Job]:
    """The jobs left in ``jobs`` (emptied), without the stop markers."""
    left: list[Job] = []
    while True:
        try:
            job = jobs.get_nowait()
        except queue.Empty:
            return left
        if job is not None:
            left.append(job)
