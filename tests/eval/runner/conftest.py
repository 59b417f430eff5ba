"""Fixtures of the runner tests: the chatty tiny checkpoint, the fake ``benchmark_data`` tree, the ``mvlm`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

for _folder in (Path(__file__).resolve().parent, Path(__file__).resolve().parents[2] / "inference"):
    if str(_folder) not in sys.path:  # runner_testdata here; the inference tests' checkpoint builder
        sys.path.insert(0, str(_folder))

from inference_testdata import chatty_checkpoint  # noqa: E402
from runner_testdata import build_benchmark_data  # noqa: E402

from helpers.torch_threads import one_thread  # noqa: E402, F401 - autouse fixture
from mvlm import MobileVLM  # noqa: E402


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chatty_checkpoint(tmp_path_factory)


@pytest.fixture(scope="session")
def model(checkpoint: Path) -> MobileVLM:
    """Shared float32 model (tests must leave it as they found it)."""
    return MobileVLM.from_pretrained(checkpoint, dtype=torch.float32).eval()


@pytest.fixture(scope="session")
def bench_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake ``benchmark_data`` root (read-only for the tests)."""
    return build_benchmark_data(tmp_path_factory.mktemp("benchmark_data"))


@pytest.fixture(scope="module")
def mvlm_main() -> Iterator[Callable[[list[str]], int]]:
    """``mvlm.cli.main`` with the eval commands (added here if the ``mvlm`` command does not wire them yet)."""
    import mvlm.cli
    from mvlm.eval.cli import add_eval_commands

    build = mvlm.cli.build_parser

    def build_with_eval() -> argparse.ArgumentParser:
        parser = build()
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "eval" not in commands.choices:
            add_eval_commands(commands)
        return parser

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mvlm.cli, "build_parser", build_with_eval)
        yield mvlm.cli.main
