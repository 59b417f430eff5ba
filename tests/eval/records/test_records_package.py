"""The records package: its docstring examples hold, and it imports no plugin, runner or torch."""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

import mvlm.eval

MODULES = ["answer_file", "answers", "problems", "questions", "reading"]
EVAL_DIR = Path(mvlm.eval.__file__).parent


def _mvlm_imports(package: str) -> dict[str, set[str]]:
    """Every ``mvlm...`` module imported by each file of ``mvlm.eval.<package>``, at any depth."""
    found: dict[str, set[str]] = {}
    for path in sorted((EVAL_DIR / package).glob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[path.name] = {name for name in names if name.split(".")[0] == "mvlm"}
    return found


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"mvlm.eval.records.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize(("package", "allowed"), [("records", "mvlm.eval.records"), ("metrics", "mvlm.eval.metrics")])
def test_imports_point_one_way(package, allowed):
    for file, modules in _mvlm_imports(package).items():
        inside_eval = {m for m in modules if m == "mvlm.eval" or m.startswith("mvlm.eval.")}
        stray = {m for m in inside_eval if m != allowed and not m.startswith(allowed + ".")}
        assert not stray, f"mvlm/eval/{package}/{file} imports {sorted(stray)}"
