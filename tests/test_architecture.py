"""The import graph of ``src/mvlm``: parts import only the parts below them, and nothing imports in a cycle.

Every ``import`` statement counts, wherever it is (module level, inside a function, under
``TYPE_CHECKING``): a lazy import is still a dependency. Modules that only stand for a moved module
(:func:`mvlm._deprecation.alias_module`) are not counted. The one allowed upward import is listed in
``ALLOWED_UPWARD`` with its reason; the list must stay exactly as it is, so a new one is a decision
made here, not an accident.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "mvlm"

LAYERS: list[set[str]] = [
    {"errors", "_deprecation", "_version"},
    {"registry", "_lazy", "presets", "command_runner"},
    {"projectors", "vision", "language", "prompting"},  # the blocks: none imports another
    {"model"},
    {"_transformers_hook"},  # registers the model with transformers' Auto classes
    {"data"},
    {"export"},
    {"inference"},
    {"eval"},
    {"training"},
    {"train"},
    {"train_lm"},
    {"demo"},
    {"serve"},  # the HTTP server: uses inference and the parts below it
    {"cli"},
    {"__main__"},
    {"mvlm"},  # the package root: lazy re-exports of everything
]
"""The parts of the package, lowest first (``DESIGN.md``'s picture)."""

ALLOWED_UPWARD = {
    ("mvlm.model.modeling", "inference"): "MobileVLM.chat: a documented convenience that calls mvlm.inference.chat",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "mvlm"


def _is_alias_module(tree: ast.Module) -> bool:
    calls = [node.value for node in tree.body if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)]
    return any(getattr(call.func, "id", "") == "alias_module" for call in calls)


def _imports(tree: ast.AST, package: str) -> list[tuple[str, bool]]:
    """``(imported module, at module level)`` for every import statement in ``tree``."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If))
            if isinstance(child, ast.If) and top:
                guard = ast.unparse(child.test)
                nested = "TYPE_CHECKING" not in guard
            if isinstance(child, ast.Import):
                found.extend((alias.name, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    name = f"{base}.{child.module}" if child.module else base
                else:
                    name = child.module or ""
                found.append((name, top))
                found.extend((f"{name}.{alias.name}", top) for alias in child.names)
            visit(child, nested)

    visit(tree, True)
    return [(name, top) for name, top in found if name == "mvlm" or name.startswith("mvlm.")]


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]], set[str]]:
    """``(all imports per module, module-level imports per module, module names)``, mvlm modules only."""
    files = {_module_name(path): path for path in SOURCE.rglob("*.py")}
    every: dict[str, set[str]] = defaultdict(set)
    top_level: dict[str, set[str]] = defaultdict(set)
    counted = set()
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _is_alias_module(tree):
            continue
        counted.add(module)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for name, top in _imports(tree, package):
            while name not in files and "." in name:  # "from mvlm.x import name": the module is mvlm.x
                name = name.rsplit(".", 1)[0]
            if name in files and name != module:
                every[module].add(name)
                if top:
                    top_level[module].add(name)
    return every, top_level, counted


def _layer(part: str) -> int:
    for index, layer in enumerate(LAYERS):
        if part in layer:
            return index
    raise AssertionError(f"part {part!r} of src/mvlm is in no layer of tests/test_architecture.py; place it")


def test_every_part_imports_only_parts_below_it():
    every, _, modules = _graph()
    for module in modules:
        _layer(_part(module))
    upward = {}
    for module, targets in every.items():
        for target in targets:
            source_part, target_part = _part(module), _part(target)
            if source_part != target_part and _layer(target_part) >= _layer(source_part):
                upward.setdefault((module, target_part), []).append(target)
    unexpected = {edge: targets for edge, targets in upward.items() if edge not in ALLOWED_UPWARD}
    assert not unexpected, "imports from a part to one at its level or above: " + "; ".join(
        f"{module} -> {', '.join(sorted(targets))}" for (module, _), targets in sorted(unexpected.items())
    )
    assert set(upward) == set(ALLOWED_UPWARD), f"an allowed upward import is gone; remove it from the list: {upward}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def test_no_import_cycles_between_parts():
    every, _, _ = _graph()
    parts: dict[str, set[str]] = defaultdict(set)
    for module, targets in every.items():
        for target in targets:
            if _part(module) != _part(target) and (module, _part(target)) not in ALLOWED_UPWARD:
                parts[_part(module)].add(_part(target))
    assert _cycles(parts) == []


def test_no_import_cycles_between_modules_at_import_time():
    """Module-level imports (what runs on ``import``) never form a cycle, inside a part or across parts."""
    _, top_level, _ = _graph()
    # a package __init__ that re-exports its submodules is imported by them as their parent: not a cycle
    graph = {module: {t for t in targets if not module.startswith(f"{t}.")} for module, targets in top_level.items()}
    assert _cycles(graph) == []


def test_the_checker_sees_lazy_and_type_checking_imports():
    tree = ast.parse(
        "import mvlm.errors\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from mvlm.model import MobileVLM\n"
        "def f():\n    from mvlm.inference import chat\n"
    )
    assert _imports(tree, "mvlm.x") == [
        ("mvlm.errors", True),
        ("mvlm.model", False),
        ("mvlm.model.MobileVLM", False),
        ("mvlm.inference", False),
        ("mvlm.inference.chat", False),
    ]


def test_moved_modules_and_names_still_work_with_a_warning():
    import importlib
    import sys

    import pytest

    import mvlm.export
    import mvlm.inference.llamacpp_backend
    import mvlm.inference.quantization

    for old, new in [
        ("mvlm.quantization", "mvlm.inference.quantization"),
        ("mvlm.cpu_kernels", "mvlm.inference.cpu_kernels"),
        ("mvlm.export.llamacpp", "mvlm.inference.llamacpp"),
        ("mvlm.export.llamacpp_backend", "mvlm.inference.llamacpp_backend"),
        ("mvlm.eval.answer_file", "mvlm.eval.records.answer_file"),
        ("mvlm.eval.benchmarks.records", "mvlm.eval.records.answers"),
        ("mvlm.eval.benchmarks.reading", "mvlm.eval.records.reading"),
        ("mvlm.eval.benchmarks.questions", "mvlm.eval.records.questions"),
        ("mvlm.eval.benchmarks.problems", "mvlm.eval.records.problems"),
    ]:
        sys.modules.pop(old, None)
        with pytest.warns(DeprecationWarning, match=new):
            module = importlib.import_module(old)
        assert module is importlib.import_module(new)
    with pytest.warns(DeprecationWarning, match="mvlm.inference.llamacpp_backend.chat"):
        assert mvlm.export.chat is mvlm.inference.llamacpp_backend.chat
    assert "chat" not in dir(mvlm.export)
    from mvlm.cli import run_command
    from mvlm.command_runner import run_command as moved

    assert run_command is moved
