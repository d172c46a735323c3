"""The layout's promises, read from the source: the core at the bottom, training and the service above it
and never importing each other, the command line on top, and no import cycles between modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("model_core", "training", "service", "wavenet")
MAY_IMPORT = {
    "model_core": {"model_core"},
    "training": {"model_core", "training"},
    "service": {"model_core", "service"},
    "wavenet": {"model_core", "training", "service", "wavenet"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool) -> set[str]:
    """Our modules `path` imports (all of them, or only those at module level: lazy imports inside
    functions cannot form an import-time cycle)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in PACKAGES}


SOURCES = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


@pytest.mark.parametrize("package", PACKAGES)
def test_each_wing_imports_only_what_lies_below_it(package):
    wrong = {f"{name} imports {target}" for name, path in SOURCES.items() if name.split(".")[0] == package
             for target in imports(path, top_level_only=False) if target.split(".")[0] not in MAY_IMPORT[package]}
    assert not wrong, sorted(wrong)


def test_no_module_level_import_cycles():
    graph = {name: {target for target in imports(path, top_level_only=True) if target in SOURCES} - {name}
             for name, path in SOURCES.items()}
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open" and not name.startswith(target + "."):
                raise AssertionError(" -> ".join([*trail, name, target]))
            if target not in state:
                visit(target, [*trail, name])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
