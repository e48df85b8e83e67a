"""The folder tree is the architecture: each package imports only the layers below it.

Walks every import in ``src/pinpipe`` (function-local ones too) and fails on an import cycle
between packages, on an import the layer map does not allow, on code outside ``engines/`` that
imports an engine's module, and on code outside ``engines/`` that compares with an engine's
name. ``docs/architecture.md`` shows the same map.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pinpipe"

LAYERS: dict[str, set[str]] = {
    "errors": set(),
    "settings": {"errors"},
    "log": {"errors", "settings"},
    "lake": {"errors", "settings", "log"},
    "transform": {"errors", "lake"},
    "engines": {"errors", "settings", "log", "lake", "transform"},
    "ingest": {"errors", "settings", "log"},
    "emulator": {"errors", "settings"},
    "sink": {"errors", "settings", "log", "lake"},
    "quality": {"errors", "settings", "log", "lake", "transform", "engines"},
    "jobs": {"errors", "settings", "log", "lake", "transform", "engines", "quality"},
    "alerts": {"errors", "settings", "lake", "engines", "quality"},
    "serve": {"errors", "settings", "lake", "transform", "engines"},
    "console": {
        "errors", "settings", "log", "lake", "transform", "engines", "ingest", "sink", "serve",
        "quality", "alerts",
    },
    "runtime": {
        "errors", "settings", "log", "lake", "transform", "engines", "ingest", "emulator",
        "sink", "quality", "jobs", "serve", "alerts", "console",
    },
    "scheduling": set(),
    "cli": {
        "pinpipe", "errors", "settings", "log", "lake", "transform", "engines", "ingest",
        "emulator", "sink", "quality", "jobs", "serve", "alerts", "console", "runtime",
        "scheduling",
    },
    "__main__": {"cli"},
    "pinpipe": set(),
}  # fmt: skip
"""Package (or top-level module) → what it may import besides itself."""

ENGINE_MODULES = ("pinpipe.engines.duckdb", "pinpipe.engines.spark", "pinpipe.engines.microbatch")
ENGINE_NAMES = {"duckdb", "spark"}


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return (
        "pinpipe"
        if rel.name == "__init__.py" and len(rel.parts) == 1
        else rel.parts[0].removesuffix(".py")
    )


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def _imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # "from pinpipe.engines import spark" names a module
                yield node.lineno, f"{node.module}.{alias.name}"


def _target(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "pinpipe":
        return None
    if len(parts) == 1:
        return "pinpipe"
    top = parts[1]
    return top if top in LAYERS else None  # "pinpipe.__version__" etc.


def _graph() -> dict[str, dict[str, list[str]]]:
    graph: dict[str, dict[str, list[str]]] = {p: {} for p in LAYERS}
    for path, tree in _modules():
        source = _package(path)
        for line, name in _imports(tree):
            target = _target(name)
            if target is not None and target != source:
                where = f"{path.relative_to(SRC)}:{line} imports {name}"
                graph[source].setdefault(target, []).append(where)
    return graph


def test_every_package_is_in_the_layer_map() -> None:
    found = {_package(path) for path, _ in _modules()}
    assert found <= set(LAYERS), f"add {sorted(found - set(LAYERS))} to LAYERS and the docs"


def test_no_import_cycle_between_packages() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            cycle = [*stack[stack.index(node) :], node]
            edges = [graph[a][b][0] for a, b in itertools.pairwise(cycle)]
            pytest.fail("import cycle " + " → ".join(cycle) + ":\n" + "\n".join(edges))
        if node in done:
            return
        for target in graph[node]:
            visit(target, [*stack, node])
        done.add(node)

    for package in graph:
        visit(package, [])


def test_each_package_imports_only_the_layers_below_it() -> None:
    wrong = [
        where
        for source, targets in _graph().items()
        for target, places in targets.items()
        if target not in LAYERS[source]
        for where in places
    ]
    assert not wrong, "imports against the layer map:\n" + "\n".join(wrong)


def test_nothing_outside_engines_imports_an_engine_or_branches_on_its_name() -> None:
    wrong: list[str] = []
    for path, tree in _modules():
        if _package(path) == "engines":
            continue
        rel = path.relative_to(SRC)
        for line, name in _imports(tree):
            if name.startswith(ENGINE_MODULES):
                wrong.append(f"{rel}:{line} imports {name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                names = {o.value for o in operands if isinstance(o, ast.Constant)}
                if names & ENGINE_NAMES:
                    wrong.append(f"{rel}:{node.lineno} compares with {names & ENGINE_NAMES}")
    assert not wrong, "\n".join(wrong)
