"""The package's import graph: no cycles, and imports point one way through the pipeline's stages.

Read from the source with `ast` (nothing is imported), so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hni_dsl", "hni_engine")

# Lowest first: a subpackage may import its own level and any level below it, never one above.
ENGINE_LEVELS = (
    "formats",
    "progress",
    "data",
    "store",
    "network",
    "compute",
    "discovery",
    "graphs",
    "edit",
    "present",
    "oracle",
    "cli",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project's modules that ``name`` imports (at module level or inside functions)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the submodule pkg.mod when there is one
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def level(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "hni_engine" or len(parts) < 2:
        return None
    return ENGINE_LEVELS.index(parts[1])


def test_there_is_no_import_cycle():
    found = cycles(graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_every_engine_subpackage_has_a_level():
    top = {name.split(".")[1] for name in modules() if name.startswith("hni_engine.")}
    assert top <= set(ENGINE_LEVELS), f"add {sorted(top - set(ENGINE_LEVELS))} to ENGINE_LEVELS"


def test_imports_point_down_the_pipeline():
    upward = []
    for source, targets in graph().items():
        for target in targets:
            if source.startswith("hni_dsl") and target.startswith("hni_engine"):
                upward.append(f"{source} -> {target} (the language never imports the engine)")
            a, b = level(source), level(target)
            if a is not None and b is not None and b > a:
                upward.append(f"{source} -> {target}")
    assert not upward, "imports against the pipeline's direction:\n" + "\n".join(sorted(upward))


def test_no_module_imports_another_modules_private_names():
    private = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                private += [
                    f"{name}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not private, "imports of underscore names:\n" + "\n".join(private)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_is_much_over_400_lines(package):
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / package).rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert not long, f"split these modules: {long}"
