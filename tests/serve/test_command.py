"""`mvlm serve`'s options: every one explained, read back into a ServeConfig, checked before the model loads."""

from __future__ import annotations

import importlib.util

import pytest

from mvlm.cli import build_parser, main
from mvlm.serve.command import config_from_args, page_address


def test_help_explains_every_option():
    parser = build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    for action in serve._actions:
        assert action.help, f"mvlm serve {action.option_strings} has no help"
    options = {option for action in serve._actions for option in action.option_strings}
    assert {"--model", "--model-name", "--host", "--port", "--max-batch-size", "--max-body-mb", "--dtype"} <= options


def test_options_become_the_config():
    options = ["--temperature", "0.3", "--batch-wait-ms", "20", "--max-body-mb", "1", "--no-file-urls"]
    args = build_parser().parse_args(["serve", "--model", "runs/ft/checkpoint-500/", *options])
    config = config_from_args(args)
    assert config.model_name == "ft_checkpoint-500" and config.generation.temperature == 0.3
    assert config.batch_wait_s == 0.02 and config.max_body_bytes == 2**20 and not config.allow_file_urls
    args = build_parser().parse_args(["serve", "--model", "mtgv/MobileVLM_V2-1.7B", "--model-name", "mine"])
    assert (args.host, args.port, config_from_args(args).model_name) == ("127.0.0.1", 8000, "mine")


def test_bad_options_fail_before_the_model_loads(capsys):
    assert main(["serve", "--model", "/no/such/checkpoint", "--max-batch-size", "0"]) == 1
    assert "max_batch_size must be an int >= 1" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("fastapi") is not None, reason="fastapi is installed")
def test_missing_extra_is_named(capsys):  # pragma: no cover - runs where mvlm[serve] is not installed
    assert main(["serve", "--model", "/no/such/checkpoint"]) == 1
    assert 'pip install "mvlm[serve]"' in capsys.readouterr().err


def test_web_serves_the_demo_model_by_default():
    parser = build_parser()
    web = parser._subparsers._group_actions[0].choices["web"]  # type: ignore[union-attr]
    for action in web._actions:
        assert action.help, f"mvlm web {action.option_strings} has no help"
    args = parser.parse_args(["web"])
    assert (args.model, args.host, args.port, args.open) == (None, "127.0.0.1", 8000, False)
    with pytest.raises(SystemExit):  # mvlm serve still needs --model
        parser.parse_args(["serve"])


@pytest.mark.parametrize(
    ("host", "address"),
    [("127.0.0.1", "http://127.0.0.1:8000/"), ("0.0.0.0", "http://127.0.0.1:8000/"), ("::1", "http://[::1]:8000/")],
)
def test_page_address(host, address):
    assert page_address(host, 8000) == address


@pytest.mark.skipif(importlib.util.find_spec("fastapi") is None, reason="needs mvlm[serve]")
def test_web_prints_the_page_and_opens_it(monkeypatch, capsys):
    import threading
    import webbrowser

    import uvicorn

    served, opened = {}, threading.Event()
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, **options))
    monkeypatch.setattr(webbrowser, "open", lambda address: opened.set() or served.update(opened=address))
    assert main(["web", "--port", "8123", "--open", "--model-name", "demo"]) == 0
    assert opened.wait(10), "--open did not open the browser"
    assert served["opened"] == "http://127.0.0.1:8123/" and (served["host"], served["port"]) == ("127.0.0.1", 8123)
    assert "the demo page: http://127.0.0.1:8123/" in capsys.readouterr().out
    assert any(getattr(route, "path", None) == "/" for route in served["app"].routes)
