"""`mvlm serve`'s options: every one explained, read back into a ServeConfig, checked before the model loads."""

from __future__ import annotations

import importlib.util

import pytest

from mvlm.cli import build_parser, main
from mvlm.serve.command import config_from_args


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
