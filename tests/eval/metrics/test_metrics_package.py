"""The metrics package: importing it loads no torch, and every docstring example holds."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest

MODULES = ["gqa", "mmbench", "mme", "pope", "sqa", "summary", "tally", "textvqa"]


def test_import_loads_no_torch():
    code = (
        "import sys; import mvlm.eval.metrics as m; m.score_pope(['yes'], ['yes']); "
        "heavy = sorted(n for n in ('torch', 'numpy', 'transformers') if n in sys.modules); print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"mvlm.eval.metrics.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if name != "tally":
        assert result.attempted > 0, f"{name} should show an example"


def test_public_api_is_exported():
    import mvlm.eval.metrics as metrics

    for name in metrics.__all__:
        obj = getattr(metrics, name)
        if callable(obj):  # functions and classes carry their own docstring
            assert obj.__doc__ and obj.__doc__ is not type(obj).__doc__, name
