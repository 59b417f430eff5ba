"""The ``mvlm serve`` command: load a checkpoint and serve it over HTTP with uvicorn."""

from __future__ import annotations

import argparse
from typing import Any

from mvlm.serve.config import ServeConfig

__all__ = ["add_serve_command", "config_from_args", "page_address", "run_server", "run_web"]


def add_serve_command(commands: Any) -> None:
    """Register ``mvlm serve`` and ``mvlm web`` on the ``mvlm`` command's sub-parsers."""
    serve = commands.add_parser(
        "serve",
        help="serve a MobileVLM checkpoint over an OpenAI-compatible HTTP API (needs mvlm[serve])",
        description="Load a MobileVLM checkpoint and serve /v1/chat/completions (images as data: or file:// URLs, "
        "streaming as server-sent events), /v1/models and /health, and the browser demo at /. Concurrent greedy "
        "requests are answered in batches; a follow-up turn about the same images reuses their encoding. The "
        "decoding options below are the defaults a request's temperature, top_p and max_tokens override.",
    )
    _add_server_options(serve, model_required=True)
    serve.set_defaults(handler=run_server)
    web = commands.add_parser(
        "web",
        help="the browser demo: upload an image, ask, the answer streams in (needs mvlm[serve])",
        description="Start the server of `mvlm serve` and print the address of its page (--open opens it in the "
        "default browser): choose an image, type a question, and the answer streams in. Without --model it "
        "serves the bundled demo model (it knows pictures of coloured shapes).",
    )
    _add_server_options(web, model_required=False)
    web.add_argument("--open", action="store_true", help="open the page in the default web browser")
    web.set_defaults(handler=run_web)


def _add_server_options(parser: argparse.ArgumentParser, *, model_required: bool) -> None:
    from mvlm.inference.command_options import add_generation_options, add_model_options

    defaults = ServeConfig(model_name="-")
    add_model_options(parser)
    if not model_required:
        model = next(action for action in parser._actions if action.dest == "model")
        model.required = False
        model.help = "checkpoint folder or hub id (default: the bundled demo model)"
    parser.add_argument(
        "--model-name", default=None, help="the model's id in the API (default: the checkpoint folder's name)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    add_generation_options(parser)
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=defaults.max_batch_size,
        help=f"most greedy requests answered in one batch (default: {defaults.max_batch_size})",
    )
    parser.add_argument(
        "--batch-wait-ms",
        type=float,
        default=defaults.batch_wait_s * 1000,
        help="how long a request waits for others to join its batch (default: %(default)g ms)",
    )
    parser.add_argument(
        "--max-body-mb",
        type=float,
        default=defaults.max_body_bytes / 2**20,
        help="largest request body, in MiB; larger gets HTTP 413 (default: %(default)g)",
    )
    parser.add_argument(
        "--max-image-pixels",
        type=int,
        default=defaults.max_image_pixels,
        help="most pixels (width x height) of one image (default: %(default)d)",
    )
    parser.add_argument(
        "--max-images",
        type=int,
        default=defaults.max_images,
        help="most images per conversation (default: %(default)d)",
    )
    parser.add_argument(
        "--cache-size",
        type=int,
        default=defaults.cache_size,
        help="conversations whose encoded images and prompt KV cache are kept, by image (default: %(default)d)",
    )
    parser.add_argument(
        "--no-file-urls",
        action="store_true",
        help="refuse file:// image URLs (by default a request may name an image file on this machine)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn's log level (default: info)",
    )


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    """The :class:`~mvlm.serve.config.ServeConfig` the parsed options name.

    Raises:
        ConfigError: An invalid option.
    """
    from mvlm.inference.command_options import generation_options_from_args
    from mvlm.inference.reference import model_name_from_path

    return ServeConfig(
        model_name=args.model_name or model_name_from_path(args.model),
        generation=generation_options_from_args(args),
        max_batch_size=args.max_batch_size,
        batch_wait_s=args.batch_wait_ms / 1000,
        max_body_bytes=int(args.max_body_mb * 2**20),
        max_image_pixels=args.max_image_pixels,
        max_images=args.max_images,
        cache_size=args.cache_size,
        allow_file_urls=not args.no_file_urls,
    )


def run_server(args: argparse.Namespace) -> int:
    """``mvlm serve``: check the options, load the model, and serve until interrupted.

    Raises:
        MissingDependencyError: FastAPI or uvicorn is not installed.
        ConfigError: An invalid option.
    """
    return _serve(args, web=False)


def run_web(args: argparse.Namespace) -> int:
    """``mvlm web``: :func:`run_server` (the bundled demo model unless ``--model``), printing the page's address.

    With ``--open`` the default web browser (Python's :mod:`webbrowser`) opens the page a second after
    the model has loaded, while the server starts.

    Raises:
        MissingDependencyError: FastAPI or uvicorn is not installed.
        ConfigError: An invalid option.
    """
    return _serve(args, web=True)


def page_address(host: str, port: int) -> str:
    """The address of the demo page of a server listening on ``host:port``.

    A server listening on every address (``0.0.0.0``, ``::`` or ``""``) is reached on this machine at
    ``127.0.0.1``; an IPv6 address is bracketed.

    Example:
        >>> page_address("0.0.0.0", 8000)
        'http://127.0.0.1:8000/'
        >>> page_address("::1", 8080)
        'http://[::1]:8080/'
    """
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def _serve(args: argparse.Namespace, *, web: bool) -> int:
    import importlib.util

    from mvlm.errors import MissingDependencyError

    command = "mvlm web" if web else "mvlm serve"
    if args.model is None:
        from mvlm.demo import demo_model_path

        args.model = str(demo_model_path())
    config = config_from_args(args)
    for package in ("fastapi", "uvicorn"):  # before the model loads, which takes a while
        if importlib.util.find_spec(package) is None:
            raise MissingDependencyError.for_package(package, command, "serve")
    import uvicorn

    from mvlm.inference.command_options import load_model_from_args
    from mvlm.serve.app import create_app

    app = create_app(load_model_from_args(args), config)
    if web:
        address = page_address(args.host, args.port)
        print(f"the demo page: {address} (Ctrl-C stops the server)", flush=True)
        if args.open:
            import threading
            import webbrowser

            threading.Timer(1.0, webbrowser.open, args=(address,)).start()
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
