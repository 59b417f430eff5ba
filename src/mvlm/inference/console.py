"""Terminal front ends of inference: a loading indicator, one streamed answer, and the chat loop.

``mvlm infer`` and ``mvlm chat`` are thin wrappers around :func:`print_answer` and
:func:`run_chat_loop`; both take their streams as arguments so they run the same in a test.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import TextIO

from mvlm.errors import PromptError
from mvlm.inference.session import ChatSession

__all__ = ["EXIT_WORDS", "LoadingIndicator", "print_answer", "run_chat_loop"]

EXIT_WORDS: tuple[str, ...] = ("exit", "quit", "/exit", "/quit")
"""Lines that end :func:`run_chat_loop` (so does end of input)."""

_FRAMES = "|/-\\"


class LoadingIndicator:
    """``with LoadingIndicator("loading model"):`` shows progress on ``stream`` (stderr by default).

    On a terminal a spinner with the elapsed seconds turns until the block ends; elsewhere (a file,
    a pipe) one line is written at the start and one at the end, so logs stay readable.

    Args:
        message: What is happening (``"loading mtgv/MobileVLM_V2-1.7B on cpu (float32)"``).
        stream: Where to write.
    """

    def __init__(self, message: str, stream: TextIO | None = None) -> None:
        self.message = message
        self.stream = sys.stderr if stream is None else stream
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0.0

    def _interactive(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def _spin(self) -> None:
        frame = 0
        while not self._stop.wait(0.1):
            elapsed = time.monotonic() - self._start
            self.stream.write(f"\r{_FRAMES[frame % len(_FRAMES)]} {self.message} ... {elapsed:.0f} s")
            self.stream.flush()
            frame += 1

    def __enter__(self) -> LoadingIndicator:
        self._start = time.monotonic()
        if self._interactive():
            self._thread = threading.Thread(target=self._spin, name="mvlm-progress", daemon=True)
            self._thread.start()
        else:
            self.stream.write(f"{self.message} ...\n")
            self.stream.flush()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self.stream.write("\r")
        status = "failed" if kind is not None else "done"
        self.stream.write(f"{self.message}: {status} in {time.monotonic() - self._start:.1f} s\n")
        self.stream.flush()


def print_answer(answer: str | Iterator[str], output: TextIO | None = None) -> str:
    """Write an answer (a string, or pieces as they arrive) to ``output`` and end the line; returns the text."""
    output = sys.stdout if output is None else output
    if isinstance(answer, str):
        output.write(answer)
        text = answer
    else:
        parts = []
        for piece in answer:
            parts.append(piece)
            output.write(piece)
            output.flush()
        text = "".join(parts)
    output.write("\n")
    output.flush()
    return text


def run_chat_loop(
    session: ChatSession,
    input_stream: TextIO | None = None,
    output: TextIO | None = None,
    errors: TextIO | None = None,
) -> int:
    """Read user messages line by line and print the streamed answers, until ``exit`` or end of input.

    ``/reset`` forgets the earlier turns (keeping the images). A message that makes the conversation
    too long for the model is reported on ``errors`` and the loop goes on. When the input is not a
    terminal (a script, a pipe) each message is echoed after the prompt, so the output reads as a
    transcript.

    Args:
        session: The conversation (its model, images, template and options).
        input_stream: Where messages come from (stdin by default).
        output: Where prompts and answers go (stdout by default).
        errors: Where problems are reported (stderr by default).

    Returns:
        0 (the exit status).
    """
    input_stream = sys.stdin if input_stream is None else input_stream
    output = sys.stdout if output is None else output
    errors = sys.stderr if errors is None else errors
    user, assistant = (role or default for role, default in zip(session.roles, ("USER", "ASSISTANT"), strict=True))
    stream = session.generation.num_beams == 1
    isatty = getattr(input_stream, "isatty", None)
    echo = not (isatty and isatty())  # a scripted conversation shows its messages in the transcript
    while True:
        output.write(f"{user}: ")
        output.flush()
        line = input_stream.readline()
        if not line:  # end of input
            output.write("\n")
            break
        message = line.strip()
        if echo:
            output.write(message + "\n")
        if not message:
            continue
        if message.lower() in EXIT_WORDS:
            break
        if message == "/reset":
            session.reset()
            output.write("(conversation cleared)\n")
            continue
        try:
            answer = session.ask(message, stream=stream)
            output.write(f"{assistant}: ")
            print_answer(answer, output)
        except PromptError as error:
            errors.write(f"error: {error} (type /reset to start a new conversation)\n")
            errors.flush()
    output.flush()
    return 0
