"""Package-level promises: light imports, lazy top-level API, documented public symbols."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys

import pytest

import mvlm


def _modules_loaded_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout))


def test_import_mvlm_is_light():
    loaded = _modules_loaded_after("import mvlm")
    assert not {"torch", "transformers", "numpy", "PIL"} & loaded


def test_projectors_need_only_torch():
    loaded = _modules_loaded_after("import mvlm.projectors")
    assert "torch" in loaded
    assert not {"transformers", "timm", "torchvision"} & loaded


def test_top_level_names_resolve_lazily():
    for name in mvlm.__all__:
        assert getattr(mvlm, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mvlm.nope  # noqa: B018


PUBLIC_MODULES = [
    "mvlm",
    "mvlm.errors",
    "mvlm.registry",
    "mvlm.cli",
    "mvlm.projectors",
    "mvlm.projectors.base",
    "mvlm.projectors.grid",
    "mvlm.projectors.ldp",
    "mvlm.projectors.ldpv2",
    "mvlm.projectors.mlp",
    "mvlm.projectors.mobilenet_blocks",
    "mvlm.projectors.spatial",
    "mvlm.projectors.resampler",
    "mvlm.projectors.cabstractor",
    "mvlm.projectors.catalogue",
    "mvlm.vision",
    "mvlm.vision.base",
    "mvlm.vision.presets",
    "mvlm.vision.transformers_vit",
    "mvlm.vision.clip",
    "mvlm.vision.siglip",
    "mvlm.vision.timm",
    "mvlm.vision.processing",
    "mvlm.language",
    "mvlm.language.mobilellama",
    "mvlm.language.tokenizer",
    "mvlm.language.tokenizer_training",
    "mvlm.language.decoding",
    "mvlm.model",
    "mvlm.model.configuration",
    "mvlm.model.modeling",
    "mvlm.model.splicing",
    "mvlm.model.loading",
    "mvlm.model.saving",
    "mvlm.model.auto",
    "mvlm.model.parts",
    "mvlm.model.processing",
    "mvlm.presets",
    "mvlm.command_runner",
    "mvlm.training",
    "mvlm.training.arguments",
    "mvlm.training.distributed",
    "mvlm.training.checkpoints",
    "mvlm.inference",
    "mvlm.inference.generation",
    "mvlm.inference.session",
    "mvlm.inference.inputs",
    "mvlm.inference.text",
    "mvlm.inference.decoding",
    "mvlm.inference.loading",
    "mvlm.inference.reference",
    "mvlm.inference.console",
    "mvlm.inference.quantization",
    "mvlm.inference.fast_decode",
    "mvlm.inference.prefix_cache",
    "mvlm.inference.threads",
    "mvlm.inference.options",
    "mvlm.inference.command_options",
    "mvlm.inference.backends",
    "mvlm.inference.cpu_kernels",
    "mvlm.eval.runner",
    "mvlm.eval.asking",
    "mvlm.eval.sharding",
    "mvlm.eval.results",
    "mvlm.eval.cli",
    "mvlm.data",
    "mvlm.data.synthetic",
    "mvlm.export",
    "mvlm.export.cli",
    "mvlm.export.gguf",
    "mvlm.export.gguf_llm",
    "mvlm.export.gguf_mmproj",
    "mvlm.export.gguf_quantize",
    "mvlm.export.gguf_tensors",
    "mvlm.export.gguf_vocab",
    "mvlm.inference.llamacpp",
    "mvlm.inference.llamacpp_backend",
    "mvlm.inference.verify",
    "mvlm.export.onnx",
    "mvlm.train",
    "mvlm.train.config",
    "mvlm.train.recipes",
    "mvlm.train.freezing",
    "mvlm.train.lora",
    "mvlm.train.trainer",
    "mvlm.train.run",
    "mvlm.train.cli",
    "mvlm.demo",
    "mvlm.serve",
    "mvlm.serve.app",
    "mvlm.serve.command",
    "mvlm.serve.config",
    "mvlm.serve.conversations",
    "mvlm.serve.messages",
    "mvlm.serve.worker",
]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_symbol_has_a_docstring(module_name):
    module = importlib.import_module(module_name)
    assert inspect.getdoc(module), f"{module_name} has no module docstring"
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{module_name}.{name} has no docstring"
        if inspect.isclass(obj):
            for member_name, member in vars(obj).items():
                if member_name.startswith("_") or not inspect.isfunction(member):
                    continue
                assert inspect.getdoc(getattr(obj, member_name)), f"{module_name}.{name}.{member_name} has no docstring"


def test_lazy_exports_and_all_agree():
    assert set(mvlm.__all__) - {"__version__"} == set(mvlm._LAZY_EXPORTS)
