"""Test data of the server tests: PNG bytes and data URLs of images, and a uvicorn server in a thread."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from typing import Any

from PIL import Image

__all__ = ["MODEL_NAME", "NEW", "RunningServer", "data_url", "png_bytes"]

MODEL_NAME = "MobileVLM_V2-chatty"
"""The served model's id."""

NEW = 10
"""New tokens per answer: enough to tell answers apart, cheap on the tiny model."""


def png_bytes(image: Image.Image) -> bytes:
    """``image`` encoded as PNG (lossless: decoding it gives the same pixels)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(image: Image.Image) -> str:
    """``image`` as a ``data:image/png;base64,...`` URL."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


class RunningServer:
    """A uvicorn server in a background thread, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.app = app
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()
