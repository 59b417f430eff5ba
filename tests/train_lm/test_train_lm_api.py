"""The package's promises: a light import, every public name documented and typed."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

import mvlm.train_lm

MODULES = [
    "mvlm.train_lm",
    "mvlm.train_lm.arguments",
    "mvlm.train_lm.chat_sft",
    "mvlm.train_lm.cli",
    "mvlm.train_lm.documents",
    "mvlm.train_lm.packing",
    "mvlm.train_lm.pretraining",
    "mvlm.train_lm.sharegpt",
    "mvlm.train_lm.stream",
    "mvlm.train_lm.tokenizer_files",
    "mvlm.train_lm.trainer",
]


def test_importing_the_package_is_light() -> None:
    code = "import sys, mvlm.train_lm; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_lazy_names_resolve() -> None:
    for name in mvlm.train_lm.__all__:
        assert getattr(mvlm.train_lm, name) is not None
    assert callable(mvlm.train_lm.pretrain) and callable(mvlm.train_lm.sft)  # the functions, not the modules
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mvlm.train_lm.nope  # noqa: B018


@pytest.mark.parametrize("module_name", MODULES)
def test_public_symbols_have_docstrings_and_type_hints(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert inspect.getdoc(module)
    for name in getattr(module, "__all__", []):
        value = getattr(module, name)
        if not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        assert inspect.getdoc(value), f"{module_name}.{name} has no docstring"
        functions = (
            [value]
            if inspect.isfunction(value)
            else [
                member
                for member_name, member in vars(value).items()
                if inspect.isfunction(member)
                and member.__qualname__.startswith(f"{value.__name__}.")  # defined here, not generated (Protocol)
                and (not member_name.startswith("_") or member_name == "__init__")
            ]
        )
        for function in functions:
            hints = inspect.signature(function)
            missing = [
                p for p in hints.parameters.values() if p.name != "self" and p.annotation is inspect.Parameter.empty
            ]
            assert not missing, f"{module_name}.{name}: {function.__name__} lacks type hints for {missing}"
            assert hints.return_annotation is not inspect.Signature.empty, (
                f"{function.__qualname__} lacks a return type"
            )
            if not function.__name__.startswith("_"):
                assert inspect.getdoc(function), f"{function.__qualname__} has no docstring"
