"""The batching worker on its own (no HTTP): who shares a batch, and a bad request in a batch."""

from __future__ import annotations

import queue
from dataclasses import replace
from typing import Any

from serve_testdata import NEW

from mvlm.errors import PromptError
from mvlm.inference import GenerationOptions
from mvlm.serve import BatchingWorker, ChatCompletionRequest, ConversationState, Job

OPTIONS = GenerationOptions(max_new_tokens=NEW)


def job(prompt: str, images: tuple[Any, ...], events: queue.Queue, **fields: Any) -> Job:
    request = ChatCompletionRequest(prompt=prompt, history=(), images=(), options=OPTIONS)
    return Job(
        replace(request, **fields), ConversationState(images), lambda kind, value: events.put((prompt, kind, value))
    )


def run(model: Any, jobs: list[Job], events: queue.Queue) -> tuple[BatchingWorker, dict[str, list[tuple[str, Any]]]]:
    """Queue ``jobs`` before the worker starts (so it finds them all waiting), and collect what each gets."""
    worker = BatchingWorker(model, max_batch_size=3, batch_wait_s=0.0)
    for each in jobs:
        worker.submit(each)
    worker.start()
    results: dict[str, list[tuple[str, Any]]] = {}
    finished = 0
    while finished < len(jobs):
        prompt, kind, value = events.get(timeout=120)
        results.setdefault(prompt, []).append((kind, value))
        finished += kind in ("answer", "error", "end")
    worker.stop()
    return worker, results


def test_greedy_jobs_share_batches_streamed_and_sampled_ones_run_alone(model, images):
    events: queue.Queue = queue.Queue()
    prompts = ["What is it?", "Is there a dog?", "Describe it.", "What color?"]
    jobs = [job(p, (images[9],), events) for p in prompts]
    jobs.insert(1, job("Stream it.", (images[9],), events, stream=True))
    jobs.insert(2, job("Sample it.", (images[9],), events, options=replace(OPTIONS, temperature=0.7), seed=0))
    worker, results = run(model, jobs, events)
    # the first greedy job waits for two more greedy ones (max 3); the others go one by one, in order
    assert list(worker.batch_sizes) == [3, 1, 1, 1]
    for prompt in prompts:
        assert results[prompt] == [("answer", model.chat(images[9], prompt, max_new_tokens=NEW))]
    streamed = results["Stream it."]
    assert streamed[0] == ("start", None) and streamed[-1] == ("end", None)
    assert "".join(value for _, value in streamed[1:-1]) == model.chat(images[9], "Stream it.", max_new_tokens=NEW)
    assert results["Sample it."][0][0] == "answer"


def test_a_bad_request_in_a_batch_fails_alone(model, images):
    events: queue.Queue = queue.Queue()
    jobs = [job("What is it?", (images[9],), events), job("word " * 600, (images[9],), events)]
    worker, results = run(model, jobs, events)
    assert results["What is it?"] == [("answer", model.chat(images[9], "What is it?", max_new_tokens=NEW))]
    ((kind, error),) = results["word " * 600]
    assert kind == "error" and isinstance(error, PromptError) and "context length" in str(error)
    assert list(worker.batch_sizes) == [1]  # the failed batch is not counted; the good job was answered alone
